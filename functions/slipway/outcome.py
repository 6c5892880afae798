"""How one target of one push ended in an invocation, and the message subscribers get for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slipway.errors import AwsError
from slipway.model import Push, Service, Status
from slipway.notifications import Notification
from slipway.places import of_arn
from slipway.rules import Rule, Target
from slipway.scheduled_targets import ScheduledTarget, ScheduledTask


@dataclass(frozen=True)
class Outcome:
    """How one target of one push ended in this invocation."""

    status: Status
    reason: str
    rule: str | None = None
    parameter: str | None = None
    target: Target | None = None
    service: Service | None = None
    task_definition: str | None = None
    previous_task_definition: str | None = None
    deployment_id: str | None = None
    rollout_id: str | None = None
    error_code: str | None = None
    retryable: bool = False
    containers: tuple[str, ...] = ()
    supersedes: str | None = None
    expects_rollback: bool = False
    quiet: bool = False
    held: str | None = None
    strategy: str | None = None  # the rule's: rolling, blue_green, canary or linear
    service_deployment: str | None = None  # the ECS service deployment UpdateService started
    gate_closed: bool = False  # stopped by a gate closed for good: a push held there ends with this outcome
    findings: dict[str, int] | None = None  # the scan gate's counts per severity, as ECR gave them
    # the rule's pre-deploy task, when it stopped the push: its exit code, task, stop reason, log stream
    exit_code: int | None = None
    task_arn: str | None = None
    stopped_reason: str | None = None
    log_stream: str | None = None
    scheduled: ScheduledTarget | None = None  # a schedule or events rule target (``target`` is a service's)
    task: ScheduledTask | None = None  # the scheduled task's ECS target, as read

    @property
    def target_key(self) -> str | None:
        """The key of its target: a service's, or a scheduled task's (an events rule's with its target id)."""
        if self.target is not None:
            return self.target.key
        if self.task is not None:
            return self.task.label
        return self.scheduled.key if self.scheduled else None

    @property
    def launch_type(self) -> str | None:
        return self.service.launch_type if self.service else None

    @property
    def published(self) -> bool:
        """Whether subscribers hear of it: retryable failures are retried, quiet outcomes were heard of already."""
        return not self.retryable and not self.quiet


def summarized(outcomes: list[Outcome]) -> list[dict[str, str | None]]:
    """The short account of outcomes a handler returns: each one's status, rule and service."""
    return [{"status": o.status.value, "rule": o.rule, "target": o.target.key if o.target else None} for o in outcomes]


def error_outcome(
    rule: Rule, target: Target, service: Service | None, error: AwsError, rollout: str | None = None
) -> Outcome:
    """The ERROR outcome of a target whose AWS call failed, with the AWS code and message."""
    return Outcome(
        Status.ERROR,
        f"{error.operation} failed: {error.code}: {error.message}",
        rule=rule.name,
        parameter=rule.parameter,
        target=target,
        service=service,
        previous_task_definition=service.task_definition if service else None,
        error_code=error.code,
        retryable=error.retryable,
        rollout_id=rollout,
        strategy=rule.spec.strategy,
    )


def _told(push: Push, outcome: Outcome, now: datetime) -> dict[str, Any]:
    """What every message of an outcome says, whatever its target: the push, the rule, the revisions, why."""
    return {
        "status": outcome.status.value,
        "repository": push.repository,
        "tag": push.tag,
        "digest": push.digest,
        "image": push.image,
        "rule": outcome.rule,
        "parameter": outcome.parameter,
        "task_definition": outcome.task_definition,
        "previous_task_definition": outcome.previous_task_definition,
        "rollout_id": outcome.rollout_id,
        "reason": outcome.reason,
        "error_code": outcome.error_code,
        "event_id": push.event_id,
        "initiated_by": push.initiated_by,
        "approved_by": push.approved_by,
        "strategy": outcome.strategy,
        "findings": outcome.findings,
        "exit_code": outcome.exit_code,
        "task_arn": outcome.task_arn,
        "stopped_reason": outcome.stopped_reason,
        "log_stream": outcome.log_stream,
        "time": now,
    }


def notification(push: Push, outcome: Outcome, now: datetime) -> Notification:
    """The message subscribers get for one target's outcome."""
    if outcome.scheduled is not None:
        return scheduled_notification(push, outcome, now)
    service = outcome.service
    target = outcome.target
    place = of_arn(service.arn) if service else (target.place if target else None)
    return Notification(
        **_told(push, outcome, now),
        cluster=service.cluster_name if service else (target.cluster_name if target else None),
        service=service.name if service else (target.service if target else None),
        account=place.account if place else None,
        region=place.region if place else None,
        launch_type=outcome.launch_type,
        deployment_id=outcome.deployment_id,
        held=outcome.held,
    )


def scheduled_notification(push: Push, outcome: Outcome, now: datetime) -> Notification:
    """The message of a schedule's or an events rule's outcome: ``target_type`` and ``target`` say which;
    ``cluster`` is the one its ECS target runs in, and ``service`` is not set (there is none)."""
    assert outcome.scheduled is not None
    task = outcome.task
    kind = "schedule" if outcome.scheduled.key.startswith("schedule:") else "events_rule"
    place = of_arn(task.cluster_arn) if task else None
    return Notification(
        **_told(push, outcome, now),
        cluster=task.cluster_name if task else None,
        account=place.account if place else None,
        region=place.region if place else None,
        launch_type=(task.launch_type or None) if task else None,
        target_type=kind,
        target=task.label if task else outcome.scheduled.key,
    )
