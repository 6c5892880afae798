"""Every account and Region's ECS behind one port: each call goes where its ARN says.

ECS ARNs name their account and Region (``arn:aws:ecs:REGION:ACCOUNT:...``), and ECS
answers a request only in the account and Region it is sent to; so a call about a
cluster, service, task definition or service deployment goes to the adapter of the place
its ARN names, and a bare name to Slipway's own. A registration names no ARN: it is sent
where the service it is for lives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from slipway.aws.ecs import EcsAdapter
from slipway.model import Service, ServiceDeployment, TaskDefinition
from slipway.places import Place, of_arn
from slipway.ports import ServiceLookup
from slipway.task_run import TaskLaunch, TaskRequest


class EcsFleet:
    """The Ecs port over every place Slipway deploys to; ``reach`` gives (and keeps) each place's adapter."""

    def __init__(self, home: Place, reach: Callable[[Place], EcsAdapter]) -> None:
        self.home = home
        self._reach = reach

    def at(self, place: Place | None) -> EcsAdapter:
        """The adapter of ``place`` (None: home); AwsError when its role cannot be assumed."""
        return self._reach(place or self.home)

    def _of(self, identifier: str) -> EcsAdapter:
        return self.at(of_arn(identifier) if identifier.startswith("arn:") else None)

    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup:
        return self._of(cluster).describe_services(cluster, names)

    def describe_task_definition(self, arn: str) -> TaskDefinition:
        return self._of(arn).describe_task_definition(arn)

    def register_task_definition(
        self, body: dict[str, Any], tags: Sequence[tuple[str, str]], place: Place | None = None
    ) -> str:
        return self.at(place).register_task_definition(body, tags)

    def update_service(
        self, cluster: str, service: str, task_definition: str, deployment_configuration: dict[str, Any]
    ) -> Service:
        return self._of(cluster).update_service(cluster, service, task_definition, deployment_configuration)

    def describe_tasks(
        self, cluster: str, deployment_id: str, task_definition: str, limit: int = 3
    ) -> list[dict[str, Any]]:
        return self._of(cluster).describe_tasks(cluster, deployment_id, task_definition, limit)

    def forecast(self, operation: str, count: int, place: Place | None = None) -> float:
        return self.at(place).forecast(operation, count)

    def describe_service_deployments(self, arns: Sequence[str]) -> list[ServiceDeployment]:
        by_place: dict[Place | None, list[str]] = defaultdict(list)
        for arn in arns:
            by_place[of_arn(arn)].append(arn)
        found: list[ServiceDeployment] = []
        for place, batch in by_place.items():
            found.extend(self.at(place).describe_service_deployments(batch))
        return found

    def list_service_deployments(self, cluster: str, service: str, statuses: Sequence[str] = ()) -> list[str]:
        return self._of(cluster).list_service_deployments(cluster, service, statuses)

    def continue_service_deployment(self, arn: str, hook_id: str, action: str = "CONTINUE") -> None:
        self._of(arn).continue_service_deployment(arn, hook_id, action)

    def stop_service_deployment(self, arn: str, stop_type: str = "ROLLBACK") -> None:
        self._of(arn).stop_service_deployment(arn, stop_type)

    # -- one-off tasks (the pre-deploy task) ------------------------------------------------
    def task_launch(self, cluster: str, service: str) -> TaskLaunch:
        return self._of(cluster).task_launch(cluster, service)

    def run_task(self, cluster: str, request: TaskRequest) -> str:
        return self._of(cluster).run_task(cluster, request)

    def describe_task(self, cluster: str, task_arn: str) -> dict[str, Any] | None:
        return self._of(task_arn).describe_task(cluster, task_arn)

    def stop_task(self, cluster: str, task_arn: str, reason: str) -> None:
        self._of(task_arn).stop_task(cluster, task_arn, reason)
