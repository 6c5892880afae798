"""DynamoDB adapter: per-service claims, rollout history and deployment lookups.

One table (``pk``/``sk``, TTL on ``expiration``) holds:
- ``service#{cluster}/{service}`` / ``state``: Slipway's latest decision, guarded by ``generation``;
- ``service#{cluster}/{service}`` / ``rollout#{started}#{id}``: history, newest first;
- ``deployment#{id}`` / ``deployment``: which rollout an ECS deployment belongs to;
- ``rollout#{id}`` / ``rollout``: where a rollout's history item lives;
- ``idempotency#...``: the Powertools idempotency records of the deploy function.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from slipway.aws.clients import call, client
from slipway.errors import AwsError, ConditionFailed
from slipway.model import Rollout, ServiceState

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_STATE_FIELDS = {f.name for f in fields(ServiceState)}
_ROLLOUT_FIELDS = {f.name for f in fields(Rollout)}
_DATES = {"claimed_at", "started_at", "finished_at"}


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == ():
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        item[key] = _serializer.serialize(value)
    return item


def _from_item(item: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
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


def service_pk(key: str) -> str:
    return f"service#{key}"


class DynamoStore:
    """Claims and history in the Slipway table."""

    def __init__(self, table_name: str, retention_days: int = 90, dynamodb_client: Any = None) -> None:
        self._table = table_name
        self._retention = timedelta(days=retention_days)
        self._client = dynamodb_client or client("dynamodb")

    # -- per-service claim -------------------------------------------------
    def get_state(self, key: str) -> ServiceState | None:
        response = call(
            "GetItem",
            self._client.get_item,
            TableName=self._table,
            Key=_to_item({"pk": service_pk(key), "sk": "state"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return ServiceState(**_from_item(item, _STATE_FIELDS)) if item else None

    def put_state(self, state: ServiceState, expected_generation: int | None) -> None:
        item = _to_item({"pk": service_pk(state.key), "sk": "state", **asdict(state)})
        if expected_generation is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "generation = :g",
                "ExpressionAttributeValues": {":g": {"N": str(expected_generation)}},
            }
        self._conditional("PutItem", self._client.put_item, TableName=self._table, Item=item, **condition)

    def delete_state(self, key: str, rollout_id: str) -> None:
        self._conditional(
            "DeleteItem",
            self._client.delete_item,
            TableName=self._table,
            Key=_to_item({"pk": service_pk(key), "sk": "state"}),
            ConditionExpression="rollout_id = :r",
            ExpressionAttributeValues={":r": {"S": rollout_id}},
        )

    # -- history -----------------------------------------------------------
    def put_rollout(self, rollout: Rollout) -> None:
        """Write a rollout's history item with its lookups (deployment id, rollout id)."""
        history_key = {"pk": service_pk(rollout.key), "sk": f"rollout#{rollout.started_at.isoformat()}#{rollout.rollout_id}"}
        expiration = int(time.time() + self._retention.total_seconds())
        writes = [
            {"Put": {"TableName": self._table, "Item": _to_item({**history_key, **asdict(rollout), "expiration": expiration})}},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item({"pk": f"rollout#{rollout.rollout_id}", "sk": "rollout", "ref_pk": history_key["pk"], "ref_sk": history_key["sk"], "expiration": expiration}),
                }
            },
        ]
        if rollout.deployment_id:
            writes.append(self._pointer(rollout.deployment_id, history_key, expiration))
        call("TransactWriteItems", self._client.transact_write_items, TransactItems=writes)

    def _pointer(self, deployment_id: str, history_key: dict[str, str], expiration: int) -> dict[str, Any]:
        item = {"pk": f"deployment#{deployment_id}", "sk": "deployment", "ref_pk": history_key["pk"], "ref_sk": history_key["sk"], "expiration": expiration}
        return {"Put": {"TableName": self._table, "Item": _to_item(item)}}

    def history(self, key: str, limit: int = 20) -> list[Rollout]:
        """Rollouts of one service, newest first."""
        return list(self._query_history(key, limit))

    def _query_history(self, key: str, limit: int) -> Iterator[Rollout]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
            "ExpressionAttributeValues": {":pk": {"S": service_pk(key)}, ":sk": {"S": "rollout#"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        returned = 0
        while returned < limit:
            response = call("Query", self._client.query, **kwargs)
            for item in response.get("Items", []):
                yield Rollout(**_from_item(item, _ROLLOUT_FIELDS))
                returned += 1
                if returned >= limit:
                    return
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _conditional(self, operation: str, fn: Any, **kwargs: Any) -> None:
        try:
            call(operation, fn, **kwargs)
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error)) from error
            raise
