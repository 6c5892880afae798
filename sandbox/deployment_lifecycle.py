"""How a service deployment begins and ends, with moto's service kept in step.

``Lifecycle`` creates a service deployment for each new moto deployment, and ends one:
SUCCESSFUL (the moto service as ``Deployments.complete`` leaves it), rolled back (the
source revision's moto deployment PRIMARY again), or STOPPED. ``sandbox/strategies.py``
takes BLUE_GREEN, CANARY and LINEAR ones through their stages; the ROLLING ones follow
``sandbox/deployments.py`` (``sandbox/service_deployment_wiring.py``). A transition returns
the EventBridge events ECS would send. Reasons are worded as ``sandbox/deployments.py``
words ECS's circuit breaker ("ECS deployment <mechanism>: ..."); ECS documents no wording.

Where ECS's documentation is silent, the sandbox's reading:
- A new service deployment of the service stops the one still in flight (STOPPED).
- A BLUE_GREEN, CANARY or LINEAR deployment waits in PENDING for its first ``advance``;
  the service's first deployment (CreateService) has no stages: it launches the tasks.
- A pause resolved with ROLLBACK, or left when the deployment rolls back, ends FAILED.
- A rollback starts at once (StopServiceDeployment's ROLLBACK_REQUESTED is not kept) and
  ends at the next ``advance``; ECS sends SERVICE_DEPLOYMENT_FAILED when it starts and
  nothing when it ends.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow

from sandbox import bridge
from sandbox.deployments import Deployments, deployment_event
from sandbox.service_deployments import (
    ROLLING,
    ROLLING_BACK,
    Book,
    HookRun,
    Revision,
    ServiceDeployment,
    book,
    new_deployment_arn,
    resolved,
    revision_arn,
)
from sandbox.service_revisions import revision_settings, show
from sandbox.strategy_plans import plan

STARTED = frozenset({"PENDING", "IN_PROGRESS"})


def hook_event(
    service_arn: str,
    deployment_id: str,
    service_deployment_arn: str,
    hook_id: str,
    stage: str,
    *,
    account: str,
    region: str,
    name: str = "HOOK_AWAITING_ACTION",
) -> dict[str, Any]:
    """An ``ECS Hook State Change`` event as EventBridge delivers it.

    AWS documents its detail-type and the event name HOOK_AWAITING_ACTION (Developer Guide,
    "Pause hooks for Amazon ECS service deployments"), not its detail. This is Slipway's best
    reading: the detail of ``ECS Deployment State Change`` plus ``serviceDeploymentArn``,
    ``hookId`` and ``lifecycleStage``. The product may rely only on ``detail-type`` and
    ``resources`` (the service ARN), and must ask DescribeServiceDeployments for the rest.
    """
    reason = f"ECS deployment lifecycle hook: hook {hook_id} is awaiting action at {stage}."
    event = deployment_event(service_arn, deployment_id, name, reason, account=account, region=region)
    event["detail-type"] = "ECS Hook State Change"
    event["detail"].update(serviceDeploymentArn=service_deployment_arn, hookId=hook_id, lifecycleStage=stage)
    return event


class Lifecycle:
    """Moves one moto account's service deployments, and its services with them."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    @property
    def backend(self) -> Any:
        return bridge.ecs_backend(self.account, self.region)

    @property
    def book(self) -> Book:
        return book(self.backend)

    def service(self, record: ServiceDeployment) -> Any:
        return self.backend._get_service(record.cluster, record.service)

    # -- creation ----------------------------------------------------------------
    def begin(self, service: Any, before: list[dict[str, Any]], *, first: bool = False) -> ServiceDeployment | None:
        """The service deployment of the service's new PRIMARY moto deployment (the old ones are its sources)."""
        primary = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
        if primary is None:
            return None
        now = self.book.clock.now()
        config = resolved(getattr(service, "deployment_configuration", None) or {})
        sources: list[Revision] = []
        for deployment in before:
            revision = self.revision(service, deployment)
            if all(s.task_definition != revision.task_definition for s in sources):
                sources.append(revision)
        staged = not first and config["strategy"] != ROLLING
        record = ServiceDeployment(
            arn=new_deployment_arn(self.region, self.account, service.cluster_name, service.name),
            service_arn=service.arn,
            cluster_arn=service.cluster_arn,
            cluster=service.cluster_name,
            service=service.name,
            desired=int(service.desired_count),
            target=self.revision(service, primary),
            sources=sources,
            configuration=config,
            created_at=now,
            updated_at=now,
            status="PENDING" if staged else "IN_PROGRESS",
            started_at=None if staged else now,
            plan=plan(config, len(sources)) if staged else [],
            traffic={} if staged else None,
        )
        record.tasks[record.target.arn] = [record.desired, 0, 0 if staged else record.desired]
        for index, source in enumerate(sources):  # the service's tasks run the first source until replaced
            record.tasks[source.arn] = [record.desired if staged else 0, record.desired if index == 0 else 0, 0]
        record.set_traffic(0.0, 0.0)
        for older in self.book.of_service(service.arn):
            if older.in_flight:
                self.halt(older, f"ECS deployment stopped: service deployment {record.arn} started.")
        self.book.deployments[record.arn] = record
        if first and primary.get("rolloutState") == "COMPLETED":
            self.succeeded(record)
        service.current_service_deployment = record.arn
        show(service, record)
        return record

    def revision(self, service: Any, deployment: dict[str, Any]) -> Revision:
        """The service revision a moto deployment runs (recorded the first time it is asked for)."""
        deployment_id = str(deployment["id"])
        arn = revision_arn(self.region, self.account, service.cluster_name, service.name, deployment_id)
        if arn not in self.book.revisions:
            self.book.revisions[arn] = Revision(
                arn=arn,
                service_arn=service.arn,
                cluster_arn=service.cluster_arn,
                task_definition=str(deployment.get("taskDefinition")),
                deployment_id=deployment_id,
                created_at=self.book.clock.now(),
                settings=revision_settings(self.backend, service, deployment),
            )
        return self.book.revisions[arn]

    def succeed(self, record: ServiceDeployment) -> list[dict[str, Any]]:
        """SUCCESSFUL: the moto service ends as ``Deployments.complete`` leaves it."""
        self.succeeded(record)
        event = Deployments(self.account, self.region).complete(record.cluster, record.service, record.deployment_id)
        show(self.service(record), record)
        return [self.stamped(event)]

    def succeeded(self, record: ServiceDeployment) -> None:
        now = self.book.clock.now()
        record.status, record.finished_at, record.updated_at, record.hooks = "SUCCESSFUL", now, now, []
        record.set_traffic(100.0, 100.0)
        record.tasks[record.target.arn] = [record.desired, record.desired, 0]
        for source in record.sources:
            record.tasks[source.arn] = [0, 0, 0]

    # -- failures ------------------------------------------------------------------
    def roll_back(self, record: ServiceDeployment, reason: str) -> list[dict[str, Any]]:
        """ECS rolls the deployment back to its source revision: production traffic returns to it."""
        now = self.book.clock.now()
        for hook in record.awaiting():
            hook.status = "FAILED"
        record.updated_at, record.status_reason, record.stopped_at = now, reason, None
        if not record.sources:
            record.status, record.finished_at = "ROLLBACK_FAILED", now
            record.status_reason = f"{reason} There is no service revision to roll back to."
            return [self.event(record, "SERVICE_DEPLOYMENT_FAILED", reason)]
        source = record.sources[0]
        record.status = "ROLLBACK_IN_PROGRESS"
        record.rollback = {"reason": reason, "startedAt": now, "serviceRevisionArn": source.arn}
        record.rollback_deployment_id = source.deployment_id
        record.set_traffic(0.0, 0.0)
        service = self.service(record)
        failed = find_deployment(service, record.deployment_id)
        if failed is not None:
            failed.update(status="ACTIVE", rolloutState="FAILED", rolloutStateReason=reason, updatedAt=utcnow())
        previous = find_deployment(service, source.deployment_id)
        if previous is None:
            previous = dict(
                failed or service.deployments[0], id=source.deployment_id, taskDefinition=source.task_definition
            )
            service.deployments.insert(0, previous)
        for deployment in service.deployments:
            if deployment["status"] == "PRIMARY":
                deployment["status"] = "ACTIVE"
        previous.update(status="PRIMARY", rolloutState="IN_PROGRESS", rolloutStateReason=reason, updatedAt=utcnow())
        service.task_definition = source.task_definition
        show(service, record)
        return [self.event(record, "SERVICE_DEPLOYMENT_FAILED", reason)]

    def finish_rollback(self, record: ServiceDeployment) -> list[dict[str, Any]]:
        """The rollback completes: only the source revision runs (``Deployments.complete`` on it)."""
        assert record.rollback_deployment_id is not None
        Deployments(self.account, self.region).complete(record.cluster, record.service, record.rollback_deployment_id)
        return []

    def fail_rollback(self, record: ServiceDeployment, reason: str) -> list[dict[str, Any]]:
        if record.status not in ROLLING_BACK:
            raise ValueError(f"service deployment {record.arn} is {record.status}, not rolling back")
        now = self.book.clock.now()
        record.status, record.status_reason, record.finished_at, record.updated_at = "ROLLBACK_FAILED", reason, now, now
        show(self.service(record), record)
        return []

    def halt(self, record: ServiceDeployment, reason: str) -> None:
        """STOPPED: the deployment ends where it stands, without a rollback."""
        now = self.book.clock.now()
        record.status, record.status_reason, record.stopped_at, record.updated_at = "STOPPED", reason, now, now

    def fail(self, record: ServiceDeployment, reason: str, *, rollback: bool) -> list[dict[str, Any]]:
        """A failure ECS detected: a rollback when its mechanism is set to roll back, else STOPPED
        (the API reference's ``stoppedAt``: "the rollback option is not in use ... and the service fails")."""
        if rollback:
            return self.roll_back(record, reason)
        self.halt(record, reason)
        failed = find_deployment(self.service(record), record.deployment_id)
        if failed is not None:
            failed.update(rolloutState="FAILED", rolloutStateReason=reason, updatedAt=utcnow())
        return [self.event(record, "SERVICE_DEPLOYMENT_FAILED", reason)]

    def act_on_hook(self, record: ServiceDeployment, hook: HookRun, action: str) -> list[dict[str, Any]]:
        """ContinueServiceDeployment on a pause awaiting action."""
        record.updated_at = self.book.clock.now()
        if action == "CONTINUE":
            hook.status = "SUCCEEDED"
            return []
        hook.status = "FAILED"
        return self.roll_back(record, f"ECS deployment lifecycle hook: rollback requested for hook {hook.hook_id}.")

    # -- events ------------------------------------------------------------------------
    def event(self, record: ServiceDeployment, name: str, reason: str) -> dict[str, Any]:
        event = deployment_event(
            record.service_arn, record.deployment_id, name, reason, account=self.account, region=self.region
        )
        return self.stamped(event)

    def stamped(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event timed by the sandbox clock, which the tests may have moved."""
        now = self.book.clock.now()
        event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        event["detail"]["updatedAt"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        return event


def find_deployment(service: Any, deployment_id: str) -> dict[str, Any] | None:
    """The moto deployment of the service with this id (``ecs-svc/...``), if it is still there."""
    return next((d for d in service.deployments if d.get("id") == deployment_id), None)
