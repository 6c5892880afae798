"""`slipway history` and `slipway rollback`, in-process against moto, as a release manager runs them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.deployments import Deployments
from sandbox.stack import World
from tests.integration.test_deploy import fargate_web, push


def slipway(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the `slipway` entry point; return (exit status, stdout, stderr)."""
    from slipway.cli import run

    capsys.readouterr()  # what the handlers logged before is not the command's output
    code = 0
    try:
        run(list(args))
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def released(world: World, deploy, track, ecs_life: Deployments, clock) -> dict[str, Any]:
    """prod/web: 1.1.0 SUCCEEDED, then 1.2.0 SUCCEEDED."""
    world.create_repository("web")
    original = fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    revisions = {}
    for tag in ("1.1.0", "1.2.0"):
        clock.advance(minutes=10)
        deploy(push(world, "web", tag))
        [note] = [n["message"] for n in world.notifications() if n["message"]["status"] == "DEPLOYING"]
        clock.advance(minutes=3)
        track(ecs_life.complete("prod", "web", note["deployment_id"]))
        revisions[tag] = note["task_definition"]
    clock.advance(minutes=10)
    world.notifications()
    return {"original": original, **revisions}


def test_cli_history_lists_rollouts_newest_first(world: World, released, capsys) -> None:
    code, out, _ = slipway(capsys, "history", "prod/web")

    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["STARTED", "(UTC)", "STATUS"]
    assert "1.2.0" in lines[1] and "SUCCEEDED" in lines[1] and "web:3" in lines[1]
    assert "1.1.0" in lines[2] and "web:2" in lines[2]


def test_cli_history_json_and_limit(world: World, released, capsys) -> None:
    code, out, _ = slipway(capsys, "history", "prod/web", "--limit", "1", "--json")

    assert code == 0
    [rollout] = json.loads(out)
    assert rollout["tag"] == "1.2.0" and rollout["status"] == "SUCCEEDED"
    assert rollout["task_definition"] == released["1.2.0"]
    assert rollout["previous_task_definition"] == released["1.1.0"]


def test_cli_rollback_returns_to_previous_successful_revision_as_tracked_rollout(
    world: World, released, capsys, track, ecs_life: Deployments
) -> None:
    # WHEN the on-call engineer rolls prod/web back
    code, out, err = slipway(capsys, "rollback", "prod/web")

    # THEN the service runs the previous successful revision again, through a recorded rollout
    assert code == 0, err
    assert "web:3 -> web:2" in out
    assert world.describe_service("prod", "web")["taskDefinition"] == released["1.1.0"]
    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["rule"] == "rollback"
    assert note["message"]["tag"] == "1.1.0"
    assert note["message"]["initiated_by"] is None or "arn:aws" in note["message"]["initiated_by"]
    # AND it is tracked like any rollout
    track(ecs_life.complete("prod", "web", note["message"]["deployment_id"]))
    assert [n["message"]["status"] for n in world.notifications()] == ["SUCCEEDED"]
    code, out, _ = slipway(capsys, "history", "prod/web", "--json", "--limit", "1")
    [latest] = json.loads(out)
    assert latest["rule"] == "rollback" and latest["status"] == "SUCCEEDED"


def test_cli_rollback_to_named_revision_and_digest(world: World, released, capsys) -> None:
    code, _, err = slipway(capsys, "rollback", "prod/web", "--to", released["original"].rsplit("/", 1)[-1])
    assert code == 0, err
    assert world.describe_service("prod", "web")["taskDefinition"] == released["original"]

    history = json.loads(slipway(capsys, "history", "prod/web", "--json")[1])
    digest_of_120 = next(r["digest"] for r in history if r["tag"] == "1.2.0")
    code, _, err = slipway(capsys, "rollback", "prod/web", "--to", digest_of_120)
    assert code == 0, err
    assert world.describe_service("prod", "web")["taskDefinition"] == released["1.2.0"]


def test_cli_rollback_without_history_fails_clearly(world: World, faults, capsys) -> None:
    world.cluster("prod")
    td = world.task_definition("api", [{"name": "api", "image": "nginx:1"}])
    world.service("prod", "api", td, launchType="EC2")

    code, out, err = slipway(capsys, "rollback", "prod/api")

    assert code == 1 and out == ""
    assert "no earlier successful revision of prod/api" in err


def test_cli_rollback_missing_service_fails_clearly(world: World, faults, capsys) -> None:
    world.cluster("prod")
    code, _, err = slipway(capsys, "rollback", "prod/nope")
    assert code == 1 and 'no service "nope" in cluster "prod"' in err


def test_cli_without_stack_configuration_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SLIPWAY_TABLE_NAME", raising=False)
    code, _, err = slipway(capsys, "history", "prod/web")
    assert code == 2 and "--stack" in err
