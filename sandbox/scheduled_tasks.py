"""Scheduled tasks in the sandbox: an EventBridge Scheduler schedule and an EventBridge rule with ECS targets.

moto keeps what it is given: a schedule's Target (EcsParameters included) and a rule's
targets come back from GetSchedule and ListTargetsByRule as they were put, which is what
the tests compare before and after a push. Each helper fills every optional field AWS
takes, so that a field Slipway would fail to send back shows up as a difference.
"""

from __future__ import annotations

from typing import Any

from sandbox.stack import World

SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/slipway-schedules/nightly-report"


def ecs_parameters(task_definition: str, **extra: Any) -> dict[str, Any]:
    """The EcsParameters of a Fargate task in awsvpc, with the optional fields set."""
    return {
        "TaskDefinitionArn": task_definition,
        "TaskCount": 1,
        "LaunchType": "FARGATE",
        "PlatformVersion": "LATEST",
        "NetworkConfiguration": {
            "awsvpcConfiguration": {
                "Subnets": ["subnet-0abc"],
                "SecurityGroups": ["sg-0abc"],
                "AssignPublicIp": "DISABLED",
            }
        },
        "EnableECSManagedTags": True,
        "PropagateTags": "TASK_DEFINITION",
        "Group": "reports",
        **extra,
    }


def create_schedule(world: World, group: str, name: str, cluster_arn: str, task_definition: str) -> str:
    """A schedule running ``task_definition`` in ``cluster_arn`` every night; its ARN."""
    scheduler = world.session.client("scheduler")
    if group != "default":
        names = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
        if group not in names:
            scheduler.create_schedule_group(Name=group)
    response = scheduler.create_schedule(
        GroupName=group,
        Name=name,
        Description="the nightly report",
        ScheduleExpression="cron(0 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Berlin",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        State="ENABLED",
        ActionAfterCompletion="NONE",
        Target={
            "Arn": cluster_arn,
            "RoleArn": SCHEDULER_ROLE,
            "Input": '{"containerOverrides": []}',
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3},
            "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{world.region}:{world.account}:nightly-dlq"},
            "EcsParameters": ecs_parameters(task_definition, Tags=[{"team": "reports"}]),  # Scheduler: maps
        },
    )
    return str(response["ScheduleArn"])


def get_schedule(world: World, group: str, name: str) -> dict[str, Any]:
    response = world.session.client("scheduler").get_schedule(GroupName=group, Name=name)
    return {k: v for k, v in response.items() if k not in ("ResponseMetadata", "LastModificationDate")}


def only_patterns_match_events() -> None:
    """moto's gap: it sends every event put on a bus to the targets of a rule without an event pattern,
    schedule rules included (and fails on an ECS target). In AWS a rule with a ScheduleExpression
    runs on its schedule only; no event put on the bus reaches its targets. Installed once."""
    from moto.events.models import Rule

    if getattr(Rule.send_to_targets, "_schedules_only", False):
        return
    original = Rule.send_to_targets

    def send_to_targets(self: Rule, *args: Any, **kwargs: Any) -> None:
        if self.scheduled_expression and not self.event_pattern.dump():
            return
        original(self, *args, **kwargs)

    send_to_targets._schedules_only = True  # type: ignore[attr-defined]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def create_events_rule(world: World, name: str, targets: list[dict[str, Any]]) -> str:
    """A scheduled EventBridge rule on the default bus with ``targets``; its ARN."""
    only_patterns_match_events()
    arn = world.events.put_rule(Name=name, ScheduleExpression="cron(0 3 * * ? *)", State="ENABLED")["RuleArn"]
    world.events.put_targets(Rule=name, Targets=targets)
    return str(arn)


def ecs_target(target_id: str, cluster_arn: str, task_definition: str) -> dict[str, Any]:
    """An events rule's ECS target, with the optional fields set."""
    return {
        "Id": target_id,
        "Arn": cluster_arn,
        "RoleArn": "arn:aws:iam::123456789012:role/slipway-schedules/events-ecs",
        "Input": '{"containerOverrides": []}',
        "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
        "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{world_region(cluster_arn)}:123456789012:events-dlq"},
        "EcsParameters": ecs_parameters(task_definition, Tags=[{"Key": "team", "Value": "reports"}]),
    }


def world_region(arn: str) -> str:
    return arn.split(":")[3]


def targets_of(world: World, rule: str) -> list[dict[str, Any]]:
    return list(world.events.list_targets_by_rule(Rule=rule)["Targets"])
