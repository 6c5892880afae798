"""Two more of moto's gaps, bridged for the benchmarks (the sandbox's own are in ``sandbox.bridge``).

A Slipway push rolls targets out 16 at a time, so moto sees concurrent requests that
AWS serves without a second thought. ``sandbox.bridge`` already makes moto's DynamoDB
item operations atomic (one lock); two gaps remain:

- DynamoDB ``TransactWriteItems`` snapshots every table it touches with
  ``copy.deepcopy`` before writing (once per item of the transaction), to roll back on
  failure. The copy costs time in proportion to the table's size, so the n-th rollout of
  a push pays for the n-1 before it (and, without the sandbox's lock, a copy taken while
  another thread writes fails with HTTP 500 "dictionary changed size during iteration").
  DynamoDB's cost does not grow with the table, and a failed transaction undoes only its
  own items. The bridge keeps moto's checks and writes, under the sandbox's lock, and
  undoes only the items the failed transaction touched.
- ECS ``RegisterTaskDefinition`` numbers a family's next revision from its last one
  without a lock: two services sharing a family, registered at once, can both get
  revision N+1 and one overwrite the other. ECS numbers them N+1 and N+2. The bridge
  serializes registrations.

Both belong in ``sandbox.bridge`` too (the integration tests run the same concurrency).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.ecs import models as ecs_models

from sandbox import bridge as sandbox_bridge

_installed = threading.Lock()
# The sandbox's DynamoDB lock when it has one, so transactions and single-item writes exclude each other.
_transactions = getattr(sandbox_bridge, "_dynamodb_lock", None) or threading.RLock()
_registrations = threading.Lock()
_inner: dict[str, Any] = {}  # what the bridged methods wrapped at install time


class _NoTableCopy:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: no table snapshots."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, dynamodb_models.Table):
            return value  # moto "restores" the same object; the bridge undoes the items
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
    with _transactions:
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
            _inner["transact_write_items"](self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(before):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise


def _register_task_definition(self: Any, *args: Any, **kwargs: Any) -> Any:
    with _registrations:
        return _inner["register_task_definition"](self, *args, **kwargs)


def install() -> None:
    """The sandbox's ECS bridges plus these two (idempotent)."""
    sandbox_bridge.install_ecs_deployments()
    with _installed:
        if _inner:
            return
        if not isinstance(dynamodb_models.copy, _NoTableCopy):
            dynamodb_models.copy = _NoTableCopy(dynamodb_models.copy)  # type: ignore[assignment]
        dynamodb = dynamodb_models.DynamoDBBackend
        ecs = ecs_models.EC2ContainerServiceBackend
        _inner["transact_write_items"] = dynamodb.transact_write_items
        _inner["register_task_definition"] = ecs.register_task_definition
        dynamodb.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        ecs.register_task_definition = _register_task_definition  # type: ignore[method-assign]
