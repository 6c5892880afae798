"""A dry run: what a push would do, per rule and target, and why. Reads only, writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from slipway.admission import Admission
from slipway.attempt import Assignment, Attempt
from slipway.model import Push, Status
from slipway.outcome import Outcome
from slipway.plan import plan
from slipway.ports import RuleSource
from slipway.reading import TargetReader
from slipway.scheduled import Planned, ScheduledAssignment, ScheduledMover


@dataclass(frozen=True)
class PlanLine:
    """One line of ``slipway plan``: a rule, a target, what would happen and why."""

    rule: str | None
    target: str | None
    action: str  # deploy, skip, hold or error
    detail: str

    def sentence(self) -> str:
        """The line as a release manager reads it: "would deploy ...", "would skip: ...", "error: ..."."""
        if self.action == "deploy":
            return self.detail
        if self.action == "error":
            return f"error: {self.detail}"
        verb = "would hold" if self.action == "hold" else "would skip"
        return f"{verb}: {self.detail}"


class Preview:
    """Plans a push against the live services without claiming, registering or holding anything."""

    def __init__(
        self, rules: RuleSource, admission: Admission, reader: TargetReader, scheduled: ScheduledMover | None = None
    ) -> None:
        self._scheduled = scheduled
        self._rules = rules
        self._admission = admission
        self._reader = reader

    def lines(self, push: Push) -> list[PlanLine]:
        if not push.tag:
            return [PlanLine(None, None, "skip", "a push without a tag matches no rule")]
        ruleset = self._rules.load(push.repository)
        lines = [
            PlanLine(p.parameter.rsplit("/", 1)[-1], None, "error", "invalid rule: " + "; ".join(p.problems))
            for p in ruleset.invalid
        ]
        for rule in ruleset.rules:
            match = rule.match(push.tag)
            if not match.matched:
                lines.append(PlanLine(rule.name, None, "skip", match.reason))
                continue
            if not rule.spec.enabled:
                lines.extend(PlanLine(rule.name, t.key, "skip", "rule is disabled") for t in rule.spec.entries)
                continue
            stopped: list[Outcome] = []
            admitted = self._admission.admit(push, rule, rule.spec.targets, stopped, hold_again=False, dry_run=True)
            scheduled = self._admission.admit_scheduled(push, rule, stopped)
            lines.extend(PlanLine(o.rule, o.target_key, _action(o), o.reason) for o in stopped)
            lines.extend(self._targets(push, admitted))
            for assignment in scheduled:
                lines.extend(self._scheduled_lines(push, assignment))
        return lines

    def _scheduled_lines(self, push: Push, assignment: ScheduledAssignment) -> list[PlanLine]:
        """What the push would do to a schedule's or an events rule's ECS targets."""
        rule = assignment.rule.name
        if self._scheduled is None:
            return [PlanLine(rule, assignment.target.key, "error", "scheduled tasks are not set up")]
        lines = []
        for planned in self._scheduled.preview(push, assignment):
            if isinstance(planned, Outcome):
                lines.append(PlanLine(rule, planned.target_key, _action(planned), planned.reason))
            else:
                lines.append(PlanLine(rule, planned.task.label, "deploy", _would_move(push, planned)))
        return lines

    def _targets(self, push: Push, admitted: list[Assignment]) -> list[PlanLine]:
        lines = []
        for assignment, read in zip(admitted, self._reader.read(push, admitted), strict=True):
            key = assignment.target.key
            if isinstance(read, Outcome):
                lines.append(PlanLine(assignment.rule.name, key, "error", _why(read)))
                continue
            lines.append(self._line(read))
        return lines

    @staticmethod
    def _line(attempt: Attempt) -> PlanLine:
        rule, key, service, taskdef = attempt.rule, attempt.target.key, attempt.service, attempt.taskdef
        decision = plan(attempt.push, rule, attempt.target, service, taskdef, attempt.state)
        if isinstance(decision, Outcome):
            return PlanLine(rule.name, key, _action(decision), decision.reason)
        before = {str(c.get("name")): str(c.get("image")) for c in taskdef.containers}
        changes = ", ".join(f"{name}: {before[name]} -> {attempt.push.image}" for name in decision.containers)
        now = service.task_definition.rsplit("/", 1)[-1]
        detail = f"would deploy on {service.launch_type}: {changes} (new revision of {taskdef.family}, now {now})"
        return PlanLine(rule.name, key, "deploy", detail)


def _would_move(push: Push, planned: Planned) -> str:
    before = {str(c.get("name")): str(c.get("image")) for c in planned.taskdef.containers}
    changes = ", ".join(f"{name}: {before[name]} -> {push.image}" for name in planned.containers)
    now = planned.taskdef.arn.rsplit("/", 1)[-1]
    return f"would move the scheduled task: {changes} (new revision of {planned.taskdef.family}, now {now})"


def _why(outcome: Outcome) -> str:
    """An unreadable target's reason as plan states it: ``no such service: ...`` or ``CODE: message``."""
    code, _, message = outcome.reason.partition(": ")[2].partition(": ")
    what = "no such service" if outcome.error_code == "MISSING" else (outcome.error_code or code)
    return f"{what}: {message}" if message else outcome.reason


def _action(outcome: Outcome) -> str:
    if outcome.status is Status.ERROR:
        return "error"
    return "hold" if outcome.held else "skip"
