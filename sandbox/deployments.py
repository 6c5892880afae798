"""Move moto's ECS deployments the way ECS would, and emit the events ECS would send.

moto never progresses a deployment, so tracking tests and the demo script the
service's life here: ``complete``, ``fail`` (with stopped tasks), ``roll_back``
(the circuit breaker's rollback deployment, whose reason names the deployment it rolls
back to) and ``replace`` (a manual UpdateService).
Each returns the ``ECS Deployment State Change`` events AWS would deliver, and the
service afterwards looks as DescribeServices would show it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import utcnow
from moto.ecs import models as ecs_models

from sandbox import bridge


def deployment_event(
    service_arn: str,
    deployment_id: str,
    name: str,
    reason: str,
    *,
    account: str,
    region: str,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An ``ECS Deployment State Change`` event as EventBridge delivers it."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": account,
        "time": now,
        "region": region,
        "resources": [service_arn],
        "detail": {
            "eventType": "ERROR" if name.endswith("FAILED") else "INFO",
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": now,
            "reason": reason,
        },
    }


@dataclass
class StoppedTask:
    """A task ECS stopped: its reason, stop code and its first container's exit."""

    reason: str
    stop_code: str = "TaskFailedToStart"
    container_reason: str | None = None
    exit_code: int | None = None


class Deployments:
    """Drives one moto account's ECS deployments."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    @property
    def _backend(self) -> Any:
        return bridge.ecs_backend(self.account, self.region)

    def _service(self, cluster: str, name: str) -> Any:
        return self._backend._get_service(cluster, name)

    def _event(self, service: Any, deployment_id: str, name: str, reason: str) -> dict[str, Any]:
        return deployment_event(
            service.arn,
            deployment_id,
            name,
            reason,
            account=self.account,
            region=self.region,
        )

    def primary(self, cluster: str, name: str) -> dict[str, Any]:
        service = self._service(cluster, name)
        return dict(next(d for d in service.deployments if d["status"] == "PRIMARY"))

    def in_progress(self, cluster: str, name: str, deployment_id: str | None = None) -> dict[str, Any]:
        """The IN_PROGRESS event ECS sends when a deployment starts."""
        service = self._service(cluster, name)
        deployment_id = deployment_id or self.primary(cluster, name)["id"]
        return self._event(
            service, deployment_id, "SERVICE_DEPLOYMENT_IN_PROGRESS", f"ECS deployment {deployment_id} in progress."
        )

    def complete(self, cluster: str, name: str, deployment_id: str | None = None) -> dict[str, Any]:
        """The deployment reaches steady state: it is the only one left, all tasks running."""
        service = self._service(cluster, name)
        deployment_id = deployment_id or self.primary(cluster, name)["id"]
        deployment = next(d for d in service.deployments if d["id"] == deployment_id)
        deployment.update(
            status="PRIMARY",
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {deployment_id} completed.",
            runningCount=service.desired_count,
            pendingCount=0,
            updatedAt=utcnow(),
        )
        service.deployments[:] = [deployment]
        service.task_definition = deployment["taskDefinition"]
        service.running_count = service.desired_count
        return self._event(
            service, deployment_id, "SERVICE_DEPLOYMENT_COMPLETED", f"ECS deployment {deployment_id} completed."
        )

    def fail(
        self,
        cluster: str,
        name: str,
        deployment_id: str | None = None,
        reason: str = "tasks failed to start",
        stopped: list[StoppedTask] | None = None,
    ) -> dict[str, Any]:
        """The circuit breaker fails the deployment after its tasks stopped."""
        service = self._service(cluster, name)
        deployment_id = deployment_id or self.primary(cluster, name)["id"]
        deployment = next(d for d in service.deployments if d["id"] == deployment_id)
        for task in stopped or []:
            self.stop_task(cluster, deployment["taskDefinition"], deployment_id, task)
        deployment.update(
            rolloutState="FAILED",
            rolloutStateReason=f"ECS deployment circuit breaker: {reason}.",
            failedTasks=len(stopped or []),
            updatedAt=utcnow(),
        )
        return self._event(
            service, deployment_id, "SERVICE_DEPLOYMENT_FAILED", f"ECS deployment circuit breaker: {reason}."
        )

    def roll_back(
        self, cluster: str, name: str, failed_id: str, *, by: str = "circuit breaker"
    ) -> tuple[dict[str, Any], str]:
        """ECS starts a deployment back to the last completed one; returns its IN_PROGRESS event and id.

        As AWS documents it ("Amazon ECS service deployment state change events"), the
        reason names the deployment the service rolls back to, not the failed one.
        """
        service = self._service(cluster, name)
        failed = next(d for d in service.deployments if d["id"] == failed_id)
        others = [d for d in service.deployments if d["id"] != failed_id]
        # moto's first deployment of a service has no rolloutState: it counts as completed.
        previous = next((d for d in others if d.get("rolloutState", "COMPLETED") == "COMPLETED"), others[0])
        rollback_id = bridge._new_deployment_id()
        reason = f"ECS deployment {by}: rolling back to deploymentId {previous['id']}."
        failed["status"] = "ACTIVE"
        previous["status"] = "ACTIVE"
        rollback = dict(previous)
        rollback.update(
            id=rollback_id,
            status="PRIMARY",
            rolloutState="IN_PROGRESS",
            rolloutStateReason=reason,
            createdAt=utcnow(),
            updatedAt=utcnow(),
        )
        service.deployments.insert(0, rollback)
        service.task_definition = rollback["taskDefinition"]
        return self._event(service, rollback_id, "SERVICE_DEPLOYMENT_IN_PROGRESS", reason), rollback_id

    def stop_task(self, cluster: str, task_definition: str, deployment_id: str, stopped: StoppedTask) -> str:
        """A task of the deployment that ECS stopped, as DescribeTasks shows it."""
        backend = self._backend
        cluster_obj = backend._get_cluster(cluster)
        definition = backend.describe_task_definition(task_definition)
        network = None
        if definition.network_mode == "awsvpc":
            from moto.ec2.models import ec2_backends

            subnet = next(iter(ec2_backends[self.account][self.region].subnets.values()))
            subnet_id = next(iter(subnet.values())).id
            network = {"awsvpcConfiguration": {"subnets": [subnet_id], "securityGroups": []}}
        task = ecs_models.Task(
            cluster_obj,
            definition,
            None,
            None,
            backend=backend,
            group=f"service:{cluster}",
            launch_type="FARGATE",
            started_by=deployment_id,
            networking_configuration=network,
        )
        task.status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = stopped.reason
        task.stop_code = stopped.stop_code
        task.stopped_at = utcnow()
        for container in task.containers:
            container.reason = stopped.container_reason
            container.exitCode = stopped.exit_code
            container.last_status = "STOPPED"
        backend.tasks.setdefault(cluster_obj.name, {})[task.task_arn] = task
        return str(task.task_arn)

    def replace(self, cluster: str, name: str, task_definition: str) -> tuple[dict[str, Any], str]:
        """A manual UpdateService (outside Slipway); returns its IN_PROGRESS event and deployment id."""
        self._backend.update_service({"cluster": cluster, "service": name, "task_definition": task_definition})
        deployment_id = self.primary(cluster, name)["id"]
        return self.in_progress(cluster, name, deployment_id), deployment_id
