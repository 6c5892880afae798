"""The Slipway table: one client, conditional writes and batches of transactions, shared by its repositories."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.aws.store.items import to_item, value
from slipway.errors import AwsError, ConditionFailed
from slipway.workers import parallel_map

logger = Logger(child=True)
W = TypeVar("W")  # one entry of a batch of transactions

TRANSACTION_LIMIT = 100  # items per TransactWriteItems
CONCURRENT_TRANSACTIONS = 8  # transactions of one batched write in flight at once


class Table:
    """The table's name, client and retention, and the write patterns every repository uses."""

    def __init__(
        self, table_name: str, retention_days: int = 90, dynamodb_client: Any = None, call: Caller | None = None
    ) -> None:
        self._table = table_name
        self._retention = timedelta(days=retention_days)
        self._client = dynamodb_client or client("dynamodb")
        self._call = call or Caller("dynamodb", region_of(self._client))

    def _expiration(self) -> int:
        return int(time.time() + self._retention.total_seconds())

    def _get(self, key: dict[str, Any], **extra: Any) -> dict[str, Any] | None:
        """A strongly consistent GetItem; the item, or None."""
        response = self._call(
            "GetItem", self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True, **extra
        )
        item = response.get("Item")
        return dict(item) if item else None

    def rollout_ref(self, pointer_pk: str, pointer_sk: str) -> tuple[dict[str, str], dict[str, Any]] | None:
        """Follow a pointer item: the key of the item it names, and the pointer's own values."""
        item = self._get(to_item({"pk": pointer_pk, "sk": pointer_sk}))
        if not item:
            return None
        values = {k: value(v) for k, v in item.items()}
        return {"pk": str(values["ref_pk"]), "sk": str(values["ref_sk"])}, values

    def _conditional(self, operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """A write with a ConditionExpression; ConditionFailed when the condition does not hold."""
        try:
            return self._call(operation, fn, **kwargs)
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error)) from error
            raise

    def _swap(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """Write ``item`` (an upsert) if ``condition`` holds; None when written, else the item that stopped it."""
        attributes = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        updates = {f":a{i}": attributes[name] for i, name in enumerate(attributes)}
        try:
            self._call(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET " + ", ".join(f"{n} = :a{i}" for i, n in enumerate(names)),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**updates, **values},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except AwsError as error:
            if error.code != "ConditionalCheckFailedException":
                raise
            return error.item or {}
        return None

    def _transact(self, writes: list[dict[str, Any]]) -> None:
        try:
            self._call("TransactWriteItems", self._client.transact_write_items, TransactItems=writes)
        except AwsError as error:
            if error.code == "TransactionCanceledException" and "ConditionalCheckFailed" in error.reasons:
                raise ConditionFailed(str(error)) from error
            raise

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

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item a Query returns, page after page."""
        found: list[dict[str, Any]] = []
        while True:
            response = self._call("Query", self._client.query, TableName=self._table, **kwargs)
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
