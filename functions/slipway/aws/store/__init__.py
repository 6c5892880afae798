"""The DynamoDB adapter: Slipway's one table, as the repositories the domain's ports name.

``items`` encodes records as items (no I/O); ``table`` holds the client and the write
patterns (conditional writes, transactions in batches); each other module is one
repository. ``DynamoStore`` is all of them over one client, as the functions use it.
"""

from __future__ import annotations

from slipway.aws.store.history import HistoryTable
from slipway.aws.store.holds import HoldTable
from slipway.aws.store.outcomes import OutcomeTable
from slipway.aws.store.pushes import PushTable
from slipway.aws.store.task_runs import TaskRunTable


class DynamoStore(HistoryTable, OutcomeTable, HoldTable, PushTable, TaskRunTable):
    """Claims, history and outcomes, holds, pushes and pre-deploy task runs in the Slipway table."""


__all__ = ["DynamoStore"]
