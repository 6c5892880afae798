"""Per-service claims: Slipway's latest decision for each service, guarded by a generation."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from slipway.aws.store.items import STATE_FIELDS, from_item, key, service_pk, to_item, value
from slipway.aws.store.table import Table
from slipway.errors import ConditionFailed
from slipway.model import ServiceState

BATCH_GET_LIMIT = 100  # keys per BatchGetItem
BATCH_GET_ATTEMPTS = 4


class ClaimTable(Table):
    """The ``state`` item of each service."""

    def get_state(self, service_key: str) -> ServiceState | None:
        item = self._get(key(service_pk(service_key), "state"))
        return ServiceState(**from_item(item, STATE_FIELDS)) if item else None

    def get_states(self, keys: Iterable[str]) -> dict[str, ServiceState]:
        """The states of many services in BatchGetItem calls of 100 (strongly consistent).

        Keys DynamoDB leaves unprocessed are asked for again with backoff, then one by one.
        """
        wanted = sorted(set(keys))
        states: dict[str, ServiceState] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            request = [key(service_pk(k), "state") for k in wanted[start : start + BATCH_GET_LIMIT]]
            for attempt in range(BATCH_GET_ATTEMPTS):
                if not request:
                    break
                if attempt:
                    time.sleep(0.05 * 2**attempt)
                response = self._call(
                    "BatchGetItem",
                    self._client.batch_get_item,
                    RequestItems={self._table: {"Keys": request, "ConsistentRead": True}},
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    state = ServiceState(**from_item(item, STATE_FIELDS))
                    states[state.key] = state
                request = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
            for leftover in request:
                found = self.get_state(str(value(leftover["pk"])).removeprefix("service#"))
                if found is not None:
                    states[found.key] = found
        return states

    def states(self) -> list[ServiceState]:
        """Every service Slipway has a state for (``slipway status``): a Scan, so for people, not for functions.

        The table has no index of states; a Scan with a filter reads every item once, which a
        command someone runs can afford and the rollout path never does.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :state AND begins_with(pk, :service)",
            "ExpressionAttributeValues": {":state": {"S": "state"}, ":service": {"S": "service#"}},
            "ConsistentRead": True,
        }
        found: list[ServiceState] = []
        while True:
            response = self._call("Scan", self._client.scan, **kwargs)
            found.extend(ServiceState(**from_item(item, STATE_FIELDS)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(found, key=lambda state: state.key)
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put_state(self, state: ServiceState, expected_generation: int | None) -> None:
        self._conditional("PutItem", self._client.put_item, **self._state_put(state, expected_generation))

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
        item = to_item({"pk": service_pk(state.key), "sk": "state", **asdict(state)})
        if expected_generation is None:
            return {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        return {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "generation = :g",
            "ExpressionAttributeValues": {":g": {"N": str(expected_generation)}},
        }

    def delete_state(self, service_key: str, rollout_id: str) -> None:
        self._conditional(
            "DeleteItem",
            self._client.delete_item,
            TableName=self._table,
            Key=key(service_pk(service_key), "state"),
            ConditionExpression="rollout_id = :r",
            ExpressionAttributeValues={":r": {"S": rollout_id}},
        )

    def clear_notice(self, service_key: str, rollout_id: str) -> None:
        """The state's pending notification went out (if the state is still that rollout's)."""
        self._update_own_state(service_key, rollout_id, "REMOVE notice", {})

    def set_state_status(self, service_key: str, rollout_id: str, status: str) -> None:
        """Record a rollout's outcome on the service's state, if it is still the service's latest."""
        expression = "SET #status = :s, generation = generation + :one"
        self._update_own_state(service_key, rollout_id, expression, {":s": {"S": status}, ":one": {"N": "1"}})

    def _update_own_state(self, service_key: str, rollout_id: str, expression: str, values: dict[str, Any]) -> None:
        """Update the service's state while it is ``rollout_id``'s; a newer rollout's state is not touched."""
        names = {"#status": "status"} if "#status" in expression else {}
        try:
            self._conditional(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key=key(service_pk(service_key), "state"),
                UpdateExpression=expression,
                ConditionExpression="rollout_id = :r",
                ExpressionAttributeValues={":r": {"S": rollout_id}, **values},
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except ConditionFailed:
            pass  # a newer rollout owns the service: its state is not this rollout's to change
