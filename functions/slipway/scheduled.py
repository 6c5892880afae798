"""Scheduled tasks follow the release: a push moves a schedule's or an events rule's ECS target.

A scheduled task has no deployment to watch: once its ECS target names the new revision,
the next run uses it. So a target of this kind is read (GetSchedule, ListTargetsByRule),
planned with the service path's own steps (``plan``: the containers from the pushed
repository, the already-running and downgrade skips, the revision's body and tags), given
the revision a service of the same push registered from the same source revision (or
registered once for every scheduled task that shares it), updated with everything else of
the schedule or target as it was, and recorded SUCCEEDED in the history under its key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.model import Push, Rollout, Status, TaskDefinition
from slipway.outcome import Outcome
from slipway.places import Reach, of_arn, partition_of
from slipway.plan import (
    TAG_PREFIX,
    clone_with_image,
    image_repository,
    image_tag,
    merge_tags,
    push_tags,
    rollout_id,
    runs_digest,
    select_containers,
)
from slipway.ports import Ecs, EventRules, RecordStore, Schedules
from slipway.rules import Rule
from slipway.scheduled_targets import EventsRuleTarget, ScheduledTarget, ScheduledTask, ScheduleTarget
from slipway.versions import parse_version

logger = Logger(child=True)

MOVED = "the scheduled task's ECS target runs the new revision from its next run (no deployment to watch)"
Shared = dict[tuple[str, tuple[str, ...], str], str]  # (source revision, containers, image) -> new revision


@dataclass(frozen=True)
class ScheduleReach:
    """Which schedules and events rules this stack may change (AllowedSchedules, AllowedEventRules), and
    the clusters their tasks may run in (AllowedClusters, through ``reach``)."""

    reach: Reach
    schedules: tuple[str, ...] = ()
    event_rules: tuple[str, ...] = ()

    def refusal(self, target: ScheduledTarget) -> tuple[str, str] | None:
        """``(code, reason)`` when the stack may not change the target; None when it may."""
        if isinstance(target, ScheduleTarget) and not target.allowed_by(self.schedules):
            listed = ", ".join(self.schedules) or "none"
            return "ScheduleNotAllowed", f"schedule {target.schedule} is not in AllowedSchedules ({listed})"
        if isinstance(target, EventsRuleTarget) and not target.allowed_by(self.event_rules):
            listed = ", ".join(self.event_rules) or "none"
            return "EventRuleNotAllowed", f"events rule {target.events_rule} is not in AllowedEventRules ({listed})"
        return None


@dataclass(frozen=True)
class Planned:
    """A scheduled task a push would move (``slipway plan``): its ECS target, revision and containers."""

    task: ScheduledTask
    taskdef: TaskDefinition
    containers: tuple[str, ...]


@dataclass(frozen=True)
class ScheduledAssignment:
    """A scheduled target a push is to reach under a rule."""

    rule: Rule
    target: ScheduledTarget
    tries: int = 0  # invocations that had to hand it on
    last_error: str | None = None


def shared_revisions(push: Push, outcomes: Iterable[Outcome]) -> Shared:
    """The revisions the push's services registered, by the source revision and containers they came from."""
    shared: Shared = {}
    for outcome in outcomes:
        moved = outcome.status in (Status.DEPLOYING, Status.SUCCEEDED) and outcome.rollout_id
        if moved and outcome.task_definition and outcome.previous_task_definition and outcome.containers:
            shared[(outcome.previous_task_definition, outcome.containers, push.image)] = outcome.task_definition
    return shared


