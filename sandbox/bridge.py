"""Bridges over moto's known gaps, so the sandbox behaves as AWS does.

- moto emits no ``ECR Image Action`` events: ``ecr_push_event`` builds the event ECR
  would send for a push.
- moto emits no ``Parameter Store Change`` events: ``parameter_change_event`` builds them.
- moto neither replicates ECR images nor emits ``ECR Replication Action``:
  ``ecr_replication_event`` builds the event and ``sandbox.accounts.replicate`` copies the
  image into the destination registry.
- moto's cross-account and cross-Region event bus targets put a forwarded event on the
  destination bus as a new one (a new id and time, the destination's account and Region,
  no resources); EventBridge keeps the event as its source emitted it:
  ``sandbox.accounts.forwarded`` delivers it so.
- EventBridge deliveries from moto lack ``account``: ``restore_account`` puts it back.
- moto's CreateService drops ``capacityProviderStrategy`` and forces ``launchType``
  EC2: ``install_ecs_deployments`` keeps the strategy and leaves the launch type unset.
- moto's DynamoDB conditional writes are not atomic across threads:
  ``install_atomic_dynamodb`` serialises item operations, as DynamoDB guarantees.
- moto's UpdateService never starts a new deployment: ``install_ecs_deployments``
  makes it create a PRIMARY deployment for a new task definition (the old one turns
  ACTIVE), as ECS does; ``settle`` and friends move deployments the way ECS would
  after the events the tracking tests send.
- moto's ``TransactWriteItems`` snapshots every table it touches with ``copy.deepcopy``
  (once per item of the transaction) to roll back on failure, so it slows as the table
  fills, and a copy taken while another thread writes fails with HTTP 500 "dictionary
  changed size during iteration". DynamoDB's cost does not grow with the table, and a
  failed transaction undoes only its own items: ``install_atomic_dynamodb`` keeps moto's
  checks and writes, under the item lock, and undoes only the items it touched.
- moto's ``RegisterTaskDefinition`` numbers a family's next revision from its last one
  without a lock: two registrations of one family at once can both get revision N+1,
  the second overwriting the first. ECS numbers them N+1 and N+2:
  ``install_ecs_deployments`` serialises registrations.
- moto implements no service deployments (DescribeServiceDeployments and the other
  service deployment APIs raise NotImplementedError) and no BLUE_GREEN, CANARY or LINEAR
  strategy: ``install_ecs_deployments`` installs ``sandbox/strategies.py``, which keeps
  them as ECS does; its ``Strategies`` drives them stage by stage.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import utcnow
from moto.dynamodb import models as dynamodb_models
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.moto_api._internal import mock_random

_installed = threading.Lock()
_original_update_service = ecs_models.EC2ContainerServiceBackend.update_service
_original_create_service = ecs_responses.EC2ContainerServiceResponse.create_service
_original_register_task_definition = ecs_models.EC2ContainerServiceBackend.register_task_definition
_registrations = threading.Lock()


def _new_deployment_id() -> str:
    return f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}"


def _update_service(self: Any, service_properties: dict[str, Any]) -> Any:
    cluster = service_properties.get("cluster", "default")
    name = str(service_properties.get("service", "")).split("/")[-1]
    before = self._get_service(cluster, name).task_definition
    service = _original_update_service(self, service_properties)
    new_definition = self.describe_task_definition(service.task_definition).arn
    service.task_definition = new_definition
    if new_definition != _arn_of(self, before) and service.deployments:
        now = utcnow()
        for deployment in service.deployments:
            if deployment.get("status") == "PRIMARY":
                deployment["status"] = "ACTIVE"
                deployment["updatedAt"] = now
        template = dict(service.deployments[0])
        deployment_id = _new_deployment_id()
        template.update(
            {
                "id": deployment_id,
                "status": "PRIMARY",
                "taskDefinition": new_definition,
                "runningCount": 0,
                "pendingCount": service.desired_count,
                "createdAt": now,
                "updatedAt": now,
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
            }
        )
        service.deployments.insert(0, template)
    return service


def _arn_of(backend: Any, task_definition: str) -> str:
    try:
        return str(backend.describe_task_definition(task_definition).arn)
    except Exception:  # noqa: BLE001 - a deregistered definition simply differs
        return task_definition


def _create_service(self: Any) -> Any:
    """CreateService that keeps a capacity provider strategy, as ECS does (moto drops it).

    ECS leaves ``launchType`` unset on a service placed by capacity providers.
    """
    result = _original_create_service(self)
    strategy = self._get_param("capacityProviderStrategy")
    if strategy:
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        service.capacity_provider_strategy = strategy
        service.launch_type = None
        for deployment in service.deployments:
            deployment.pop("launchType", None)
            deployment["capacityProviderStrategy"] = strategy
    return result


def _register_task_definition(self: Any, *args: Any, **kwargs: Any) -> Any:
    with _registrations:
        return _original_register_task_definition(self, *args, **kwargs)


_dynamodb_lock = threading.RLock()
_ATOMIC = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items", "query")
_original_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


class _NoTableCopy:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: no table snapshots."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, dynamodb_models.Table):
            return value  # moto "restores" the same object; _transact_write_items undoes the items
        return self._real.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _item_key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    if op_type != "Put":
        return dict(op.get("Key") or {}) or None
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    item = op.get("Item") or {}
    key = {table.hash_key_attr: item.get(table.hash_key_attr)}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item.get(table.range_key_attr)
    return key


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, undoing only its own items when it fails (under the item lock)."""
    with _dynamodb_lock:
        before: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            key = _item_key(self, op_type, op)
            table_name = op.get("TableName")
            if key is None or table_name not in self.tables:
                continue
            current = self.get_item(table_name, key)
            before.append((table_name, key, current.to_json()["Attributes"] if current else None))
        try:
            _original_transact_write_items(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(before):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise


def _atomic(method: Any) -> Any:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _dynamodb_lock:
            return method(*args, **kwargs)

    locked.__wrapped__ = method  # type: ignore[attr-defined]
    return locked


def install_atomic_dynamodb() -> None:
    """Make moto's DynamoDB item operations atomic across threads, as DynamoDB's are.

    moto checks a ConditionExpression and writes in two steps without a lock, so two
    threads can both pass the same condition; DynamoDB never lets that happen.
    """
    backend = dynamodb_models.DynamoDBBackend
    with _installed:
        if not isinstance(dynamodb_models.copy, _NoTableCopy):
            dynamodb_models.copy = _NoTableCopy(dynamodb_models.copy)  # type: ignore[assignment]
        if backend.transact_write_items is _original_transact_write_items:
            backend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        for name in _ATOMIC:
            method = getattr(backend, name)
            if not hasattr(method, "__wrapped__"):
                setattr(backend, name, _atomic(method))


def install_ecs_deployments() -> None:
    """Make moto's ECS services deploy as ECS does, and its DynamoDB atomic (idempotent)."""
    install_atomic_dynamodb()
    with _installed:
        backend = ecs_models.EC2ContainerServiceBackend
        backend.update_service = _update_service  # type: ignore[method-assign]
        backend.register_task_definition = _register_task_definition  # type: ignore[method-assign]
        ecs_responses.EC2ContainerServiceResponse.create_service = _create_service  # type: ignore[method-assign]
        from sandbox import strategies  # here, not at the top: strategies builds on this module

        strategies.install()


def ecs_backend(account: str, region: str) -> Any:
    return ecs_models.ecs_backends[account][region]


def ecr_push_event(
    repository: str,
    digest: str,
    tag: str | None,
    *,
    account: str = "123456789012",
    region: str = "eu-west-1",
    result: str = "SUCCESS",
    action: str = "PUSH",
    event_id: str | None = None,
    when: datetime | None = None,
    manifest_media_type: str | None = "application/vnd.docker.distribution.manifest.v2+json",
    artifact_media_type: str | None = None,
) -> dict[str, Any]:
    """The ``ECR Image Action`` event ECR emits for a push (moto emits none).

    The media types say what was pushed: an image by default, or, with others, an
    artifact such as a signature or a Helm chart; None leaves the key out.
    """
    detail: dict[str, Any] = {
        "result": result,
        "repository-name": repository,
        "image-digest": digest,
        "action-type": action,
    }
    if artifact_media_type is not None:
        detail["artifact-media-type"] = artifact_media_type
    if tag is not None:
        detail["image-tag"] = tag
    if manifest_media_type is not None:
        detail["manifest-media-type"] = manifest_media_type
    return _ecr_event("ECR Image Action", repository, detail, account, region, event_id, when)


def ecr_replication_event(
    repository: str,
    digest: str,
    tag: str | None,
    *,
    account: str,
    region: str,
    source_account: str,
    source_region: str,
    result: str = "SUCCESS",
    event_id: str | None = None,
    when: datetime | None = None,
) -> dict[str, Any]:
    """The ``ECR Replication Action`` event ECR emits in the destination registry (moto emits none).

    ``account`` and ``region`` are the destination's, the ``source-*`` keys the registry the
    image came from; the keys and their order are those of AWS's sample
    (``events/ecr-replication-success.json``).
    """
    detail: dict[str, Any] = {
        "result": result,
        "repository-name": repository,
        "image-digest": digest,
        "source-account": source_account,
        "action-type": "REPLICATE",
        "source-region": source_region,
    }
    if tag is not None:
        detail["image-tag"] = tag
    return _ecr_event("ECR Replication Action", repository, detail, account, region, event_id, when)


def _ecr_event(
    detail_type: str,
    repository: str,
    detail: dict[str, Any],
    account: str,
    region: str,
    event_id: str | None,
    when: datetime | None,
) -> dict[str, Any]:
    """ECR's EventBridge envelope around ``detail``."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ecr",
        "account": account,
        "time": (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:ecr:{region}:{account}:repository/{repository}"],
        "detail": detail,
    }


def restore_account(delivered: dict[str, Any], account: str) -> dict[str, Any]:
    """An EventBridge delivery as AWS makes it: moto's lacks the ``account`` field."""
    return {**delivered, "account": delivered.get("account") or account}


def parameter_change_event(
    name: str, operation: str, *, account: str = "123456789012", region: str = "eu-west-1", kind: str = "String"
) -> dict[str, Any]:
    """The ``Parameter Store Change`` event SSM emits for a parameter change (moto emits none)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Parameter Store Change",
        "source": "aws.ssm",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:ssm:{region}:{account}:parameter{name}"],
        "detail": {"operation": operation, "name": name, "type": kind, "description": ""},
    }
