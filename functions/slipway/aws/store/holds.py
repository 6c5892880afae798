"""Pushes held by a gate, per rule and target."""

from __future__ import annotations

from dataclasses import asdict

from slipway.aws.store.items import HOLD_FIELDS, from_item, to_item
from slipway.aws.store.table import Table
from slipway.errors import ConditionFailed
from slipway.model import Hold


class HoldTable(Table):
    """The ``hold`` items and their pointers by rollout id."""

    def put_hold(self, hold: Hold) -> None:
        """Hold a push for a rule and target; a newer push for the same rule and target replaces it."""
        expiration = self._expiration()
        item = to_item({"pk": "hold", "sk": hold.key, **asdict(hold), "expiration": expiration})
        pointer = to_item(
            {
                "pk": f"rollout#{hold.hold_id}",
                "sk": "hold",
                "ref_pk": "hold",
                "ref_sk": hold.key,
                "expiration": expiration,
            }
        )
        self._call(
            "TransactWriteItems",
            self._client.transact_write_items,
            TransactItems=[
                {"Put": {"TableName": self._table, "Item": item}},
                {"Put": {"TableName": self._table, "Item": pointer}},
            ],
        )

    def holds(self, repository: str | None = None) -> list[Hold]:
        items = self._query(
            KeyConditionExpression="pk = :pk" + (" AND begins_with(sk, :sk)" if repository else ""),
            ExpressionAttributeValues=to_item({":pk": "hold", **({":sk": f"{repository}#"} if repository else {})}),
            ConsistentRead=True,
        )
        return [Hold(**from_item(i, HOLD_FIELDS)) for i in items]

    def get_hold(self, hold_id: str) -> Hold | None:
        ref = self.rollout_ref(f"rollout#{hold_id}", "hold")
        if ref is None:
            return None
        item = self._get(to_item(ref[0]))
        hold = Hold(**from_item(item, HOLD_FIELDS)) if item else None
        return hold if hold is not None and hold.hold_id == hold_id else None

    def delete_hold(self, hold: Hold) -> bool:
        """Drop a hold, unless a newer push replaced it (or another release dropped it) meanwhile; whether it did."""
        try:
            self._conditional(
                "DeleteItem",
                self._client.delete_item,
                TableName=self._table,
                Key=to_item({"pk": "hold", "sk": hold.key}),
                ConditionExpression="hold_id = :h",
                ExpressionAttributeValues={":h": {"S": hold.hold_id}},
            )
        except ConditionFailed:
            return False
        return True
