"""`slipway rollback --wait` and `slipway approve --wait`: following a rollout to its outcome.

The command polls the rollout's record; between polls (the injected sleep) the test moves
ECS on and runs the real track handler, as ECS's events would.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.deployments import Deployments
from sandbox.stack import World
from slipway.cli.output import make_console
from slipway.follow import Pace
from tests.integration import test_cli_history_rollback
from tests.integration.test_deploy import fargate_web, push

released = test_cli_history_rollback.released  # prod/web: 1.1.0 then 1.2.0 SUCCEEDED


def pace_doing(*steps: Callable[[], Any]) -> tuple[Pace, list[float]]:
    """A pace whose sleeps run ``steps`` one by one (then nothing) and advance a fake clock."""
    now = [0.0]
    todo = list(steps)

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if todo:
            todo.pop(0)()

    return Pace(interval=5, sleep=sleep, monotonic=lambda: now[0]), now


def run(capsys: pytest.CaptureFixture[str], *args: str, **given: Any) -> tuple[int, str, str]:
    from slipway.cli import run as entry

    capsys.readouterr()
    code = 0
    try:
        entry(list(args), **given)
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    # The track handler runs between polls in this process: its logs and metrics are not the command's output.
    kept = [line for line in out.splitlines(keepends=True) if not line.startswith(('{"_aws"', '{"level"'))]
    return code, "".join(kept), err


def test_cli_rollback_wait_without_a_terminal_prints_plain_lines_and_exits_zero_on_success(
    world: World,
    released,
    capsys,
    track,
    ecs_life: Deployments,
) -> None:
    pace, _ = pace_doing(lambda: None, lambda: track(ecs_life.complete("prod", "web")))

    code, out, err = run(capsys, "rollback", "prod/web", "--wait", pace=pace)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("rolling prod/web back: web:3 -> web:2")
    assert lines[1] == "prod/web: DEPLOYING (0s)"  # one line per change, not per poll
    assert lines[2] == "prod/web: SUCCEEDED (10s)"
    assert lines[3].startswith("prod/web: SUCCEEDED after 10s: deployment ")
    assert len(lines) == 4 and "\x1b[" not in out


def test_cli_rollback_wait_exits_one_when_the_rollout_fails(
    world: World,
    released,
    capsys,
    track,
    ecs_life: Deployments,
) -> None:
    pace, _ = pace_doing(lambda: track(ecs_life.fail("prod", "web")))

    code, out, _ = run(capsys, "rollback", "prod/web", "--wait", pace=pace)

    assert code == 1
    last = out.splitlines()[-1]
    assert last.startswith("prod/web: ") and "SUCCEEDED" not in last and "circuit breaker" in last


def test_cli_rollback_wait_stops_at_the_timeout_and_exits_one(world: World, released, capsys) -> None:
    pace, now = pace_doing()

    code, out, _ = run(capsys, "rollback", "prod/web", "--wait", "--timeout", "12", pace=pace)

    assert code == 1
    assert now[0] == 12
    assert out.splitlines()[-1].startswith("prod/web: still DEPLOYING after 12s; stopped waiting (rollout ")


def test_cli_rollback_wait_on_a_terminal_shows_a_spinner(
    world: World,
    released,
    capsys,
    track,
    ecs_life: Deployments,
) -> None:
    screen = io.StringIO()
    console = make_console(file=screen, force_terminal=True, width=100)
    pace, _ = pace_doing(lambda: track(ecs_life.complete("prod", "web")))

    code, _, err = run(capsys, "rollback", "prod/web", "--wait", pace=pace, console=console)

    assert code == 0, err
    shown = screen.getvalue()
    assert "\x1b[" in shown  # drawn with terminal control sequences
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert plain.rstrip().splitlines()[-1].startswith("prod/web: SUCCEEDED after 5s")


def test_cli_rollback_wait_json_carries_the_outcome(
    world: World,
    released,
    capsys,
    track,
    ecs_life: Deployments,
) -> None:
    pace, _ = pace_doing(lambda: track(ecs_life.complete("prod", "web")))

    code, out, err = run(capsys, "rollback", "prod/web", "--wait", "--json", pace=pace)

    assert code == 0, err
    data = json.loads(out)
    [waited] = data["waited"]
    assert (waited["status"], waited["timed_out"], waited["rollout_id"]) == ("SUCCEEDED", False, data["rollout_id"])


def test_cli_approve_wait_follows_the_released_push(world: World, deploy, track, ecs_life: Deployments, capsys) -> None:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "approval": True})
    deploy(push(world, "web", "1.1.0"))
    [held] = [n["message"] for n in world.notifications() if n["message"].get("held") == "approval"]
    pace, _ = pace_doing(lambda: track(ecs_life.complete("prod", "web")))

    code, out, err = run(capsys, "approve", held["rollout_id"], "--wait", pace=pace)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("approved by ") and "DEPLOYING prod/web" in lines[0]
    assert lines[-1].startswith("prod/web: SUCCEEDED after 5s")
