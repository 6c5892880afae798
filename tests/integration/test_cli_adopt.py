"""`slipway adopt`: a service's running revision recorded as its baseline, so rollback can return to it."""

from __future__ import annotations

import json

from sandbox.deployments import Deployments
from sandbox.stack import World
from tests.integration.test_cli_history_rollback import slipway
from tests.integration.test_deploy import fargate_web, push


def test_cli_adopt_then_deploy_then_rollback_returns_to_the_adopted_revision(
    world: World, deploy, track, ecs_life: Deployments, capsys, clock
) -> None:
    # GIVEN a service Slipway never deployed, adopted
    world.create_repository("web")
    original = fargate_web(world)
    code, out, err = slipway(capsys, "adopt", "prod/web")
    assert code == 0, err
    assert out.startswith(f"adopted prod/web: {original.rsplit('/', 1)[-1]} (web:1.0.0) is its baseline")
    [baseline] = json.loads(slipway(capsys, "history", "prod/web", "--json")[1])
    assert (baseline["rule"], baseline["status"], baseline["deployment_id"]) == ("adopt", "SUCCEEDED", None)
    assert baseline["task_definition"] == original and "arn:aws" in (baseline["initiated_by"] or "arn:aws")

    # WHEN a push deploys through the real deploy handler and completes
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    deploy(push(world, "web", "1.1.0"))
    [note] = [n["message"] for n in world.notifications() if n["message"]["status"] == "DEPLOYING"]
    track(ecs_life.complete("prod", "web", note["deployment_id"]))
    assert world.describe_service("prod", "web")["taskDefinition"] != original

    # THEN slipway rollback returns the service to the adopted revision
    code, out, err = slipway(capsys, "rollback", "prod/web")
    assert code == 0, err
    assert world.describe_service("prod", "web")["taskDefinition"] == original


def test_cli_adopt_makes_rollback_work_after_a_change_outside_slipway(world: World, faults, capsys) -> None:
    # GIVEN an adopted service that another tool then moved to a new revision
    original = fargate_web(world)
    assert slipway(capsys, "adopt", "prod/web")[0] == 0
    newer = world.task_definition("web", [{"name": "app", "image": world.image_uri("web", "2.0.0")}])
    world.ecs.update_service(cluster="prod", service="web", taskDefinition=newer)

    # WHEN on-call rolls back
    code, _, err = slipway(capsys, "rollback", "prod/web")

    # THEN it returns to the adopted revision (without adopt, history would have none)
    assert code == 0, err
    assert world.describe_service("prod", "web")["taskDefinition"] == original


def test_cli_adopt_twice_and_of_a_missing_service_are_one_line_refusals(world: World, faults, capsys) -> None:
    fargate_web(world)
    assert slipway(capsys, "adopt", "prod/web")[0] == 0

    code, out, err = slipway(capsys, "adopt", "prod/web")
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert "which history already records as succeeded" in err

    code, _, err = slipway(capsys, "adopt", "prod/nope")
    assert code == 1 and err.count("\n") == 1 and 'no service "nope" in cluster "prod"' in err