class ScheduledMover:
    """Moves scheduled tasks to a push's revision: read, plan, register (or share), update, record."""

    def __init__(
        self,
        ecs: Ecs,
        schedules: Schedules,
        event_rules: EventRules,
        store: RecordStore,
        reach: ScheduleReach,
        clock: Callable[[], datetime],
    ) -> None:
        self._ecs = ecs
        self._schedules = schedules
        self._event_rules = event_rules
        self._store = store
        self._reach = reach
        self._clock = clock

    def move(self, push: Push, assignments: Sequence[ScheduledAssignment], shared: Shared) -> list[Outcome]:
        """Every assignment's outcomes (an events rule may have several ECS targets); ``shared`` grows."""
        outcomes: list[Outcome] = []
        for assignment in assignments:
            outcomes.extend(self._move(push, assignment, shared))
        return outcomes

    def _move(self, push: Push, assignment: ScheduledAssignment, shared: Shared) -> list[Outcome]:
        found = self._tasks(push, assignment)
        if isinstance(found, Outcome):
            return [found]
        rule, target = assignment.rule, assignment.target
        return [self._move_task(push, rule, target, task, taskdef, shared) for task, taskdef in found]

    def preview(self, push: Push, assignment: ScheduledAssignment) -> list[Outcome | Planned]:
        """What the push would do to each ECS target of the assignment (reads only, writes nothing)."""
        found = self._tasks(push, assignment)
        if isinstance(found, Outcome):
            return [found]
        planned: list[Outcome | Planned] = []
        for task, taskdef in found:
            decided = self._decide(push, assignment.rule, assignment.target, task, taskdef)
            planned.append(decided if isinstance(decided, Outcome) else Planned(task, taskdef, decided))
        return planned

    def _tasks(
        self, push: Push, assignment: ScheduledAssignment
    ) -> list[tuple[ScheduledTask, TaskDefinition]] | Outcome:
        """The assignment's ECS targets to move, with their task definitions; or the Outcome that ends it."""
        rule, target = assignment.rule, assignment.target
        refusal = self.refusal(target)
        if refusal is not None:
            return _outcome(rule, target, None, Status.ERROR, refusal[1], error_code=refusal[0])
        try:
            tasks = self.read(target)
            described = [(task, self._ecs.describe_task_definition(task.task_definition)) for task in tasks]
        except AwsError as error:
            return _error(rule, target, None, error)
        if isinstance(target, EventsRuleTarget) and target.target_id is None:
            described = [(t, d) for t, d in described if _runs_repository(d, push, target.container)]
        if not described:
            reason = (
                f"no ECS target of events rule {target.events_rule} runs an image of {push.repository_uri}"
                if isinstance(target, EventsRuleTarget)
                else f"schedule {target.key} has no ECS target"
            )
            return _outcome(rule, target, None, Status.SKIPPED, reason)
        return described

    def refusal(self, target: ScheduledTarget, task: ScheduledTask | None = None) -> tuple[str, str] | None:
        """``(code, reason)`` when the stack may not change ``target`` (AllowedSchedules, AllowedEventRules)
        or, given ``task``, run it in its cluster (AllowedClusters); None when it may."""
        if task is None:
            return self._reach.refusal(target)
        place = of_arn(task.cluster_arn) or self._reach.reach.home
        refused = self._reach.reach.refusal(task.cluster_name, place, partition_of(task.cluster_arn))
        return (refused.code, refused.reason) if refused is not None else None

    def read(self, target: ScheduledTarget) -> list[ScheduledTask]:
        """The ECS targets of a schedule (one at most) or of an events rule (its ``target_id``, else all)."""
        if isinstance(target, ScheduleTarget):
            schedule = self._schedules.get_schedule(target.group, target.name)
            ecs = (schedule.get("Target") or {}).get("EcsParameters")
            if not ecs:
                return []
            arn = str(schedule.get("Arn") or "")
            cluster = str(schedule["Target"]["Arn"])
            return [ScheduledTask(target.key, "schedule", arn, cluster, str(ecs["TaskDefinitionArn"]), schedule)]
        rule_arn = self._event_rules.rule_arn(target.events_rule, target.bus)
        found = [
            ScheduledTask(
                target.key,
                "events_rule",
                rule_arn,
                str(t["Arn"]),
                str(t["EcsParameters"]["TaskDefinitionArn"]),
                t,
                t["Id"],
            )
            for t in self._event_rules.targets(target.events_rule, target.bus)
            if t.get("EcsParameters") and (target.target_id is None or t.get("Id") == target.target_id)
        ]
        if target.target_id is not None and not found:
            raise AwsError(
                "ListTargetsByRule",
                "ResourceNotFoundException",
                f"events rule {target.events_rule} has no ECS target {target.target_id}",
            )
        return found

    def _decide(
        self, push: Push, rule: Rule, target: ScheduledTarget, task: ScheduledTask, taskdef: TaskDefinition
    ) -> Outcome | tuple[str, ...]:
        """The containers the push changes in the task, or the Outcome that ends it (as ``plan`` decides)."""
        refused = self.refusal(target, task)
        if refused is not None:
            return _outcome(rule, target, task, Status.ERROR, refused[1], error_code=refused[0])
        try:
            containers = select_containers(taskdef, target, push)
        except ValueError as error:
            code = "AmbiguousContainer" if "ambiguous" in str(error) else "ContainerNotFound"
            return _outcome(rule, target, task, Status.ERROR, str(error), error_code=code)
        if runs_digest(taskdef, containers, push):
            reason = f"already running {push.digest} in {', '.join(containers)}"
            return _outcome(rule, target, task, Status.SKIPPED, reason, previous=taskdef.arn, containers=containers)
        downgrade = _downgrade(push, rule, taskdef, containers)
        if downgrade:
            return _outcome(rule, target, task, Status.SKIPPED, downgrade, previous=taskdef.arn, containers=containers)
        return containers

    def _move_task(
        self,
        push: Push,
        rule: Rule,
        target: ScheduledTarget,
        task: ScheduledTask,
        taskdef: TaskDefinition,
        shared: Shared,
    ) -> Outcome:
        decided = self._decide(push, rule, target, task, taskdef)
        if isinstance(decided, Outcome):
            return decided
        containers = decided
        rollout = rollout_id(push.event_id, rule.name, task.label)
        try:
            revision = self._revision(push, rule, taskdef, containers, rollout, shared)
            self._update(target, task, revision)
        except AwsError as error:
            return _error(rule, target, task, error, rollout)
        outcome = _outcome(
            rule,
            target,
            task,
            Status.SUCCEEDED,
            MOVED,
            task_definition=revision,
            previous=taskdef.arn,
            containers=containers,
            rollout=rollout,
        )
        self.record(push, outcome, task)
        logger.info("scheduled task moved", extra={"target": task.label, "task_definition": revision})
        return outcome

    def _revision(
        self, push: Push, rule: Rule, taskdef: TaskDefinition, containers: tuple[str, ...], rollout: str, shared: Shared
    ) -> str:
        """The push's revision of ``taskdef``: one a service (or another scheduled task) shares, else registered."""
        key = (taskdef.arn, containers, push.image)
        if key in shared:
            return shared[key]
        tags = push_tags(push, rule, rollout)
        body = clone_with_image(taskdef, containers, push.image)
        revision = self._ecs.register_task_definition(body, merge_tags(taskdef.tags, tags))
        shared[key] = revision
        return revision

    def _update(self, target: ScheduledTarget, task: ScheduledTask, revision: str) -> None:
        if isinstance(target, ScheduleTarget):
            self._schedules.update_schedule(task.moved_to(revision))
        else:
            self._event_rules.put_target(target.events_rule, target.bus, task.moved_to(revision))

    def update_to(self, target: ScheduledTarget, task: ScheduledTask, revision: str) -> None:
        """Point the task at ``revision`` (a rollback's: nothing registered)."""
        self._update(target, task, revision)

    def record(self, push: Push, outcome: Outcome, task: ScheduledTask) -> None:
        """The history of a move (SUCCEEDED at once: nothing is tracked afterwards)."""
        assert outcome.task_definition is not None
        now = self._clock()
        self._store.put_rollout(
            Rollout(
                rollout_id=outcome.rollout_id or "",
                key=task.key,
                cluster=task.cluster_name,
                service=task.label,
                service_arn=task.arn,
                repository=push.repository,
                tag=push.tag,
                digest=push.digest,
                image=push.image,
                rule=outcome.rule or "",
                launch_type=task.launch_type,
                task_definition=outcome.task_definition,
                previous_task_definition=outcome.previous_task_definition,
                deployment_id=None,
                status=outcome.status.value,
                reason=outcome.reason,
                started_at=now,
                event_id=push.event_id,
                containers=outcome.containers,
                finished_at=now,
                initiated_by=push.initiated_by,
                approved_by=push.approved_by,
                strategy=outcome.strategy or "rolling",
                pushed_at=push.time,
            )
        )


