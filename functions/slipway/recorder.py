"""Each rollout UpdateService accepted is announced once and recorded, a chunk at a time.

As services finish, their records gather into chunks of RECORDS_PER_TRANSACTION; each
chunk is published (SNS PublishBatch) and then written in one DynamoDB transaction
(history, lookups and the DEPLOYING state of each), on a writer pool of its own while
the ECS calls of the other services go on. Publishing first, then recording, is what
makes DEPLOYING go out once: the state of a rollout whose message did not go out keeps
``notice = DEPLOYING``, and only such a state is announced again by a later attempt.
A transaction that fails falls back to one write per record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from slipway.attempt import Attempt
from slipway.errors import AwsError, ConditionFailed
from slipway.model import Push, ServiceState, Status
from slipway.outcome import Outcome, notification
from slipway.ports import Notifier, PipelineStore, RecordStore
from slipway.records import ACCEPTED, Record
from slipway.workers import submit

logger = Logger(child=True)

# A record is at most 7 items and a transaction at most 100; ten records are one PublishBatch (of
# ten) per topic, so a chunk's messages never go out as a full batch and a stub of four.
RECORDS_PER_TRANSACTION = 10
CHUNK_SECONDS = 1.0  # the longest a record waits for its chunk to fill
RECORD_WRITERS = 4


@dataclass
class Recorded:
    """What recording a push's rollouts came to in this invocation."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by rollout id
    announced: set[str] = field(default_factory=set)  # rollouts whose DEPLOYING went out
    failures: list[str] = field(default_factory=list)  # notifications that did not


class Recording:
    """Announces and records one push's rollouts in this invocation (thread-safe ``add``)."""

    def __init__(self, push: Push, store: PipelineStore, notifier: Notifier, clock: Callable[[], datetime]) -> None:
        self._push = push
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._lock = threading.Lock()
        self._chunk: list[Record] = []
        self._started = 0.0  # when the chunk's first record came
        self._writes: list[Future[None]] = []
        self._writers = ThreadPoolExecutor(max_workers=RECORD_WRITERS)
        self.result = Recorded()

    def add(self, record: Record) -> None:
        """A rollout UpdateService accepted (``record.announced``: its DEPLOYING went out already).

        A chunk goes when it is full, or when its first record has waited CHUNK_SECONDS: at
        ECS's pace of a registration a second, a full chunk would hold a DEPLOYING for 14.
        """
        with self._lock:
            now = time.monotonic()
            if not self._chunk:
                self._started = now
            self._chunk.append(record)
            if len(self._chunk) < RECORDS_PER_TRANSACTION and now - self._started < CHUNK_SECONDS:
                return
            chunk, self._chunk = self._chunk, []
            self._writes.append(submit(self._writers, self._write, chunk))

    def reannounce(self, attempt: Attempt, state: ServiceState) -> Outcome:
        """Send the DEPLOYING of a rollout whose notification never went out, then clear its notice."""
        outcome = attempt.outcome(
            Status.DEPLOYING,
            ACCEPTED,
            task_definition=state.task_definition,
            previous_task_definition=state.previous_task_definition,
            deployment_id=state.deployment_id,
        )
        [failure] = self._notifier.publish_each([notification(self._push, outcome, self._clock())])
        with self._lock:
            self.result.outcomes[outcome.rollout_id or ""] = outcome
            if failure:
                self.result.failures.append(failure)
                return outcome
            self.result.announced.add(outcome.rollout_id or "")
        self._store.clear_notice(state.key, state.rollout_id)
        return outcome

    def flush(self) -> None:
        """Write what is gathered and wait for every write so far."""
        with self._lock:
            chunk, self._chunk = self._chunk, []
            if chunk:
                self._writes.append(submit(self._writers, self._write, chunk))
            writes, self._writes = self._writes, []
        for write in writes:
            write.result()

    def finish(self) -> Recorded:
        """Write what is left, wait for every write, and stop the writers."""
        try:
            self.flush()
        finally:
            self._writers.shutdown(wait=True)
        return self.result

    def _write(self, chunk: list[Record]) -> None:
        records = self._announce(chunk)
        if len(records) == 1:  # one record is one transaction already
            not_written = {records[0].rollout_id}
        else:
            batch = [(r.history, r.state, r.expected_generation) for r in records]
            not_written = {history.rollout_id for history, _, _ in self._store.put_rollouts(batch)}
        outcomes = {
            r.rollout_id: write_record(self._store, r) if r.rollout_id in not_written else r.outcome for r in records
        }
        with self._lock:
            self.result.outcomes.update(outcomes)

    def _announce(self, chunk: list[Record]) -> list[Record]:
        """Publish the chunk's DEPLOYING messages; the records, with a notice kept where one failed."""
        fresh = [r for r in chunk if not r.announced]
        now = self._clock()
        results = self._notifier.publish_each([notification(self._push, r.outcome, now) for r in fresh])
        failed = {r.rollout_id for r, failure in zip(fresh, results, strict=True) if failure}
        with self._lock:
            self.result.failures.extend(f for f in results if f)
            self.result.announced.update(r.rollout_id for r in chunk if r.rollout_id not in failed)
        return [r.unannounced() if r.rollout_id in failed else r for r in chunk]


def _failed(record: Record, error: AwsError) -> Outcome:
    outcome = record.outcome
    return Outcome(
        Status.ERROR,
        f"{error.operation} failed: {error.code}: {error.message}",
        rule=outcome.rule,
        parameter=outcome.parameter,
        target=outcome.target,
        service=outcome.service,
        previous_task_definition=outcome.previous_task_definition,
        rollout_id=outcome.rollout_id,
        error_code=error.code,
        retryable=error.retryable,
    )


def write_record(store: RecordStore, record: Record) -> Outcome:
    """Write one record (alone, or after its transaction failed); its AWS error or lost condition as an ERROR."""
    try:
        try:
            store.put_rollout(record.history, record.state, record.expected_generation)
        except ConditionFailed:
            # Only a takeover of a stale claim gets here; ECS has the new revision, so
            # the history keeps the rollout (and the tracker follows it) all the same.
            logger.warning("service state changed before the rollout was recorded", extra={"key": record.state.key})
            store.put_rollout(record.history)
    except AwsError as error:
        return _failed(record, error)
    except ConditionFailed as error:
        lost = AwsError("PutItem", "ConditionalCheckFailedException", f"{error}; it will be tried again")
        return replace(_failed(record, lost), retryable=True)
    return record.outcome
