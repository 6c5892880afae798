"""A rule's pre-deploy task under moto: one task per push and rule, run before any target updates.

moto starts the task and leaves it RUNNING (``sandbox.task_runs.held_tasks``); the test
decides how it ends (``TaskRuns``: an exit code, or a stop before it ran) and delivers the
``ECS Task State Change`` event through the template's rule, as EventBridge would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from sandbox.faults import Faults
from sandbox.stack import ACCOUNT, REGION, World
from sandbox.task_runs import ESSENTIAL_EXITED, TaskRuns, held_tasks
from tests.integration.conftest import Clock
from tests.integration.test_cli_rules import cli_calls  # noqa: F401  (the fixture: the CLI's calls counted)
from tests.integration.test_deploy import EXEC_ROLE, ROLE, push

MIGRATE = {"container": "app", "command": ["python", "manage.py", "migrate"]}
TARGETS = [{"cluster": "prod", "service": "web"}, {"cluster": "prod", "service": "worker"}]


def subnet() -> str:
    return str(boto3.client("ec2", region_name=REGION).describe_subnets()["Subnets"][0]["SubnetId"])


def logged_service(world: World, name: str, network: dict[str, Any]) -> str:
    """A Fargate service running web:1.0.0 in container app (logging to CloudWatch) beside a sidecar."""
    td = world.task_definition(
        name,
        [
            {
                "name": "app",
                "image": world.image_uri("web", "1.0.0"),
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/web", "awslogs-region": REGION, "awslogs-stream-prefix": "web"},
                },
            },
            {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29", "essential": True},
        ],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        taskRoleArn=ROLE,
        executionRoleArn=EXEC_ROLE,
    )
    world.service("prod", name, td, launchType="FARGATE", networkConfiguration=network)
    return td


@pytest.fixture
def migrating(world: World) -> Iterator[World]:
    """web and worker on prod (Fargate, awsvpc), both on web:1.0.0, one rule with a pre-deploy task."""
    world.create_repository("web")
    world.cluster("prod")
    network = {"awsvpcConfiguration": {"subnets": [subnet()], "securityGroups": [], "assignPublicIp": "DISABLED"}}
    world.network = network  # type: ignore[attr-defined]
    logged_service(world, "web", network)
    logged_service(world, "worker", network)
    world.put_rule("web", "prod", {"targets": TARGETS, "pre_deploy": MIGRATE})
    with held_tasks():
        yield world


@pytest.fixture
def tasks() -> TaskRuns:
    return TaskRuns(ACCOUNT, REGION)


def messages(world: World) -> list[dict[str, Any]]:
    return [n["message"] for n in world.notifications()]


def running(world: World, name: str) -> str:
    return str(world.describe_service("prod", name)["taskDefinition"])


def test_pre_deploy_push_runs_one_task_with_the_new_image_command_and_service_network(
    migrating: World, deploy: Any, tasks: TaskRuns, faults: Faults
) -> None:
    # GIVEN a rule with two targets and a pre-deploy task
    before = {name: running(migrating, name) for name in ("web", "worker")}

    # WHEN a tag is pushed
    event = push(migrating, "web", "1.1.0")
    deploy(event)

    # THEN one task runs the pushed image with the command, on the service's network and launch type
    started = tasks.started()
    assert len(started) == 1
    task = started[0]
    assert task.launch_type == "FARGATE"
    assert task.network_configuration == migrating.network  # type: ignore[attr-defined]
    assert task.overrides == {"containerOverrides": [{"name": "app", "command": ["python", "manage.py", "migrate"]}]}
    revision = migrating.ecs.describe_task_definition(taskDefinition=task.task_definition_arn)["taskDefinition"]
    image = next(c["image"] for c in revision["containerDefinitions"] if c["name"] == "app")
    assert image.endswith("@" + event["detail"]["image-digest"])
    # and both targets are held, untouched, until it ends
    notes = messages(migrating)
    assert sorted(n["status"] for n in notes) == ["SKIPPED", "SKIPPED"]
    assert {n["held"] for n in notes} == {"pre_deploy"}
    assert {name: running(migrating, name) for name in ("web", "worker")} == before


def started_task(migrating: World, deploy: Any, tasks: TaskRuns, tag: str = "1.1.0") -> tuple[dict[str, Any], str]:
    """Push ``tag``; the push event and the pre-deploy task it started (its notifications drained)."""
    event = push(migrating, "web", tag)
    deploy(event)
    messages(migrating)
    return event, str(tasks.started()[-1].task_arn)


def deliver(world: World, track: Any, event: dict[str, Any]) -> Any:
    delivered = world.route(event)
    assert len(delivered) == 1, "the template's rule should deliver a stopped pre-deploy task"
    return track(delivered[0])


def test_pre_deploy_first_target_runs_the_revision_its_task_ran_registered_once(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns, faults: Faults
) -> None:
    # GIVEN a push whose pre-deploy task ran the new revision of web's task definition
    started_task(migrating, deploy, tasks)
    task = tasks.started()[-1]

    # WHEN it exits 0 and the targets roll out
    faults.reset_counts()
    deliver(migrating, track, tasks.exit(str(task.task_arn), 0))

    # THEN web runs the very revision the task ran (no second registration of it); worker, on a
    # task definition of its own, gets its own new revision
    assert running(migrating, "web") == task.task_definition_arn
    assert faults.calls["ecs.RegisterTaskDefinition"] == 1
    assert running(migrating, "worker").split("/")[-1] == "worker:2"


def test_pre_deploy_task_exit_zero_rolls_out_every_target_after_its_event(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns
) -> None:
    # GIVEN a push whose targets wait for the pre-deploy task
    event, task_arn = started_task(migrating, deploy, tasks)

    # WHEN the task exits 0 and its event arrives
    result = deliver(migrating, track, tasks.exit(task_arn, 0))

    # THEN both targets roll out the pushed digest
    assert result["status"] == "SUCCEEDED"
    notes = messages(migrating)
    assert sorted((n["service"], n["status"]) for n in notes) == [("web", "DEPLOYING"), ("worker", "DEPLOYING")]
    digest = event["detail"]["image-digest"]
    for name in ("web", "worker"):
        assert migrating.images("prod", name)["app"].endswith("@" + digest)


def test_pre_deploy_task_exit_nonzero_fails_every_target_with_its_code_task_and_logs(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns
) -> None:
    # GIVEN a push whose targets wait for the pre-deploy task
    before = {name: running(migrating, name) for name in ("web", "worker")}
    _, task_arn = started_task(migrating, deploy, tasks)

    # WHEN the migration exits 3
    deliver(migrating, track, tasks.exit(task_arn, 3))

    # THEN every target is FAILED with the exit code, the task and its log stream; no service changed
    notes = messages(migrating)
    assert sorted((n["service"], n["status"]) for n in notes) == [("web", "FAILED"), ("worker", "FAILED")]
    stream = f"web/app/{task_arn.rsplit('/', 1)[-1]}"
    for note in notes:
        assert note["exit_code"] == 3
        assert note["task_arn"] == task_arn
        assert note["log_stream"] == stream
        assert note["stopped_reason"] == ESSENTIAL_EXITED
        assert note["reason"] == (
            f"pre-deploy task exited with code 3: {ESSENTIAL_EXITED} (task {task_arn}; logs /ecs/web {stream})"
        )
    assert {name: running(migrating, name) for name in ("web", "worker")} == before
    from slipway import app

    assert app.app().store.holds() == []


def test_pre_deploy_task_stopped_before_start_fails_targets_with_the_stop_reason(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns
) -> None:
    # GIVEN a push whose targets wait for the pre-deploy task
    _, task_arn = started_task(migrating, deploy, tasks)

    # WHEN ECS cannot pull the image and stops the task before it ran
    deliver(migrating, track, tasks.fail_to_start(task_arn, "CannotPullContainerError: image not found"))

    # THEN every target is FAILED with the stop reason and code, and no exit code
    notes = messages(migrating)
    assert [n["status"] for n in notes] == ["FAILED", "FAILED"]
    for note in notes:
        assert "exit_code" not in note
        assert note["stopped_reason"] == "CannotPullContainerError: image not found"
        assert "stopped before its container app ran: CannotPullContainerError: image not found" in note["reason"]
        assert "(TaskFailedToStart)" in note["reason"]


def test_pre_deploy_sweep_finds_a_task_stopped_without_an_event(
    migrating: World, deploy: Any, sweep: Any, tasks: TaskRuns
) -> None:
    # GIVEN a pre-deploy task that exited 3, its event lost
    _, task_arn = started_task(migrating, deploy, tasks)
    tasks.exit(task_arn, 3)

    # WHEN the sweep runs
    result = sweep()

    # THEN it reads the task's end with DescribeTasks and fails the targets as the event would have
    assert result["tasks"] == [{"task_arn": task_arn, "status": "FAILED"}]
    notes = messages(migrating)
    assert [(n["status"], n["exit_code"]) for n in notes] == [("FAILED", 3), ("FAILED", 3)]


def test_pre_deploy_sweep_exit_zero_without_event_rolls_out(
    migrating: World, deploy: Any, sweep: Any, tasks: TaskRuns
) -> None:
    # GIVEN a pre-deploy task that exited 0, its event lost
    _, task_arn = started_task(migrating, deploy, tasks)
    tasks.exit(task_arn, 0)

    # WHEN the sweep runs
    sweep()

    # THEN the targets roll out
    assert sorted(n["status"] for n in messages(migrating)) == ["DEPLOYING", "DEPLOYING"]


def test_pre_deploy_push_held_at_a_freeze_starts_its_task_once_released_then_rolls_out(
    migrating: World, deploy: Any, track: Any, sweep: Any, tasks: TaskRuns, clock: Clock
) -> None:
    # GIVEN a rule frozen for the next ten minutes (the push rolls out when the window ends)
    window = {
        "start": (clock.now - timedelta(hours=1)).isoformat(),
        "end": (clock.now + timedelta(minutes=10)).isoformat(),
    }
    spec = {"targets": TARGETS, "pre_deploy": MIGRATE, "freeze": [window], "deploy_after_freeze": True}
    migrating.put_rule("web", "prod", spec)
    before = {name: running(migrating, name) for name in ("web", "worker")}
    event = push(migrating, "web", "1.1.0")
    deploy(event)
    # the push is held at the freeze: no task runs for it yet
    assert {n["held"] for n in messages(migrating)} == {"freeze"}
    assert tasks.started() == []

    # WHEN the freeze ends and the sweep releases the hold
    clock.now += timedelta(minutes=11)
    sweep()

    # THEN its pre-deploy task starts (once), the targets untouched until it exits 0
    [task] = tasks.started()
    assert {name: running(migrating, name) for name in ("web", "worker")} == before
    sweep()  # a second look starts no second task
    assert len(tasks.started()) == 1
    deliver(migrating, track, tasks.exit(str(task.task_arn), 0))
    notes = messages(migrating)
    assert sorted((n["service"], n["status"]) for n in notes if n["status"] == "DEPLOYING") == [
        ("web", "DEPLOYING"),
        ("worker", "DEPLOYING"),
    ]
    digest = event["detail"]["image-digest"]
    assert all(migrating.images("prod", name)["app"].endswith("@" + digest) for name in ("web", "worker"))


def test_pre_deploy_sweep_past_timeout_stops_the_task_and_fails_targets(
    migrating: World, deploy: Any, sweep: Any, tasks: TaskRuns, clock: Clock, faults: Faults
) -> None:
    # GIVEN a pre-deploy task still running after its 15 minutes
    _, task_arn = started_task(migrating, deploy, tasks)
    clock.now += timedelta(minutes=16)

    # WHEN the sweep runs
    sweep()

    # THEN it stops the task and fails every target
    assert faults.calls["ecs.StopTask"] == 1
    task = migrating.ecs.describe_tasks(cluster="prod", tasks=[task_arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    notes = messages(migrating)
    assert [n["status"] for n in notes] == ["FAILED", "FAILED"]
    assert all("timed out after 15 min" in n["reason"] for n in notes)


def test_pre_deploy_sweep_before_timeout_leaves_a_running_task_alone(
    migrating: World, deploy: Any, sweep: Any, tasks: TaskRuns, clock: Clock, faults: Faults
) -> None:
    # GIVEN a pre-deploy task running for 14 minutes
    started_task(migrating, deploy, tasks)
    clock.now += timedelta(minutes=14)

    # WHEN the sweep runs
    sweep()

    # THEN nothing is said and nothing stopped
    assert faults.calls["ecs.StopTask"] == 0
    assert messages(migrating) == []


def test_pre_deploy_redelivered_event_changes_nothing(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns
) -> None:
    # GIVEN a pre-deploy task whose exit 0 was told and rolled out
    _, task_arn = started_task(migrating, deploy, tasks)
    stopped = tasks.exit(task_arn, 0)
    deliver(migrating, track, stopped)
    messages(migrating)

    # WHEN EventBridge delivers the same event again
    result = deliver(migrating, track, stopped)

    # THEN nothing more happens
    assert result["status"] == "NO_CHANGE"
    assert messages(migrating) == []


def test_pre_deploy_same_digest_pushed_again_after_success_runs_no_task(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns, faults: Faults
) -> None:
    # GIVEN a digest whose pre-deploy task succeeded under the rule
    event, task_arn = started_task(migrating, deploy, tasks)
    deliver(migrating, track, tasks.exit(task_arn, 0))
    messages(migrating)

    # WHEN the same digest is pushed again under another tag
    digest = event["detail"]["image-digest"]
    again = push(migrating, "web", "1.1", digest=digest)
    deploy(again)

    # THEN no second task runs
    assert len(tasks.started()) == 1
    assert faults.calls["ecs.RunTask"] == 1


def test_pre_deploy_retried_push_event_does_not_run_the_task_twice(
    migrating: World, deploy: Any, tasks: TaskRuns, faults: Faults
) -> None:
    # GIVEN a push whose pre-deploy task is running
    event = push(migrating, "web", "1.1.0")
    deploy(event)

    # WHEN the same event is delivered again
    deploy(event)

    # THEN one task only
    assert faults.calls["ecs.RunTask"] == 1
    assert len(tasks.started()) == 1


def test_pre_deploy_reconciled_push_does_not_run_the_task_again(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns, faults: Faults
) -> None:
    # GIVEN a push whose pre-deploy task succeeded
    event, task_arn = started_task(migrating, deploy, tasks)
    deliver(migrating, track, tasks.exit(task_arn, 0))

    # WHEN the reconcile finds the same digest in ECR and deploys it (another event id)
    from slipway import app
    from slipway.model import RECONCILE, Push

    found = Push(
        event_id="reconcile-" + event["id"],
        account=ACCOUNT,
        region=REGION,
        repository="web",
        digest=event["detail"]["image-digest"],
        tag="1.1.0",
        time=app.app().clock(),
        initiated_by=RECONCILE,
    )
    app.app().deployer.deploy(found)

    # THEN no second task runs
    assert faults.calls["ecs.RunTask"] == 1
    assert len(tasks.started()) == 1


def test_pre_deploy_malformed_task_event_is_rejected_with_a_log(
    migrating: World, track: Any, tasks: TaskRuns, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a task state change without a task ARN
    from tests.conftest import load_event

    event = load_event("ecs-task-stopped.json")
    del event["detail"]["taskArn"]

    # WHEN the track function gets it
    result = track(event)

    # THEN it is rejected, with a log saying what it is not
    assert result == {"status": "REJECTED"}
    assert "not an ECS task state change" in caplog.text


def test_pre_deploy_explain_shows_the_held_targets_and_the_task_run(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a push whose pre-deploy task exited 3
    _, task_arn = started_task(migrating, deploy, tasks)
    deliver(migrating, track, tasks.exit(task_arn, 3))

    # WHEN the last push is explained
    from tests.integration.test_cli_history_rollback import slipway

    code, out, _ = slipway(capsys, "explain", "web")

    # THEN it shows the targets held for the task, and how the task ended
    assert code == 0
    assert "waiting for the pre-deploy task to exit 0" in out
    assert (
        f"pre-deploy task of rule prod: FAILED: pre-deploy task exited with code 3: {ESSENTIAL_EXITED} (task {task_arn}"
        in out
    )


def test_pre_deploy_runtask_refused_is_an_error_with_the_aws_code_and_nothing_held(
    migrating: World, deploy: Any, faults: Faults
) -> None:
    # GIVEN ECS refuses RunTask
    from sandbox.faults import Fault

    faults.fail_always("ecs.RunTask", Fault("AccessDeniedException", 400, "not authorized to perform ecs:RunTask"))
    before = {name: running(migrating, name) for name in ("web", "worker")}

    # WHEN a tag is pushed
    deploy(push(migrating, "web", "1.1.0"))

    # THEN every target is ERROR with the code, none held, no service changed
    notes = messages(migrating)
    assert [(n["status"], n["error_code"]) for n in notes] == [("ERROR", "AccessDeniedException")] * 2
    assert all("pre-deploy task could not start: RunTask failed: AccessDeniedException" in n["reason"] for n in notes)
    from slipway import app

    assert app.app().store.holds() == []
    assert {name: running(migrating, name) for name in ("web", "worker")} == before


def test_pre_deploy_container_not_in_the_revision_is_an_error(migrating: World, deploy: Any, tasks: TaskRuns) -> None:
    # GIVEN a rule whose pre-deploy container is not in the task definition
    migrating.put_rule("web", "prod", {"targets": TARGETS, "pre_deploy": {**MIGRATE, "container": "migrator"}})

    # WHEN a tag is pushed
    deploy(push(migrating, "web", "1.1.0"))

    # THEN no task runs and every target is ERROR ContainerNotFound, naming the containers there are
    assert tasks.started() == []
    notes = messages(migrating)
    assert [(n["status"], n["error_code"]) for n in notes] == [("ERROR", "ContainerNotFound")] * 2
    assert all(
        '"migrator" is not in task definition' in n["reason"] and "(has: app, envoy)" in n["reason"] for n in notes
    )


def test_pre_deploy_new_push_of_a_failed_digest_runs_the_task_again(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns
) -> None:
    # GIVEN a digest whose pre-deploy task exited 3
    event, task_arn = started_task(migrating, deploy, tasks)
    deliver(migrating, track, tasks.exit(task_arn, 3))
    messages(migrating)

    # WHEN the same digest is pushed again under another tag (a new event)
    deploy(push(migrating, "web", "1.1", digest=event["detail"]["image-digest"]))

    # THEN the task runs again, and the targets wait for it
    assert len(tasks.started()) == 2
    assert [n["held"] for n in messages(migrating)] == ["pre_deploy", "pre_deploy"]


def test_pre_deploy_plan_of_a_digest_whose_task_failed_says_it_runs_again(
    migrating: World,
    deploy: Any,
    track: Any,
    tasks: TaskRuns,
    cli_calls: Faults,  # noqa: F811 - the fixture
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a digest whose pre-deploy task exited 3
    _, task_arn = started_task(migrating, deploy, tasks)
    deliver(migrating, track, tasks.exit(task_arn, 3))
    cli_calls.reset_counts()

    # WHEN a push of the tag is planned
    from tests.integration.test_cli_history_rollback import slipway

    code, out, _ = slipway(capsys, "plan", "web:1.1.0")

    # THEN each target would be held: the task runs again first; the plan starts none
    assert code == 0
    assert out.count("would hold: the pre-deploy task runs again first: it failed for this digest") == 2
    assert cli_calls.calls["dynamodb.GetItem"] > 0  # the command's calls are counted
    assert cli_calls.calls["ecs.RunTask"] == cli_calls.calls["ecs.RegisterTaskDefinition"] == 0


def test_pre_deploy_plan_of_a_digest_whose_task_succeeded_would_deploy(
    migrating: World, deploy: Any, track: Any, tasks: TaskRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a digest whose pre-deploy task exited 0 (its rollouts started)
    _, task_arn = started_task(migrating, deploy, tasks)
    deliver(migrating, track, tasks.exit(task_arn, 0))

    # WHEN the tag is planned again
    from tests.integration.test_cli_history_rollback import slipway

    code, out, _ = slipway(capsys, "plan", "web:1.1.0")

    # THEN no target waits for a task any more
    assert code == 0
    assert "pre-deploy" not in out
