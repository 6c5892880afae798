"""Rollout outcomes under moto: ECS deployment events (and the sweep) in, one message per outcome out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.deployments import Deployments, StoppedTask
from sandbox.faults import Fault, Faults
from sandbox.stack import LambdaContext, World
from tests.conftest import EVENTS
from tests.integration.test_deploy import fargate_web, push

SLIPWAY_ID = "ecs-svc/1111111111111111111"
ROLLBACK_ID = "ecs-svc/2222222222222222222"
ROLLED_BACK_TO_ID = "ecs-svc/4444444444444444444"  # the service's last completed deployment
PULL_ERROR = StoppedTask(
    reason="CannotPullContainerError: pull image manifest has been retried 5 time(s): manifest unknown",
    stop_code="TaskFailedToStart",
    container_reason="CannotPullContainerError: ref not found",
)


@pytest.fixture
def started(world: World, deploy, ecs_life: Deployments) -> dict[str, Any]:
    """A rollout of web:1.1.0 to prod/web that UpdateService accepted."""
    world.create_repository("web")
    original = fargate_web(world)
    original_deployment = ecs_life.primary("prod", "web")["id"]
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    event = push(world, "web", "1.1.0")
    deploy(event)
    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING"
    return {**note["message"], "original": original, "original_deployment_id": original_deployment}


def statuses(world: World) -> list[str]:
    return [n["message"]["status"] for n in world.notifications()]


def sequence(name: str, ids: dict[str, str]) -> list[dict[str, Any]]:
    """A recorded event sequence from events/, with its deployment ids mapped to real ones."""
    text = (EVENTS / name).read_text()
    for recorded, real in ids.items():
        text = text.replace(recorded, real)
    return json.loads(text)


def test_track_completed_deployment_is_succeeded_once(world: World, started, track, ecs_life: Deployments) -> None:
    # GIVEN ECS reports the deployment in progress and then complete
    track(ecs_life.in_progress("prod", "web", started["deployment_id"]))
    completed = ecs_life.complete("prod", "web", started["deployment_id"])

    # WHEN the completion is delivered twice
    track(completed)
    track(completed)

    # THEN one SUCCEEDED message, with the deploy contract and a duration
    notes = world.notifications()
    assert [n["message"]["status"] for n in notes] == ["SUCCEEDED"]
    message = notes[0]["message"]
    assert message["task_definition"] == started["task_definition"]
    assert message["deployment_id"] == started["deployment_id"]
    assert message["digest"] == started["digest"] and message["rule"] == "prod"
    assert isinstance(message["duration_seconds"], int) and message["duration_seconds"] >= 0
    assert notes[0]["attributes"]["status"] == "SUCCEEDED" and "SUCCEEDED" in notes[0]["subject"]


def test_track_circuit_breaker_rollback_is_rolled_back_never_succeeded(
    world: World, started, track, ecs_life: Deployments
) -> None:
    # GIVEN the new image cannot be pulled and the circuit breaker fails the deployment
    failed = ecs_life.fail("prod", "web", started["deployment_id"], stopped=[PULL_ERROR, PULL_ERROR])
    rollback_started, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"])
    rollback_done = ecs_life.complete("prod", "web", rollback_id)

    # WHEN ECS's events arrive: FAILED, the rollback's IN_PROGRESS and its COMPLETED
    for event in (failed, rollback_started, rollback_done):
        track(event)

    # THEN FAILED first, then ROLLED_BACK naming the revision the service is back on
    notes = [n["message"] for n in world.notifications()]
    assert [m["status"] for m in notes] == ["FAILED", "ROLLED_BACK"]
    assert "circuit breaker" in notes[0]["reason"]
    rolled_back = notes[1]
    assert rolled_back["rolled_back_to"] == started["original"]
    assert world.describe_service("prod", "web")["taskDefinition"] == started["original"]
    assert any("CannotPullContainerError" in r for r in rolled_back["stopped_reasons"])
    assert 1 <= len(rolled_back["stopped_reasons"]) <= 3
    assert any("CannotPullContainerError" in r for r in notes[0]["stopped_reasons"])


def test_track_recorded_circuit_breaker_sequence_ends_rolled_back(
    world: World, started, track, ecs_life: Deployments
) -> None:
    ecs_life.fail("prod", "web", started["deployment_id"], stopped=[PULL_ERROR])
    _, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"])
    ecs_life.complete("prod", "web", rollback_id)
    ids = {
        SLIPWAY_ID: started["deployment_id"],
        ROLLBACK_ID: rollback_id,
        ROLLED_BACK_TO_ID: started["original_deployment_id"],
    }

    for event in sequence("ecs-sequence-circuit-breaker-rollback.json", ids):
        track(event)

    assert statuses(world) == ["FAILED", "ROLLED_BACK"]


def test_track_alarm_rollback_sequence_ends_rolled_back(world: World, started, track, ecs_life: Deployments) -> None:
    ecs_life.fail("prod", "web", started["deployment_id"], reason="alarm web-5xx is in ALARM state")
    _, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"], by="alarms")
    ecs_life.complete("prod", "web", rollback_id)
    ids = {
        SLIPWAY_ID: started["deployment_id"],
        ROLLBACK_ID: rollback_id,
        ROLLED_BACK_TO_ID: started["original_deployment_id"],
    }

    for event in sequence("ecs-sequence-alarm-rollback.json", ids):
        track(event)

    notes = [n["message"] for n in world.notifications()]
    assert [m["status"] for m in notes] == ["FAILED", "ROLLED_BACK"]
    assert "web-5xx" in notes[0]["reason"]
    assert notes[1]["rolled_back_to"] == started["original"]


def test_track_rollback_events_out_of_order_never_move_backwards(
    world: World, started, track, ecs_life: Deployments
) -> None:
    ecs_life.fail("prod", "web", started["deployment_id"], stopped=[PULL_ERROR])
    _, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"])
    ecs_life.complete("prod", "web", rollback_id)
    ids = {
        SLIPWAY_ID: started["deployment_id"],
        ROLLBACK_ID: rollback_id,
        ROLLED_BACK_TO_ID: started["original_deployment_id"],
    }

    # rollback IN_PROGRESS, rollback COMPLETED, then the late FAILED and IN_PROGRESS
    for event in sequence("ecs-sequence-rollback-out-of-order.json", ids):
        track(event)

    assert statuses(world) == ["ROLLED_BACK"]


def test_track_rollback_reason_names_the_deployment_rolled_back_to(started, ecs_life: Deployments) -> None:
    # GIVEN ECS's circuit breaker fails Slipway's deployment
    ecs_life.fail("prod", "web", started["deployment_id"])

    # WHEN it starts the rollback
    rollback_started, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"])

    # THEN the reason names the deployment the service goes back to (the one before Slipway's), as AWS documents it
    detail = rollback_started["detail"]
    assert detail["deploymentId"] == rollback_id
    assert detail["reason"] == (
        f"ECS deployment circuit breaker: rolling back to deploymentId {started['original_deployment_id']}."
    )
    assert started["deployment_id"] not in detail["reason"]


def test_track_aws_documented_rollback_event_rolls_back_the_current_rollout(
    world: World, started, track, ecs_life: Deployments
) -> None:
    # GIVEN the circuit breaker failed Slipway's deployment and ECS rolls the service back
    failed = ecs_life.fail("prod", "web", started["deployment_id"], stopped=[PULL_ERROR])
    _, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"])
    # AND ECS announces the rollback with AWS's own sample event, its placeholders filled in
    text = (EVENTS / "ecs-deployment-rollback-started.json").read_text()
    service_arn = world.describe_service("prod", "web")["serviceArn"]
    text = text.replace("arn:aws:ecs:us-west-2:111122223333:service/default/servicetest", service_arn)
    text = text.replace('"ecs-svc/123"', json.dumps(rollback_id))
    text = text.replace("deploymentId deploymentID.", f"deploymentId {started['original_deployment_id']}.")
    documented = {**json.loads(text), "account": world.account, "region": world.region}

    # WHEN FAILED, the documented rollback start and the rollback's completion arrive
    for event in (failed, documented, ecs_life.complete("prod", "web", rollback_id)):
        track(event)

    # THEN Slipway's rollout is FAILED, then ROLLED_BACK onto the revision it replaced
    notes = [n["message"] for n in world.notifications()]
    assert [m["status"] for m in notes] == ["FAILED", "ROLLED_BACK"]
    assert {m["rollout_id"] for m in notes} == {started["rollout_id"]}
    assert notes[1]["rolled_back_to"] == started["original"]


def released_then_pushed(world: World, started, deploy, track, ecs_life: Deployments) -> dict[str, Any]:
    """web:1.1.0 SUCCEEDED on prod/web, then web:1.2.0 DEPLOYING: the rollout a rollback would undo."""
    track(ecs_life.complete("prod", "web", started["deployment_id"]))
    assert statuses(world) == ["SUCCEEDED"]
    deploy(push(world, "web", "1.2.0"))
    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["tag"] == "1.2.0"
    return dict(note["message"])


def history_statuses(key: str) -> dict[str, str]:
    from slipway.app import app

    return {r.rollout_id: r.status for r in app().store.history(key)}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ecs-sequence-circuit-breaker-rollback.json", ["FAILED", "ROLLED_BACK"]),
        ("ecs-sequence-alarm-rollback.json", ["FAILED", "ROLLED_BACK"]),
        ("ecs-sequence-rollback-out-of-order.json", ["ROLLED_BACK"]),
    ],
)
def test_track_rollback_to_an_older_slipway_rollout_rolls_back_only_the_current_one(
    world: World, started, deploy, track, ecs_life: Deployments, name: str, expected: list[str]
) -> None:
    # GIVEN web:1.1.0 SUCCEEDED and web:1.2.0 is being rolled out
    newer = released_then_pushed(world, started, deploy, track, ecs_life)
    # AND 1.2.0 fails, and ECS rolls back to 1.1.0's deployment, which Slipway started
    ecs_life.fail("prod", "web", newer["deployment_id"], stopped=[PULL_ERROR])
    rollback_started, rollback_id = ecs_life.roll_back("prod", "web", newer["deployment_id"])
    assert rollback_started["detail"]["reason"].endswith(f"rolling back to deploymentId {started['deployment_id']}.")
    ecs_life.complete("prod", "web", rollback_id)
    ids = {SLIPWAY_ID: newer["deployment_id"], ROLLBACK_ID: rollback_id, ROLLED_BACK_TO_ID: started["deployment_id"]}

    # WHEN ECS's events arrive, in the recorded order
    for event in sequence(name, ids):
        track(event)

    # THEN the current rollout, 1.2.0, is rolled back onto 1.1.0's revision, never SUCCEEDED
    notes = [n["message"] for n in world.notifications()]
    assert [m["status"] for m in notes] == expected
    assert {m["rollout_id"] for m in notes} == {newer["rollout_id"]}
    assert notes[-1]["rolled_back_to"] == started["task_definition"]
    # AND the older rollout the service went back to is untouched
    history = history_statuses("prod/web")
    assert history[started["rollout_id"]] == "SUCCEEDED"
    assert history[newer["rollout_id"]] == "ROLLED_BACK"


def test_track_rollback_to_an_older_timed_out_rollout_leaves_it_timed_out(
    world: World, started, deploy, track, sweep, clock, ecs_life: Deployments
) -> None:
    # GIVEN web:1.1.0 timed out in Slipway's eyes, then completed in ECS with its event lost
    clock.advance(minutes=31)
    sweep()
    assert statuses(world) == ["TIMED_OUT"]
    ecs_life.complete("prod", "web", started["deployment_id"])
    # AND web:1.2.0 is rolled out, fails, and ECS rolls back to 1.1.0's (completed) deployment
    deploy(push(world, "web", "1.2.0"))
    [note] = world.notifications()
    newer = note["message"]
    assert newer["status"] == "DEPLOYING"
    failed = ecs_life.fail("prod", "web", newer["deployment_id"])
    rollback_started, rollback_id = ecs_life.roll_back("prod", "web", newer["deployment_id"])
    assert rollback_started["detail"]["reason"].endswith(f"{started['deployment_id']}.")

    # WHEN FAILED, the rollback's start and its completion arrive
    for event in (failed, rollback_started, ecs_life.complete("prod", "web", rollback_id)):
        track(event)

    # THEN 1.2.0 goes FAILED then ROLLED_BACK, and 1.1.0, whose deployment ECS went back to, stays TIMED_OUT
    notes = [n["message"] for n in world.notifications()]
    assert [(m["status"], m["rollout_id"]) for m in notes] == [
        ("FAILED", newer["rollout_id"]),
        ("ROLLED_BACK", newer["rollout_id"]),
    ]
    history = history_statuses("prod/web")
    assert history[started["rollout_id"]] == "TIMED_OUT"
    assert history[newer["rollout_id"]] == "ROLLED_BACK"


def test_track_duplicate_and_out_of_order_completion_succeeds_once(
    world: World, started, track, ecs_life: Deployments
) -> None:
    ecs_life.complete("prod", "web", started["deployment_id"])
    ids = {SLIPWAY_ID: started["deployment_id"]}

    for name in ("ecs-sequence-out-of-order.json", "ecs-sequence-duplicate-completed.json"):
        for event in sequence(name, ids):
            track(event)

    assert statuses(world) == ["SUCCEEDED"]


def test_track_failed_without_rollback_reports_reason_and_stopped_tasks(
    world: World, started, track, ecs_life: Deployments
) -> None:
    crash = StoppedTask(
        reason="Essential container in task exited", stop_code="EssentialContainerExited", exit_code=137
    )
    failed = ecs_life.fail("prod", "web", started["deployment_id"], reason="tasks failed to start", stopped=[crash])

    track(failed)
    track(failed)

    [note] = world.notifications()
    message = note["message"]
    assert message["status"] == "FAILED"
    assert "tasks failed to start" in message["reason"]
    assert any("exit code 137" in r and "Essential container" in r for r in message["stopped_reasons"])


def test_track_deployment_not_started_by_slipway_is_ignored(world: World, track, ecs_life: Deployments) -> None:
    world.cluster("prod")
    td = world.task_definition("web", [{"name": "app", "image": "nginx:1"}])
    world.service("prod", "web", td, launchType="EC2")
    completed = ecs_life.complete("prod", "web")

    result = track(completed)

    assert result["status"] == "NO_CHANGE"
    assert world.notifications() == []


def test_track_recorded_foreign_event_is_ignored(world: World, started, track) -> None:
    result = track(json.loads((EVENTS / "ecs-deployment-not-slipway.json").read_text()))

    assert result["status"] == "NO_CHANGE"
    assert world.notifications() == []


def test_track_manual_update_service_supersedes_rollout(world: World, started, track, ecs_life: Deployments) -> None:
    manual, manual_id = ecs_life.replace("prod", "web", started["original"])

    track(manual)
    track(ecs_life.complete("prod", "web", manual_id))

    notes = [n["message"] for n in world.notifications()]
    assert [m["status"] for m in notes] == ["SUPERSEDED"]
    assert manual_id in notes[0]["reason"]


def test_track_completed_while_primary_runs_other_revision_is_not_succeeded(
    world: World, started, track, ecs_life: Deployments
) -> None:
    completed = ecs_life.complete("prod", "web", started["deployment_id"])
    ecs_life.replace("prod", "web", started["original"])  # the service moved on before the event arrived

    track(completed)

    assert statuses(world) == ["SUPERSEDED"]


def test_track_newer_slipway_rollout_supersedes_then_completes(
    world: World, started, deploy, track, ecs_life: Deployments
) -> None:
    event = push(world, "web", "1.2.0")
    deploy(event)
    newer = next(n["message"] for n in world.notifications() if n["message"]["status"] == "DEPLOYING")

    track(ecs_life.complete("prod", "web", newer["deployment_id"]))

    # the first rollout's own (late) completion cannot revive it
    track(ecs_life.in_progress("prod", "web", started["deployment_id"]))
    assert statuses(world) == ["SUCCEEDED"]


def test_sweep_stuck_deployment_is_timed_out_once(world: World, started, sweep, clock, ecs_life: Deployments) -> None:
    # GIVEN tasks that never reach RUNNING because the image cannot be pulled, and no circuit breaker event
    ecs_life.stop_task("prod", started["task_definition"], started["deployment_id"], PULL_ERROR)

    # WHEN the sweep runs before and after DeploymentTimeoutMinutes (30)
    clock.advance(minutes=29)
    assert sweep()["reported"] == []
    clock.advance(minutes=2)
    first = sweep()
    second = sweep()

    # THEN one TIMED_OUT message saying what the service looks like
    assert [r["status"] for r in first["reported"]] == ["TIMED_OUT"] and second["reported"] == []
    [note] = world.notifications()
    message = note["message"]
    assert message["status"] == "TIMED_OUT"
    assert "IN_PROGRESS" in message["reason"] and "running" in message["reason"]
    assert any("CannotPullContainerError" in r for r in message["stopped_reasons"])
    assert message["duration_seconds"] >= 30 * 60


def test_sweep_completed_deployment_whose_event_was_lost_is_succeeded(
    world: World, started, sweep, clock, ecs_life: Deployments
) -> None:
    ecs_life.complete("prod", "web", started["deployment_id"])
    clock.advance(minutes=31)

    sweep()

    assert statuses(world) == ["SUCCEEDED"]


def test_track_timed_out_then_rolled_back_reports_both_once(
    world: World, started, sweep, track, clock, ecs_life: Deployments
) -> None:
    clock.advance(minutes=31)
    sweep()
    failed = ecs_life.fail("prod", "web", started["deployment_id"])
    rollback_started, rollback_id = ecs_life.roll_back("prod", "web", started["deployment_id"])
    for event in (failed, rollback_started, ecs_life.complete("prod", "web", rollback_id)):
        track(event)

    assert statuses(world) == ["TIMED_OUT", "FAILED", "ROLLED_BACK"]


def test_track_publish_failure_fails_invocation_and_retry_sends_once(
    world: World, started, track, faults: Faults, ecs_life: Deployments, no_backoff
) -> None:
    completed = ecs_life.complete("prod", "web", started["deployment_id"])
    # GIVEN SNS is down for as long as the invocation has time to retry it
    # (each failing call takes two seconds of the invocation's 30: sandbox.stack.LAMBDA_TIME)
    faults.fail_always("sns.PublishBatch", Fault("InternalError", 500, "SNS is down", takes=2.0))
    from slipway.handlers import track as handler

    with pytest.raises(Exception, match="NotificationFailed"):
        handler.handler(completed, LambdaContext(function_name="slipway-track", timeout_ms=30_000))
    assert world.notifications() == []
    assert faults.calls["sns.PublishBatch"] > 6, "retried past botocore's fixed budget, until the time was up"

    faults.stop("sns.PublishBatch")
    track(completed)  # Lambda's retry of the same event
    track(completed)  # and a later duplicate
    assert statuses(world) == ["SUCCEEDED"]


def test_track_outcome_is_kept_in_history(world: World, started, track, ecs_life: Deployments) -> None:
    track(ecs_life.complete("prod", "web", started["deployment_id"]))

    from slipway.app import app

    [rollout] = app().store.history("prod/web")
    assert rollout.status == "SUCCEEDED"
    assert rollout.task_definition == started["task_definition"] and rollout.digest == started["digest"]
    assert rollout.finished_at is not None and rollout.deployment_id == started["deployment_id"]
