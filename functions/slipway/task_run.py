"""A pre-deploy task's run, as Slipway records it, and how a stopped task reads: pure, no I/O.

One run per (repository, rule, digest): STARTING (claimed, RunTask not confirmed),
RUNNING (ECS has the task), then SUCCEEDED (the named container exited 0) or FAILED
(any other exit, a task stopped before it ran, a timeout).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from slipway.places import Place

STARTING, RUNNING, SUCCEEDED, FAILED = "STARTING", "RUNNING", "SUCCEEDED", "FAILED"
UNFINISHED = frozenset({STARTING, RUNNING})


@dataclass(frozen=True)
class TaskLaunch:
    """How a service runs its tasks, for a one-off task beside it: RunTask's placement and network."""

    task_definition: str
    launch_type: str | None = None
    capacity_provider_strategy: tuple[dict[str, Any], ...] = ()
    platform_version: str | None = None
    network_configuration: dict[str, Any] | None = None
    place: Place | None = None


@dataclass(frozen=True)
class TaskRequest:
    """One RunTask: the revision, the command override and where it runs."""

    task_definition: str
    container: str
    command: tuple[str, ...]
    launch: TaskLaunch
    started_by: str
    group: str
    client_token: str
    tags: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class TaskEnd:
    """A stopped task, from its state change event or DescribeTasks."""

    task_arn: str
    exit_code: int | None
    stopped_reason: str | None = None
    stop_code: str | None = None
    container_reason: str | None = None


@dataclass(frozen=True)
class TaskRun:
    """The pre-deploy task of one digest under one rule."""

    repository: str
    rule: str
    digest: str
    event_id: str
    status: str
    container: str
    cluster: str
    started_at: datetime
    deadline: datetime
    timeout_minutes: int
    task_arn: str | None = None
    task_definition: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    exit_code: int | None = None
    stopped_reason: str | None = None
    stop_code: str | None = None
    reason: str | None = None
    finished_at: datetime | None = None
    body_fingerprint: str | None = None  # of the revision it runs: a rollout of the same body runs that revision

    @property
    def key(self) -> str:
        return f"{self.repository}#{self.rule}#{self.digest}"

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED

    def ended(self, end: TaskEnd, now: datetime) -> TaskRun:
        """The run once its task stopped: SUCCEEDED on exit code 0, else FAILED with why."""
        told = replace(
            self, exit_code=end.exit_code, stopped_reason=end.stopped_reason, stop_code=end.stop_code, finished_at=now
        )
        if end.exit_code == 0:
            return replace(told, status=SUCCEEDED, reason="pre-deploy task exited with code 0")
        if end.exit_code is not None:
            stopped = f": {end.stopped_reason}" if end.stopped_reason else ""
            why = f"pre-deploy task exited with code {end.exit_code}{stopped}"
        else:
            detail = "; ".join(r for r in (end.stopped_reason, end.container_reason) if r) or "no reason given"
            code = f" ({end.stop_code})" if end.stop_code else ""
            why = f"pre-deploy task stopped before its container {self.container} ran: {detail}{code}"
        return replace(told, status=FAILED, reason=f"{why} ({self.where})")

    def timed_out(self, now: datetime) -> TaskRun:
        if self.task_arn is None:
            why = f"pre-deploy task did not start within {self.timeout_minutes} min"
        else:
            why = f"pre-deploy task timed out after {self.timeout_minutes} min and was stopped ({self.where})"
        return replace(self, status=FAILED, reason=why, finished_at=now, stopped_reason=why)

    @property
    def where(self) -> str:
        """``task ARN; logs GROUP STREAM``: where to look."""
        logs = f"; logs {self.log_group} {self.log_stream}" if self.log_group and self.log_stream else ""
        return f"task {self.task_arn}{logs}"


def task_end(task: dict[str, Any], container: str) -> TaskEnd | None:
    """The end of a task (an event's ``detail`` or a DescribeTasks entry); None while it is not stopped.

    The exit code is the named container's: the one that ran the command.
    """
    if task.get("lastStatus") != "STOPPED":
        return None
    ran: dict[str, Any] = next((c for c in task.get("containers") or [] if c.get("name") == container), {})
    exit_code = ran.get("exitCode")
    return TaskEnd(
        task_arn=str(task.get("taskArn", "")),
        exit_code=int(exit_code) if exit_code is not None else None,
        stopped_reason=task.get("stoppedReason"),
        stop_code=task.get("stopCode"),
        container_reason=ran.get("reason"),
    )


def log_location(body: dict[str, Any], container: str, task_arn: str) -> tuple[str | None, str | None]:
    """The CloudWatch log group and stream of a task's container, when it logs with ``awslogs``.

    With ``awslogs-stream-prefix`` the stream is ``prefix/container-name/task-id`` (ECS's
    "Using the awslogs log driver"); without it there is no stream name Slipway can know.
    """
    definition: dict[str, Any] = next(
        (c for c in body.get("containerDefinitions") or [] if c.get("name") == container), {}
    )
    config = definition.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None, None
    options = config.get("options") or {}
    group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
    if not group or not prefix:
        return group, None
    return str(group), f"{prefix}/{container}/{task_arn.rsplit('/', 1)[-1]}"
