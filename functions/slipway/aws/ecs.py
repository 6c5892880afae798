"""Amazon ECS adapter: services, task definitions and rollouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.aws.ecs_tasks import EcsTasks
from slipway.aws.pacing import Pacer
from slipway.errors import AwsError
from slipway.model import Deployment, HookDetail, Service, ServiceDeployment, TaskDefinition, Traffic
from slipway.places import Place
from slipway.ports import ServiceLookup

DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services per call.
DEPLOYMENTS_BATCH = 20  # DescribeServiceDeployments takes at most 20 ARNs per call.
FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})


class EcsAdapter(EcsTasks):
    """ECS of one account and Region through boto3, paced to its quotas; requests are shaped by the API's own
    input shapes. ``place`` is the account and Region when they are not Slipway's own: the services it
    describes carry it, so that their keys say where they are."""

    def __init__(
        self,
        ecs_client: Any = None,
        pacer: Pacer | None = None,
        call: Caller | None = None,
        place: Place | None = None,
    ) -> None:
        self._client = ecs_client or client("ecs")
        self._pacer = pacer
        self._call = call or Caller("ecs", str(place) if place else region_of(self._client), pacer)
        self.place = place
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
                service = to_service(raw, self.place)
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
        return self._pacer.eta(self._call.scope, "ecs", operation, count) if self._pacer else 0.0

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
        return to_service(response["service"], self.place)

    def describe_service_deployments(self, arns: Sequence[str]) -> list[ServiceDeployment]:
        """Service deployments by ARN (20 to a call); ARNs ECS does not know are left out."""
        found: list[ServiceDeployment] = []
        unique = list(dict.fromkeys(arns))
        for start in range(0, len(unique), DEPLOYMENTS_BATCH):
            response = self._call(
                "DescribeServiceDeployments",
                self._client.describe_service_deployments,
                serviceDeploymentArns=unique[start : start + DEPLOYMENTS_BATCH],
            )
            found.extend(to_service_deployment(raw) for raw in response.get("serviceDeployments") or [])
        return found

    def list_service_deployments(self, cluster: str, service: str, statuses: Sequence[str] = ()) -> list[str]:
        """ARNs of a service's deployments (newest first, as ECS lists them), optionally by status."""
        kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
        if statuses:
            kwargs["status"] = list(statuses)
        arns: list[str] = []
        while True:
            response = self._call("ListServiceDeployments", self._client.list_service_deployments, **kwargs)
            arns.extend(str(d["serviceDeploymentArn"]) for d in response.get("serviceDeployments") or [])
            token = response.get("nextToken")
            if not token:
                return arns
            kwargs["nextToken"] = token

    def continue_service_deployment(self, arn: str, hook_id: str, action: str = "CONTINUE") -> None:
        """Act on a paused lifecycle hook: CONTINUE to the next stage, or ROLLBACK."""
        self._call(
            "ContinueServiceDeployment",
            self._client.continue_service_deployment,
            serviceDeploymentArn=arn,
            hookId=hook_id,
            action=action,
        )

    def stop_service_deployment(self, arn: str, stop_type: str = "ROLLBACK") -> None:
        """Stop a service deployment; ROLLBACK returns the service to the revision it came from."""
        self._call(
            "StopServiceDeployment",
            self._client.stop_service_deployment,
            serviceDeploymentArn=arn,
            stopType=stop_type,
        )

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


def traffic_of(raw: dict[str, Any]) -> Traffic:
    """How the service's traffic can shift: its target groups, their advanced configuration, Service Connect.

    DescribeServices shows Service Connect on the deployments, not on the service.
    """
    balancers = raw.get("loadBalancers") or []
    advanced = [
        lb
        for lb in balancers
        if (lb.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")
        and (lb.get("advancedConfiguration") or {}).get("productionListenerRule")
    ]
    connect = any(
        (d.get("serviceConnectConfiguration") or {}).get("enabled")
        for d in raw.get("deployments") or []
        if d.get("status") == "PRIMARY"
    )
    return Traffic(load_balancers=len(balancers), advanced=len(advanced), service_connect=bool(connect))


def to_service(raw: dict[str, Any], place: Place | None = None) -> Service:
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
        scheduling_strategy=str(raw.get("schedulingStrategy") or "REPLICA"),
        traffic=traffic_of(raw),
        current_service_deployment=raw.get("currentServiceDeployment"),
        place=place,
    )


def to_service_deployment(raw: dict[str, Any]) -> ServiceDeployment:
    """A DescribeServiceDeployments entry in Slipway's terms."""
    target = raw.get("targetServiceRevision") or {}
    sources = raw.get("sourceServiceRevisions") or []
    rollback = raw.get("rollback") or {}
    hooks = tuple(
        HookDetail(
            hook_id=str(h.get("hookId", "")),
            target_type=str(h.get("targetType", "AWS_LAMBDA")),
            status=str(h.get("status", "")),
            target_arn=h.get("targetArn"),
            expires_at=h.get("expiresAt"),
            timeout_action=h.get("timeoutAction"),
        )
        for h in raw.get("lifecycleHookDetails") or []
    )
    source_weights = [s.get("requestedProductionTrafficWeight") for s in sources]
    known = [float(w) for w in source_weights if w is not None]
    return ServiceDeployment(
        arn=str(raw["serviceDeploymentArn"]),
        service_arn=str(raw.get("serviceArn", "")),
        status=str(raw.get("status", "")),
        lifecycle_stage=raw.get("lifecycleStage"),
        status_reason=raw.get("statusReason"),
        target_revision=target.get("arn"),
        production_weight=_weight(target.get("requestedProductionTrafficWeight")),
        test_weight=_weight(target.get("requestedTestTrafficWeight")),
        source_production_weight=sum(known) if known else None,
        hooks=hooks,
        rollback_reason=rollback.get("reason"),
        rollback_revision=rollback.get("serviceRevisionArn"),
        created_at=raw.get("createdAt"),
        updated_at=raw.get("updatedAt"),
        finished_at=raw.get("finishedAt"),
        configuration=dict(raw.get("deploymentConfiguration") or {}),
    )


def _weight(value: Any) -> float | None:
    return float(value) if value is not None else None
