"""Rule targets that are scheduled tasks: validation, keys and what the stack allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway.rules import EventsRuleTarget, RuleInvalid, ScheduleTarget, parse_rule
from slipway.scheduled_targets import scheduled_key
from tests.unit.fakes import RULES_PATH

PARAMETER = f"{RULES_PATH}/web/nightly"


def problems(rule: dict[str, Any]) -> list[str]:
    with pytest.raises(RuleInvalid) as raised:
        parse_rule("web", "nightly", PARAMETER, json.dumps(rule))
    return raised.value.problems


def test_rule_schedule_target_is_read_with_its_group_name_and_key() -> None:
    # GIVEN / WHEN a rule with a schedule of the default group beside a service
    rule = parse_rule(
        "web",
        "nightly",
        PARAMETER,
        json.dumps({"targets": [{"cluster": "prod", "service": "web"}, {"schedule": "default/nightly-report"}]}),
    )
    # THEN the schedule is a scheduled target, the service a service target
    [schedule] = rule.spec.scheduled
    assert isinstance(schedule, ScheduleTarget)
    assert (schedule.group, schedule.name, schedule.key) == (
        "default",
        "nightly-report",
        "schedule:default/nightly-report",
    )
    assert [t.key for t in rule.spec.targets] == ["prod/web"]


def test_rule_events_rule_target_is_read_with_its_bus_target_id_and_key() -> None:
    rule = parse_rule(
        "web",
        "nightly",
        PARAMETER,
        json.dumps(
            {
                "targets": [
                    {"events_rule": "nightly-report", "container": "app"},
                    {"events_rule": "cleanup", "event_bus": "ops", "target_id": "ecs-1"},
                ]
            }
        ),
    )
    default, other = rule.spec.scheduled
    assert isinstance(default, EventsRuleTarget) and isinstance(other, EventsRuleTarget)
    assert (default.key, default.bus, default.container) == ("events-rule:nightly-report", "default", "app")
    assert (other.key, other.target_id) == ("events-rule:ops/cleanup", "ecs-1")
    assert rule.spec.targets == []


def test_rule_schedule_without_group_is_invalid_with_the_form() -> None:
    assert problems({"targets": [{"schedule": "nightly-report"}]}) == [
        "targets[0].schedule: 'nightly-report' is not GROUP/NAME (a schedule of the default group is default/NAME)"
    ]


@pytest.mark.parametrize(
    ("schedule", "part", "what"),
    [
        ("my group/nightly", "my group", "group"),
        ("default/night!y", "night!y", "name"),
        ("default/" + "n" * 65, "n" * 65, "name"),
    ],
)
def test_rule_schedule_wrong_group_or_name_is_invalid(schedule: str, part: str, what: str) -> None:
    [problem] = problems({"targets": [{"schedule": schedule}]})
    assert problem.startswith(f"targets[0].schedule: {part!r} is not a schedule {what} ")


def test_rule_events_rule_wrong_name_is_invalid() -> None:
    [problem] = problems({"targets": [{"events_rule": "nightly report"}]})
    assert problem.startswith("targets[0].events_rule: 'nightly report' is not an EventBridge rule name")


def test_rule_target_with_two_kinds_is_invalid() -> None:
    assert problems({"targets": [{"cluster": "prod", "service": "web", "schedule": "default/nightly"}]}) == [
        'targets[0]: a target names exactly one of "service", "schedule" or "events_rule"'
    ]
    assert problems({"targets": [{"schedule": "default/nightly", "events_rule": "nightly"}]}) == [
        'targets[0]: a target names exactly one of "service", "schedule" or "events_rule"'
    ]


def test_rule_schedule_target_unknown_key_names_the_known_ones() -> None:
    assert problems({"targets": [{"schedule": "default/nightly", "cluster": "prod"}]}) == [
        'targets[0]: unknown key "cluster" (known keys: container, schedule)'
    ]


def test_rule_same_schedule_twice_is_invalid() -> None:
    assert problems({"targets": [{"schedule": "default/nightly"}, {"schedule": "default/nightly"}]}) == [
        "targets: target schedule:default/nightly is listed twice"
    ]


def test_scheduled_key_reads_back_every_target_key() -> None:
    for target in (
        ScheduleTarget(schedule="reports/nightly"),
        EventsRuleTarget(events_rule="nightly"),
        EventsRuleTarget(events_rule="nightly", event_bus="ops"),
    ):
        found = scheduled_key(target.key)
        assert found is not None and found.key == target.key
    assert scheduled_key("prod/web") is None


def test_scheduled_target_allowed_by_globs() -> None:
    assert ScheduleTarget(schedule="default/nightly-report").allowed_by(("default/nightly-*",))
    assert not ScheduleTarget(schedule="reports/nightly-report").allowed_by(("default/nightly-*",))
    assert not ScheduleTarget(schedule="default/nightly-report").allowed_by(())
    assert EventsRuleTarget(events_rule="nightly").allowed_by(("night*",))
    assert not EventsRuleTarget(events_rule="nightly", event_bus="ops").allowed_by(("night*",))
    assert EventsRuleTarget(events_rule="nightly", event_bus="ops").allowed_by(("ops/*",))


def test_notification_of_a_service_has_no_scheduled_task_keys() -> None:
    # GIVEN a service's message (the contract as it was)
    from datetime import UTC, datetime

    from slipway.notifications import Notification

    note = Notification(
        status="DEPLOYING", repository="web", tag="1.1.0", cluster="prod", service="web", time=datetime.now(UTC)
    )
    # THEN its body and subject are as before: target_type and target are left out
    body = json.loads(note.body())
    assert "target_type" not in body and "target" not in body
    assert note.subject() == "[DEPLOYING] web:1.1.0 -> prod/web"


def test_notification_of_a_schedule_names_its_key_in_subject_and_body() -> None:
    from datetime import UTC, datetime

    from slipway.notifications import Notification

    note = Notification(
        status="SUCCEEDED",
        repository="web",
        tag="1.1.0",
        cluster="prod",
        target_type="schedule",
        target="schedule:default/nightly-report",
        time=datetime.now(UTC),
    )
    body = json.loads(note.body())
    assert (body["target_type"], body["target"], body["service"]) == (
        "schedule",
        "schedule:default/nightly-report",
        None,
    )
    assert note.subject() == "[SUCCEEDED] web:1.1.0 -> schedule:default/nightly-report"
