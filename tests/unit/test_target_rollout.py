"""Applying a plan through the ports: claims, retries, resumes and AWS errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from slipway.attempt import Assignment, Attempt
from slipway.claims import CLAIM_ATTEMPTS
from slipway.errors import AwsError
from slipway.model import Push, Service, ServiceState, Status, TaskDefinition
from slipway.outcome import Outcome
from slipway.pipeline import Pipeline
from slipway.plan import rollout_id
from slipway.rules import Rule, Target
from tests.unit.fakes import (
    NOW,
    REGISTRY,
    FakeEcs,
    FakeNotifier,
    FakeStore,
    digest,
    make_push,
    make_rule,
    make_state,
)

KEY = "prod/web"
TARGET = Target(cluster="prod", service="web")


class Harness:
    """One service (prod/web on web:1.4.0 with a log router) and the rollout pipeline over fakes."""

    def __init__(self) -> None:
        self.ecs = FakeEcs()
        self.store = FakeStore()
        self.notifier = FakeNotifier()
        self.original = self.ecs.add_task_definition(tags=[("team", "payments")])
        self.ecs.add_service("prod", "web", self.original)
        self.sleeps: list[float] = []
        self.now = NOW
        self.pipeline = Pipeline(
            self.ecs, self.store, self.notifier, clock=lambda: self.now, sleep=self.sleeps.append, workers=4
        )

    @property
    def refreshes(self) -> list[Target]:
        """The targets read again during a rollout (after a lost claim or a busy service)."""
        return [Target(cluster=c["cluster"], service=c["names"][0]) for c in self.ecs.calls_of("DescribeServices")]

    def current(self) -> tuple[Service, TaskDefinition]:
        service = self.ecs.service("prod", "web")
        return service, self.ecs.task_definitions[service.task_definition]

    def run(self, push: Push, rule: Rule | None = None) -> Outcome:
        """One invocation: read the service as the deployer would, then roll out."""
        service, taskdef = self.current()
        return self.run_on(push, rule or make_rule(), service, taskdef)

    def run_on(self, push: Push, rule: Rule, service: Service, taskdef: TaskDefinition) -> Outcome:
        """Roll out against the service and task definition given (as read, perhaps a while ago)."""
        attempt = Attempt(push, Assignment(rule, TARGET), service, taskdef, self.store.get_state(service.key))
        [outcome] = self.pipeline.run_attempts(push, [attempt]).outcomes
        assert outcome is not None
        return outcome

    def revisions(self) -> list[str]:
        return [arn for arn in self.ecs.task_definitions if arn != self.original]


@pytest.fixture
def harness() -> Harness:
    return Harness()


PUSH = make_push("1.5.0", digest("b"), event_id="evt-1")
RID = rollout_id("evt-1", "main", KEY)


# -- the plain rollout ---------------------------------------------------------------------


def test_target_rollout_new_image_registers_once_and_updates_once(harness: Harness) -> None:
    outcome = harness.run(PUSH)

    assert outcome.status is Status.DEPLOYING
    assert harness.ecs.count("RegisterTaskDefinition") == 1
    assert harness.ecs.count("UpdateService") == 1
    (revision,) = harness.revisions()
    assert outcome.task_definition == revision
    assert outcome.previous_task_definition == harness.original
    assert harness.ecs.service("prod", "web").task_definition == revision
    app = harness.ecs.task_definitions[revision].body["containerDefinitions"][0]
    assert app["image"] == f"{REGISTRY}/web@{digest('b')}"


def test_target_rollout_update_names_cluster_service_and_rule_breaker(harness: Harness) -> None:
    harness.run(PUSH, make_rule(circuit_breaker={"enable": True, "rollback": False}))

    (update,) = harness.ecs.calls_of("UpdateService")
    assert update["cluster"] == "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
    assert update["service"] == "web"
    assert update["deployment_configuration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}


def test_target_rollout_deploying_outcome_carries_deployment_and_rollout_ids(harness: Harness) -> None:
    outcome = harness.run(PUSH)

    primary = harness.ecs.service("prod", "web").primary()
    assert primary is not None
    assert outcome.deployment_id == primary.id
    assert outcome.rollout_id == RID
    assert outcome.containers == ("app",)


def test_target_rollout_claim_then_deploying_without_a_registered_write(harness: Harness) -> None:
    harness.run(PUSH)

    # REGISTERED (generation 2) is written only when UpdateService fails retryably
    assert [(s.status, s.generation) for s in harness.store.puts] == [("PENDING", 1), ("DEPLOYING", 3)]
    state = harness.store.get_state(KEY)
    assert state is not None
    assert (state.rollout_id, state.digest, state.tag, state.event_id) == (RID, digest("b"), "1.5.0", "evt-1")
    assert state.previous_task_definition == harness.original


def test_target_rollout_deploying_writes_one_history_record(harness: Harness) -> None:
    harness.run(PUSH, make_rule("canary"))

    (record,) = harness.store.rollouts
    assert record.status == "DEPLOYING"
    assert (record.key, record.repository, record.tag, record.digest) == (KEY, "web", "1.5.0", digest("b"))
    assert record.rule == "canary"
    assert record.image == f"{REGISTRY}/web@{digest('b')}"
    assert record.previous_task_definition == harness.original
    assert record.task_definition == harness.ecs.service("prod", "web").task_definition
    assert record.expects_rollback is True


def test_target_rollout_history_and_deploying_state_are_written_together(harness: Harness) -> None:
    # GIVEN the write of the history fails after UpdateService took effect
    harness.store.fail("TransactWriteItems", "ThrottlingException", status=400)

    first = harness.run(PUSH)

    # THEN neither the history nor the DEPLOYING state was written: the claim is still PENDING,
    # and the service runs a revision tagged with the claim's rollout id
    assert (first.status, first.retryable) == (Status.ERROR, True)
    assert harness.store.rollouts == []
    state = harness.store.get_state(KEY)
    assert state is not None and state.status == "PENDING"
    running = harness.ecs.task_definitions[harness.ecs.service("prod", "web").task_definition]
    assert running.tag("slipway:rollout-id") == state.rollout_id == RID

    # WHEN the event is delivered again, the retry recognises its revision and records the
    # rollout once, without registering or rolling again
    retry = harness.run(PUSH)

    assert retry.status is Status.DEPLOYING
    assert [r.status for r in harness.store.rollouts] == ["DEPLOYING"]
    assert harness.store.get_state(KEY).status == "DEPLOYING"  # type: ignore[union-attr]
    assert harness.ecs.count("RegisterTaskDefinition") == 1
    assert harness.ecs.count("UpdateService") == 1


def test_target_rollout_state_taken_over_before_record_still_keeps_history(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN another writer takes the service's state between UpdateService and the record
    newer = make_state(KEY, generation=9, rollout_id="a-newer-rollout", status="PENDING")
    record = harness.store.put_rollout

    def racing(rollout, state=None, expected_generation=None):  # type: ignore[no-untyped-def]
        if state is not None:
            harness.store.states[KEY] = newer
        record(rollout, state, expected_generation)

    monkeypatch.setattr(harness.store, "put_rollout", racing)

    outcome = harness.run(PUSH)

    # THEN the rollout ECS accepted is in the history, and the newer writer's state stands
    assert outcome.status is Status.DEPLOYING
    assert [(r.rollout_id, r.status) for r in harness.store.rollouts] == [(RID, "DEPLOYING")]
    assert harness.store.get_state(KEY) == newer


def test_target_rollout_skip_writes_no_claim(harness: Harness) -> None:
    # GIVEN the rule forbids the downgrade to 1.3.0
    outcome = harness.run(make_push("1.3.0", digest("b")))

    assert outcome.status is Status.SKIPPED
    assert harness.store.puts == []
    assert harness.ecs.count("RegisterTaskDefinition") == 0


def test_target_rollout_same_event_again_after_success_changes_nothing(harness: Harness) -> None:
    first = harness.run(PUSH)

    again = harness.run(PUSH)

    assert again.status is Status.DEPLOYING
    assert again.task_definition == first.task_definition
    assert harness.ecs.count("RegisterTaskDefinition") == 1
    assert harness.ecs.count("UpdateService") == 1


def test_target_rollout_other_push_of_same_digest_is_skipped(harness: Harness) -> None:
    harness.run(PUSH)

    other = harness.run(make_push("v1.5.0", digest("b"), event_id="evt-2"))

    assert other.status is Status.SKIPPED
    assert harness.ecs.count("RegisterTaskDefinition") == 1


# -- concurrent pushes --------------------------------------------------------------------


def test_target_rollout_lost_claim_rereads_and_replans_to_skip(harness: Harness) -> None:
    # GIVEN another event for the same digest wins the claim while we plan
    competitor = make_state(generation=1, rollout_id="r-other", image_digest=digest("b"), status="DEPLOYING")
    harness.store.lose_next_claim_to(competitor)

    outcome = harness.run(PUSH)

    # THEN we re-read the service and re-plan against the winner: nothing of ours happens
    assert harness.refreshes == [TARGET]
    assert outcome.status is Status.SKIPPED
    assert "r-other" in outcome.reason
    assert harness.ecs.count("RegisterTaskDefinition") == 0
    assert harness.store.get_state(KEY) == competitor


def test_target_rollout_lost_claim_to_other_digest_replans_and_supersedes(harness: Harness) -> None:
    # GIVEN another digest (1.4.5) won the claim and is deploying
    competitor = make_state(
        generation=4, rollout_id="r-other", image_digest=digest("c"), tag="1.4.5", status="DEPLOYING"
    )
    harness.store.lose_next_claim_to(competitor)

    outcome = harness.run(PUSH)

    assert outcome.status is Status.DEPLOYING
    assert outcome.supersedes == "r-other"
    assert harness.ecs.count("RegisterTaskDefinition") == 1
    state = harness.store.get_state(KEY)
    assert state is not None
    assert (state.rollout_id, state.status, state.generation) == (RID, "DEPLOYING", 7)


def test_target_rollout_lost_claim_replans_on_freshly_read_service(harness: Harness) -> None:
    # GIVEN we read the service while it ran 1.4.0 ...
    stale_service, stale_taskdef = harness.current()
    # ... and meanwhile a push of 1.9.0 claimed it and moved it to its own revision
    body = {**stale_taskdef.body, "containerDefinitions": [{"name": "app", "image": f"{REGISTRY}/web@{digest('d')}"}]}
    newer = harness.ecs.add_task_definition(body, tags=[("slipway:tag", "1.9.0")])
    harness.ecs.clusters["prod"]["web"] = replace(stale_service, task_definition=newer)
    harness.store.lose_next_claim_to(
        make_state(
            rollout_id="r-other", image_digest=digest("d"), tag="1.9.0", status="DEPLOYING", task_definition=newer
        )
    )

    outcome = harness.run_on(PUSH, make_rule(), stale_service, stale_taskdef)

    # THEN the second plan, on what the service runs now, sees 1.5.0 as a downgrade
    assert harness.refreshes == [TARGET]
    assert outcome.status is Status.SKIPPED
    assert "downgrade 1.9.0" in outcome.reason
    assert harness.ecs.count("RegisterTaskDefinition") == 0


def test_target_rollout_service_busy_with_fresh_claim_gives_up_retryable(harness: Harness) -> None:
    competitor = make_state(rollout_id="r-other", image_digest=digest("d"), status="PENDING", claimed_at=NOW)
    harness.store.states[KEY] = competitor

    outcome = harness.run(PUSH)

    assert outcome.status is Status.ERROR
    assert outcome.error_code == "ServiceBusy"
    assert outcome.retryable is True
    assert len(harness.sleeps) == CLAIM_ATTEMPTS
    assert harness.sleeps == sorted(harness.sleeps)  # backing off, not hammering
    assert harness.ecs.count("RegisterTaskDefinition") == 0
    assert harness.store.get_state(KEY) == competitor


def test_target_rollout_stale_claim_of_dead_rollout_is_taken_over(harness: Harness) -> None:
    stale_since = NOW - timedelta(minutes=6)
    stale = make_state(
        generation=3,
        rollout_id="r-dead",
        image_digest=digest("d"),
        tag="1.4.1",
        status="PENDING",
        claimed_at=stale_since,
    )
    harness.store.states[KEY] = stale

    outcome = harness.run(PUSH)

    assert outcome.status is Status.DEPLOYING
    assert harness.sleeps == []
    assert harness.store.puts[0].generation == 4


# -- AWS errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AccessDeniedException", "ClientException", "InvalidParameterException"])
def test_target_rollout_register_rejected_releases_claim_and_errors_with_code(harness: Harness, code: str) -> None:
    harness.ecs.fail("RegisterTaskDefinition", code)

    outcome = harness.run(PUSH)

    assert outcome.status is Status.ERROR
    assert outcome.error_code == code
    assert outcome.retryable is False
    assert code in outcome.reason
    assert harness.store.get_state(KEY) is None
    assert harness.ecs.count("UpdateService") == 0


def test_target_rollout_register_rejected_restores_previous_state(harness: Harness) -> None:
    previous = make_state(generation=5, rollout_id="r-before", image_digest=digest("c"), tag="1.4.0")
    harness.store.states[KEY] = previous
    harness.ecs.fail("RegisterTaskDefinition", "AccessDeniedException")

    harness.run(PUSH)

    state = harness.store.get_state(KEY)
    assert state is not None
    assert (state.rollout_id, state.digest, state.status, state.tag) == ("r-before", digest("c"), "SUCCEEDED", "1.4.0")
    assert state.generation > 5


def test_target_rollout_update_rejected_releases_claim_and_errors_with_code(harness: Harness) -> None:
    harness.ecs.fail("UpdateService", "AccessDeniedException")

    outcome = harness.run(PUSH)

    assert outcome.status is Status.ERROR
    assert outcome.error_code == "AccessDeniedException"
    assert outcome.retryable is False
    assert harness.store.get_state(KEY) is None
    assert harness.ecs.service("prod", "web").task_definition == harness.original
    assert harness.store.rollouts == []


def test_target_rollout_after_released_claim_next_push_deploys(harness: Harness) -> None:
    harness.ecs.fail("UpdateService", "AccessDeniedException")
    harness.run(PUSH)

    later = harness.run(make_push("1.5.1", digest("e"), event_id="evt-2"))

    assert later.status is Status.DEPLOYING


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400), ("ServiceUnavailableException", 503)])
def test_target_rollout_register_throttled_keeps_claim_and_retry_registers_once(
    harness: Harness, code: str, status: int
) -> None:
    harness.ecs.fail("RegisterTaskDefinition", code, status=status)

    first = harness.run(PUSH)

    assert first.status is Status.ERROR
    assert (first.error_code, first.retryable) == (code, True)
    state = harness.store.get_state(KEY)
    assert state is not None
    assert (state.rollout_id, state.status) == (RID, "PENDING")

    # WHEN the same event is delivered again
    retry = harness.run(PUSH)

    assert retry.status is Status.DEPLOYING
    assert len(harness.revisions()) == 1
    assert harness.ecs.count("UpdateService") == 1


def test_target_rollout_update_throttled_keeps_claim_and_retry_does_not_register_again(harness: Harness) -> None:
    harness.ecs.fail("UpdateService", "ThrottlingException")

    first = harness.run(PUSH)

    assert first.status is Status.ERROR
    assert (first.error_code, first.retryable) == ("ThrottlingException", True)
    state = harness.store.get_state(KEY)
    assert state is not None
    assert state.status == "REGISTERED"
    (revision,) = harness.revisions()
    assert state.task_definition == revision

    retry = harness.run(PUSH)

    assert retry.status is Status.DEPLOYING
    assert retry.task_definition == revision
    assert harness.ecs.count("RegisterTaskDefinition") == 1
    assert harness.ecs.count("UpdateService") == 2
    assert harness.ecs.service("prod", "web").task_definition == revision


def test_target_rollout_update_throttled_and_registered_state_not_kept_fails_with_the_update_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN UpdateService is throttled past the budget and DynamoDB refuses the REGISTERED write
    harness.ecs.fail("UpdateService", "ThrottlingException")
    put_state = harness.store.put_state

    def refuse_registered(state: ServiceState, expected_generation: int | None) -> None:
        if state.status == "REGISTERED":
            raise AwsError("PutItem", "ProvisionedThroughputExceededException", "injected")
        put_state(state, expected_generation)

    monkeypatch.setattr(harness.store, "put_state", refuse_registered)

    first = harness.run(PUSH)

    # THEN the target fails with the UpdateService error, retryably, and the claim stays PENDING
    assert (first.status, first.error_code, first.retryable) == (Status.ERROR, "ThrottlingException", True)
    assert harness.store.get_state(KEY).status == "PENDING"  # type: ignore[union-attr]

    # WHEN the event is retried, the service is rolled out once
    retry = harness.run(PUSH)

    assert retry.status is Status.DEPLOYING
    assert harness.ecs.count("UpdateService") == 2  # the throttled one and the retry's
    assert harness.ecs.service("prod", "web").task_definition == retry.task_definition


def test_target_rollout_resume_when_service_already_runs_revision_skips_update(harness: Harness) -> None:
    # GIVEN UpdateService took effect but its response was lost (read timeout)
    harness.ecs.fail("UpdateService", "ReadTimeout", after_effect=True)
    first = harness.run(PUSH)
    assert (first.status, first.retryable) == (Status.ERROR, True)
    (revision,) = harness.revisions()
    assert harness.ecs.service("prod", "web").task_definition == revision

    # WHEN the same event is retried
    retry = harness.run(PUSH)

    # THEN the rollout is recorded as deploying, without a second UpdateService
    assert retry.status is Status.DEPLOYING
    assert harness.ecs.count("UpdateService") == 1
    assert harness.ecs.count("RegisterTaskDefinition") == 1
    primary = harness.ecs.service("prod", "web").primary()
    assert primary is not None
    assert retry.deployment_id == primary.id
    state = harness.store.get_state(KEY)
    assert state is not None
    assert (state.status, state.deployment_id) == ("DEPLOYING", primary.id)
    assert [r.status for r in harness.store.rollouts] == ["DEPLOYING"]


@pytest.mark.parametrize(
    ("code", "after_effect"), [("ThrottlingException", False), ("ReadTimeout", True)], ids=["throttled", "lost"]
)
def test_target_rollout_resumed_in_a_later_attempt_still_supersedes_the_rollout_it_took_over(
    harness: Harness, code: str, after_effect: bool
) -> None:
    # GIVEN an older push's rollout is deploying on the service
    harness.store.states[KEY] = make_state(
        generation=2, rollout_id="r-older", image_digest=digest("c"), tag="1.4.5", status="DEPLOYING"
    )
    # ... and our first attempt claimed it, but its UpdateService was throttled (or its answer lost)
    harness.ecs.fail("UpdateService", code, after_effect=after_effect)
    first = harness.run(PUSH)
    assert (first.status, first.retryable) == (Status.ERROR, True)

    # WHEN a later attempt resumes the claim (the older rollout's state is overwritten by then)
    retry = harness.run(PUSH)

    # THEN it still supersedes the older rollout
    assert retry.status is Status.DEPLOYING
    assert retry.supersedes == "r-older"


def test_target_rollout_retry_after_newer_push_took_stale_claim_does_not_go_backwards(harness: Harness) -> None:
    # GIVEN our first attempt failed retryably and left its claim
    harness.ecs.fail("RegisterTaskDefinition", "ThrottlingException")
    harness.run(PUSH)
    # ... and minutes later, a push of 1.6.0 took over the stale claim and deployed
    harness.now = NOW + timedelta(minutes=6)
    newer = harness.run(make_push("1.6.0", digest("f"), event_id="evt-2"))
    assert newer.status is Status.DEPLOYING

    # WHEN our event is finally retried
    retry = harness.run(PUSH)

    # THEN it re-plans against the newer rollout instead of resuming: no downgrade to 1.5.0
    assert retry.status is Status.SKIPPED
    assert "downgrade 1.6.0" in retry.reason
    assert harness.ecs.service("prod", "web").task_definition == newer.task_definition
    assert harness.ecs.count("RegisterTaskDefinition") == 2  # ours (throttled) and the newer push's


def test_target_rollout_history_write_failure_retry_writes_history(harness: Harness) -> None:
    # GIVEN UpdateService was accepted but the history write was throttled
    harness.store.fail("TransactWriteItems", "ThrottlingException")
    first = harness.run(PUSH)
    assert (first.status, first.retryable) == (Status.ERROR, True)

    retry = harness.run(PUSH)

    assert retry.status is Status.DEPLOYING
    assert harness.ecs.count("UpdateService") == 1
    # THEN the tracker can find the rollout: its history record exists
    assert [r.rollout_id for r in harness.store.rollouts] == [RID]
