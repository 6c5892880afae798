"""Service deployments wired into moto's ECS, as ECS keeps them.

- UpdateService merges ``deploymentConfiguration`` into the service's (fields it leaves
  out stay as they were), refuses what ECS refuses (``strategy_plans.invalid``) and, when
  it starts a new deployment, creates its service deployment (``currentServiceDeployment``).
- CreateService keeps ``deploymentConfiguration`` (moto drops it), with ECS's defaults,
  and creates the service's first service deployment.
- ``Deployments.complete``, ``fail`` and ``roll_back`` (``sandbox/deployments.py``) move the
  ROLLING service deployment they belong to: SUCCESSFUL; STOPPED when the deployment's
  circuit breaker and alarms do not roll back; ROLLBACK_IN_PROGRESS, then
  ROLLBACK_SUCCESSFUL when the rollback deployment completes. Their signatures and events
  stay as they are.
- The five service deployment APIs become methods of moto's ECS response class.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException

from sandbox.deployment_lifecycle import Lifecycle, find_deployment
from sandbox.deployments import Deployments
from sandbox.service_deployment_api import HANDLERS
from sandbox.service_deployments import ROLLING_BACK, resolved
from sandbox.service_revisions import show
from sandbox.strategy_plans import invalid

WRAPPED = "slipway_service_deployments"  # marks what install wrapped, so installing twice wraps once
STARTED = frozenset({"PENDING", "IN_PROGRESS"})


def _validated(configuration: dict[str, Any]) -> dict[str, Any]:
    problem = invalid(resolved(configuration))
    if problem:
        raise InvalidParameterException(problem)
    return configuration


def _update_service(update: Any) -> Any:
    @functools.wraps(update)
    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        name = str(service_properties.get("service", "")).split("/")[-1]
        service = self._get_service(service_properties.get("cluster", "default"), name)
        kept = getattr(service, "deployment_configuration", None) or {}
        merged = _validated({**kept, **(service_properties.get("deployment_configuration") or {})})
        before = [dict(d) for d in service.deployments]
        updated = update(self, service_properties)
        updated.deployment_configuration = merged
        known = {d["id"] for d in before}
        if any(d.get("status") == "PRIMARY" and d["id"] not in known for d in updated.deployments):
            still = {d["id"] for d in updated.deployments}
            Lifecycle(self.account_id, self.region_name).begin(updated, [d for d in before if d["id"] in still])
        return updated

    setattr(update_service, WRAPPED, True)
    return update_service


def _create_service(create: Any) -> Any:
    @functools.wraps(create)
    def create_service(self: Any) -> Any:
        configuration = resolved(_validated(self._get_param("deploymentConfiguration") or {}))
        result = create(self)
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        service.deployment_configuration = configuration
        Lifecycle(self.current_account, self.region).begin(service, [], first=True)
        return result

    setattr(create_service, WRAPPED, True)
    return create_service


def completed(lifecycle: Lifecycle, service_arn: str, deployment_id: str) -> None:
    """A moto deployment reached steady state: its service deployment succeeded, or its rollback did."""
    record = lifecycle.book.owning(service_arn, deployment_id)
    if record is None:
        return
    if deployment_id == record.rollback_deployment_id and record.status in ROLLING_BACK:
        now = lifecycle.book.clock.now()
        record.status, record.finished_at, record.updated_at = "ROLLBACK_SUCCESSFUL", now, now
        record.tasks[record.target.arn] = [0, 0, 0]
        if record.sources:
            record.tasks[record.sources[0].arn] = [record.desired, record.desired, 0]
    elif deployment_id == record.deployment_id and record.status in STARTED:
        lifecycle.succeeded(record)
    show(lifecycle.service(record), record)


def failed(lifecycle: Lifecycle, service_arn: str, deployment_id: str, reason: str) -> None:
    """The circuit breaker failed a moto deployment: without a rollback configured, it is STOPPED."""
    record = lifecycle.book.owning(service_arn, deployment_id)
    if record is None or record.deployment_id != deployment_id or not record.in_flight:
        return
    record.failed_tasks = int((find_deployment(lifecycle.service(record), deployment_id) or {}).get("failedTasks") or 0)
    record.breaker_triggered = True
    record.status_reason, record.updated_at = reason, lifecycle.book.clock.now()
    config = record.configuration
    if not any((config.get(k) or {}).get("rollback") for k in ("deploymentCircuitBreaker", "alarms")):
        lifecycle.halt(record, reason)


def rolled_back(lifecycle: Lifecycle, service_arn: str, failed_id: str, rollback_id: str, reason: str) -> None:
    """ECS started a rollback deployment: the service deployment is ROLLBACK_IN_PROGRESS until it completes."""
    record = lifecycle.book.owning(service_arn, failed_id)
    if record is None or record.deployment_id != failed_id:
        return
    service = lifecycle.service(record)
    back_to = (find_deployment(service, rollback_id) or {}).get("taskDefinition")
    source = next((s for s in record.sources if s.task_definition == back_to), None)
    now = lifecycle.book.clock.now()
    record.status, record.status_reason, record.stopped_at, record.updated_at = (
        "ROLLBACK_IN_PROGRESS",
        reason,
        None,
        now,
    )
    record.rollback = {"reason": reason, "startedAt": now}
    if source is not None:
        record.rollback["serviceRevisionArn"] = source.arn
    record.rollback_deployment_id = rollback_id
    show(service, record)


def _follow_deployments() -> None:
    complete, fail, roll_back = Deployments.complete, Deployments.fail, Deployments.roll_back

    @functools.wraps(complete)
    def completing(self: Deployments, cluster: str, name: str, deployment_id: str | None = None) -> dict[str, Any]:
        deployment_id = deployment_id or self.primary(cluster, name)["id"]
        event = complete(self, cluster, name, deployment_id)
        completed(Lifecycle(self.account, self.region), self._service(cluster, name).arn, deployment_id)
        return event

    @functools.wraps(fail)
    def failing(self: Deployments, cluster: str, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        event = fail(self, cluster, name, *args, **kwargs)
        lifecycle = Lifecycle(self.account, self.region)
        failed(lifecycle, self._service(cluster, name).arn, event["detail"]["deploymentId"], event["detail"]["reason"])
        return event

    @functools.wraps(roll_back)
    def rolling_back(self: Deployments, cluster: str, name: str, failed_id: str, **kwargs: Any) -> Any:
        event, rollback_id = roll_back(self, cluster, name, failed_id, **kwargs)
        lifecycle = Lifecycle(self.account, self.region)
        rolled_back(lifecycle, self._service(cluster, name).arn, failed_id, rollback_id, event["detail"]["reason"])
        return event, rollback_id

    for method, name in ((completing, "complete"), (failing, "fail"), (rolling_back, "roll_back")):
        setattr(method, WRAPPED, True)
        setattr(Deployments, name, method)


def install() -> None:
    """Wire service deployments into moto's ECS (idempotent; ``bridge.install_ecs_deployments`` calls it)."""
    backend = ecs_models.EC2ContainerServiceBackend
    if not getattr(backend.update_service, WRAPPED, False):
        backend.update_service = _update_service(backend.update_service)  # type: ignore[method-assign]
    response = ecs_responses.EC2ContainerServiceResponse
    if not getattr(response.create_service, WRAPPED, False):
        response.create_service = _create_service(response.create_service)  # type: ignore[method-assign]
    if not getattr(Deployments.complete, WRAPPED, False):
        _follow_deployments()
    for name, handler in HANDLERS.items():
        setattr(response, name, handler)
