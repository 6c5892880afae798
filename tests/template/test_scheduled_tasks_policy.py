"""IAM for scheduled tasks: only the schedules and rules the stack parameters allow, and their roles to their services."""

from __future__ import annotations

from sandbox.template import template
from tests.template.test_least_privilege import ACCOUNT, Stack, allows, listed, statements

SCHEDULE = f"arn:aws:scheduler:eu-west-1:{ACCOUNT}:schedule"
RULE = f"arn:aws:events:eu-west-1:{ACCOUNT}:rule"


def test_scheduled_task_grants_are_absent_by_default() -> None:
    # GIVEN the default stack parameters (AllowedSchedules and AllowedEventRules empty)
    stack = Stack(template())
    # THEN no statement names Scheduler or EventBridge's target calls
    actions = {a for _, s in statements(stack) for a in listed(s["Action"])}
    assert not {
        a for a in actions if a.startswith("scheduler:") or a in ("events:PutTargets", "events:ListTargetsByRule")
    }


def test_schedule_grants_name_only_allowed_schedules_for_deploy_and_reconcile() -> None:
    # GIVEN AllowedSchedules
    stack = Stack(template(), AllowedSchedules="default/nightly-*,reports/weekly")
    for role in ("DeployFunctionRole", "ReconcileFunctionRole"):
        for action in ("scheduler:GetSchedule", "scheduler:UpdateSchedule"):
            assert allows(stack, action, f"{SCHEDULE}/default/nightly-report", role), (role, action)
            assert allows(stack, action, f"{SCHEDULE}/reports/weekly", role), (role, action)
            assert not allows(stack, action, f"{SCHEDULE}/default/other", role), (role, action)
    for role in ("TrackFunctionRole", "SweepFunctionRole", "RuleCheckFunctionRole"):
        assert not allows(stack, "scheduler:UpdateSchedule", f"{SCHEDULE}/default/nightly-report", role), role
    # AND the account and Region are pinned by conditions, since the resource patterns cannot name them
    [grant] = [s for _, s in statements(stack) if "scheduler:UpdateSchedule" in listed(s["Action"])]
    assert grant["Condition"]["StringEquals"] == {"aws:ResourceAccount": ACCOUNT, "aws:RequestedRegion": "eu-west-1"}


def test_events_rule_grants_name_only_allowed_rules() -> None:
    stack = Stack(template(), AllowedEventRules="nightly-*")
    for action in ("events:ListTargetsByRule", "events:PutTargets"):
        assert allows(stack, action, f"{RULE}/nightly-report", "DeployFunctionRole"), action
        assert not allows(stack, action, f"{RULE}/billing", "DeployFunctionRole"), action


def test_scheduled_task_roles_pass_only_to_scheduler_and_events() -> None:
    stack = Stack(template(), AllowedSchedules="default/*", AllowedEventRules="*", ScheduleRoles="slipway-schedules/*")
    passes = {
        s["Condition"]["StringEquals"]["iam:PassedToService"]: s
        for _, s in statements(stack)
        if "iam:PassRole" in listed(s["Action"])
    }
    assert {"scheduler.amazonaws.com", "events.amazonaws.com"} <= set(passes)
    for service in ("scheduler.amazonaws.com", "events.amazonaws.com"):
        assert listed(passes[service]["Resource"]) == ["arn:*:iam::*:role/slipway-schedules/*"]
