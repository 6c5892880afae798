"""How Slipway's records become DynamoDB items and back: keys and encoding, no I/O.

One table (``pk``/``sk``, TTL on ``expiration``) holds:
- ``service#{cluster}/{service}`` / ``state``: Slipway's latest decision, guarded by ``generation``;
- ``service#{cluster}/{service}`` / ``rollout#{started}#{id}``: history, newest first;
- ``deployment#{id}`` / ``deployment``: which rollout an ECS deployment belongs to;
- ``rollout#{id}`` / ``rollout`` (or ``hold``): where a rollout's history item (or hold) lives;
- ``inflight`` / ``{started}#{id}``: rollouts still waiting for an outcome (the sweep's list);
- ``rule#{repository}#{rule}`` / ``inflight#{key}``: a rule's rollouts in flight (its wave);
- ``rule#{repository}#{rule}`` / ``latest``: the newest push admitted under the rule;
- ``digest#{repository}@{digest}`` / ``rule#{rule}#{key}``: how a digest's rollouts ended (promotion);
- ``hold`` / ``{repository}#{rule}#{key}``: pushes held by a gate;
- ``push#{repository}`` / ``{time}#{event id}``: what each push matched (``slipway explain``);
- ``mark#{repository}`` / ``{tag}@{digest}``: how a push was received (event or reconcile);
- ``reconcile#{repository}`` / ``reconcile``: how far the reconcile has looked;
- ``taskrun`` / ``{repository}#{rule}#{digest}`` and ``task#{arn}`` / ``taskrun``: pre-deploy task runs;
- ``idempotency#...``: the Powertools idempotency records of the deploy function.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from slipway.model import Hold, Rollout, ServiceState

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
STATE_FIELDS = {f.name for f in fields(ServiceState)}
HOLD_FIELDS = {f.name for f in fields(Hold)}
ROLLOUT_FIELDS = {f.name for f in fields(Rollout)}
_DATES = {
    "claimed_at",
    "started_at",
    "finished_at",
    "pushed_at",
    "created_at",
    "not_before",
    "approved_at",
    "time",
    "received_at",
    "until",
    "stage_changed_at",
}


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed attributes for plain values (dates as ISO 8601, tuples as lists, () left out)."""
    item: dict[str, Any] = {}
    for key, value in values.items():
        if value == ():
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        item[key] = _serializer.serialize(value)
    return item


def from_item(item: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The plain values of ``allowed`` attributes (dates parsed, numbers as ints, lists as tuples)."""
    values: dict[str, Any] = {}
    for key, raw in item.items():
        if key not in allowed:
            continue
        value = _deserializer.deserialize(raw)
        if key in _DATES and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif hasattr(value, "as_integer_ratio") and not isinstance(value, float):
            value = int(value)
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return values


def value(raw: dict[str, Any]) -> Any:
    """One attribute's plain value."""
    return _deserializer.deserialize(raw)  # type: ignore[arg-type]


def plain(data: Any) -> Any:
    """DynamoDB's Decimals back to ints and floats, recursively."""
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    if hasattr(data, "as_integer_ratio") and not isinstance(data, (int, float)):
        return int(data) if data == int(data) else float(data)
    return data


def key(pk: str, sk: str) -> dict[str, Any]:
    return to_item({"pk": pk, "sk": sk})


def service_pk(service_key: str) -> str:
    return f"service#{service_key}"


def rule_pk(repository: str, rule: str) -> str:
    return f"rule#{repository}#{rule}"


def history_sk(rollout: Rollout) -> str:
    return f"rollout#{rollout.started_at.isoformat()}#{rollout.rollout_id}"


def digest_item(rollout: Rollout, expiration: int) -> dict[str, Any]:
    """The promotion index entry of a rollout: how its digest ended under its rule on its service."""
    return {
        "pk": f"digest#{rollout.repository}@{rollout.digest}",
        "sk": f"rule#{rollout.rule}#{rollout.key}",
        "key": rollout.key,
        "status": rollout.status,
        "finished_at": rollout.finished_at,
        "rollout_id": rollout.rollout_id,
        "expiration": expiration,
    }
