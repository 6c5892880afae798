"""Rule targets that are scheduled tasks: an EventBridge Scheduler schedule or an EventBridge rule.

A scheduled task runs a task definition on a schedule (its ECS target names the cluster
and the revision); a push moves that revision as it moves a service's. Their keys say
what they are (``schedule:GROUP/NAME``, ``events-rule:NAME``, ``events-rule:BUS/NAME``),
so they never meet a service's ``cluster/service`` in a claim, a history or the CLI.
Pure: no boto3, no I/O.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from slipway.rule_strategies import Strict

# EventBridge Scheduler: a schedule's Name and GroupName (API reference, CreateSchedule).
_SCHEDULER_NAME = re.compile(r"^[0-9a-zA-Z_.-]{1,64}$")
# EventBridge: a rule's Name and a target's Id (PutRule, PutTargets); an event bus's name.
_EVENTS_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
_BUS_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,256}$")
_CONTAINER = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
SCHEDULE_PREFIX = "schedule:"
EVENTS_RULE_PREFIX = "events-rule:"
DEFAULT_BUS = "default"
KINDS = ("service", "schedule", "events_rule")


class _TaskTarget(Strict):
    """What every scheduled target has: the container the push changes (optional)."""

    container: str | None = None

    @field_validator("container")
    @classmethod
    def _container(cls, value: str | None) -> str | None:
        if value is not None and not _CONTAINER.match(value):
            raise ValueError(f"{value!r} is not a valid name (letters, digits, '-' and '_', up to 255)")
        return value


class ScheduleTarget(_TaskTarget):
    """An EventBridge Scheduler schedule with an ECS target: ``GROUP/NAME`` (``default/nightly-report``).

    The cluster is the one the schedule's ECS target names (read from the schedule, so the
    rule does not repeat it); ``container`` narrows which container changes.
    """

    schedule: str = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _group_and_name(cls, value: str) -> str:
        group, sep, name = value.partition("/")
        if not sep:
            raise ValueError(f"{value!r} is not GROUP/NAME (a schedule of the default group is default/NAME)")
        for part, what in ((group, "group"), (name, "name")):
            if not _SCHEDULER_NAME.match(part):
                raise ValueError(
                    f"{part!r} is not a schedule {what} (letters, digits, '-', '_' and '.', 1 to 64) in {value!r}"
                )
        return value

    @property
    def group(self) -> str:
        return self.schedule.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.schedule.split("/", 1)[1]

    @property
    def key(self) -> str:
        """``schedule:GROUP/NAME``: how history and the CLI refer to it."""
        return SCHEDULE_PREFIX + self.schedule

    def allowed_by(self, patterns: tuple[str, ...]) -> bool:
        """Whether an AllowedSchedules entry (a ``GROUP/NAME`` glob) names this schedule."""
        return any(fnmatch.fnmatchcase(self.schedule, pattern) for pattern in patterns)


class EventsRuleTarget(_TaskTarget):
    """An EventBridge rule with ECS targets, on the default event bus unless ``event_bus`` names another.

    Every ECS target of the rule whose task definition runs the pushed repository's image
    moves; ``target_id`` moves that one target only (whatever image it runs).
    """

    events_rule: str = Field(min_length=1)
    event_bus: str | None = None
    target_id: str | None = None

    @field_validator("events_rule", "target_id")
    @classmethod
    def _events_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _EVENTS_NAME.match(value):
            what = "an EventBridge rule name" if info.field_name == "events_rule" else "a target id"
            raise ValueError(f"{value!r} is not {what} (letters, digits, '.', '-' and '_', 1 to 64)")
        return value

    @field_validator("event_bus")
    @classmethod
    def _bus_name(cls, value: str | None) -> str | None:
        if value is not None and not _BUS_NAME.match(value):
            raise ValueError(f"{value!r} is not an event bus name (letters, digits, '.', '-' and '_', 1 to 256)")
        return value

    @property
    def bus(self) -> str:
        return self.event_bus or DEFAULT_BUS

    @property
    def key(self) -> str:
        """``events-rule:NAME`` (``events-rule:BUS/NAME`` on another bus than the default)."""
        where = self.events_rule if self.bus == DEFAULT_BUS else f"{self.bus}/{self.events_rule}"
        return EVENTS_RULE_PREFIX + where

    def allowed_by(self, patterns: tuple[str, ...]) -> bool:
        """Whether an AllowedEventRules entry (a rule name glob; ``BUS/NAME`` on another bus) names this rule."""
        name = self.events_rule if self.bus == DEFAULT_BUS else f"{self.bus}/{self.events_rule}"
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


ScheduledTarget = ScheduleTarget | EventsRuleTarget
TARGET_KINDS: dict[str, type[BaseModel]] = {"schedule target": ScheduleTarget, "events-rule target": EventsRuleTarget}


def target_kind(value: Any) -> str | None:
    """Which model a rule's target is (a pydantic discriminator); None when it names two kinds."""
    if not isinstance(value, dict):
        return "service target"  # the service model reports what is wrong with it
    named = [kind for kind in KINDS if kind in value]
    if len(named) > 1:
        return None
    if named == ["schedule"]:
        return "schedule target"
    if named == ["events_rule"]:
        return "events-rule target"
    return "service target"


def scheduled_key(key: str) -> ScheduledTarget | None:
    """The scheduled target a key names (``schedule:GROUP/NAME``, ``events-rule:[BUS/]NAME``), else None."""
    if key.startswith(SCHEDULE_PREFIX):
        return ScheduleTarget.model_validate({"schedule": key.removeprefix(SCHEDULE_PREFIX)})
    if key.startswith(EVENTS_RULE_PREFIX):
        bus, _, name = key.removeprefix(EVENTS_RULE_PREFIX).rpartition("/")
        document = {"events_rule": name, **({"event_bus": bus} if bus else {})}
        return EventsRuleTarget.model_validate(document)
    return None


@dataclass(frozen=True)
class ScheduledTask:
    """One ECS target of a schedule or an events rule, as read: the task it runs and where.

    ``document`` is what AWS returned (GetSchedule's schedule, or one ListTargetsByRule
    target): sent back whole, with only ``EcsParameters.TaskDefinitionArn`` changed.
    """

    key: str
    kind: str  # "schedule" or "events_rule"
    arn: str  # the schedule's or the rule's ARN
    cluster_arn: str
    task_definition: str
    document: dict[str, Any]
    target_id: str | None = None  # an events rule's target

    @property
    def ecs_parameters(self) -> dict[str, Any]:
        target = self.document.get("Target", self.document) if self.kind == "schedule" else self.document
        return dict(target.get("EcsParameters") or {})

    @property
    def cluster_name(self) -> str:
        return self.cluster_arn.rsplit("/", 1)[-1]

    @property
    def launch_type(self) -> str:
        return str(self.ecs_parameters.get("LaunchType") or "")

    @property
    def label(self) -> str:
        """How messages name it: its key, and the events rule target's id."""
        return f"{self.key}#{self.target_id}" if self.target_id else self.key

    def moved_to(self, task_definition: str) -> dict[str, Any]:
        """The document to send back: the same, with only the ECS target's task definition changed."""
        document = copy.deepcopy(self.document)
        target = document["Target"] if self.kind == "schedule" else document
        target["EcsParameters"]["TaskDefinitionArn"] = task_definition
        return document
