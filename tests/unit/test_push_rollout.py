"""One push to many services: one DynamoDB transaction per step, and what happens when one fails."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from slipway.deploy import Deployer
from slipway.model import Status
from slipway.report import PushReport
from tests.unit.fakes import (
    NOW,
    DeployerWorld,
    FakeEcs,
    FakeNotifier,
    FakeRules,
    FakeStore,
    digest,
    make_push,
    make_state,
)

SERVICES = ("prod/web", "prod/api", "staging/web")
TARGETS = [{"cluster": key.split("/")[0], "service": key.split("/")[1]} for key in SERVICES]


class World(DeployerWorld):
    """The three services under one rule, each on a revision of its own (nothing to share)."""

    def __init__(self) -> None:
        super().__init__()
        for key in SERVICES[1:]:
            cluster, name = key.split("/")
            own = self.ecs.add_task_definition()
            self.ecs.clusters[cluster][name] = replace(self.ecs.service(cluster, name), task_definition=own)
        self.rules.put("main", {"targets": TARGETS})

    def statuses(self, report: PushReport) -> dict[str, Status]:
        return {o.target.key: o.status for o in report.outcomes if o.target}

    def fail_transaction(self, number: int, code: str = "ThrottlingException", times: int = 1) -> None:
        """From the ``number``-th batched write on (1 = the claims), fail ``times`` TransactWriteItems."""
        original_states, original_rollouts = self.store.put_states, self.store.put_rollouts
        seen = Counter[str]()

        def failing(original: Any) -> Any:
            def call(writes: Any) -> Any:
                seen["n"] += 1
                if seen["n"] == number:
                    for _ in range(times):
                        self.store.fail("TransactWriteItems", code)
                return original(writes)

            return call

        self.store.put_states = failing(original_states)  # type: ignore[method-assign]
        self.store.put_rollouts = failing(original_rollouts)  # type: ignore[method-assign]


@pytest.fixture
def world() -> World:
    return World()


def assert_deployed_once_each(world: World) -> None:
    assert world.ecs.count("RegisterTaskDefinition") == len(SERVICES)
    assert world.ecs.count("UpdateService") == len(SERVICES)
    assert sorted(r.key for r in world.store.rollouts) == sorted(SERVICES)
    assert {key: world.store.states[key].status for key in SERVICES} == dict.fromkeys(SERVICES, "DEPLOYING")


def test_push_rollout_claims_and_records_with_one_transaction_each(world: World) -> None:
    report = world.deploy()

    assert world.statuses(report) == dict.fromkeys(SERVICES, Status.DEPLOYING)
    assert world.store.calls["TransactWriteItems"] == 2
    assert world.store.calls["PutItem"] == 0
    assert_deployed_once_each(world)
    # each service went PENDING, then DEPLOYING (REGISTERED, generation 2, stayed unwritten)
    assert Counter((s.status, s.generation) for s in world.store.puts) == Counter(
        {("PENDING", 1): 3, ("DEPLOYING", 3): 3}
    )


@pytest.mark.parametrize("number", [1, 2], ids=["claims", "records"])
def test_push_rollout_failed_transaction_falls_back_to_one_write_per_service(world: World, number: int) -> None:
    world.fail_transaction(number)

    report = world.deploy()

    assert world.statuses(report) == dict.fromkeys(SERVICES, Status.DEPLOYING)
    assert_deployed_once_each(world)
    assert world.store.calls["PutItem"] == {1: 3, 2: 0}[number]


def test_push_rollout_claim_lost_to_a_concurrent_push_re_plans_against_it(world: World) -> None:
    # GIVEN another push claims prod/api (and starts deploying it) after this push read the states
    other = make_state("prod/api", generation=4, rollout_id="the-other-rollout", status="DEPLOYING")
    world.store.lose_next_claim_to(other)

    report = world.deploy()

    # THEN the batch of claims failed as a whole, every target claimed alone, nothing is lost
    assert world.statuses(report) == dict.fromkeys(SERVICES, Status.DEPLOYING)
    assert_deployed_once_each(world)
    api = next(o for o in report.outcomes if o.target and o.target.key == "prod/api")
    assert api.supersedes == "the-other-rollout"
    assert world.store.states["prod/api"].generation == 7  # claimed on top of the other push's state


def test_push_rollout_records_not_written_fail_retryably_and_the_retry_records_once(world: World) -> None:
    # GIVEN the records' transaction and each single write after it are throttled past the budget
    world.fail_transaction(2, times=1 + len(SERVICES))

    first = world.deploy()

    assert {o.status for o in first.outcomes} == {Status.ERROR}
    assert all(o.retryable and o.error_code == "ThrottlingException" for o in first.outcomes)
    assert world.store.rollouts == []

    # WHEN Lambda retries the same event, the services already run the revisions: no new ones
    second = world.deploy()

    assert world.statuses(second) == dict.fromkeys(SERVICES, Status.DEPLOYING)
    assert_deployed_once_each(world)


def test_push_rollout_register_error_ends_that_target_only(world: World) -> None:
    world.ecs.fail("RegisterTaskDefinition", "AccessDeniedException")

    report = world.deploy()

    outcomes = Counter(o.status for o in report.outcomes)
    assert outcomes == Counter({Status.DEPLOYING: 2, Status.ERROR: 1})
    (failed,) = [o for o in report.outcomes if o.status is Status.ERROR]
    assert (failed.error_code, failed.retryable) == ("AccessDeniedException", False)
    assert failed.target is not None
    assert failed.target.key not in world.store.states  # its claim was given back


def test_push_rollout_store_error_on_claims_reaches_each_target(world: World) -> None:
    # GIVEN DynamoDB refuses every write
    for _ in range(10):
        world.store.fail("TransactWriteItems", "AccessDeniedException")
        world.store.fail("PutItem", "AccessDeniedException")

    report = world.deploy()

    assert {o.status for o in report.outcomes} == {Status.ERROR}
    assert {o.error_code for o in report.outcomes} == {"AccessDeniedException"}
    assert world.ecs.count("RegisterTaskDefinition") == 0


def test_push_rollout_update_throttled_keeps_its_revision_and_the_retry_reuses_it(world: World) -> None:
    # GIVEN UpdateService is throttled past the budget for one of the three services
    world.ecs.fail("UpdateService", "ThrottlingException")

    first = world.deploy()

    # THEN that target fails retryably, and its REGISTERED state keeps the revision it registered
    (failed,) = [o for o in first.outcomes if o.status is Status.ERROR]
    assert (failed.error_code, failed.retryable) == ("ThrottlingException", True)
    assert failed.target is not None
    kept = world.store.states[failed.target.key]
    assert (kept.status, kept.generation) == ("REGISTERED", 2)
    assert world.ecs.count("RegisterTaskDefinition") == len(SERVICES)

    # WHEN Lambda retries the event, the service is updated to that revision: no new one
    second = world.deploy()

    assert world.statuses(second)[failed.target.key] is Status.DEPLOYING
    assert world.ecs.count("RegisterTaskDefinition") == len(SERVICES)
    service = world.ecs.service(*failed.target.key.split("/"))
    assert service.task_definition == kept.task_definition
    assert world.store.states[failed.target.key].status == "DEPLOYING"


def test_push_rollout_records_go_in_groups_as_services_finish() -> None:
    # GIVEN one rule over 40 services, each on a revision of its own
    ecs, rules, store = FakeEcs(), FakeRules(), FakeStore()
    targets = []
    for number in range(40):
        ecs.add_service("prod", f"svc-{number}", ecs.add_task_definition())
        targets.append({"cluster": "prod", "service": f"svc-{number}"})
    rules.put("main", {"targets": targets})
    deployer = Deployer(ecs, rules, store, FakeNotifier(), clock=lambda: NOW, sleep=lambda seconds: None)

    report = deployer.deploy(make_push("1.5.0", digest("b")))

    # THEN every service is recorded once: one claims transaction, then records of at most 10
    assert {o.status for o in report.outcomes} == {Status.DEPLOYING}
    assert sorted(r.key for r in store.rollouts) == sorted(f"prod/svc-{n}" for n in range(40))
    assert store.calls["TransactWriteItems"] == 1 + 4  # 40 records: 10 + 10 + 10 + 10 (in finishing order)
    assert ecs.count("RegisterTaskDefinition") == ecs.count("UpdateService") == 40


@pytest.mark.parametrize("before", [None, "SUCCEEDED"], ids=["first-rollout", "after-an-earlier-one"])
def test_push_rollout_update_refused_gives_that_claim_back(world: World, before: str | None) -> None:
    # GIVEN the services have no state yet, or one of an earlier rollout (generation 4)
    earlier = {key: make_state(key, generation=4, status=before) for key in SERVICES} if before else {}
    world.store.states.update(earlier)
    # ... and UpdateService is refused (not retryable) for one of the three services
    world.ecs.fail("UpdateService", "AccessDeniedException")

    report = world.deploy()

    # THEN that target fails with the code, its claim is given back (the earlier state is
    # restored one generation past the claim), and the others deploy
    (failed,) = [o for o in report.outcomes if o.status is Status.ERROR]
    assert (failed.error_code, failed.retryable) == ("AccessDeniedException", False)
    assert failed.target is not None
    restored = world.store.states.get(failed.target.key)
    if before is None:
        assert restored is None
    else:
        assert restored is not None
        assert (restored.status, restored.rollout_id, restored.generation) == (
            before,
            earlier[failed.target.key].rollout_id,
            6,
        )
    assert sorted(k for k, s in world.store.states.items() if s.status == "DEPLOYING") == sorted(
        k for k in SERVICES if k != failed.target.key
    )
