"""Amazon ECS one-off tasks: where a service runs its tasks, RunTask, DescribeTasks and StopTask.

A mixin of ``EcsAdapter``: the same client, pacing and retries (RunTask is paced by its
own token bucket, see ``pacing.ecs_quotas``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.errors import AwsError
from slipway.task_run import TaskLaunch, TaskRequest

if TYPE_CHECKING:
    from slipway.aws.calls import Caller
    from slipway.places import Place


class EcsTasks:
    """RunTask and what goes with it, for the pre-deploy task."""

    _client: Any
    _call: Caller
    place: Place | None

    def task_launch(self, cluster: str, service: str) -> TaskLaunch:
        """The service's revision, launch type or capacity provider strategy, platform version and network."""
        response = self._call("DescribeServices", self._client.describe_services, cluster=cluster, services=[service])
        found = response.get("services") or []
        if not found:
            failure = (response.get("failures") or [{}])[0]
            reason = str(failure.get("reason", "MISSING"))
            raise AwsError("DescribeServices", reason, f'no service "{service}" in cluster "{cluster}" ({reason})')
        raw = found[0]
        strategy = tuple(dict(p) for p in raw.get("capacityProviderStrategy") or [])
        return TaskLaunch(
            task_definition=str(raw["taskDefinition"]),
            launch_type=None if strategy else raw.get("launchType"),
            capacity_provider_strategy=strategy,
            platform_version=raw.get("platformVersion"),
            network_configuration=raw.get("networkConfiguration"),
            place=self.place,
        )

    def run_task(self, cluster: str, request: TaskRequest) -> str:
        """Start one task; its ARN. A placement failure ECS reports in ``failures`` is an AwsError too."""
        launch = request.launch
        kwargs: dict[str, Any] = {
            "cluster": cluster,
            "taskDefinition": request.task_definition,
            "count": 1,
            "startedBy": request.started_by[:128],
            "group": request.group,
            "clientToken": request.client_token[:64],
            "overrides": {"containerOverrides": [{"name": request.container, "command": list(request.command)}]},
        }
        if launch.capacity_provider_strategy:
            kwargs["capacityProviderStrategy"] = [dict(p) for p in launch.capacity_provider_strategy]
        elif launch.launch_type:
            kwargs["launchType"] = launch.launch_type
        if launch.platform_version:
            kwargs["platformVersion"] = launch.platform_version
        if launch.network_configuration:
            kwargs["networkConfiguration"] = launch.network_configuration
        if request.tags:
            kwargs["tags"] = [{"key": k, "value": v} for k, v in request.tags]
        response = self._call("RunTask", self._client.run_task, **kwargs)
        tasks = response.get("tasks") or []
        if not tasks:
            failure = (response.get("failures") or [{}])[0]
            reason = str(failure.get("reason") or "NoTaskStarted")
            detail = f": {failure['detail']}" if failure.get("detail") else ""
            raise AwsError("RunTask", reason, f"ECS started no task ({reason}{detail})")
        return str(tasks[0]["taskArn"])

    def describe_task(self, cluster: str, task_arn: str) -> dict[str, Any] | None:
        response = self._call("DescribeTasks", self._client.describe_tasks, cluster=cluster, tasks=[task_arn])
        return next((dict(t) for t in response.get("tasks") or [] if t.get("taskArn") == task_arn), None)

    def stop_task(self, cluster: str, task_arn: str, reason: str) -> None:
        self._call("StopTask", self._client.stop_task, cluster=cluster, task=task_arn, reason=reason[:255])
