"""Rollout history: each rollout's record and lookups, written in one transaction with its service's state."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from slipway.aws.store.claims import ClaimTable
from slipway.aws.store.items import (
    ROLLOUT_FIELDS,
    digest_item,
    from_item,
    history_sk,
    rule_pk,
    service_pk,
    to_item,
)
from slipway.model import DigestRecord, Rollout, ServiceState


class HistoryTable(ClaimTable):
    """History items and their lookups by rollout and deployment (written with the service's state)."""

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
        expiration = self._expiration()
        writes = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item({**history_key, **asdict(rollout), "expiration": expiration}),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(
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
                "strategy": rollout.strategy,
            }
            writes.append({"Put": {"TableName": self._table, "Item": to_item(watch)}})
            wave = {
                "pk": rule_pk(rollout.repository, rollout.rule),
                "sk": f"inflight#{rollout.key}",
                "rollout_id": rollout.rollout_id,
                "expiration": expiration,
            }
            writes.append({"Put": {"TableName": self._table, "Item": to_item(wave)}})
        writes.append({"Put": {"TableName": self._table, "Item": to_item(digest_item(rollout, expiration))}})
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
        return {"Put": {"TableName": self._table, "Item": to_item(item)}}

    def digest_rollouts(self, repository: str, digest: str, rule: str) -> list[DigestRecord]:
        """How the rollouts of a digest under a rule stand (latest per service)."""
        response = self._call(
            "Query",
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues=to_item({":pk": f"digest#{repository}@{digest}", ":sk": f"rule#{rule}#"}),
            ConsistentRead=True,
        )
        return [DigestRecord(**from_item(i, {"key", "status", "finished_at"})) for i in response.get("Items", [])]

    def in_flight(self, repository: str, rule: str) -> int:
        """How many of a rule's rollouts are still DEPLOYING (its current wave)."""
        response = self._call(
            "Query",
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues=to_item({":pk": rule_pk(repository, rule), ":sk": "inflight#"}),
            Select="COUNT",
            ConsistentRead=True,
        )
        return int(response.get("Count", 0))

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
            response = self._call("Query", self._client.query, **kwargs)
            for item in response.get("Items", []):
                yield Rollout(**from_item(item, ROLLOUT_FIELDS))
                returned += 1
                if returned >= limit:
                    return
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _rollout_at(self, key: dict[str, str]) -> Rollout | None:
        response = self._call(
            "GetItem", self._client.get_item, TableName=self._table, Key=to_item(key), ConsistentRead=True
        )
        item = response.get("Item")
        return Rollout(**from_item(item, ROLLOUT_FIELDS)) if item else None

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
        expiration = self._expiration()
        item = to_item(
            {
                "pk": f"deployment#{deployment_id}",
                "sk": "deployment",
                "ref_pk": service_pk(rollout.key),
                "ref_sk": history_sk(rollout),
                "role": role,
                "expiration": expiration,
            }
        )
        self._call("PutItem", self._client.put_item, TableName=self._table, Item=item)
