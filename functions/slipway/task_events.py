"""The ``ECS Task State Change`` event of a stopped task, as the track function takes it.

AWS's sample (Amazon ECS Developer Guide, "Amazon ECS task state change events"): the
``detail`` is the task as DescribeTasks shows it, with ISO 8601 timestamps.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field


class TaskContainer(BaseModel):
    """One container of the task: its name, and its exit code once it stopped."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str | None = None
    last_status: str | None = Field(default=None, alias="lastStatus")


class TaskDetail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    task_arn: str = Field(alias="taskArn", pattern=r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task/.+")
    cluster_arn: str = Field(alias="clusterArn", min_length=1)
    last_status: str = Field(alias="lastStatus", min_length=1)
    containers: list[TaskContainer] = []
    stopped_reason: str | None = Field(default=None, alias="stoppedReason")
    stop_code: str | None = Field(default=None, alias="stopCode")
    started_by: str | None = Field(default=None, alias="startedBy")

    def task(self) -> dict[str, Any]:
        """The detail in DescribeTasks' shape (what ``task_run.task_end`` reads)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class EcsTaskEvent(EventBridgeModel):
    """An ``ECS Task State Change`` event."""

    source: Literal["aws.ecs"]
    detail_type: Literal["ECS Task State Change"] = Field(alias="detail-type")
    detail: TaskDetail
