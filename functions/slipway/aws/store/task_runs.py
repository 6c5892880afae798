"""Pre-deploy task runs: one item per repository, rule and digest, and a pointer by task ARN.

- ``taskrun`` / ``{repository}#{rule}#{digest}``: the run (its status guards every write);
- ``task#{task ARN}`` / ``taskrun``: which run a task state change event is about.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from slipway.aws.store.items import from_item, to_item
from slipway.aws.store.table import Table
from slipway.errors import ConditionFailed
from slipway.task_run import FAILED, TaskRun

RUN_FIELDS = {f.name for f in fields(TaskRun)}
_RUN_DATES = ("started_at", "deadline", "finished_at")
PK = "taskrun"


def _item(run: TaskRun, expiration: int) -> dict[str, Any]:
    values = {k: v for k, v in asdict(run).items() if v is not None}
    return to_item({"pk": PK, "sk": run.key, **values, "expiration": expiration})


def _run(item: dict[str, Any]) -> TaskRun:
    values = from_item(item, RUN_FIELDS)
    for name in _RUN_DATES:
        if isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(values[name])
    return TaskRun(**values)


class TaskRunTable(Table):
    """The ``taskrun`` items: claimed with a condition so that a task starts once per digest and rule."""

    def task_run(self, repository: str, rule: str, digest: str) -> TaskRun | None:
        item = self._get(to_item({"pk": PK, "sk": f"{repository}#{rule}#{digest}"}))
        return _run(item) if item else None

    def claim_task_run(self, run: TaskRun) -> TaskRun | None:
        """Put the run unless one exists that is not another push's failure; None when put, else the one there."""
        try:
            self._conditional(
                "PutItem",
                self._client.put_item,
                TableName=self._table,
                Item=_item(run, self._expiration()),
                ConditionExpression="attribute_not_exists(pk) OR (#s = :failed AND event_id <> :event)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item({":failed": FAILED, ":event": run.event_id}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed:
            return self.task_run(run.repository, run.rule, run.digest) or run
        return None

    def put_task_run(self, run: TaskRun, was: str) -> bool:
        """Write the run (and its pointer by task ARN) if its stored status is still ``was``."""
        expiration = self._expiration()
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _item(run, expiration),
                    "ConditionExpression": "#s = :was AND event_id = :event",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_item({":was": was, ":event": run.event_id}),
                }
            }
        ]
        if run.task_arn:
            pointer = {
                "pk": f"task#{run.task_arn}",
                "sk": PK,
                "ref_pk": PK,
                "ref_sk": run.key,
                "expiration": expiration,
            }
            writes.append({"Put": {"TableName": self._table, "Item": to_item(pointer)}})
        try:
            self._transact(writes)
        except ConditionFailed:
            return False
        return True

    def drop_task_run(self, run: TaskRun) -> None:
        try:
            self._conditional(
                "DeleteItem",
                self._client.delete_item,
                TableName=self._table,
                Key=to_item({"pk": PK, "sk": run.key}),
                ConditionExpression="event_id = :event",
                ExpressionAttributeValues=to_item({":event": run.event_id}),
            )
        except ConditionFailed:
            pass

    def task_run_by_arn(self, task_arn: str) -> TaskRun | None:
        ref = self.rollout_ref(f"task#{task_arn}", PK)
        if ref is None:
            return None
        item = self._get(to_item(ref[0]))
        return _run(item) if item else None

    def task_runs(self) -> list[TaskRun]:
        items = self._query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues=to_item({":pk": PK}), ConsistentRead=True
        )
        return [_run(i) for i in items]
