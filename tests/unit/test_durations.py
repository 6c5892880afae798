"""The two durations the dashboard charts: from a push to its DEPLOYING, and to its rollout's outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from slipway.model import Rollout, Status
from slipway.moves import ALLOWED_FROM, Mover
from slipway.telemetry import count, metrics
from tests.unit.fakes import NOW, DeployerWorld, FakeEcs, FakeNotifier, cluster_arn, digest, make_push

PROD_WEB = {"cluster": "prod", "service": "web"}
STAGING_WEB = {"cluster": "staging", "service": "web"}


def values(recorded: list[tuple[str, int]], name: str) -> list[int]:
    return [value for metric, value in recorded if metric == name]


# -- push to DEPLOYING (the deploy function) ---------------------------------------------------


def test_deployer_each_deploying_target_counts_seconds_since_the_push() -> None:
    # GIVEN an image pushed 95 seconds before the deploy function runs, for two targets
    world = DeployerWorld()
    world.rules.put("main", {"targets": [PROD_WEB, STAGING_WEB]})
    push = replace(make_push(), time=NOW - timedelta(seconds=95))

    # WHEN it is deployed
    report = world.deployer().deploy(push)

    # THEN each DEPLOYING is one PushToDeployingSeconds of 95
    assert report.count(Status.DEPLOYING) == 2
    assert values(world.metrics, "PushToDeployingSeconds") == [95, 95]


def test_deployer_targets_not_deploying_count_no_push_to_deploying() -> None:
    # GIVEN a rule whose only target is a service that does not exist
    world = DeployerWorld()
    world.rules.put("main", {"targets": [{"cluster": "prod", "service": "gone"}]})

    report = world.deployer().deploy(replace(make_push(), time=NOW - timedelta(seconds=30)))

    assert report.count(Status.ERROR) == 1
    assert values(world.metrics, "PushToDeployingSeconds") == []


def test_deployer_rollout_history_carries_the_push_time() -> None:
    world = DeployerWorld()
    world.rules.put("main", {"targets": [PROD_WEB]})
    pushed = NOW - timedelta(minutes=3)

    world.deployer().deploy(replace(make_push(), time=pushed))

    assert [r.pushed_at for r in world.store.rollouts] == [pushed]


# -- push to outcome (the track and sweep functions) -------------------------------------------


class MovingStore:
    """The writes a move makes, as DynamoStore's conditional transition does them: from allowed statuses only."""

    def __init__(self) -> None:
        self.untracked: list[str] = []

    def transition(self, rollout: Rollout, status: str, allowed_from: frozenset[str], **changes: Any) -> Rollout | None:
        if rollout.status not in allowed_from:
            return None
        reason = changes.pop("reason")
        return rollout.with_status(status, reason, **{k: v for k, v in changes.items() if v is not None})

    def advance_stage(
        self, rollout: Rollout, stage: str | None, changed_at: datetime, progress: str | None
    ) -> Rollout | None:
        return replace(rollout, stage=stage, stage_changed_at=changed_at, progress=progress)

    def pending_notice(self, rollout: Rollout) -> str | None:
        return None

    def notice_sent(self, rollout: Rollout, status: str) -> None:
        return None

    def untrack(self, rollout: Rollout) -> None:
        self.untracked.append(rollout.rollout_id)

    def set_state_status(self, key: str, rollout_id: str, status: str) -> None:
        return None


def make_rollout(pushed_at: datetime | None, status: str = Status.DEPLOYING.value) -> Rollout:
    return Rollout(
        rollout_id="r-1",
        key="prod/web",
        cluster="prod",
        service="web",
        service_arn=cluster_arn("prod").replace(":cluster/", ":service/") + "/web",
        repository="web",
        tag="1.5.0",
        digest=digest("b"),
        image=f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@{digest('b')}",
        rule="main",
        launch_type="FARGATE",
        task_definition="arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2",
        previous_task_definition="arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1",
        deployment_id="ecs-svc/1",
        status=status,
        reason="accepted",
        started_at=NOW - timedelta(seconds=200),
        event_id="evt-1",
        pushed_at=pushed_at,
    )


def mover(recorded: list[tuple[str, int]], now: datetime = NOW) -> Mover:
    return Mover(
        FakeEcs(), MovingStore(), FakeNotifier(), lambda: now, lambda name, value: recorded.append((name, value))
    )


@pytest.mark.parametrize("status", sorted(s for s in ALLOWED_FROM if Status.DEPLOYING.value in ALLOWED_FROM[s]))
def test_mover_outcome_counts_seconds_since_the_push(status: str) -> None:
    # GIVEN a rollout of an image pushed 300 seconds ago (its claim came 100 seconds after the push)
    recorded: list[tuple[str, int]] = []

    # WHEN it reaches an outcome now
    moved = mover(recorded).move(make_rollout(pushed_at=NOW - timedelta(seconds=300)), status, "because")

    # THEN the outcome is counted, and so is the time from the push, not from the claim
    assert moved == status
    assert values(recorded, f"Rollouts{status.title().replace('_', '')}") == [1]
    assert values(recorded, "PushToOutcomeSeconds") == [300]


def test_mover_rollout_recorded_without_push_time_counts_outcome_only() -> None:
    recorded: list[tuple[str, int]] = []

    mover(recorded).move(make_rollout(pushed_at=None), Status.SUCCEEDED.value, "completed")

    assert values(recorded, "RolloutsSucceeded") == [1]
    assert values(recorded, "PushToOutcomeSeconds") == []


def test_mover_outcome_ignored_counts_no_duration() -> None:
    # GIVEN a rollout that SUCCEEDED already: a second SUCCEEDED is a duplicate
    recorded: list[tuple[str, int]] = []
    done = make_rollout(pushed_at=NOW - timedelta(seconds=60), status=Status.SUCCEEDED.value)

    assert mover(recorded).move(done, Status.SUCCEEDED.value, "again") is None
    assert recorded == []


# -- the unit CloudWatch receives ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "unit"),
    [("PushToDeployingSeconds", "Seconds"), ("PushToOutcomeSeconds", "Seconds"), ("TargetsDeployed", "Count")],
)
def test_telemetry_count_unit_is_seconds_for_a_duration_and_count_otherwise(name: str, unit: str) -> None:
    metrics.clear_metrics()
    try:
        count(name, 42)

        assert metrics.metric_set[name]["Unit"] == unit
        assert metrics.metric_set[name]["Value"] == [42.0]
    finally:
        metrics.clear_metrics()
