"""One push to many services: shared revisions registered once, hand-on, carry-on, DEPLOYING once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from slipway import budget
from slipway.budget import Budget
from slipway.deploy import Deployer
from slipway.handon import MAX_TRIES, Continuation, HandedTarget
from slipway.model import Status
from slipway.plan import rollout_id
from slipway.report import PushReport
from tests.unit.fakes import (
    NOW,
    REGISTRY,
    FakeEcs,
    FakeNotifier,
    FakeRules,
    FakeStore,
    FakeWorkQueue,
    digest,
    fargate_body,
    make_push,
)

INVOCATION_SECONDS = 60.0  # a Lambda invocation's time: enough for everything but what the pace forbids


class Fleet:
    """``families`` task-definition families with ``per_family`` services each, all under one rule."""

    def __init__(self, families: int, per_family: int, registrations: int | None = None) -> None:
        self.ecs = FakeEcs(registrations=registrations)
        self.rules = FakeRules()
        self.store = FakeStore()
        self.notifier = FakeNotifier()
        self.queue = FakeWorkQueue()
        self.keys: list[str] = []
        for family in range(families):
            revision = self.ecs.add_task_definition(fargate_body(family=f"cell-{family}"))
            for n in range(per_family):
                name = f"svc-{family}-{n}"
                self.ecs.add_service("prod", name, revision)
                self.keys.append(f"prod/{name}")
        self.rules.put("main", {"targets": [{"cluster": "prod", "service": k.split("/")[1]} for k in self.keys]})

    def deployer(self, **kwargs: Any) -> Deployer:
        return Deployer(
            self.ecs,
            self.rules,
            self.store,
            self.notifier,
            queue=self.queue,
            clock=lambda: NOW,
            sleep=lambda s: None,
            **kwargs,
        )

    def deploy(self, tag: str = "1.5.0", image_digest: str = digest("b"), event_id: str = "evt-1") -> PushReport:
        with budget.running(Budget.seconds(INVOCATION_SECONDS)):
            return self.deployer().deploy(make_push(tag, image_digest, event_id=event_id))

    def carry_on_one(self, continuation: Continuation) -> PushReport:
        with budget.running(Budget.seconds(INVOCATION_SECONDS)):
            return self.deployer().carry_on(continuation)

    def carry_on(self) -> list[PushReport]:
        """Every continuation handed on, and those they hand on in turn, as the work queue would run them."""
        reports = []
        while self.queue.sent:
            for continuation in self.queue.take():
                reports.append(self.carry_on_one(continuation))
        return reports

    def images(self) -> dict[str, str]:
        return {
            key: self.ecs.task_definitions[self.ecs.service(*key.split("/")).task_definition].containers[0]["image"]
            for key in self.keys
        }

    def deploying(self) -> Counter[str]:
        return Counter(f"{n.cluster}/{n.service}" for n in self.notifier.published if n.status == "DEPLOYING")


# -- one registration per distinct new revision ------------------------------------------


def test_fanout_services_on_one_revision_share_one_new_revision() -> None:
    fleet = Fleet(families=10, per_family=10)

    report = fleet.deploy()

    assert Counter(o.status for o in report.outcomes) == Counter({Status.DEPLOYING: 100})
    assert fleet.ecs.count("RegisterTaskDefinition") == 10
    assert fleet.ecs.count("UpdateService") == 100
    pinned = f"{REGISTRY}/web@{digest('b')}"
    assert set(fleet.images().values()) == {pinned}
    # each family's ten services run its one new revision
    running = Counter(fleet.ecs.service(*k.split("/")).task_definition for k in fleet.keys)
    assert sorted(running.values()) == [10] * 10


def test_fanout_shared_revision_keeps_history_and_rollout_per_service() -> None:
    fleet = Fleet(families=1, per_family=3)

    report = fleet.deploy()

    assert {r.key: r.rollout_id for r in fleet.store.rollouts} == {
        key: rollout_id("evt-1", "main", key) for key in fleet.keys
    }
    assert {o.rollout_id for o in report.outcomes} == {rollout_id("evt-1", "main", k) for k in fleet.keys}
    assert len({r.deployment_id for r in fleet.store.rollouts}) == 3  # one ECS deployment per service
    assert fleet.deploying() == Counter(dict.fromkeys(fleet.keys, 1))
    [registered] = fleet.ecs.calls_of("RegisterTaskDefinition")
    tags = dict(registered["tags"])
    assert (tags["slipway:digest"], tags["slipway:tag"], tags["slipway:event-id"]) == (digest("b"), "1.5.0", "evt-1")
    assert tags["slipway:rule"] == "main"


def test_fanout_services_of_two_rules_on_one_revision_share_it_and_its_tag_names_both_rules() -> None:
    fleet = Fleet(families=1, per_family=4)
    half = [{"cluster": "prod", "service": k.split("/")[1]} for k in fleet.keys]
    fleet.rules.put("main", {"targets": half[:2]})
    fleet.rules.put("more", {"targets": half[2:]})

    fleet.deploy()

    [registered] = fleet.ecs.calls_of("RegisterTaskDefinition")
    assert dict(registered["tags"])["slipway:rule"] == "main more"
    assert {r.rule for r in fleet.store.rollouts} == {"main", "more"}


def test_fanout_different_containers_of_one_revision_get_different_revisions() -> None:
    fleet = Fleet(families=1, per_family=2)
    first, second = (k.split("/")[1] for k in fleet.keys)
    fleet.rules.put(
        "main",
        {
            "targets": [
                {"cluster": "prod", "service": first},
                {"cluster": "prod", "service": second, "container": "log-router"},
            ],
            "allow_downgrade": True,  # the log router runs 2.32.0
        },
    )

    fleet.deploy()

    assert fleet.ecs.count("RegisterTaskDefinition") == 2


def test_fanout_shared_revision_member_throttled_reuses_the_revision_when_retried() -> None:
    fleet = Fleet(families=1, per_family=3)
    fleet.ecs.fail("UpdateService", "ThrottlingException")
    fleet.queue = None  # type: ignore[assignment]  # no work queue: a retry of the invocation finishes it

    first = Deployer(fleet.ecs, fleet.rules, fleet.store, fleet.notifier, clock=lambda: NOW).deploy(make_push())
    second = Deployer(fleet.ecs, fleet.rules, fleet.store, fleet.notifier, clock=lambda: NOW).deploy(make_push())

    assert [o.error_code for o in first.retryable] == ["ThrottlingException"]
    assert second.retryable == []
    assert fleet.ecs.count("RegisterTaskDefinition") == 1
    assert len({fleet.ecs.service(*k.split("/")).task_definition for k in fleet.keys}) == 1
    assert fleet.deploying() == Counter(dict.fromkeys(fleet.keys, 1))


def test_fanout_member_updated_before_the_invocation_died_is_recorded_not_updated_again() -> None:
    # GIVEN an invocation that died after updating one service of a shared revision: its
    # claims are PENDING, one service runs the new revision, nothing is recorded
    fleet = Fleet(families=1, per_family=3)
    fleet.deploy()
    for key in fleet.keys[1:]:
        fleet.store.states[key] = fleet.store.states[key].advance(status="PENDING")
    fleet.store.states[fleet.keys[0]] = fleet.store.states[fleet.keys[0]].advance(status="PENDING")
    fleet.store.rollouts.clear()
    updates = fleet.ecs.count("UpdateService")

    # WHEN the event is retried
    report = fleet.deploy()

    # THEN every service is recorded as it runs, without another registration or UpdateService
    assert Counter(o.status for o in report.outcomes) == Counter({Status.DEPLOYING: 3})
    assert fleet.ecs.count("UpdateService") == updates
    assert fleet.ecs.count("RegisterTaskDefinition") == 1
    assert sorted(r.key for r in fleet.store.rollouts) == sorted(fleet.keys)


# -- hand-on: what does not fit in one invocation -------------------------------------------


def test_fanout_push_beyond_this_invocations_pace_hands_the_rest_on_without_a_message() -> None:
    fleet = Fleet(families=10, per_family=1, registrations=4)

    report = fleet.deploy()

    assert Counter(o.status for o in report.outcomes) == Counter({Status.DEPLOYING: 4})
    assert report.waiting == 6 and report.retryable == []
    [continuation] = fleet.queue.sent
    assert len(continuation.targets) == 6 and continuation.hops == 1
    assert continuation.push.event_id == "evt-1"
    assert sum(fleet.deploying().values()) == 4, "targets still waiting get no message"
    assert len(fleet.store.states) == 4, "waiting targets hold no claim"


def test_fanout_continuations_carry_on_until_every_service_runs_the_push_once() -> None:
    fleet = Fleet(families=10, per_family=1, registrations=3)
    fleet.deploy()

    hops = []
    while fleet.queue.sent:
        continuation = fleet.queue.take()[0]
        hops.append(continuation.hops)
        fleet.ecs.registrations_left = 3  # a new invocation, a new share of the pace
        fleet.carry_on_one(continuation)

    assert hops == [1, 2, 3]
    assert set(fleet.images().values()) == {f"{REGISTRY}/web@{digest('b')}"}
    assert fleet.ecs.count("RegisterTaskDefinition") == 10
    assert fleet.deploying() == Counter(dict.fromkeys(fleet.keys, 1))


def test_fanout_newer_push_while_targets_wait_supersedes_them() -> None:
    # GIVEN a push of 1.5.0 that reached 3 of 10 services, the rest handed on
    fleet = Fleet(families=10, per_family=1, registrations=3)
    fleet.deploy("1.5.0", digest("b"), event_id="evt-1")
    waiting = fleet.queue.take()
    # AND a push of 1.6.0 comes, reaching 3 more and handing on the rest
    fleet.ecs.registrations_left = 3
    fleet.deploy("1.6.0", digest("c"), event_id="evt-2")

    # WHEN the older push's continuation runs, and then the newer one's
    older = fleet.deployer().carry_on(waiting[0])
    fleet.ecs.registrations_left = None
    fleet.carry_on()

    # THEN none of the older push's waiting targets got 1.5.0; every service ends on 1.6.0
    assert {o.status for o in older.outcomes} == {Status.SKIPPED}
    assert all("superseded before its turn: web:1.6.0" in o.reason for o in older.outcomes)
    assert set(fleet.images().values()) == {f"{REGISTRY}/web@{digest('c')}"}
    on_older = [r.key for r in fleet.store.rollouts if r.tag == "1.5.0"]
    assert len(on_older) == 3


def test_fanout_carry_on_drops_targets_a_rule_edit_removed() -> None:
    fleet = Fleet(families=4, per_family=1, registrations=1)
    fleet.deploy()
    kept = fleet.keys[1]
    fleet.rules.put("main", {"targets": [{"cluster": "prod", "service": kept.split("/")[1]}]})

    [continuation] = fleet.queue.take()
    report = fleet.deployer().carry_on(continuation)

    statuses = {o.target.key: o.status for o in report.outcomes if o.target}
    assert statuses[kept] is Status.DEPLOYING
    assert {statuses[k] for k in fleet.keys[2:]} == {Status.SKIPPED}


def test_fanout_target_failing_in_every_invocation_is_given_up_with_the_reason() -> None:
    fleet = Fleet(families=1, per_family=1)
    for _ in range(MAX_TRIES + 2):
        fleet.ecs.fail("RegisterTaskDefinition", "ThrottlingException")

    fleet.deploy()
    reports = fleet.carry_on()

    final = [o for r in reports for o in r.outcomes]
    assert [o.status for o in final] == [Status.ERROR]
    assert f"gave up after {MAX_TRIES} invocations" in final[0].reason
    assert final[0].retryable is False
    assert len(reports) == MAX_TRIES - 1


def test_fanout_hand_on_refused_leaves_the_invocation_to_be_retried() -> None:
    fleet = Fleet(families=4, per_family=1, registrations=1)
    fleet.queue.failing = True

    report = fleet.deploy()

    assert report.hand_on_failure is not None and "3 target(s) not handed on" in report.hand_on_failure


def test_continuation_body_round_trips_and_splits_large_pushes() -> None:
    from slipway.attempt import Assignment
    from slipway.handon import MESSAGE_BYTES, continuations
    from tests.unit.fakes import make_rule

    rule = make_rule()
    few = [Assignment(rule, rule.spec.targets[0], tries=2)] * 1000
    many = [Assignment(rule, rule.spec.targets[0], tries=2, last_error="x" * 500)] * 2000

    assert [len(c.targets) for c in continuations(make_push(), few, hops=3, now=NOW)] == [1000]
    made = continuations(make_push(), many, hops=3, now=NOW)
    assert len(made) > 1 and sum(len(c.targets) for c in made) == 2000
    assert all(len(c.body()) <= MESSAGE_BYTES + 1000 for c in made)
    assert made[0].targets[0].last_error == "x" * 200  # a long reason is cut, not the message split early

    [one] = continuations(make_push(), few[:1], hops=3, now=NOW)
    again = Continuation.model_validate_json(one.body())
    assert again == one
    assert again.targets == [HandedTarget(rule="main", cluster="prod", service="web", tries=2)]
    assert again.push.push() == make_push()


# -- DEPLOYING goes out once ------------------------------------------------------------


def test_fanout_deploying_that_could_not_be_sent_is_kept_and_sent_once_by_the_retry() -> None:
    fleet = Fleet(families=2, per_family=1)
    fleet.notifier.failing = True

    first = fleet.deploy()
    assert first.notification_failures
    assert {s.notice for s in fleet.store.states.values()} == {"DEPLOYING"}

    fleet.notifier.failing = False
    fleet.deploy()
    fleet.deploy()  # and a later duplicate delivery

    assert fleet.deploying() == Counter(dict.fromkeys(fleet.keys, 1))
    assert {s.notice for s in fleet.store.states.values()} == {None}
    assert fleet.ecs.count("UpdateService") == 2


@pytest.mark.parametrize("deliveries", [2, 3])
def test_fanout_redelivered_continuation_sends_no_second_deploying(deliveries: int) -> None:
    fleet = Fleet(families=6, per_family=1, registrations=2)
    fleet.deploy()
    [continuation] = fleet.queue.take()

    for _ in range(deliveries):  # SQS delivers at least once
        fleet.ecs.registrations_left = None
        fleet.deployer().carry_on(continuation)

    assert fleet.deploying() == Counter(dict.fromkeys(fleet.keys, 1))
    assert fleet.ecs.count("RegisterTaskDefinition") == 6


def test_fanout_newer_push_during_a_long_invocation_stops_the_chunks_still_to_come() -> None:
    # GIVEN a push to 150 services (two chunks) and, while the first chunk is being read, a newer
    # push of the rule is admitted (another invocation of the deploy function)
    from slipway.pushes import RuleLatest

    fleet = Fleet(families=150, per_family=1)
    describe = fleet.ecs.describe_services

    def newer_push_comes(cluster: str, names: Any) -> Any:
        fleet.store.latest[("web", "main")] = RuleLatest("web", "main", "evt-2", "1.6.0", digest("c"), NOW)
        return describe(cluster, names)

    fleet.ecs.describe_services = newer_push_comes  # type: ignore[method-assign]

    report = fleet.deploy("1.5.0", digest("b"), event_id="evt-1")

    # THEN the first chunk rolled out; the second was never started, each of its targets told why
    statuses = Counter(o.status for o in report.outcomes)
    assert statuses == Counter({Status.DEPLOYING: 100, Status.SKIPPED: 50})
    skipped = [o for o in report.outcomes if o.status is Status.SKIPPED]
    assert all("superseded before its turn: web:1.6.0" in o.reason for o in skipped)
    assert {o.target.key for o in skipped if o.target} == set(fleet.keys[100:])
    assert fleet.ecs.count("RegisterTaskDefinition") == 100


def test_fanout_overtaken_target_gives_its_claim_back_for_the_newer_push() -> None:
    # GIVEN an older push that claimed a service but could not register for it (it is handed on,
    # still holding the claim) ...
    fleet = Fleet(families=1, per_family=1)
    [key] = fleet.keys
    fleet.ecs.fail("RegisterTaskDefinition", "ThrottlingException")
    fleet.deploy("1.5.0", digest("b"), event_id="evt-1")
    older = fleet.queue.take()
    assert fleet.store.states[key].status == "PENDING"
    # ... and a newer push that finds the service busy with that claim, and is handed on too
    fleet.deploy("1.6.0", digest("c"), event_id="evt-2")
    newer = fleet.queue.take()
    assert fleet.store.states[key].rollout_id == rollout_id("evt-1", "main", key)

    # WHEN the older push's continuation runs, it is overtaken and gives the service back
    fleet.carry_on_one(older[0])
    assert fleet.store.states[key].status == "DROPPED"

    # THEN the newer push's continuation rolls it out
    fleet.carry_on_one(newer[0])
    assert fleet.images()[key] == f"{REGISTRY}/web@{digest('c')}"
    assert [n.tag for n in fleet.notifier.published if n.status == "DEPLOYING"] == ["1.6.0"]


def test_fanout_target_its_rule_let_go_while_waiting_gives_its_claim_back() -> None:
    fleet = Fleet(families=1, per_family=1)
    [key] = fleet.keys
    fleet.ecs.fail("RegisterTaskDefinition", "ThrottlingException")
    fleet.deploy()
    fleet.rules.put("main", {"targets": [{"cluster": "prod", "service": "elsewhere"}]})

    [report] = fleet.carry_on()

    assert [o.status for o in report.outcomes] == [Status.SKIPPED]
    assert fleet.store.states[key].status == "DROPPED"


def test_fanout_first_chunk_is_small_when_ecs_would_not_describe_a_hundred_at_once() -> None:
    fleet = Fleet(families=100, per_family=1)
    fleet.ecs.forecast = lambda operation, count, place=None: 2.5 if operation == "DescribeTaskDefinition" else 0.0  # type: ignore[method-assign]
    claimed: list[int] = []
    put_states = fleet.store.put_states

    def claims(writes: Any) -> Any:
        claimed.append(len(writes))
        return put_states(writes)

    fleet.store.put_states = claims  # type: ignore[method-assign]

    fleet.deploy()

    assert claimed == [20, 80]  # the first registrations need not wait for a hundred reads
    assert fleet.ecs.count("UpdateService") == 100
