"""Blue/green, canary and linear rollouts under moto and the sandbox's ECS strategies: the real deploy, track
and sweep handlers and the real ``slipway`` commands, stage by stage to one outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.stack import World
from sandbox.strategies import Strategies
from tests.conftest import EVENTS
from tests.integration.conftest import Clock
from tests.integration.test_deploy import fargate_web, push

BLUE_TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-blue/0123456789abcdef"
GREEN_TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-green/fedcba9876543210"
PROD_RULE = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
LB_ROLE = "arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers"
CANARY_RULE: dict[str, Any] = {
    "targets": [{"cluster": "prod", "service": "web"}],
    "strategy": "canary",
    "canary": {"percent": 5, "bake_minutes": 10},
    "alarms": ["web-5xx"],
    "approval": True,
}


def balanced_web(world: World, name: str = "web") -> str:
    """prod/NAME behind an ALB whose target group has its alternate: what traffic shifting needs."""
    return fargate_web(
        world,
        name=name,
        loadBalancers=[
            {
                "targetGroupArn": BLUE_TG,
                "containerName": "app",
                "containerPort": 8080,
                "advancedConfiguration": {
                    "alternateTargetGroupArn": GREEN_TG,
                    "productionListenerRule": PROD_RULE,
                    "roleArn": LB_ROLE,
                },
            }
        ],
    )


@pytest.fixture
def strategies(world: World, clock: Clock) -> Strategies:
    """ECS's strategies in the sandbox, on the clock Slipway's functions read."""
    driver = Strategies(world.account, world.region)
    clock.now = driver.now
    return driver


def step(strategies: Strategies, clock: Clock, track: Any, events: list[dict[str, Any]]) -> None:
    """Deliver what ECS emitted to the track function, with Slipway's clock at ECS's time."""
    clock.now = strategies.now
    for event in events:
        track(event)


def until_shifted(strategies: Strategies, clock: Clock, track: Any, weight: float) -> None:
    """Let ECS run until the new revision has ``weight`` % of production traffic, approving each pause."""
    for _ in range(30):
        if production(strategies) == weight:
            return
        if strategies.current("prod", "web").awaiting():
            approve(strategies, clock, track, strategies.current("prod", "web"))
        else:
            step(strategies, clock, track, strategies.advance("prod", "web"))
    raise AssertionError(f"ECS never shifted {weight} % of production traffic")


def approve(strategies: Strategies, clock: Clock, track: Any, record: Any) -> None:
    """``slipway approve`` the rollout whose deployment waits, then deliver what ECS emitted."""
    code, _ = slipway("approve", _latest_rollout_id())
    assert code == 0
    step(strategies, clock, track, strategies.api_events())


def _latest_rollout_id() -> str:
    return str(json.loads(_cli_json(["history", "prod/web"]))[0]["rollout_id"])


def production(strategies: Strategies) -> float | None:
    """The share of production traffic ECS gives the new revision now."""
    record = strategies.current("prod", "web")
    return record.traffic[record.target.arn][0] if record.traffic else None


def messages(world: World) -> list[dict[str, Any]]:
    """Every message the subscriber received so far in this test (the queue is drained as it is read)."""
    seen: list[dict[str, Any]] = world.__dict__.setdefault("_subscriber_seen", [])
    seen.extend(n["message"] for n in world.notifications())
    return seen


@pytest.fixture
def canary(world: World, deploy: Any, strategies: Strategies) -> dict[str, Any]:
    """web:1.1.0 pushed under a canary rule with approval: UpdateService accepted it."""
    world.create_repository("web")
    balanced_web(world)
    world.put_rule("web", "prod", CANARY_RULE)
    deploy(push(world, "web", "1.1.0"))
    [deploying] = messages(world)
    return deploying


def test_canary_is_deploying_with_ecs_canary_strategy_and_approval_pause(world: World, canary) -> None:
    assert canary["status"] == "DEPLOYING" and canary["strategy"] == "canary"
    config = world.describe_service("prod", "web")["deploymentConfiguration"]
    assert config["strategy"] == "CANARY"
    assert config["canaryConfiguration"] == {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}
    assert config["lifecycleHooks"] == [
        {
            "targetType": "PAUSE",
            "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"action": "ROLLBACK"},
        }
    ]
    assert config["alarms"] == {"alarmNames": ["web-5xx"], "enable": True, "rollback": True}


def test_canary_stages_progress_approval_and_success(
    world: World, canary, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN ECS runs the canary to its first pause: before production traffic
    step(strategies, clock, track, strategies.settle("prod", "web"))
    first = [m for m in messages(world) if m["status"] == "PROGRESS"]
    assert len(first) == 1 and first[0]["hook_id"] and first[0]["stage"] is not None
    assert f"slipway approve {canary['rollout_id']}" in first[0]["reason"]

    # WHEN it is approved, ECS shifts 5 % of production traffic (ECS emits no event for it: the sweep sees it)
    until_shifted(strategies, clock, track, 5.0)
    sweep()
    sweep()
    # THEN one PROGRESS says so, baking until the canary's bake ends
    shifted = [m for m in messages(world) if m["status"] == "PROGRESS" and m["traffic_percent"] == 5.0]
    assert len(shifted) == 1 and shifted[0]["strategy"] == "canary"
    assert shifted[0]["stage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert "5 % of production traffic shifted" in shifted[0]["reason"] and "baking until" in shifted[0]["reason"]
    assert shifted[0]["until"] is not None

    # WHEN the bake ends, ECS pauses before the rest: a second approval
    step(strategies, clock, track, strategies.settle("prod", "web"))
    hook = strategies.current("prod", "web").awaiting()[0]
    paused = [m for m in messages(world) if m["status"] == "PROGRESS"][-1]
    assert paused["hook_id"] == hook.hook_id and paused["until"] is not None
    approve(strategies, clock, track, strategies.current("prod", "web"))
    strategies.advance("prod", "web")  # the rest of production traffic
    clock.now = strategies.now
    sweep()
    step(strategies, clock, track, strategies.settle("prod", "web"))

    # THEN production traffic shifts, ECS succeeds, and SUCCEEDED is sent once, after the PROGRESS messages
    statuses = [m["status"] for m in messages(world)]
    assert statuses[0] == "DEPLOYING" and statuses[-1] == "SUCCEEDED"
    assert statuses.count("SUCCEEDED") == 1 and "ROLLED_BACK" not in statuses
    assert any(m["status"] == "PROGRESS" and m["traffic_percent"] == 100.0 for m in messages(world))
    assert world.describe_service("prod", "web")["taskDefinition"] == canary["task_definition"]
    history = json.loads(_cli_json(["history", "prod/web"]))
    assert history[0]["status"] == "SUCCEEDED" and history[0]["approved_by"]


def test_canary_alarm_during_bake_is_rolled_back_never_succeeded(
    world: World, canary, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN the canary is baking with 5 % of production traffic
    until_shifted(strategies, clock, track, 5.0)
    # WHEN its alarm fires and ECS rolls back
    step(strategies, clock, track, strategies.fire_alarm("prod", "web", "web-5xx"))
    step(strategies, clock, track, strategies.settle("prod", "web"))
    sweep()  # the rollback's end, whether or not an event told of it
    # THEN ROLLED_BACK with ECS's reason and the revision returned to; never SUCCEEDED
    statuses = [m["status"] for m in messages(world)]
    assert "SUCCEEDED" not in statuses and statuses.count("ROLLED_BACK") == 1
    [rolled_back] = [m for m in messages(world) if m["status"] == "ROLLED_BACK"]
    assert "web-5xx" in rolled_back["reason"]
    assert rolled_back["rolled_back_to"] == canary["previous_task_definition"]
    assert world.describe_service("prod", "web")["taskDefinition"] == canary["previous_task_definition"]


def test_canary_abort_rolls_back_naming_who_and_why(
    world: World, canary, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    until_shifted(strategies, clock, track, 5.0)
    code, out = slipway("abort", canary["rollout_id"], "--reason", "p99 latency")
    assert code == 0 and "rollback requested by" in out
    step(strategies, clock, track, strategies.api_events())
    step(strategies, clock, track, strategies.settle("prod", "web"))
    sweep()
    [rolled_back] = [m for m in messages(world) if m["status"] == "ROLLED_BACK"]
    assert rolled_back["reason"].startswith("aborted by ") and "(p99 latency);" in rolled_back["reason"]
    assert rolled_back["aborted_by"]


def test_sweep_reports_a_pause_whose_event_was_lost_and_never_times_it_out_early(
    world: World, canary, sweep, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN ECS reaches the approval pause and none of its events is delivered
    strategies.settle("prod", "web")
    clock.now = strategies.now
    # WHEN the sweep runs
    sweep()
    # THEN it reports the pause once
    paused = [m for m in messages(world) if m["status"] == "PROGRESS" and m.get("hook_id")]
    assert len(paused) == 1
    # WHEN later sweeps run past DeploymentTimeoutMinutes (30) since the stage changed, the pause still open
    clock.advance(minutes=45)
    sweep()
    # THEN nothing more: no second PROGRESS, and no TIMED_OUT before ECS's own pause expires
    assert [m["status"] for m in messages(world)] == ["DEPLOYING", "PROGRESS"]


def test_sweep_times_out_a_stalled_stage_once_counting_from_its_change(
    world: World, canary, sweep, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN ECS started the deployment and it stalls in its first stage
    strategies.advance("prod", "web")
    clock.now = strategies.now
    sweep()
    # WHEN 29 minutes pass, then 31
    clock.advance(minutes=29)
    sweep()
    assert "TIMED_OUT" not in [m["status"] for m in messages(world)]
    clock.advance(minutes=2)
    sweep()
    sweep()
    # THEN one TIMED_OUT naming the stage
    [timed_out] = [m for m in messages(world) if m["status"] == "TIMED_OUT"]
    assert "canary deployment is IN_PROGRESS at stage" in timed_out["reason"]


def test_track_hook_state_change_event_reads_the_pause(
    world: World, canary, track, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN ECS paused the canary and emitted its hook event (the fixture, pointed at this service)
    strategies.settle("prod", "web")
    clock.now = strategies.now
    event = json.loads((EVENTS / "ecs-hook-awaiting-action.json").read_text())
    event["resources"] = [world.describe_service("prod", "web")["serviceArn"]]
    # WHEN the event is delivered twice
    first, second = track(event), track(event)
    # THEN the pause is reported once
    assert first["status"] == "PROGRESS" and second["status"] == "NO_CHANGE"
    assert len([m for m in messages(world) if m["status"] == "PROGRESS" and m.get("hook_id")]) == 1


def test_deploy_canary_to_service_without_traffic_shifting_is_error_and_registers_nothing(
    world: World, deploy, faults
) -> None:
    world.create_repository("web")
    before = fargate_web(world)  # no load balancer, no Service Connect
    world.put_rule("web", "prod", {**CANARY_RULE, "approval": False})
    deploy(push(world, "web", "1.1.0"))
    [error] = messages(world)
    assert error["status"] == "ERROR" and error["error_code"] == "StrategyUnsupported"
    assert "neither a load balancer nor Service Connect" in error["reason"]
    assert faults.calls["RegisterTaskDefinition"] == 0
    assert world.describe_service("prod", "web")["taskDefinition"] == before


def slipway(*args: str) -> tuple[int, str]:
    """Run the ``slipway`` command in-process: its exit status and what it printed."""
    import contextlib
    import io

    from slipway.cli import run

    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            run(list(args))
        except SystemExit as done:
            code = int(done.code or 0)
    return code, out.getvalue()


def _cli_json(args: list[str]) -> str:
    code, out = slipway("--json", *args)
    assert code == 0, out
    return out


def test_status_shows_the_pause_and_the_next_command(
    world: World, canary, track, strategies: Strategies, clock: Clock
) -> None:
    strategies.settle("prod", "web")
    status = json.loads(_cli_json(["status", "prod/web"]))
    text = json.dumps(status)
    assert canary["rollout_id"] in text and "PAUSE" in text
    assert status["next"] == f"slipway approve {canary['rollout_id']}"


def with_hook_role(role: str, clock: Clock) -> None:
    """The functions as a stack with LifecycleHookRoleArn set runs them (same session, same clock)."""
    from slipway import app
    from slipway.settings import Settings

    current = app.app()
    settings = Settings.model_validate({**current.settings.model_dump(), "lifecycle_hook_role_arn": role})
    app.use(app.App(config=settings, session=current.session, clock=clock))


def rule_for(world: World, **spec: Any) -> None:
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], **spec})


def test_blue_green_with_lambda_hook_runs_stage_by_stage_to_success(
    world: World, deploy, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN the stack's hook role, and a blue/green rule with a smoke-test hook and a 15-minute bake
    role = "arn:aws:iam::123456789012:role/ecs-lifecycle-hooks"
    with_hook_role(role, clock)
    world.create_repository("web")
    balanced_web(world)
    smoke = "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke-test"
    rule_for(
        world, strategy="blue_green", bake_minutes=15, hooks=[{"stages": ["POST_TEST_TRAFFIC_SHIFT"], "lambda": smoke}]
    )
    # WHEN a push deploys and ECS runs the deployment, the sweep reading it on its schedule
    deploy(push(world, "web", "1.1.0"))
    config = world.describe_service("prod", "web")["deploymentConfiguration"]
    assert config["strategy"] == "BLUE_GREEN" and config["bakeTimeInMinutes"] == 15
    assert {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": smoke,
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "roleArn": role,
    } in config["lifecycleHooks"]
    for _ in range(12):
        if (
            strategies.current("prod", "web").status != "IN_PROGRESS"
            and strategies.current("prod", "web").status != "PENDING"
        ):
            break
        step(strategies, clock, track, strategies.advance("prod", "web"))
        sweep()
    # THEN production shifted once (with the bake's end), then SUCCEEDED, never a rollback
    statuses = [m["status"] for m in messages(world)]
    assert statuses[-1] == "SUCCEEDED" and "ROLLED_BACK" not in statuses
    [shifted] = [m for m in messages(world) if m["status"] == "PROGRESS"]
    assert shifted["strategy"] == "blue_green" and shifted["traffic_percent"] == 100.0
    assert "all production traffic shifted" in shifted["reason"]


def test_blue_green_failing_hook_is_rolled_back(
    world: World, deploy, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    with_hook_role("arn:aws:iam::123456789012:role/ecs-lifecycle-hooks", clock)
    world.create_repository("web")
    before = balanced_web(world)
    smoke = "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke-test"
    rule_for(world, strategy="blue_green", hooks=[{"stages": ["POST_SCALE_UP"], "lambda": smoke}])
    deploy(push(world, "web", "1.1.0"))
    strategies.fail_hook("prod", "web")
    step(strategies, clock, track, strategies.settle("prod", "web"))
    sweep()
    [rolled_back] = [m for m in messages(world) if m["status"] == "ROLLED_BACK"]
    assert "POST_SCALE_UP" in rolled_back["reason"]
    assert rolled_back["rolled_back_to"] == before
    assert "SUCCEEDED" not in [m["status"] for m in messages(world)]


def test_lambda_hooks_without_the_stack_role_are_error_before_any_revision(world: World, deploy, faults) -> None:
    world.create_repository("web")
    balanced_web(world)
    smoke = "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke-test"
    rule_for(world, strategy="blue_green", hooks=[{"stages": ["POST_SCALE_UP"], "lambda": smoke}])
    deploy(push(world, "web", "1.1.0"))
    [error] = messages(world)
    assert error["status"] == "ERROR" and error["error_code"] == "StrategyUnsupported"
    assert "LifecycleHookRoleArn" in error["reason"]
    assert faults.calls["RegisterTaskDefinition"] == 0


def test_linear_reports_each_step_and_succeeds(
    world: World, deploy, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    world.create_repository("web")
    balanced_web(world)
    rule_for(world, strategy="linear", linear={"step_percent": 50, "step_bake_minutes": 5})
    deploy(push(world, "web", "1.1.0"))
    for _ in range(15):
        if strategies.current("prod", "web").status not in ("PENDING", "IN_PROGRESS"):
            break
        step(strategies, clock, track, strategies.advance("prod", "web"))
        sweep()
    progress = [m for m in messages(world) if m["status"] == "PROGRESS"]
    assert [m["traffic_percent"] for m in progress] == [50.0, 100.0]
    assert "then the next step" in progress[0]["reason"]
    assert [m["status"] for m in messages(world)][-1] == "SUCCEEDED"


def test_headless_blue_green_is_refused_unless_the_rule_says_so(world: World, deploy) -> None:
    world.create_repository("web")
    fargate_web(world)  # no load balancer, no Service Connect
    rule_for(world, strategy="blue_green")
    deploy(push(world, "web", "1.1.0"))
    [refused] = messages(world)
    assert refused["status"] == "ERROR" and '"headless": true' in refused["reason"]


def test_headless_blue_green_is_deployed_when_the_rule_says_so(world: World, deploy) -> None:
    world.create_repository("web")
    fargate_web(world)
    rule_for(world, strategy="blue_green", headless=True)
    deploy(push(world, "web", "1.1.0"))
    assert [m["status"] for m in messages(world)] == ["DEPLOYING"]
    assert world.describe_service("prod", "web")["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"


def test_failed_rollback_is_failed_never_succeeded(
    world: World, canary, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    until_shifted(strategies, clock, track, 5.0)
    step(strategies, clock, track, strategies.fire_alarm("prod", "web", "web-5xx"))
    strategies.fail_rollback("prod", "web")
    sweep()
    statuses = [m["status"] for m in messages(world)]
    assert statuses[-1] == "FAILED" and "SUCCEEDED" not in statuses and "ROLLED_BACK" not in statuses
    assert "could not roll the canary deployment back" in messages(world)[-1]["reason"]


def test_deployment_stopped_outside_slipway_is_failed(
    world: World, canary, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    import boto3

    until_shifted(strategies, clock, track, 5.0)
    arn = strategies.current("prod", "web").arn
    boto3.client("ecs", region_name=world.region).stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
    step(strategies, clock, track, strategies.api_events())
    sweep()
    [failed] = [m for m in messages(world) if m["status"] == "FAILED"]
    assert "ECS stopped the canary deployment" in failed["reason"]
    assert "SUCCEEDED" not in [m["status"] for m in messages(world)]


def test_newer_push_during_a_canary_supersedes_it_and_the_old_deployment_is_never_reported_again(
    world: World, canary, deploy, track, sweep, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN the canary of 1.1.0 is paused for approval
    step(strategies, clock, track, strategies.settle("prod", "web"))
    # WHEN 1.2.0 is pushed under the same rule
    deploy(push(world, "web", "1.2.0"))
    sweep()
    # THEN 1.1.0's rollout is SUPERSEDED once, 1.2.0's is DEPLOYING, and nothing more is said of 1.1.0
    by_tag = [(m["tag"], m["status"]) for m in messages(world)]
    assert ("1.1.0", "SUPERSEDED") in by_tag and ("1.2.0", "DEPLOYING") in by_tag
    assert by_tag.count(("1.1.0", "SUPERSEDED")) == 1
    after = by_tag[by_tag.index(("1.1.0", "SUPERSEDED")) + 1 :]
    assert all(tag != "1.1.0" for tag, _ in after)


def test_track_hook_event_naming_only_the_service_deployment_reads_the_pause(
    world: World, canary, track, strategies: Strategies, clock: Clock
) -> None:
    # GIVEN ECS paused the canary and its hook event names the service deployment, not the service
    strategies.settle("prod", "web")
    clock.now = strategies.now
    event = json.loads((EVENTS / "ecs-hook-awaiting-action.json").read_text())
    event["resources"] = []
    event["detail"]["serviceDeploymentArn"] = strategies.current("prod", "web").arn
    # WHEN it is delivered THEN the pause is read and reported
    assert track(event)["status"] == "PROGRESS"


def test_track_hook_event_naming_no_service_is_rejected_as_invalid(world: World, track, faults) -> None:
    event = json.loads((EVENTS / "ecs-hook-awaiting-action.json").read_text())
    event["resources"] = []
    event["detail"].pop("serviceDeploymentArn")
    assert track(event) == {"status": "REJECTED"}


def test_progress_whose_publish_failed_is_resent_once_later_and_not_by_a_reading_at_the_same_time(
    world: World, canary, sweep, strategies: Strategies, clock: Clock, faults, no_backoff
) -> None:
    from sandbox.faults import Fault
    from sandbox.stack import LambdaContext
    from slipway.handlers import sweep as handler

    # GIVEN ECS pauses the canary, and SNS is down while the sweep reads it
    strategies.settle("prod", "web")
    clock.now = strategies.now
    faults.fail_always("sns.PublishBatch", Fault("InternalError", 500, "SNS is down", takes=2.0))  # of 30 s
    scheduled = {"version": "0", "id": "s", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
    with pytest.raises(Exception, match="NotificationFailed"):
        handler.handler(scheduled, LambdaContext(function_name="slipway-sweep", timeout_ms=30_000))
    faults.stop("sns.PublishBatch")
    # WHEN another reading comes at once, THEN it sends nothing (the first may still be publishing)
    sweep()
    assert [m["status"] for m in messages(world)] == ["DEPLOYING"]
    # WHEN the next sweep comes a minute later, THEN the pause is reported, once, and never again
    clock.advance(minutes=1)
    sweep()
    clock.advance(minutes=5)
    sweep()
    assert [m["status"] for m in messages(world)] == ["DEPLOYING", "PROGRESS"]
