"""Amazon ECS adapter: services, task definitions and rollouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.aws.pacing import Pacer
from slipway.errors import AwsError
from slipway.model import Deployment, Service, TaskDefinition
from slipway.ports import ServiceLookup

DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services per call.
FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})


class EcsAdapter:
    """ECS through boto3, paced to the account's quotas; requests are shaped by the API's own input shapes."""

    def __init__(self, ecs_client: Any = None, pacer: Pacer | None = None, call: Caller | None = None) -> None:
        self._client = ecs_client or client("ecs")
        self._region = region_of(self._client)
        self._pacer = pacer
        self._call = call or Caller("ecs", self._region, pacer)
        model = self._client.meta.service_model
        self._register_fields = frozenset(model.operation_model("RegisterTaskDefinition").input_shape.members)
        update_shape = model.operation_model("UpdateService").input_shape
        self._deployment_fields = frozenset(update_shape.members["deploymentConfiguration"].members)

    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup:
        """Describe services in batches of 10; names ECS does not know land in ``missing``."""
        lookup = ServiceLookup()
        unique = list(dict.fromkeys(names))
        for start in range(0, len(unique), DESCRIBE_BATCH):
            batch = unique[start : start + DESCRIBE_BATCH]
            response = self._call("DescribeServices", self._client.describe_services, cluster=cluster, services=batch)
            for raw in response.get("services", []):
                service = to_service(raw)
                lookup.found[service.name] = service
            for failure in response.get("failures", []):
                name = str(failure.get("arn", "")).rsplit("/", 1)[-1]
                reason = str(failure.get("reason", "MISSING"))
                detail = f": {failure['detail']}" if failure.get("detail") else ""
                lookup.missing[name] = AwsError(
                    "DescribeServices", reason, f'no service "{name}" in cluster "{cluster}" ({reason}{detail})'
                )
        for name in batch_leftovers(unique, lookup):
            lookup.missing[name] = AwsError(
                "DescribeServices", "MISSING", f'no service "{name}" in cluster "{cluster}"'
            )
        return lookup

    def forecast(self, operation: str, count: int) -> float:
        """Seconds until ``count`` more ``operation`` calls could go at the account's pace."""
        return self._pacer.eta(self._region, "ecs", operation, count) if self._pacer else 0.0

    def describe_task_definition(self, arn: str) -> TaskDefinition:
        response = self._call(
            "DescribeTaskDefinition", self._client.describe_task_definition, taskDefinition=arn, include=["TAGS"]
        )
        body = response["taskDefinition"]
        tags = tuple((str(t["key"]), str(t.get("value", ""))) for t in response.get("tags") or [])
        return TaskDefinition(arn=str(body["taskDefinitionArn"]), body=body, tags=tags)

    def register_task_definition(self, body: dict[str, Any], tags: Sequence[tuple[str, str]]) -> str:
        """Register a revision from a described body: fields outside the input shape are dropped."""
        request = {key: value for key, value in body.items() if key in self._register_fields}
        if tags:
            request["tags"] = [{"key": k, "value": v} for k, v in tags]
        response = self._call("RegisterTaskDefinition", self._client.register_task_definition, **request)
        return str(response["taskDefinition"]["taskDefinitionArn"])

    def update_service(
        self, cluster: str, service: str, task_definition: str, deployment_configuration: dict[str, Any]
    ) -> Service:
        config = {k: v for k, v in deployment_configuration.items() if k in self._deployment_fields}
        response = self._call(
            "UpdateService",
            self._client.update_service,
            cluster=cluster,
            service=service,
            taskDefinition=task_definition,
            deploymentConfiguration=config,
        )
        return to_service(response["service"])

    def describe_tasks(
        self, cluster: str, deployment_id: str, task_definition: str, limit: int = 3
    ) -> list[dict[str, Any]]:
        """Recently stopped tasks of a deployment (ECS starts them with startedBy = its id), newest first."""
        listed = self._call(
            "ListTasks",
            self._client.list_tasks,
            cluster=cluster,
            startedBy=deployment_id,
            desiredStatus="STOPPED",
            maxResults=100,
        )
        arns = listed.get("taskArns", [])
        if not arns:
            return []
        described = self._call("DescribeTasks", self._client.describe_tasks, cluster=cluster, tasks=arns[:100])
        tasks = [t for t in described.get("tasks", []) if t.get("taskDefinitionArn") == task_definition]
        tasks.sort(key=lambda t: str(t.get("stoppedAt") or t.get("createdAt") or ""), reverse=True)
        return tasks[:limit]


def batch_leftovers(names: Sequence[str], lookup: ServiceLookup) -> list[str]:
    return [n for n in names if n not in lookup.found and n not in lookup.missing]


def launch_type(raw: dict[str, Any]) -> str:
    """EC2, FARGATE or EXTERNAL, read from the service (launch type or capacity providers)."""
    if raw.get("launchType"):
        return str(raw["launchType"])
    providers = {str(p.get("capacityProvider")) for p in raw.get("capacityProviderStrategy") or []}
    if providers and providers <= FARGATE_PROVIDERS:
        return "FARGATE"
    return "EC2"


def to_service(raw: dict[str, Any]) -> Service:
    deployments = tuple(
        Deployment(
            id=str(d.get("id")),
            status=str(d.get("status")),
            task_definition=str(d.get("taskDefinition")),
            rollout_state=d.get("rolloutState"),
            rollout_state_reason=d.get("rolloutStateReason"),
            desired_count=int(d.get("desiredCount") or 0),
            running_count=int(d.get("runningCount") or 0),
            pending_count=int(d.get("pendingCount") or 0),
            failed_tasks=int(d.get("failedTasks") or 0),
        )
        for d in raw.get("deployments") or []
    )
    return Service(
        arn=str(raw["serviceArn"]),
        name=str(raw["serviceName"]),
        cluster_arn=str(raw.get("clusterArn", "")),
        status=str(raw.get("status", "ACTIVE")),
        task_definition=str(raw.get("taskDefinition", "")),
        launch_type=launch_type(raw),
        deployment_controller=str((raw.get("deploymentController") or {}).get("type", "ECS")),
        deployment_configuration=dict(raw.get("deploymentConfiguration") or {}),
        deployments=deployments,
    )
