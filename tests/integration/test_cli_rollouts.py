"""`slipway status`, `slipway approve` of a paused deployment and `slipway abort`, in-process.

moto has no ECS service deployments, so the App's ECS here is ``FakeServiceDeployments``
(DescribeServiceDeployments' shapes, read through the adapter's parser); the rollouts are
in Slipway's real table under moto, written with ``put_rollout``, and the caller is moto's STS.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from sandbox.stack import World
from slipway.app import App
from slipway.model import Rollout
from tests.unit.test_control import (
    DEPLOYMENT_ARN,
    HOOK_ID,
    T0,
    FakeServiceDeployments,
    make_rollout,
    pause_hook,
    paused_canary,
    raw_deployment,
)

MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"


class Rollouts:
    """An App over Slipway's table in moto and a fake ECS for service deployments; runs the CLI with it."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.app = App()
        self.ecs = FakeServiceDeployments()
        self.app.ecs = self.ecs  # type: ignore[assignment]  # the composition root builds Control over it
        self._capsys = capsys

    def record(self, rollout: Rollout, *deployments: dict[str, Any]) -> Rollout:
        self.app.store.put_rollout(rollout)
        for raw in deployments:
            self.ecs.add(raw)
        return rollout

    def stored(self, rollout_id: str) -> Rollout:
        found = self.app.store.get_rollout(rollout_id)
        assert found is not None
        return found

    def slipway(self, *args: str) -> tuple[int, str, str]:
        """Run the `slipway` entry point with this App; return (exit status, stdout, stderr)."""
        from slipway.cli import run

        self._capsys.readouterr()
        code = 0
        try:
            run(list(args), app=self.app)
        except SystemExit as done:
            code = int(done.code or 0)
        out, err = self._capsys.readouterr()
        return code, out, err


@pytest.fixture
def rollouts(world: World, capsys: pytest.CaptureFixture[str]) -> Rollouts:
    return Rollouts(capsys)


def fields(out: str) -> dict[str, str]:
    """The ``name  value`` lines of `slipway status`, up to the first blank line."""
    block = out.split("\n\n", 1)[0]
    return {name: value.strip() for name, _, value in (line.partition("  ") for line in block.splitlines())}


# -- status -----------------------------------------------------------------------


