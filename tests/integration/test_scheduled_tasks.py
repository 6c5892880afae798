"""Scheduled tasks follow the release: a push moves schedules' and events rules' ECS targets (issue #13)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox.faults import Faults
from sandbox.scheduled_tasks import create_events_rule, create_schedule, ecs_target, get_schedule, targets_of
from sandbox.stack import World
from tests.integration.test_deploy import fargate_web, push, registered_revisions

RULE = {
    "targets": [
        {"cluster": "prod", "service": "web"},
        {"schedule": "default/nightly-report"},
        {"events_rule": "nightly-report"},
    ]
}


@pytest.fixture
def allowed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack allows the nightly schedules and rules (request it before ``faults`` or ``deploy``)."""
    monkeypatch.setenv("SLIPWAY_ALLOWED_SCHEDULES", "default/nightly-*")
    monkeypatch.setenv("SLIPWAY_ALLOWED_EVENT_RULES", "nightly-*")


@pytest.fixture
def prod_only(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """AllowedClusters is prod alone (request it before ``faults`` or ``deploy``)."""
    monkeypatch.setenv("SLIPWAY_ALLOWED_CLUSTERS", "prod")


@pytest.fixture
def nightly(world: World) -> dict[str, Any]:
    """prod/web, a schedule and an events rule (with a second, non-ECS target) all on web:1.0.0's revision."""
    world.create_repository("web")
    revision = fargate_web(world)
    cluster = world.describe_service("prod", "web")["clusterArn"]
    create_schedule(world, "default", "nightly-report", cluster, revision)
    queue = f"arn:aws:sqs:{world.region}:{world.account}:audit"
    create_events_rule(
        world, "nightly-report", [ecs_target("report", cluster, revision), {"Id": "audit", "Arn": queue}]
    )
    return {"revision": revision, "cluster": cluster}


def without_task_definition(schedule: dict[str, Any]) -> dict[str, Any]:
    rest = copy.deepcopy(schedule)
    target = rest.get("Target", rest)
    target["EcsParameters"].pop("TaskDefinitionArn")
    return rest


def test_push_scheduled_targets_move_to_the_services_revision_with_everything_else_kept(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any
) -> None:
    # GIVEN a rule deploying web to a service, a schedule and an events rule on one revision
    world.put_rule("web", "prod", RULE)
    schedule_before = get_schedule(world, "default", "nightly-report")
    targets_before = targets_of(world, "nightly-report")
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN one revision was registered for all three, and each points at it
    new = world.running_task_definition("prod", "web")["taskDefinitionArn"]
    assert new != nightly["revision"]
    assert len(registered_revisions(world, "web")) == 2
    schedule_after = get_schedule(world, "default", "nightly-report")
    assert schedule_after["Target"]["EcsParameters"]["TaskDefinitionArn"] == new
    assert without_task_definition(schedule_after) == without_task_definition(schedule_before)
    report, audit = targets_of(world, "nightly-report")
    assert report["EcsParameters"]["TaskDefinitionArn"] == new
    assert without_task_definition(report) == without_task_definition(targets_before[0])
    assert audit == targets_before[1]
    # AND subscribers hear SUCCEEDED for each scheduled task, with both revisions
    notes = [n["message"] for n in world.notifications()]
    moved = {n["target"]: n for n in notes if n.get("target_type")}
    assert set(moved) == {"schedule:default/nightly-report", "events-rule:nightly-report#report"}
    for note in moved.values():
        assert note["status"] == "SUCCEEDED"
        assert note["task_definition"] == new and note["previous_task_definition"] == nightly["revision"]
        assert note["cluster"] == "prod" and note["service"] is None
    assert moved["schedule:default/nightly-report"]["target_type"] == "schedule"
    assert moved["events-rule:nightly-report#report"]["target_type"] == "events_rule"


def test_push_scheduled_target_lands_in_history(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any
) -> None:
    # GIVEN a rule with a schedule
    from slipway import app

    world.put_rule("web", "prod", RULE)
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN the schedule's history has the SUCCEEDED move
    [entry] = app.app().store.history("schedule:default/nightly-report")
    assert entry.status == "SUCCEEDED" and entry.tag == "1.1.0"
    assert entry.previous_task_definition == nightly["revision"]
    assert (
        entry.task_definition
        == get_schedule(world, "default", "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"]
    )


def test_push_held_at_a_freeze_moves_its_scheduled_tasks_when_released(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any, sweep: Any, clock: Any
) -> None:
    from datetime import timedelta

    # GIVEN a rule frozen for ten minutes whose pushes roll out when the window ends
    window = {
        "start": (clock.now - timedelta(hours=1)).isoformat(),
        "end": (clock.now + timedelta(minutes=10)).isoformat(),
    }
    world.put_rule("web", "prod", {**RULE, "freeze": [window], "deploy_after_freeze": True})
    deploy(push(world, "web", "1.1.0"))
    # the service is held, and the schedule stays where it is
    first = [n["message"] for n in world.notifications()]
    assert {(n.get("service") or n.get("target"), n["status"]) for n in first} >= {
        ("web", "SKIPPED"),
        ("schedule:default/nightly-report", "SKIPPED"),
    }
    assert (
        get_schedule(world, "default", "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"]
        == nightly["revision"]
    )

    # WHEN the freeze ends and the sweep releases the push
    clock.now += timedelta(minutes=11)
    sweep()

    # THEN the service rolls out and the schedule follows it onto the same revision, SUCCEEDED once
    notes = [n["message"] for n in world.notifications()]
    [web] = [n for n in notes if n.get("service") == "web"]
    [moved] = [n for n in notes if n.get("target") == "schedule:default/nightly-report"]
    assert web["status"] == "DEPLOYING" and moved["status"] == "SUCCEEDED"
    assert moved["task_definition"] == web["task_definition"]
    assert (
        get_schedule(world, "default", "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"]
        == web["task_definition"]
    )


def test_push_schedule_not_allowed_is_error_without_scheduler_call(
    world: World, nightly: dict[str, Any], faults: Faults, deploy: Any
) -> None:
    # GIVEN the stack's default AllowedSchedules (none) and a rule naming a schedule
    world.put_rule(
        "web", "prod", {"targets": [{"cluster": "prod", "service": "web"}, {"schedule": "default/nightly-report"}]}
    )
    faults.reset_counts()
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN the schedule gets ERROR before any Scheduler call, and the service still deploys
    assert not [call for call in faults.calls if call.startswith("scheduler.")]
    notes = [n["message"] for n in world.notifications()]
    [refused] = [n for n in notes if n.get("target") == "schedule:default/nightly-report"]
    assert refused["status"] == "ERROR" and refused["error_code"] == "ScheduleNotAllowed"
    assert "AllowedSchedules" in refused["reason"]
    assert any(n["status"] == "DEPLOYING" and n["service"] == "web" for n in notes)
    assert (
        get_schedule(world, "default", "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"]
        == nightly["revision"]
    )


def test_push_missing_schedule_is_error_with_aws_code_while_service_deploys(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any
) -> None:
    # GIVEN a rule naming a schedule that does not exist
    world.put_rule(
        "web", "prod", {"targets": [{"cluster": "prod", "service": "web"}, {"schedule": "default/nightly-gone"}]}
    )
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN the schedule is an ERROR with Scheduler's code, and the service deploys
    notes = [n["message"] for n in world.notifications()]
    [missing] = [n for n in notes if n.get("target") == "schedule:default/nightly-gone"]
    assert missing["status"] == "ERROR" and missing["error_code"] == "ResourceNotFoundException"
    assert missing["reason"].startswith("GetSchedule failed: ResourceNotFoundException")
    assert any(n["status"] == "DEPLOYING" and n["service"] == "web" for n in notes)


def test_cli_rollback_schedule_returns_to_previous_revision_recorded_and_notified(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    # GIVEN a schedule moved to 1.1.0's revision
    world.put_rule("web", "prod", RULE)
    deploy(push(world, "web", "1.1.0"))
    moved = get_schedule(world, "default", "nightly-report")
    world.notifications()
    # WHEN it is rolled back
    code, out, err = slipway(capsys, "rollback", "schedule:default/nightly-report")
    # THEN its ECS target names the original revision again, everything else as it was
    assert code == 0, err
    back = get_schedule(world, "default", "nightly-report")
    assert back["Target"]["EcsParameters"]["TaskDefinitionArn"] == nightly["revision"]
    assert without_task_definition(back) == without_task_definition(moved)
    assert "no deployment to watch" in out
    # AND subscribers hear SUCCEEDED from the rollback rule, and history lists it first
    [note] = [n["message"] for n in world.notifications()]
    assert note["status"] == "SUCCEEDED" and note["rule"] == "rollback"
    assert note["task_definition"] == nightly["revision"] and note["target"] == "schedule:default/nightly-report"
    code, out, _ = slipway(capsys, "history", "schedule:default/nightly-report", "--json")
    entries = json.loads(out)
    assert [e["rule"] for e in entries] == ["rollback", "prod"]
    assert entries[0]["task_definition"] == nightly["revision"]


def test_cli_rollback_schedule_not_allowed_is_one_line_error_and_changes_nothing(
    world: World, nightly: dict[str, Any], faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    # GIVEN the stack's default AllowedSchedules (none)
    faults.reset_counts()
    # WHEN on-call asks to roll the schedule back
    code, _, err = slipway(capsys, "rollback", "schedule:default/nightly-report")
    # THEN one clear line, a non-zero exit, and no Scheduler call at all
    assert code != 0
    assert "AllowedSchedules" in err and len(err.strip().splitlines()) == 1, err
    assert not [call for call in faults.calls if call.startswith("scheduler.")]
    assert (
        get_schedule(world, "default", "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"]
        == nightly["revision"]
    )


def test_cli_plan_shows_what_would_move_in_each_scheduled_task_and_changes_nothing(
    world: World, allowed: None, nightly: dict[str, Any], faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    # GIVEN the rule, and web:1.1.0 in ECR
    world.put_rule("web", "prod", RULE)
    world.push_image("web", "1.1.0")
    before = get_schedule(world, "default", "nightly-report")
    # WHEN the push is planned
    code, out, err = slipway(capsys, "plan", "web:1.1.0", "--json")
    # THEN each scheduled task says what would move, and nothing moved
    assert code == 0, err
    lines = {line["target"]: line for line in json.loads(out)["plan"]}
    for key in ("schedule:default/nightly-report", "events-rule:nightly-report#report"):
        assert lines[key]["action"] == "deploy"
        assert lines[key]["detail"].startswith("would move the scheduled task: app: ")
        assert "(new revision of web, now web:1)" in lines[key]["detail"]
    assert lines["prod/web"]["action"] == "deploy"
    assert get_schedule(world, "default", "nightly-report") == before
    assert not faults.count("scheduler.UpdateSchedule") and not faults.count("eventbridge.PutTargets")


def test_cli_plan_schedule_not_allowed_is_an_error_line(
    world: World, nightly: dict[str, Any], faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    world.put_rule("web", "prod", {"targets": [{"schedule": "default/nightly-report"}]})
    world.push_image("web", "1.1.0")
    code, out, _ = slipway(capsys, "plan", "web:1.1.0", "--json")
    assert code == 1
    [line] = json.loads(out)["plan"]
    assert (line["target"], line["action"]) == ("schedule:default/nightly-report", "error")
    assert "AllowedSchedules" in line["detail"]


def test_cli_explain_and_status_name_the_scheduled_tasks(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    # GIVEN a push that moved the scheduled tasks
    world.put_rule("web", "prod", RULE)
    deploy(push(world, "web", "1.1.0"))
    # WHEN the push is explained, and the repository's fleet shown
    code, out, err = slipway(capsys, "explain", "web", "--json")
    # THEN explain lists each scheduled task's outcome under its key
    assert code == 0, err
    outcomes = {o["target"]: o["status"] for o in json.loads(out)["outcomes"]}
    assert outcomes["schedule:default/nightly-report"] == "SUCCEEDED"
    assert outcomes["events-rule:nightly-report#report"] == "SUCCEEDED"
    # AND status shows the schedule with the release it runs
    code, out, err = slipway(capsys, "status", "web", "--json")
    assert code == 0, err
    views = {v["service"]: v for v in json.loads(out)}
    assert views["schedule:default/nightly-report"]["tag"] == "1.1.0"
    assert views["schedule:default/nightly-report"]["last_outcome"] == "SUCCEEDED"


def test_push_schedule_in_cluster_outside_allowed_clusters_is_error_before_any_change(
    world: World, allowed: None, prod_only: None, nightly: dict[str, Any], deploy: Any, faults: Faults
) -> None:
    # GIVEN AllowedClusters without the cluster the schedule's ECS target names
    from sandbox.scheduled_tasks import create_schedule

    create_schedule(world, "default", "nightly-batch", world.cluster("batch"), nightly["revision"])
    world.put_rule("web", "prod", {"targets": [{"schedule": "default/nightly-batch"}]})
    faults.reset_counts()
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN the schedule is an ERROR ClusterNotAllowed, read but neither registered for nor updated
    [note] = [n["message"] for n in world.notifications()]
    assert note["status"] == "ERROR" and note["error_code"] == "ClusterNotAllowed"
    assert not faults.count("scheduler.UpdateSchedule") and not faults.count("ecs.RegisterTaskDefinition")
    assert (
        get_schedule(world, "default", "nightly-batch")["Target"]["EcsParameters"]["TaskDefinitionArn"]
        == nightly["revision"]
    )


def test_push_events_rule_moves_only_targets_running_the_pushed_image_or_the_named_one(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any
) -> None:
    # GIVEN an events rule with an ECS target of another repository's image beside web's
    other = world.task_definition("audit", [{"name": "audit", "image": world.image_uri("audit", "2.0.0")}])
    create_events_rule(
        world,
        "nightly-mixed",
        [ecs_target("web", nightly["cluster"], nightly["revision"]), ecs_target("audit", nightly["cluster"], other)],
    )
    world.put_rule("web", "prod", {"targets": [{"events_rule": "nightly-mixed"}]})
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN only web's target moved
    web, audit = targets_of(world, "nightly-mixed")
    assert web["EcsParameters"]["TaskDefinitionArn"] != nightly["revision"]
    assert audit["EcsParameters"]["TaskDefinitionArn"] == other


def test_push_events_rule_target_id_moves_that_target_whatever_image_it_ran(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any
) -> None:
    # GIVEN a rule naming one ECS target of an events rule by its id: a one-container task of another image
    other = world.task_definition("audit", [{"name": "audit", "image": world.image_uri("audit", "0.9.0")}])
    create_events_rule(
        world,
        "nightly-mixed",
        [ecs_target("web", nightly["cluster"], nightly["revision"]), ecs_target("audit", nightly["cluster"], other)],
    )
    world.put_rule("web", "prod", {"targets": [{"events_rule": "nightly-mixed", "target_id": "audit"}]})
    # WHEN 1.1.0 is pushed
    deploy(push(world, "web", "1.1.0"))
    # THEN that target runs web's pushed image, and the other target is as it was
    web, audit = targets_of(world, "nightly-mixed")
    assert web["EcsParameters"]["TaskDefinitionArn"] == nightly["revision"]
    revision = world.ecs.describe_task_definition(taskDefinition=audit["EcsParameters"]["TaskDefinitionArn"])
    [container] = revision["taskDefinition"]["containerDefinitions"]
    assert container["image"].startswith(f"{world.account}.dkr.ecr.{world.region}.amazonaws.com/web@sha256:")


def test_push_events_rule_without_a_target_running_the_image_is_skipped(
    world: World, allowed: None, nightly: dict[str, Any], deploy: Any
) -> None:
    other = world.task_definition("audit", [{"name": "audit", "image": world.image_uri("audit", "2.0.0")}])
    create_events_rule(world, "nightly-audit", [ecs_target("audit", nightly["cluster"], other)])
    world.put_rule("web", "prod", {"targets": [{"events_rule": "nightly-audit"}]})
    deploy(push(world, "web", "1.1.0"))
    [note] = [n["message"] for n in world.notifications()]
    assert note["status"] == "SKIPPED" and note["target"] == "events-rule:nightly-audit"
    assert "runs an image of" in note["reason"]
    assert targets_of(world, "nightly-audit")[0]["EcsParameters"]["TaskDefinitionArn"] == other


def test_rule_check_schedule_outside_allowed_schedules_is_rule_invalid_at_its_index(
    world: World, nightly: dict[str, Any], faults: Faults
) -> None:
    # GIVEN the default AllowedSchedules (none), and a rule listing a schedule after a service
    from sandbox.stack import LambdaContext
    from slipway.handlers import rules as handler
    from tests.integration.test_rule_check import edit

    def check(event: dict[str, Any]) -> Any:
        return handler.handler(event, LambdaContext(function_name="slipway-rules"))

    world.notifications()
    # WHEN the rule is written
    [note] = edit(
        world,
        check,
        "prod",
        {"targets": [{"cluster": "prod", "service": "web"}, {"schedule": "default/nightly-report"}]},
    )
    # THEN the rule check reports it invalid, naming the target's place in the rule, and no Scheduler call
    message = note["message"]
    assert message["status"] == "RULE_INVALID"
    assert message["problems"] == ["targets[1]: schedule default/nightly-report is not in AllowedSchedules (none)"]
    assert not faults.count("scheduler.")


def test_push_schedule_scheduler_down_is_handed_on_and_moved_by_the_carry_on(
    world: World, allowed: None, nightly: dict[str, Any], faults: Faults
) -> None:
    from sandbox.faults import Fault
    from sandbox.runtime import Runtime
    from slipway.handlers import deploy as handler

    # GIVEN Scheduler answering 503 for the whole of a 30-second invocation
    world.put_rule(
        "web", "prod", {"targets": [{"cluster": "prod", "service": "web"}, {"schedule": "default/nightly-report"}]}
    )
    runtime = Runtime(world, handler.handler, timeout_ms=30_000)
    faults.fail_always(
        "scheduler.GetSchedule", Fault("ServiceUnavailableException", 503, "Scheduler is down", takes=2.0)
    )
    # WHEN 1.1.0 is pushed
    runtime.invoke(push(world, "web", "1.1.0"))
    # THEN the service deploys and the schedule is handed on, not reported
    notes = [n["message"] for n in world.notifications()]
    assert [n["status"] for n in notes if n.get("service") == "web"] == ["DEPLOYING"]
    assert not [n for n in notes if n.get("target")]
    # AND WHEN Scheduler answers again and the work queue's invocation carries on
    faults.stop("scheduler.GetSchedule")
    assert runtime.carry_on() == 1
    # THEN the schedule runs 1.1.0's image, SUCCEEDED
    [note] = [n["message"] for n in world.notifications()]
    assert (note["status"], note["target"]) == ("SUCCEEDED", "schedule:default/nightly-report")
    moved = get_schedule(world, "default", "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"]
    revision = world.ecs.describe_task_definition(taskDefinition=moved)["taskDefinition"]
    assert revision["containerDefinitions"][0]["image"] == world.images("prod", "web")["app"]
