"""What each push matched, the newest push per rule, how pushes were received, and the reconcile's progress."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from slipway.aws.store.items import from_item, key, plain, rule_pk, to_item, value
from slipway.aws.store.table import Table
from slipway.pushes import PushMark, RuleLatest

_LATEST_FIELDS = {"repository", "rule", "event_id", "tag", "digest", "pushed_at"}
_MARK_FIELDS = {"repository", "digest", "tag", "event_id", "source", "pushed_at", "received_at"}
# Written over nothing, or over the writer's own earlier write (a retry of the same push).
_NEW_OR_OWN = "attribute_not_exists(pk) OR event_id = :mine"
_STILL = "event_id = :theirs"


class PushTable(Table):
    """``push#``, ``mark#`` and ``reconcile#`` items, and each rule's ``latest``."""

    def put_push(self, repository: str, record: dict[str, Any]) -> None:
        """Remember what a push matched and why (for ``slipway explain``)."""
        item = {
            "pk": f"push#{repository}",
            "sk": f"{record['time']}#{record['event_id']}",
            "record": record,
            "expiration": self._expiration(),
        }
        self._call("PutItem", self._client.put_item, TableName=self._table, Item=to_item(item))

    def last_push(self, repository: str) -> dict[str, Any] | None:
        response = self._call(
            "Query",
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": f"push#{repository}"}),
            ScanIndexForward=False,
            Limit=1,
        )
        items = response.get("Items", [])
        return plain(value(items[0]["record"])) if items else None

    # -- the newest push of each rule ----------------------------------------------------
    def get_latest(self, repository: str, rule: str) -> RuleLatest | None:
        item = self._get(key(rule_pk(repository, rule), "latest"))
        return RuleLatest(**from_item(item, _LATEST_FIELDS)) if item else None

    def put_latest(self, latest: RuleLatest, replaces: RuleLatest | None) -> RuleLatest | None:
        item = to_item(
            {
                "pk": rule_pk(latest.repository, latest.rule),
                "sk": "latest",
                **asdict(latest),
                "expiration": self._expiration(),
            }
        )
        stopped = self._swap(item, *self._over(latest.event_id, replaces.event_id if replaces else None))
        return RuleLatest(**from_item(stopped, _LATEST_FIELDS)) if stopped is not None else None

    # -- how pushes were received ---------------------------------------------------------
    def put_mark(self, mark: PushMark, replaces: PushMark | None) -> PushMark | None:
        item = to_item(
            {
                "pk": f"mark#{mark.repository}",
                "sk": f"{mark.tag}@{mark.digest}",
                **asdict(mark),
                "expiration": self._expiration(),
            }
        )
        if replaces is None:
            stopped = self._swap(item, "attribute_not_exists(pk)", {})
        else:
            stopped = self._swap(item, *self._over(mark.event_id, replaces.event_id))
        return PushMark(**from_item(stopped, _MARK_FIELDS)) if stopped is not None else None

    @staticmethod
    def _over(mine: str, theirs: str | None) -> tuple[str, dict[str, Any]]:
        if theirs is None:
            return _NEW_OR_OWN, {":mine": {"S": mine}}
        return _STILL, {":theirs": {"S": theirs}}

    # -- the reconcile's progress -----------------------------------------------------------
    def reconciled_until(self, repository: str) -> datetime | None:
        item = self._get(key(f"reconcile#{repository}", "reconcile"))
        return from_item(item, {"until"}).get("until") if item else None

    def put_reconciled_until(self, repository: str, until: datetime) -> None:
        item = to_item({"pk": f"reconcile#{repository}", "sk": "reconcile", "until": until})
        self._call("PutItem", self._client.put_item, TableName=self._table, Item=item)
