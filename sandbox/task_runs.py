"""Finish the one-off tasks moto starts, the way ECS would, and emit the events ECS would send.

moto's RunTask starts a task whose first container stands for all of them, and
DescribeTasks walks it to STOPPED with exit code 0 after a few calls, whatever it ran.
Tests and the demo decide instead: ``hold`` keeps tasks RUNNING until told otherwise,
``exit`` stops a task with a chosen exit code of the container that ran the command
(``Essential container in task exited``), ``fail_to_start`` stops it before its
containers ran (a ``stoppedReason`` and ``stopCode`` such as ``CannotPullContainerError``
and ``TaskFailedToStart``). DescribeTasks then shows the task as ECS would, and each
returns the ``ECS Task State Change`` event AWS delivers, built from AWS's own sample
(``events/ecs-task-state-change-aws-sample.json``).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow
from moto.ecs import models as ecs_models
from moto.moto_api import state_manager

from sandbox import bridge

SAMPLE = Path(__file__).resolve().parent.parent / "events" / "ecs-task-state-change-aws-sample.json"
TASK_MODEL = "ecs::task"
ESSENTIAL_EXITED = "Essential container in task exited"


@contextmanager
def held_tasks() -> Iterator[None]:
    """Tasks stay RUNNING until a test stops them (moto otherwise stops them after a few DescribeTasks)."""
    state_manager.set_transition(TASK_MODEL, {"progression": "manual", "times": 10**9})
    try:
        yield
    finally:
        state_manager.unset_transition(TASK_MODEL)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TaskRuns:
    """The one-off tasks of one moto account and Region."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    @property
    def _backend(self) -> Any:
        return bridge.ecs_backend(self.account, self.region)

    def started(self, started_by: str = "slipway-pre-deploy") -> list[Any]:
        """Tasks RunTask started with ``started_by``, oldest first (moto's own objects)."""
        return [
            task for tasks in self._backend.tasks.values() for task in tasks.values() if task.started_by == started_by
        ]

    def _task(self, task_arn: str) -> Any:
        for tasks in self._backend.tasks.values():
            if task_arn in tasks:
                return tasks[task_arn]
        raise KeyError(f"moto has no task {task_arn}")

    def _containers(self, task: Any) -> list[Any]:
        """One container per container definition, as ECS shows a task (moto keeps only the first)."""
        definition = self._backend.describe_task_definition(task.task_definition_arn)
        containers = []
        for spec in definition.container_definitions:
            container = ecs_models.Container(definition)
            container.name = spec.get("name")
            container.image = spec.get("image")
            containers.append(container)
        return containers

    def exit(self, task_arn: str, exit_code: int, container: str | None = None) -> dict[str, Any]:
        """The task ran and its ``container`` (the command's, by default) exited with ``exit_code``."""
        task = self._task(task_arn)
        ran = container or _overridden(task)
        task.containers = self._containers(task)
        for each in task.containers:
            each.last_status = "STOPPED"
            each.exitCode = exit_code if each.name == ran else 0
            each.reason = None
        return self._stop(task, ESSENTIAL_EXITED, "EssentialContainerExited")

    def fail_to_start(
        self,
        task_arn: str,
        reason: str = "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        "failed to resolve ref: not found",
        stop_code: str = "TaskFailedToStart",
    ) -> dict[str, Any]:
        """The task stopped before its containers ran: no exit code, a stop reason and code."""
        task = self._task(task_arn)
        task.containers = self._containers(task)
        for each in task.containers:
            each.last_status = "STOPPED"
            each.exitCode = None
            each.reason = reason
        return self._stop(task, reason, stop_code)

    def _stop(self, task: Any, reason: str, stop_code: str) -> dict[str, Any]:
        task.status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = stop_code
        task.stopped_at = utcnow()
        return self.event(task)

    def event(self, task: Any) -> dict[str, Any]:
        """The ``ECS Task State Change`` AWS delivers for the task as it is now (AWS's sample, filled in)."""
        event = copy.deepcopy(json.loads(SAMPLE.read_text()))
        now = datetime.now(UTC)
        event.update(
            id=str(uuid.uuid4()),
            account=self.account,
            region=self.region,
            time=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            resources=[task.task_arn],
        )
        detail = event["detail"]
        stopped = task.last_status == "STOPPED"
        detail.update(
            clusterArn=task.cluster_arn,
            taskArn=task.task_arn,
            taskDefinitionArn=task.task_definition_arn,
            group=task.group,
            startedBy=task.started_by,
            launchType=task.launch_type or "FARGATE",
            lastStatus=task.last_status,
            desiredStatus=task.desired_status,
            overrides=task.overrides or {"containerOverrides": []},
            updatedAt=_iso(now),
            version=detail["version"] + (3 if stopped else 0),
            containers=[_container(task, c) for c in task.containers],
        )
        detail.pop("attachments", None)  # moto's ENI is not the sample's
        if stopped:
            detail.update(
                stoppedReason=task.stopped_reason,
                stopCode=getattr(task, "stop_code", None),
                stoppingAt=_iso(now),
                stoppedAt=_iso(now),
                executionStoppedAt=_iso(now),
                connectivity="DISCONNECTED" if task.stop_code != "TaskFailedToStart" else detail["connectivity"],
            )
        return event


def _overridden(task: Any) -> str | None:
    overrides = (task.overrides or {}).get("containerOverrides") or []
    return overrides[0].get("name") if overrides else None


def _container(task: Any, container: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "containerArn": container.container_arn,
        "lastStatus": container.last_status,
        "name": container.name,
        "image": container.image,
        "taskArn": task.task_arn,
        "cpu": str(container.cpu or 0),
    }
    if container.exitCode is not None:
        shown["exitCode"] = container.exitCode
    if getattr(container, "reason", None):
        shown["reason"] = container.reason
    return shown