def _runs_repository(taskdef: TaskDefinition, push: Push, container: str | None) -> bool:
    """Whether a task definition runs the pushed repository's image (in ``container``, when named)."""
    return any(
        image_repository(str(c.get("image", ""))) == push.repository_uri and container in (None, c.get("name"))
        for c in taskdef.containers
    )


def _downgrade(push: Push, rule: Rule, taskdef: TaskDefinition, containers: tuple[str, ...]) -> str | None:
    """The service path's downgrade check, on the task's running revision (a scheduled task has no claim)."""
    if rule.spec.allow_downgrade or not push.tag:
        return None
    new = parse_version(push.tag)
    tag = taskdef.tag(TAG_PREFIX + "tag")
    if tag is None:
        images = [str(c.get("image", "")) for c in taskdef.containers if c.get("name") in containers]
        tag = next((t for t in (image_tag(i) for i in images) if t), None)
    current = parse_version(tag) if tag else None
    if new is None or current is None or new.compare(current) >= 0:
        return None
    return f"downgrade {current} -> {new}; set allow_downgrade to permit it"


def _outcome(
    rule: Rule,
    target: ScheduledTarget,
    task: ScheduledTask | None,
    status: Status,
    reason: str,
    *,
    error_code: str | None = None,
    task_definition: str | None = None,
    previous: str | None = None,
    containers: tuple[str, ...] = (),
    rollout: str | None = None,
    retryable: bool = False,
) -> Outcome:
    return Outcome(
        status,
        reason,
        rule=rule.name,
        parameter=rule.parameter,
        scheduled=target,
        task=task,
        task_definition=task_definition,
        previous_task_definition=previous or (task.task_definition if task else None),
        containers=containers,
        rollout_id=rollout,
        error_code=error_code,
        retryable=retryable,
        strategy=rule.spec.strategy,
    )


def _error(
    rule: Rule, target: ScheduledTarget, task: ScheduledTask | None, error: AwsError, rollout: str | None = None
) -> Outcome:
    """The ERROR of an AWS call, with its code (retryable ones are handed on, as a service's are)."""
    reason = f"{error.operation} failed: {error.code}: {error.message}"
    return _outcome(
        rule, target, task, Status.ERROR, reason, error_code=error.code, rollout=rollout, retryable=error.retryable
    )