def test_cli_status_of_a_canary_at_a_pause_shows_stage_traffic_hook_and_approve_hint(rollouts: Rollouts) -> None:
    # GIVEN a canary of web:1.5.0 waiting at its approval pause
    rollouts.record(make_rollout(), paused_canary())

    # WHEN on-call looks at the service
    code, out, err = rollouts.slipway("status", "prod/web")

    # THEN they see where it is, how traffic stands, what waits until when, and what to run
    assert code == 0, err
    shown = fields(out)
    assert shown["rollout"] == "r-canary"
    assert shown["image"] == "web:1.5.0"
    assert (shown["status"], shown["strategy"]) == ("DEPLOYING", "canary")
    assert shown["deployment"] == f"{DEPLOYMENT_ARN} (IN_PROGRESS)"
    assert shown["stage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    assert shown["production"] == "0 % new revision, 100 % previous"
    assert shown["test"] == "100 % new revision"
    assert "waiting for approval until 2026-12-02 10:00 UTC, then rollback" in shown["now"]
    header, hook = out.split("\n\n")[1].splitlines()
    assert header.split() == ["HOOK", "ID", "TYPE", "EXPIRES", "ON", "TIMEOUT"]
    assert hook.split() == [HOOK_ID, "PAUSE", "2026-12-02", "10:00:00", "UTC", "ROLLBACK"]
    assert out.rstrip().splitlines()[-1] == "next: slipway approve r-canary"


def test_cli_status_json_of_a_canary_at_a_pause(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(), paused_canary())

    code, out, err = rollouts.slipway("status", "prod/web", "--json")

    assert code == 0, err
    data = json.loads(out)
    assert (data["rollout_id"], data["image"], data["status"], data["strategy"]) == (
        "r-canary",
        "web:1.5.0",
        "DEPLOYING",
        "canary",
    )
    deployment = data["service_deployment"]
    assert (deployment["status"], deployment["lifecycle_stage"]) == ("IN_PROGRESS", "PRE_PRODUCTION_TRAFFIC_SHIFT")
    assert (deployment["production_weight"], deployment["source_production_weight"], deployment["test_weight"]) == (
        0.0,
        100.0,
        100.0,
    )
    assert deployment["hooks_waiting"] == [
        {
            "hook_id": HOOK_ID,
            "target_type": "PAUSE",
            "expires_at": "2026-12-02T10:00:00+00:00",
            "timeout_action": "ROLLBACK",
        }
    ]
    assert deployment["waits_until"] == "2026-12-02T10:00:00+00:00"
    assert data["started_at"] == T0.isoformat()
    assert data["next"] == "slipway approve r-canary"


def test_cli_status_of_a_canary_baking_shows_the_bake_end(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(), raw_deployment(stage="PRODUCTION_TRAFFIC_SHIFT", production=10.0))

    code, out, err = rollouts.slipway("status", "prod/web")

    assert code == 0, err
    shown = fields(out)
    assert shown["production"] == "10 % new revision, 90 % previous"
    assert shown["bake until"] == "2026-12-02 09:17:00 UTC"
    assert "next:" not in out


def test_cli_status_of_a_rolling_rollout_shows_its_deployment_and_times(rollouts: Rollouts) -> None:
    finished = T0 + timedelta(minutes=3)
    rollouts.record(make_rollout("r-rolling", strategy="rolling", status="SUCCEEDED", finished_at=finished))

    code, out, err = rollouts.slipway("status", "prod/web")

    assert code == 0, err
    shown = fields(out)
    assert (shown["status"], shown["strategy"]) == ("SUCCEEDED", "rolling")
    assert shown["deployment"] == "ecs-svc/4980306466373577095"
    assert shown["revision"] == "web:8 (from web:7)"
    assert (shown["started"], shown["finished"]) == ("2026-12-02 09:00:00 UTC", "2026-12-02 09:03:00 UTC")
    assert "stage" not in shown and "next:" not in out
    assert rollouts.ecs.calls == []


def test_cli_status_of_a_service_without_rollouts_exits_one(rollouts: Rollouts) -> None:
    code, out, err = rollouts.slipway("status", "prod/web")

    assert (code, out) == (1, "")
    assert err == "slipway: no rollout of prod/web on record\n"


def test_cli_status_of_a_malformed_service_key_exits_one(rollouts: Rollouts) -> None:
    code, _, err = rollouts.slipway("status", "web")

    assert code == 1 and "'web' is not CLUSTER/SERVICE" in err


# -- approve a paused deployment -----------------------------------------------------


def test_cli_approve_continues_the_awaiting_hook_and_records_who(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(), paused_canary())

    code, out, err = rollouts.slipway("approve", "r-canary")

    assert code == 0, err
    assert out == f"approved by {MOTO_CALLER}: continuing r-canary at PRE_PRODUCTION_TRAFFIC_SHIFT (hook {HOOK_ID})\n"
    assert rollouts.ecs.calls_of("ContinueServiceDeployment") == [
        {"serviceDeploymentArn": DEPLOYMENT_ARN, "hookId": HOOK_ID, "action": "CONTINUE"}
    ]
    assert rollouts.stored("r-canary").approved_by == MOTO_CALLER


def test_cli_approve_json_of_a_paused_deployment(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(), paused_canary())

    code, out, err = rollouts.slipway("--json", "approve", "r-canary")

    assert code == 0, err
    assert json.loads(out) == {
        "approved_by": MOTO_CALLER,
        "rollout_id": "r-canary",
        "held": False,
        "service": "prod/web",
        "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT",
        "hook_id": HOOK_ID,
        "service_deployment_arn": DEPLOYMENT_ARN,
    }


def test_cli_approve_when_no_pause_waits_exits_one_naming_the_stage(rollouts: Rollouts) -> None:
    shifting = raw_deployment(stage="PRODUCTION_TRAFFIC_SHIFT", production=10.0, hooks=[pause_hook("SUCCEEDED")])
    rollouts.record(make_rollout(), shifting)

    code, out, err = rollouts.slipway("approve", "r-canary")

    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "not waiting for approval" in err and "at stage PRODUCTION_TRAFFIC_SHIFT" in err
    assert rollouts.ecs.calls_of("ContinueServiceDeployment") == []
    assert rollouts.stored("r-canary").approved_by is None


def test_cli_approve_of_an_unknown_id_names_both_kinds(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout("r-rolling", strategy="rolling"))

    for unknown in ("r-nope", "r-rolling"):
        code, out, err = rollouts.slipway("approve", unknown)

        assert (code, out) == (1, "")
        assert err == (
            f"slipway: no held rollout {unknown} or paused deployment with that id "
            "(see slipway holds, slipway status CLUSTER/SERVICE)\n"
        )


# -- abort ------------------------------------------------------------------------


def test_cli_abort_requests_a_rollback_and_records_who_and_why(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(), paused_canary())

    code, out, err = rollouts.slipway("abort", "r-canary", "--reason", "p99 latency doubled")

    assert code == 0, err
    assert out == (
        f"rollback requested by {MOTO_CALLER} for r-canary (service prod/web); "
        "the outcome is notified when ECS finishes it\n"
    )
    assert rollouts.ecs.calls_of("StopServiceDeployment") == [
        {"serviceDeploymentArn": DEPLOYMENT_ARN, "stopType": "ROLLBACK"}
    ]
    stored = rollouts.stored("r-canary")
    assert (stored.aborted_by, stored.abort_reason) == (MOTO_CALLER, "p99 latency doubled")


def test_cli_abort_json(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(), paused_canary())

    code, out, err = rollouts.slipway("abort", "r-canary", "--json")

    assert code == 0, err
    assert json.loads(out) == {
        "aborted_by": MOTO_CALLER,
        "rollout_id": "r-canary",
        "service": "prod/web",
        "reason": None,
        "service_deployment_arn": DEPLOYMENT_ARN,
    }
    assert rollouts.stored("r-canary").abort_reason is None


def test_cli_abort_of_a_rolling_rollout_points_to_rollback(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout("r-rolling", strategy="rolling"))

    code, out, err = rollouts.slipway("abort", "r-rolling")

    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "abort is for blue/green, canary and linear rollouts" in err
    assert "use slipway rollback prod/web" in err
    assert rollouts.ecs.calls == []


def test_cli_abort_of_a_finished_rollout_exits_one(rollouts: Rollouts) -> None:
    rollouts.record(make_rollout(status="SUCCEEDED", finished_at=T0 + timedelta(minutes=20)))

    code, out, err = rollouts.slipway("abort", "r-canary")

    assert (code, out) == (1, "")
    assert err == "slipway: cannot abort rollout r-canary: it ended SUCCEEDED\n"
    assert rollouts.ecs.calls_of("StopServiceDeployment") == []
    assert rollouts.stored("r-canary").aborted_by is None


def test_cli_abort_of_an_unknown_rollout_exits_one(rollouts: Rollouts) -> None:
    code, out, err = rollouts.slipway("abort", "r-nope")

    assert (code, out) == (1, "")
    assert "no rollout r-nope on record" in err


# -- help -------------------------------------------------------------------------


def test_cli_help_lists_the_rollout_commands_with_one_line_each(rollouts: Rollouts) -> None:
    code, out, _ = rollouts.slipway("--help")

    assert code == 0
    listed = dict(line.split(None, 1) for line in out.split("Commands:\n", 1)[1].splitlines() if line.strip())
    assert listed["status"] == "A service's latest rollout: its stage, traffic and pauses."
    assert listed["approve"] == "Approve a held push, or a strategy rollout at a pause."
    assert listed["abort"] == "Roll back a blue/green, canary or linear rollout in flight."
