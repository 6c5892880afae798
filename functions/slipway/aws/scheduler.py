"""EventBridge Scheduler adapter: read a schedule whole, and write it back whole."""

from __future__ import annotations

from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of


class SchedulerAdapter:
    """GetSchedule and UpdateSchedule through boto3 (paced and retried by ``Caller``).

    UpdateSchedule resets every optional field the request leaves out, so the request is
    the schedule as GetSchedule returned it, cut to the fields UpdateSchedule's input shape
    takes (read from botocore's model, so a field AWS adds later is sent back too).
    """

    def __init__(self, scheduler_client: Any = None, call: Caller | None = None) -> None:
        self._client = scheduler_client or client("scheduler")
        self._call = call or Caller("scheduler", region_of(self._client))
        shape = self._client.meta.service_model.operation_model("UpdateSchedule").input_shape
        self._update_fields = frozenset(shape.members) - {"ClientToken"}

    def get_schedule(self, group: str, name: str) -> dict[str, Any]:
        response = self._call("GetSchedule", self._client.get_schedule, GroupName=group, Name=name)
        return {key: value for key, value in response.items() if key != "ResponseMetadata"}

    def update_schedule(self, schedule: dict[str, Any]) -> None:
        request = {key: value for key, value in schedule.items() if key in self._update_fields and value is not None}
        self._call("UpdateSchedule", self._client.update_schedule, **request)
