"""An ECS deployment event as tracking reads it: which deployment a rollback returns to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway.events import EcsDeploymentEvent
from slipway.tracking import DeploymentChange
from tests.conftest import EVENTS


def change_of(event: dict[str, Any]) -> DeploymentChange:
    """The DeploymentChange the track handler builds from an event."""
    parsed = EcsDeploymentEvent.model_validate(event)
    return DeploymentChange(
        service_arn=parsed.service_arn,
        deployment_id=parsed.detail.deployment_id,
        event_name=parsed.detail.event_name,
        reason=parsed.detail.reason or "",
        time=parsed.time,
    )


def test_deployment_change_aws_sample_rollback_names_the_deployment_rolled_back_to() -> None:
    # GIVEN AWS's documented "rollback deployment starting" event: its reason "provides the ID
    # of the deployment the service is rolling back to" (the placeholder deploymentID)
    change = change_of(json.loads((EVENTS / "ecs-deployment-rollback-started.json").read_text()))

    assert change.deployment_id == "ecs-svc/123"
    assert change.rolls_back == "deploymentID"
    assert change.service_key == "default/servicetest"


@pytest.mark.parametrize(
    "name",
    [
        "ecs-sequence-circuit-breaker-rollback.json",
        "ecs-sequence-alarm-rollback.json",
        "ecs-sequence-rollback-out-of-order.json",
    ],
)
def test_deployment_change_recorded_rollbacks_name_the_last_completed_deployment(name: str) -> None:
    changes = [change_of(event) for event in json.loads((EVENTS / name).read_text())]

    rollbacks = [c for c in changes if c.rolls_back]

    # THEN only the rollback deployment says where it goes: the last completed deployment, not Slipway's failed one
    assert [(c.deployment_id, c.rolls_back) for c in rollbacks] == [
        ("ecs-svc/2222222222222222222", "ecs-svc/4444444444444444444")
    ]


@pytest.mark.parametrize(
    "reason",
    [
        "ECS deployment ecs-svc/1111111111111111111 in progress.",
        "ECS deployment ecs-svc/1111111111111111111 completed.",
        "ECS deployment circuit breaker: tasks failed to start.",
        "",
    ],
)
def test_deployment_change_other_reasons_roll_nothing_back(reason: str) -> None:
    event = json.loads((EVENTS / "ecs-deployment-in-progress.json").read_text())
    event["detail"]["reason"] = reason

    assert change_of(event).rolls_back is None
