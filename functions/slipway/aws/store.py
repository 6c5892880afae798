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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from slipway.aws.clients import call, client
from slipway.errors import AwsError, ConditionFailed
from slipway.model import DigestRecord, Hold, Rollout, ServiceState
from slipway.workers import parallel_map

logger = Logger(child=True)
W = TypeVar("W")  # one entry of a batch of transactions
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_STATE_FIELDS = {f.name for f in fields(ServiceState)}
_HOLD_FIELDS = {f.name for f in fields(Hold)}
_ROLLOUT_FIELDS = {f.name for f in fields(Rollout)}
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
TRANSACTION_LIMIT = 100  # items per TransactWriteItems
BATCH_GET_ATTEMPTS = 4
CONCURRENT_TRANSACTIONS = 8  # transactions of one batched write in flight at once
_DATES = {"claimed_at", "started_at", "finished_at", "pushed_at", "created_at", "not_before", "approved_at", "time"}


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
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


def rule_pk(repository: str, rule: str) -> str:
    return f"rule#{repository}#{rule}"


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to ints and floats, recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)):
        return int(value) if value == int(value) else float(value)
    return value


def history_sk(rollout: Rollout) -> str:
    return f"rollout#{rollout.started_at.isoformat()}#{rollout.rollout_id}"


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

    def get_states(self, keys: Iterable[str]) -> dict[str, ServiceState]:
        """The states of many services in BatchGetItem calls of 100 (strongly consistent).

        Keys DynamoDB leaves unprocessed are asked for again with backoff, then one by one.
        """
        wanted = sorted(set(keys))
        states: dict[str, ServiceState] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            request = [_to_item({"pk": service_pk(k), "sk": "state"}) for k in wanted[start : start + BATCH_GET_LIMIT]]
            for attempt in range(BATCH_GET_ATTEMPTS):
                if not request:
                    break
                if attempt:
                    time.sleep(0.05 * 2**attempt)
                response = call(
                    "BatchGetItem",
                    self._client.batch_get_item,
                    RequestItems={self._table: {"Keys": request, "ConsistentRead": True}},
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    state = ServiceState(**_from_item(item, _STATE_FIELDS))
                    states[state.key] = state
                request = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
            for key in request:
                found = self.get_state(_deserializer.deserialize(key["pk"]).removeprefix("service#"))
                if found is not None:
                    states[found.key] = found
        return states

    def put_state(self, state: ServiceState, expected_generation: int | None) -> None:
        put = self._state_put(state, expected_generation)
        self._conditional("PutItem", self._client.put_item, **put)

    def put_states(self, writes: Sequence[tuple[ServiceState, int | None]]) -> list[tuple[ServiceState, int | None]]:
        """Write many states, each on ``put_state``'s condition, in transactions of up to 100.

        A transaction is all or nothing: the writes of every transaction that did not go
        through (a condition failed, or the call did) are returned, none of them written.
        """
        return self._transact_batches(
            ((write, [{"Put": self._state_put(*write)}]) for write in writes), "state transaction not written"
        )

    def _state_put(self, state: ServiceState, expected_generation: int | None) -> dict[str, Any]:
        """A conditional Put of a service's state: the generation read must still be stored."""
        item = _to_item({"pk": service_pk(state.key), "sk": "state", **asdict(state)})
        if expected_generation is None:
            return {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        return {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "generation = :g",
            "ExpressionAttributeValues": {":g": {"N": str(expected_generation)}},
        }

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
    def put_rollout(
        self, rollout: Rollout, state: ServiceState | None = None, expected_generation: int | None = None
    ) -> None:
        """Write a rollout's history item with its lookups (deployment id, rollout id).

        With ``state``, the service's state is written in the same transaction, on the
        condition ``put_state`` sets: ConditionFailed (and nothing written) when another
        writer changed it.
        """
        self._transact(self._record_writes(rollout, state, expected_generation))

    def put_rollouts(
        self, records: Sequence[tuple[Rollout, ServiceState, int]]
    ) -> list[tuple[Rollout, ServiceState, int]]:
        """``put_rollout`` with a state for many rollouts, several to a transaction.

        Returns the records of every transaction that did not go through, none of them written.
        """
        return self._transact_batches(
            ((record, self._record_writes(*record)) for record in records), "rollout transaction not written"
        )

    def _transact_batches(self, entries: Iterable[tuple[W, list[dict[str, Any]]]], failure: str) -> list[W]:
        """Write each entry's items, as many entries to a transaction as its 100 items allow.

        The transactions are independent and go concurrently. A transaction is all or
        nothing: the entries of every one that did not go through are returned (and
        logged), none of them written.
        """
        batches: list[tuple[list[W], list[dict[str, Any]]]] = []
        for entry, items in entries:
            if not batches or len(batches[-1][1]) + len(items) > TRANSACTION_LIMIT:
                batches.append(([], []))
            batches[-1][0].append(entry)
            batches[-1][1].extend(items)

        def write(batch: tuple[list[W], list[dict[str, Any]]]) -> list[W]:
            entries, writes = batch
            try:
                self._transact(writes)
            except (AwsError, ConditionFailed) as error:
                logger.warning(failure, extra={"entries": len(entries), "error": str(error)})
                return entries
            return []

        return [entry for failed in parallel_map(write, batches, CONCURRENT_TRANSACTIONS) for entry in failed]

    def _transact(self, writes: list[dict[str, Any]]) -> None:
        try:
            call("TransactWriteItems", self._client.transact_write_items, TransactItems=writes)
        except AwsError as error:
            if error.code == "TransactionCanceledException" and "ConditionalCheckFailed" in error.reasons:
                raise ConditionFailed(str(error)) from error
            raise

    def _record_writes(
        self, rollout: Rollout, state: ServiceState | None, expected_generation: int | None
    ) -> list[dict[str, Any]]:
        """A rollout's history items, and with ``state`` the conditional Put of the service's state."""
        writes = self._rollout_writes(rollout)
        if state is not None:
            writes.append({"Put": self._state_put(state, expected_generation)})
        return writes

    def _rollout_writes(self, rollout: Rollout) -> list[dict[str, Any]]:
        """The items of a rollout's history: the record, its lookups, its in-flight markers."""
        history_key = {"pk": service_pk(rollout.key), "sk": history_sk(rollout)}
        expiration = int(time.time() + self._retention.total_seconds())
        writes = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item({**history_key, **asdict(rollout), "expiration": expiration}),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item(
                        {
                            "pk": f"rollout#{rollout.rollout_id}",
                            "sk": "rollout",
                            "ref_pk": history_key["pk"],
                            "ref_sk": history_key["sk"],
                            "expiration": expiration,
                        }
                    ),
                }
            },
        ]
        if rollout.deployment_id:
            writes.append(self._pointer(rollout.deployment_id, history_key, expiration))
        if rollout.status == "DEPLOYING":
            watch = {
                "pk": "inflight",
                "sk": f"{rollout.started_at.isoformat()}#{rollout.rollout_id}",
                "rollout_id": rollout.rollout_id,
            }
            writes.append({"Put": {"TableName": self._table, "Item": _to_item(watch)}})
            wave = {
                "pk": rule_pk(rollout.repository, rollout.rule),
                "sk": f"inflight#{rollout.key}",
                "rollout_id": rollout.rollout_id,
                "expiration": expiration,
            }
            writes.append({"Put": {"TableName": self._table, "Item": _to_item(wave)}})
        writes.append({"Put": {"TableName": self._table, "Item": _to_item(self._digest_record(rollout, expiration))}})
        return writes

    def _pointer(self, deployment_id: str, history_key: dict[str, str], expiration: int) -> dict[str, Any]:
        item = {
            "pk": f"deployment#{deployment_id}",
            "sk": "deployment",
            "ref_pk": history_key["pk"],
            "ref_sk": history_key["sk"],
            "role": "primary",
            "expiration": expiration,
        }
        return {"Put": {"TableName": self._table, "Item": _to_item(item)}}

    @staticmethod
    def _digest_record(rollout: Rollout, expiration: int) -> dict[str, Any]:
        return {
            "pk": f"digest#{rollout.repository}@{rollout.digest}",
            "sk": f"rule#{rollout.rule}#{rollout.key}",
            "key": rollout.key,
            "status": rollout.status,
            "finished_at": rollout.finished_at,
            "rollout_id": rollout.rollout_id,
            "expiration": expiration,
        }

    def digest_rollouts(self, repository: str, digest: str, rule: str) -> list[DigestRecord]:
        """How the rollouts of a digest under a rule stand (latest per service)."""
        response = call(
            "Query",
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues=_to_item({":pk": f"digest#{repository}@{digest}", ":sk": f"rule#{rule}#"}),
            ConsistentRead=True,
        )
        return [DigestRecord(**_from_item(i, {"key", "status", "finished_at"})) for i in response.get("Items", [])]

    def in_flight(self, repository: str, rule: str) -> int:
        """How many of a rule's rollouts are still DEPLOYING (its current wave)."""
        response = call(
            "Query",
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues=_to_item({":pk": rule_pk(repository, rule), ":sk": "inflight#"}),
            Select="COUNT",
            ConsistentRead=True,
        )
        return int(response.get("Count", 0))

    # -- holds -------------------------------------------------------------------
    def put_hold(self, hold: Hold) -> None:
        """Hold a push for a rule and target; a newer push for the same rule and target replaces it."""
        expiration = int(time.time() + self._retention.total_seconds())
        item = _to_item({"pk": "hold", "sk": hold.key, **asdict(hold), "expiration": expiration})
        pointer = _to_item(
            {
                "pk": f"rollout#{hold.hold_id}",
                "sk": "hold",
                "ref_pk": "hold",
                "ref_sk": hold.key,
                "expiration": expiration,
            }
        )
        call(
            "TransactWriteItems",
            self._client.transact_write_items,
            TransactItems=[
                {"Put": {"TableName": self._table, "Item": item}},
                {"Put": {"TableName": self._table, "Item": pointer}},
            ],
        )

    def holds(self, repository: str | None = None) -> list[Hold]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :sk)" if repository else ""),
            "ExpressionAttributeValues": _to_item({":pk": "hold", **({":sk": f"{repository}#"} if repository else {})}),
            "ConsistentRead": True,
        }
        found: list[Hold] = []
        while True:
            response = call("Query", self._client.query, **kwargs)
            found.extend(Hold(**_from_item(i, _HOLD_FIELDS)) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_hold(self, hold_id: str) -> Hold | None:
        ref = self.rollout_ref(f"rollout#{hold_id}", "hold")
        if ref is None:
            return None
        response = call(
            "GetItem", self._client.get_item, TableName=self._table, Key=_to_item(ref[0]), ConsistentRead=True
        )
        item = response.get("Item")
        hold = Hold(**_from_item(item, _HOLD_FIELDS)) if item else None
        return hold if hold is not None and hold.hold_id == hold_id else None

    def delete_hold(self, hold: Hold) -> None:
        """Drop a hold, unless a newer push replaced it meanwhile."""
        try:
            self._conditional(
                "DeleteItem",
                self._client.delete_item,
                TableName=self._table,
                Key=_to_item({"pk": "hold", "sk": hold.key}),
                ConditionExpression="hold_id = :h",
                ExpressionAttributeValues={":h": {"S": hold.hold_id}},
            )
        except ConditionFailed:
            pass

    # -- pushes ------------------------------------------------------------------
    def put_push(self, repository: str, record: dict[str, Any]) -> None:
        """Remember what a push matched and why (for ``slipway explain``)."""
        expiration = int(time.time() + self._retention.total_seconds())
        item = {
            "pk": f"push#{repository}",
            "sk": f"{record['time']}#{record['event_id']}",
            "record": record,
            "expiration": expiration,
        }
        call("PutItem", self._client.put_item, TableName=self._table, Item=_to_item(item))

    def last_push(self, repository: str) -> dict[str, Any] | None:
        response = call(
            "Query",
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=_to_item({":pk": f"push#{repository}"}),
            ScanIndexForward=False,
            Limit=1,
        )
        items = response.get("Items", [])
        return _plain(_deserializer.deserialize(items[0]["record"])) if items else None

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

    def rollout_ref(self, pointer_pk: str, pointer_sk: str) -> tuple[dict[str, str], dict[str, Any]] | None:
        response = call(
            "GetItem",
            self._client.get_item,
            TableName=self._table,
            Key=_to_item({"pk": pointer_pk, "sk": pointer_sk}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        values = {k: _deserializer.deserialize(v) for k, v in item.items()}
        return {"pk": str(values["ref_pk"]), "sk": str(values["ref_sk"])}, values

    def _rollout_at(self, key: dict[str, str]) -> Rollout | None:
        response = call("GetItem", self._client.get_item, TableName=self._table, Key=_to_item(key), ConsistentRead=True)
        item = response.get("Item")
        return Rollout(**_from_item(item, _ROLLOUT_FIELDS)) if item else None

    def get_rollout(self, rollout_id: str) -> Rollout | None:
        ref = self.rollout_ref(f"rollout#{rollout_id}", "rollout")
        return self._rollout_at(ref[0]) if ref else None

    def rollout_by_deployment(self, deployment_id: str) -> tuple[Rollout, str] | None:
        """The rollout an ECS deployment belongs to, and the deployment's role in it.

        The role is ``primary`` for the deployment Slipway started and ``rollback``
        for the one ECS started to undo it.
        """
        ref = self.rollout_ref(f"deployment#{deployment_id}", "deployment")
        if ref is None:
            return None
        rollout = self._rollout_at(ref[0])
        return (rollout, str(ref[1].get("role", "primary"))) if rollout else None

    def link_deployment(self, deployment_id: str, rollout: Rollout, role: str) -> None:
        """Remember that an ECS deployment (e.g. a circuit-breaker rollback) belongs to a rollout."""
        expiration = int(time.time() + self._retention.total_seconds())
        item = _to_item(
            {
                "pk": f"deployment#{deployment_id}",
                "sk": "deployment",
                "ref_pk": service_pk(rollout.key),
                "ref_sk": history_sk(rollout),
                "role": role,
                "expiration": expiration,
            }
        )
        call("PutItem", self._client.put_item, TableName=self._table, Item=item)

    def transition(self, rollout: Rollout, status: str, allowed_from: frozenset[str], **changes: Any) -> Rollout | None:
        """Move a rollout to ``status`` if it is still in one of ``allowed_from``.

        Returns the updated rollout, or None when the move lost to a newer one
        (a duplicate or out-of-order event). ``notice`` records the status whose
        notification is still to be sent, so a retry after a failed publish resends it.
        """
        values = {"status": status, "notice": status, **changes}
        names = {f"#{k}": k for k in values}
        updates = {f":{k}": v for k, v in values.items()}
        sets = ", ".join(f"#{k} = :{k}" for k in values if values[k] is not None)
        removes = ", ".join(f"#{k}" for k in values if values[k] is None)
        allowed = {f":from{i}": s for i, s in enumerate(sorted(allowed_from))}
        expression = f"SET {sets}" + (f" REMOVE {removes}" if removes else "")
        try:
            response = call(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key=_to_item({"pk": service_pk(rollout.key), "sk": history_sk(rollout)}),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND #status IN ({', '.join(allowed)})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_item({**{k: v for k, v in updates.items() if v is not None}, **allowed}),
                ReturnValues="ALL_NEW",
            )
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return None
            raise
        moved = Rollout(**_from_item(response["Attributes"], _ROLLOUT_FIELDS))
        self._after_transition(moved)
        return moved

    def _after_transition(self, rollout: Rollout) -> None:
        """Keep the promotion index and the rule's wave in step with a rollout's outcome."""
        expiration = int(time.time() + self._retention.total_seconds())
        call(
            "PutItem",
            self._client.put_item,
            TableName=self._table,
            Item=_to_item(self._digest_record(rollout, expiration)),
        )
        if rollout.status != "DEPLOYING":
            self._leave_wave(rollout)

    def _leave_wave(self, rollout: Rollout) -> None:
        try:
            self._conditional(
                "DeleteItem",
                self._client.delete_item,
                TableName=self._table,
                Key=_to_item({"pk": rule_pk(rollout.repository, rollout.rule), "sk": f"inflight#{rollout.key}"}),
                ConditionExpression="rollout_id = :r",
                ExpressionAttributeValues={":r": {"S": rollout.rollout_id}},
            )
        except ConditionFailed:
            pass  # gone already, or a newer rollout of the rule holds this service's slot

    def pending_notice(self, rollout: Rollout) -> str | None:
        response = call(
            "GetItem",
            self._client.get_item,
            TableName=self._table,
            Key=_to_item({"pk": service_pk(rollout.key), "sk": history_sk(rollout)}),
            ConsistentRead=True,
            ProjectionExpression="notice",
        )
        notice = response.get("Item", {}).get("notice")
        return str(_deserializer.deserialize(notice)) if notice else None

    def notice_sent(self, rollout: Rollout, status: str) -> None:
        """Clear the pending notice once its notification is out."""
        try:
            self._conditional(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key=_to_item({"pk": service_pk(rollout.key), "sk": history_sk(rollout)}),
                UpdateExpression="REMOVE notice",
                ConditionExpression="notice = :s",
                ExpressionAttributeValues={":s": {"S": status}},
            )
        except ConditionFailed:
            pass  # a later status is pending; it owns the notice now

    # -- rollouts still waiting for an outcome --------------------------------
    def untrack(self, rollout: Rollout) -> None:
        call(
            "DeleteItem",
            self._client.delete_item,
            TableName=self._table,
            Key=_to_item({"pk": "inflight", "sk": f"{rollout.started_at.isoformat()}#{rollout.rollout_id}"}),
        )

    def tracked_before(self, cutoff: datetime) -> list[str]:
        """Ids of watched rollouts started before ``cutoff``, oldest first."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk < :cutoff",
            "ExpressionAttributeValues": {":pk": {"S": "inflight"}, ":cutoff": {"S": cutoff.isoformat()}},
        }
        while True:
            response = call("Query", self._client.query, **kwargs)
            ids.extend(str(_deserializer.deserialize(i["rollout_id"])) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return ids
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def set_state_status(self, key: str, rollout_id: str, status: str) -> None:
        """Record a rollout's outcome on the service's state, if it is still the service's latest."""
        try:
            self._conditional(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key=_to_item({"pk": service_pk(key), "sk": "state"}),
                UpdateExpression="SET #status = :s, generation = generation + :one",
                ConditionExpression="rollout_id = :r",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":s": {"S": status}, ":r": {"S": rollout_id}, ":one": {"N": "1"}},
            )
        except ConditionFailed:
            pass  # a newer rollout owns the service; its state is not this rollout's to change

    def _conditional(self, operation: str, fn: Any, **kwargs: Any) -> None:
        try:
            call(operation, fn, **kwargs)
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error)) from error
            raise
