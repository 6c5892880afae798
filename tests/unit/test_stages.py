"""Reading ECS service deployments as outcomes and PROGRESS milestones (``stages.read``), and the timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway.model import HookDetail, Rollout, ServiceDeployment, Status
from slipway.stages import deadline, read

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ARN = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/Ab12Cd34"
CANARY = {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}}


def rollout(strategy: str = "canary", **changes: Any) -> Rollout:
    values: dict[str, Any] = {
        "rollout_id": "r-1",
        "key": "prod/web",
        "cluster": "prod",
        "service": "web",
        "service_arn": "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
        "repository": "web",
        "tag": "1.4.0",
        "digest": "sha256:" + "a" * 64,
        "image": "web@sha256:" + "a" * 64,
        "rule": "prod",
        "launch_type": "FARGATE",
        "task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8",
        "previous_task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "deployment_id": "ecs-svc/1",
        "status": "DEPLOYING",
        "reason": "UpdateService accepted the new revision",
        "started_at": T0,
        "event_id": "evt-1",
        "strategy": strategy,
        "service_deployment_arn": ARN,
    }
    values.update(changes)
    return Rollout(**values)


def deployment(status: str = "IN_PROGRESS", **changes: Any) -> ServiceDeployment:
    values: dict[str, Any] = {
        "arn": ARN,
        "service_arn": "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
        "status": status,
        "configuration": CANARY,
        "updated_at": T0,
    }
    values.update(changes)
    return ServiceDeployment(**values)


def test_read_successful_with_all_production_traffic_is_success() -> None:
    reading = read(deployment("SUCCESSFUL", production_weight=100.0, lifecycle_stage="CLEAN_UP"), rollout())
    assert reading.verdict is not None
    assert reading.verdict.status == Status.SUCCEEDED
    assert reading.verdict.reason == "canary deployment successful"


def test_read_successful_without_production_traffic_is_never_success() -> None:
    reading = read(deployment("SUCCESSFUL", production_weight=5.0), rollout())
    assert reading.verdict is not None
    assert reading.verdict.status == Status.FAILED
    assert "5 % of production traffic" in reading.verdict.reason


def test_read_rollback_successful_is_rolled_back_with_ecs_reason() -> None:
    why = "Alarm web-5xx is in ALARM state"
    reading = read(deployment("ROLLBACK_SUCCESSFUL", rollback_reason=why), rollout())
    assert reading.verdict is not None
    assert reading.verdict.status == Status.ROLLED_BACK
    assert reading.verdict.reason == f"ECS rolled the canary deployment back: {why}"


def test_read_rollback_of_an_abort_names_who_aborted_and_why() -> None:
    aborted = rollout(aborted_by="arn:aws:sts::123456789012:assumed-role/oncall/ana", abort_reason="latency")
    reading = read(deployment("ROLLBACK_SUCCESSFUL", rollback_reason="stop requested"), aborted)
    assert reading.verdict is not None
    assert reading.verdict.reason.startswith("aborted by arn:aws:sts::123456789012:assumed-role/oncall/ana (latency);")


@pytest.mark.parametrize(
    ("status", "gist"),
    [("ROLLBACK_FAILED", "could not roll the canary deployment back"), ("STOPPED", "stopped the canary deployment")],
)
def test_read_failed_endings(status: str, gist: str) -> None:
    reading = read(deployment(status, status_reason="tasks failed to start"), rollout())
    assert reading.verdict is not None
    assert reading.verdict.status == Status.FAILED
    assert gist in reading.verdict.reason and "tasks failed to start" in reading.verdict.reason


def test_read_canary_shifted_is_a_milestone_baking_until_its_end() -> None:
    reading = read(deployment(lifecycle_stage="PRODUCTION_TRAFFIC_SHIFT", production_weight=5.0), rollout())
    assert reading.verdict is None and reading.milestone is not None
    assert reading.milestone.key == "TRAFFIC:5"
    assert reading.milestone.until == T0 + timedelta(minutes=10)
    assert reading.milestone.reason == (
        "5 % of production traffic shifted to the new revision; baking until 2026-12-02 09:10 UTC, then the rest"
    )


def test_read_pause_awaiting_action_asks_for_approval_until_expiry() -> None:
    hook = HookDetail("ecs-pause-xyz", "PAUSE", "AWAITING_ACTION", expires_at=T0 + timedelta(hours=1))
    reading = read(deployment(lifecycle_stage="POST_TEST_TRAFFIC_SHIFT", hooks=(hook,)), rollout())
    assert reading.milestone is not None
    assert reading.milestone.key == "PAUSED:ecs-pause-xyz"
    assert reading.milestone.hook_id == "ecs-pause-xyz"
    assert "slipway approve r-1" in reading.milestone.reason
    assert "until 2026-12-02 10:00 UTC, then rollback" in reading.milestone.reason
    assert reading.waits_until == T0 + timedelta(hours=1)


def test_read_production_shifted_bakes_with_the_old_revision_kept() -> None:
    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 15}
    reading = read(
        deployment(lifecycle_stage="BAKE_TIME", production_weight=100.0, configuration=config),
        rollout("blue_green"),
    )
    assert reading.milestone is not None
    assert reading.milestone.key == "PRODUCTION"
    assert reading.milestone.until == T0 + timedelta(minutes=15)


def test_read_scaling_up_is_no_milestone() -> None:
    reading = read(deployment(lifecycle_stage="SCALE_UP", production_weight=0.0), rollout())
    assert reading.stage == "SCALE_UP"
    assert reading.verdict is None and reading.milestone is None


def test_read_rollback_in_progress_is_reported_once_as_rolling_back() -> None:
    reading = read(deployment("ROLLBACK_IN_PROGRESS", rollback_reason="Alarm web-5xx"), rollout())
    assert reading.verdict is None
    assert reading.milestone is not None and reading.milestone.key == "ROLLING_BACK"


def test_deadline_counts_from_the_last_stage_change() -> None:
    changed = rollout(stage_changed_at=T0 + timedelta(hours=2))
    reading = read(deployment(lifecycle_stage="SCALE_UP"), changed)
    assert deadline(reading, changed, timedelta(minutes=30)) == T0 + timedelta(hours=2, minutes=30)


def test_deadline_never_before_a_pause_ecs_ends_itself() -> None:
    hook = HookDetail("ecs-pause-xyz", "PAUSE", "AWAITING_ACTION", expires_at=T0 + timedelta(hours=8))
    reading = read(deployment(hooks=(hook,)), rollout())
    assert deadline(reading, rollout(), timedelta(minutes=30)) == T0 + timedelta(hours=8, minutes=30)
