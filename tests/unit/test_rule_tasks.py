"""The rule key ``pre_deploy``: every field validated with a message that says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from slipway.rule_tasks import DEFAULT_TIMEOUT_MINUTES
from slipway.rules import RuleInvalid, validate_spec
from slipway.task_run import log_location, task_end

TARGETS = [{"cluster": "prod", "service": "web"}]
MIGRATE = {"container": "app", "command": ["./migrate"]}


def problems(pre_deploy: Any) -> list[str]:
    try:
        validate_spec("/slipway/rules/web/prod", {"targets": TARGETS, "pre_deploy": pre_deploy})
    except RuleInvalid as error:
        return error.problems
    return []


def test_pre_deploy_minimal_gets_the_defaults() -> None:
    spec = validate_spec("/slipway/rules/web/prod", {"targets": TARGETS, "pre_deploy": MIGRATE})

    assert spec.pre_deploy is not None
    assert spec.pre_deploy.timeout_minutes == DEFAULT_TIMEOUT_MINUTES == 15
    assert spec.pre_deploy.network == "service"
    assert spec.pre_deploy.cluster is None


@pytest.mark.parametrize(
    ("pre_deploy", "problem"),
    [
        ({"command": ["./migrate"]}, "pre_deploy.container: required"),
        ({"container": "app"}, "pre_deploy.command: required"),
        ({**MIGRATE, "container": "my app"}, "pre_deploy.container: 'my app' is not a container name"),
        ({**MIGRATE, "command": []}, "pre_deploy.command: List should have at least 1 item"),
        ({**MIGRATE, "command": "./migrate"}, "pre_deploy.command: Input should be a valid list"),
        ({**MIGRATE, "command": [""]}, "pre_deploy.command[0]: String should have at least 1 character"),
        ({**MIGRATE, "timeout_minutes": 0}, "pre_deploy.timeout_minutes: timeout_minutes is 0: it must be 1 to 120"),
        (
            {**MIGRATE, "timeout_minutes": 121},
            "pre_deploy.timeout_minutes: timeout_minutes is 121: it must be 1 to 120",
        ),
        ({**MIGRATE, "cluster": "prod cluster"}, "pre_deploy.cluster: 'prod cluster' is not a cluster name"),
        ({**MIGRATE, "cluster": "arn:aws:ecs:eu-west-1:1:cluster/x"}, "is not an ECS cluster ARN"),
        ({**MIGRATE, "network": "task"}, "pre_deploy.network: network is 'task': \"service\""),
        ({**MIGRATE, "network": {"subnets": []}}, "pre_deploy.network.subnets: List should have at least 1 item"),
        ({**MIGRATE, "network": {"subnets": ["sub-1"]}}, "pre_deploy.network.subnets: 'sub-1': not a subnet id"),
        (
            {**MIGRATE, "network": {"subnets": ["subnet-0abc1234"], "security_groups": ["default"]}},
            "pre_deploy.network.security_groups: 'default': not a security group id",
        ),
        ({**MIGRATE, "comand": ["x"]}, 'pre_deploy: unknown key "comand" (did you mean "command"?)'),
    ],
)
def test_pre_deploy_bad_field_is_a_precise_problem(pre_deploy: dict[str, Any], problem: str) -> None:
    found = problems(pre_deploy)

    assert any(problem in p for p in found), found


def test_pre_deploy_explicit_network_becomes_runtask_network_configuration() -> None:
    network = {"subnets": ["subnet-0abc1234"], "security_groups": ["sg-0abc1234"], "assign_public_ip": True}
    spec = validate_spec("/slipway/rules/web/prod", {"targets": TARGETS, "pre_deploy": {**MIGRATE, "network": network}})

    assert spec.pre_deploy is not None and spec.pre_deploy.network != "service"
    assert spec.pre_deploy.network.configuration() == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0abc1234"],
            "securityGroups": ["sg-0abc1234"],
            "assignPublicIp": "ENABLED",
        }
    }


def test_task_end_running_task_is_not_an_end() -> None:
    assert task_end({"lastStatus": "RUNNING", "taskArn": "t"}, "app") is None


def test_task_end_reads_the_named_containers_exit_code() -> None:
    task = {
        "lastStatus": "STOPPED",
        "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/prod/abc",
        "stoppedReason": "Essential container in task exited",
        "containers": [{"name": "envoy", "exitCode": 0}, {"name": "app", "exitCode": 3}],
    }

    end = task_end(task, "app")

    assert end is not None and end.exit_code == 3 and end.stopped_reason == "Essential container in task exited"


def test_log_location_awslogs_with_prefix_is_prefix_container_task_id() -> None:
    body = {
        "containerDefinitions": [
            {
                "name": "app",
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"},
                },
            }
        ]
    }

    assert log_location(body, "app", "arn:aws:ecs:eu-west-1:123456789012:task/prod/abc123") == (
        "/ecs/web",
        "web/app/abc123",
    )


def test_log_location_without_awslogs_is_unknown() -> None:
    body = {"containerDefinitions": [{"name": "app", "logConfiguration": {"logDriver": "splunk"}}]}

    assert log_location(body, "app", "arn:aws:ecs:eu-west-1:123456789012:task/prod/abc123") == (None, None)
