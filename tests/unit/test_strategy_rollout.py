"""What UpdateService carries for a rule's strategy, what a service needs to run it, and how plan uses both."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from slipway.model import Service, Status, Traffic
from slipway.outcome import Outcome
from slipway.plan import Plan, plan
from slipway.strategy import configuration, unfit
from tests.unit.fakes import make_push, make_rule, make_service, make_task_definition

HOOK_ROLE = "arn:aws:iam::123456789012:role/ecs-hooks"
CHECK = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
BALANCED = Traffic(load_balancers=1, advanced=1)


def service(traffic: Traffic = BALANCED, **kwargs: Any) -> Service:
    return replace(make_service("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", **kwargs), traffic=traffic)


def test_configuration_rolling_rule_keeps_todays_request() -> None:
    config = configuration(service(), make_rule(), None)
    assert config == {
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }


def test_configuration_rolling_rule_on_a_blue_green_service_sends_rolling() -> None:
    # GIVEN a service its owners switched to BLUE_GREEN, and a rule that names no strategy
    target = service(deployment_configuration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 15})
    # WHEN Slipway builds the request THEN the rule decides: a rolling update with its circuit breaker
    config = configuration(target, make_rule(), None)
    assert config["strategy"] == "ROLLING"
    assert "bakeTimeInMinutes" not in config
    assert config["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


def test_configuration_canary_carries_percent_bake_and_alarms_without_circuit_breaker() -> None:
    rule = make_rule(strategy="canary", canary={"percent": 5, "bake_minutes": 15}, alarms=["web-5xx"])
    config = configuration(service(), rule, None)
    assert config["strategy"] == "CANARY"
    assert config["canaryConfiguration"] == {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 15}
    assert config["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    assert config["alarms"] == {"alarmNames": ["web-5xx"], "enable": True, "rollback": True}
    assert "lifecycleHooks" not in config  # the service's hooks are left as they are


def test_configuration_canary_defaults_are_ecs_defaults() -> None:
    config = configuration(service(), make_rule(strategy="canary"), None)
    assert config["canaryConfiguration"] == {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}


def test_configuration_linear_carries_steps() -> None:
    rule = make_rule(strategy="linear", linear={"step_percent": 20, "step_bake_minutes": 5})
    config = configuration(service(), rule, None)
    assert config["strategy"] == "LINEAR"
    assert config["linearConfiguration"] == {"stepPercent": 20.0, "stepBakeTimeInMinutes": 5}
    assert "canaryConfiguration" not in config


def test_configuration_blue_green_bakes_ten_minutes_unless_told() -> None:
    assert configuration(service(), make_rule(strategy="blue_green"), None)["bakeTimeInMinutes"] == 10
    told = make_rule(strategy="blue_green", bake_minutes=30)
    assert configuration(service(), told, None)["bakeTimeInMinutes"] == 30


def test_configuration_approval_adds_a_pause_before_production_traffic() -> None:
    config = configuration(service(), make_rule(strategy="canary", approval=True), None)
    assert config["lifecycleHooks"] == [
        {
            "targetType": "PAUSE",
            "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"action": "ROLLBACK"},
        }
    ]


def test_configuration_rule_hooks_keep_the_services_other_hooks() -> None:
    # GIVEN a service with its own audit hook and two pauses, and a rule naming a smoke test and a pause
    own_audit = {"targetType": "AWS_LAMBDA", "hookTargetArn": "arn:aws:lambda:us-east-1:1:function:audit"}
    own_pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}
    own_gate = {
        "targetType": "PAUSE",
        "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 5, "action": "CONTINUE"},
    }
    target = service(deployment_configuration={"lifecycleHooks": [own_audit, own_pause, own_gate]})
    rule = make_rule(
        strategy="blue_green",
        hooks=[
            {"stages": ["POST_TEST_TRAFFIC_SHIFT"], "lambda": CHECK},
            {"stages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"], "pause": True, "timeout_minutes": 60},
        ],
    )
    # WHEN the request is built
    hooks = configuration(target, rule, HOOK_ROLE)["lifecycleHooks"]
    # THEN the audit hook and the pause at another stage stay, the rule's pause replaces the one at its
    # stage, and the Lambda hook gets the role
    assert hooks == [
        own_audit,
        own_pause,
        {
            "targetType": "AWS_LAMBDA",
            "hookTargetArn": CHECK,
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "roleArn": HOOK_ROLE,
        },
        {
            "targetType": "PAUSE",
            "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"action": "ROLLBACK", "timeoutInMinutes": 60},
        },
    ]


@pytest.mark.parametrize(
    ("kwargs", "rule", "gist"),
    [
        ({"launch_type": "EXTERNAL"}, {"strategy": "blue_green"}, "not on the EXTERNAL launch type"),
        ({"traffic": Traffic(load_balancers=2, advanced=1)}, {"strategy": "canary"}, "1 of 2 have one"),
        ({"traffic": Traffic()}, {"strategy": "linear"}, "neither a load balancer nor Service Connect"),
        ({"traffic": Traffic()}, {"strategy": "blue_green"}, 'set "headless": true'),
        (
            {},
            {"strategy": "blue_green", "hooks": [{"stages": ["PRE_SCALE_UP"], "lambda": CHECK}]},
            "LifecycleHookRoleArn",
        ),
    ],
)
def test_unfit_names_what_the_service_lacks(kwargs: dict[str, Any], rule: dict[str, Any], gist: str) -> None:
    why = unfit(service(**kwargs), make_rule(**rule), None)
    assert why is not None and gist in why


def test_unfit_daemon_service_cannot_run_blue_green() -> None:
    daemon = replace(service(), scheduling_strategy="DAEMON")
    why = unfit(daemon, make_rule(strategy="blue_green"), None)
    assert why is not None and "DAEMON" in why


@pytest.mark.parametrize(
    ("traffic", "rule"),
    [
        (Traffic(load_balancers=1, advanced=1), {"strategy": "canary"}),
        (Traffic(service_connect=True), {"strategy": "linear"}),
        (Traffic(), {"strategy": "blue_green", "headless": True}),
        (Traffic(), {}),  # rolling needs nothing of the kind
    ],
)
def test_unfit_accepts_services_that_can_run_the_strategy(traffic: Traffic, rule: dict[str, Any]) -> None:
    assert unfit(service(traffic), make_rule(**rule), None) is None


def test_plan_unfit_service_is_error_before_any_revision() -> None:
    taskdef = make_task_definition()
    target = replace(make_service(taskdef.arn), traffic=Traffic())
    rule = make_rule(strategy="canary")
    decision = plan(make_push(), rule, rule.spec.targets[0], target, taskdef, None)
    assert isinstance(decision, Outcome)
    assert decision.status == Status.ERROR
    assert decision.error_code == "StrategyUnsupported"
    assert decision.strategy == "canary"


def test_plan_fit_service_gets_the_strategy_request() -> None:
    taskdef = make_task_definition()
    target = replace(make_service(taskdef.arn), traffic=BALANCED)
    rule = make_rule(strategy="canary", approval=True)
    decision = plan(make_push(), rule, rule.spec.targets[0], target, taskdef, None)
    assert isinstance(decision, Plan)
    assert decision.deployment_configuration["strategy"] == "CANARY"
    assert decision.deployment_configuration["lifecycleHooks"][0]["lifecycleStages"] == ["PRE_PRODUCTION_TRAFFIC_SHIFT"]


def test_configuration_approval_pause_is_taken_off_when_the_rule_stops_asking() -> None:
    # GIVEN a service that still has the pause an earlier approval rollout added, beside its own pause
    ours = {
        "targetType": "PAUSE",
        "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 1440, "action": "ROLLBACK"},
    }
    own = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}
    target = service(deployment_configuration={"strategy": "CANARY", "lifecycleHooks": [own, ours]})
    # WHEN the rule no longer asks for approval THEN the approval pause goes and the service's own stays
    assert configuration(target, make_rule(strategy="canary"), None)["lifecycleHooks"] == [own]
    # AND a rule that still asks keeps exactly one approval pause
    hooks = configuration(target, make_rule(strategy="canary", approval=True), None)["lifecycleHooks"]
    assert [h["lifecycleStages"] for h in hooks] == [["POST_SCALE_UP"], ["PRE_PRODUCTION_TRAFFIC_SHIFT"]]


def test_configuration_rolling_rule_takes_the_approval_pause_off_too() -> None:
    ours = {
        "targetType": "PAUSE",
        "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"action": "ROLLBACK"},
    }
    target = service(deployment_configuration={"strategy": "CANARY", "lifecycleHooks": [ours]})
    config = configuration(target, make_rule(), None)
    assert config["strategy"] == "ROLLING" and config["lifecycleHooks"] == []
