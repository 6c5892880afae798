"""Lambda, as it runs the deploy function, for the throttled runs: environments, retries, the SQS event source.

- Each invocation runs in an execution environment (``bench.environment``, a process):
  an idle warm one if there is one (the most recently used), else a new one, which pays
  its cold start first. Concurrent invocations never share a process, so they share
  nothing but the server's buckets, as in Lambda. At most ``reserved`` environments
  (the function's reserved concurrency).
- The context's remaining time runs down from the function's timeout from the moment
  the invocation starts; an invocation still running at its timeout is killed with its
  environment ("Task timed out"), and counts as failed.
- The ECR event is an asynchronous invocation: an invocation that fails is retried
  twice, then the event goes to the dead-letter queue. Lambda waits about 1 and then
  2 minutes before the retries; here ``async_delays`` (shortened, see the caller).
- The work queue is an SQS event source: batch size 1, ReportBatchItemFailures, at most
  ``sqs_concurrency`` invocations at once (ScalingConfig.MaximumConcurrency). A poller
  receives with the queue's visibility timeout; a message whose invocation succeeded
  without reporting it failed is deleted. A failed one becomes visible again after the
  visibility timeout, here shortened to ``retry_visibility`` seconds, and the queue's
  redrive policy (moto applies it on receive) moves it to the dead-letter queue once it
  has been received maxReceiveCount times.

The poller and the bookkeeping (dead letters, deleting messages) use the benchmark's
own clients, whose requests the server neither counts nor throttles: in Lambda they
are the service's, not the function's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.environment import Answer, Environment
from sandbox.runtime import sqs_record

POLL_SECONDS = 0.05  # Lambda's pollers long-poll; a message waits about this long to be picked up


@dataclass
class Invocation:
    """One invocation as Lambda saw it."""

    id: str
    source: str  # "event" (asynchronous) or "sqs"
    environment: str
    cold: bool  # the environment was started for it
    push: str  # the event id of the push it works for
    started: float  # monotonic
    ended: float = 0.0
    attempt: int = 1  # of an asynchronous event: 1, then the retries; of a message: its receive count
    result: Any = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """Failed as Lambda judges it: an error, or (SQS) the batch item reported as failed."""
        return self.error is not None or bool((self.result or {}).get("batchItemFailures"))


@dataclass
class LambdaService:
    """Invokes the deploy function as Lambda does, in environments of its own (processes)."""

    world: Any  # the benchmark's own (bookkeeping) clients
    environ: dict[str, str]  # the function's environment, as the stack configures it
    timeout_ms: int
    async_delays: tuple[float, ...] = (1.0, 2.0)
    retry_visibility: int = 2
    sqs_concurrency: int = 10
    reserved: int = 20
    invocations: list[Invocation] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # asynchronous events given up on

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._idle: list[Environment] = []
        self._environments: list[Environment] = []
        self._busy = 0  # invocations running or about to, and asynchronous retries waiting
        self._sqs_running = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._counter = 0

    # -- environments --------------------------------------------------------------------
    def warm(self, count: int, warm_up: Callable[[int], dict[str, Any]]) -> None:
        """Start ``count`` environments at once and give each one invocation (``warm_up(i)``'s event)."""
        started: list[Environment | BaseException] = [RuntimeError("not started")] * count

        def start(i: int) -> None:
            try:
                environment = Environment(f"env-{i}", self.environ)
                answer = environment.invoke(f"warm-{i}", warm_up(i), self.timeout_ms, time.monotonic())
                if answer.error is not None:
                    raise RuntimeError(f"its warm-up invocation failed: {answer.error}")
                started[i] = environment
            except Exception as error:  # noqa: BLE001 - raised below, once every start has ended
                started[i] = error

        threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise RuntimeError(f"an execution environment did not warm up: {outcome}") from outcome
            self._environments.append(outcome)
            self._idle.append(outcome)

    def _take_environment(self) -> tuple[Environment, bool]:
        with self._lock:
            while self._idle:
                environment = self._idle.pop()
                if environment.alive:
                    return environment, False
            if len([e for e in self._environments if e.alive]) >= self.reserved:
                raise RuntimeError("reserved concurrency reached (Lambda would throttle the invocation)")
            name = f"env-{len(self._environments)}"
        environment = Environment(name, self.environ)  # a cold start, outside the lock
        with self._lock:
            self._environments.append(environment)
        return environment, True

    def _release(self, environment: Environment) -> None:
        with self._lock:
            if environment.alive:
                self._idle.append(environment)

    # -- invocations ----------------------------------------------------------------------
    def _invoke(self, source: str, event: dict[str, Any], attempt: int, push: str) -> Invocation:
        environment, cold = self._take_environment()
        with self._lock:
            self._counter += 1
            number = self._counter
        invocation = Invocation(
            f"i{number:03d}", source, environment.name, cold, push, time.monotonic(), attempt=attempt
        )
        answer: Answer = environment.invoke(invocation.id, event, self.timeout_ms, invocation.started)
        invocation.ended, invocation.result, invocation.error = answer.ended, answer.result, answer.error
        self._release(environment)
        with self._lock:
            self.invocations.append(invocation)
        return invocation

    def deliver(self, event: dict[str, Any], at: threading.Barrier | None = None) -> threading.Thread:
        """An asynchronous invocation of ``event`` (``at``: wait for the others to be delivered at once)."""
        with self._lock:
            self._busy += 1

        def run() -> None:
            try:
                if at is not None:
                    at.wait()
                for attempt in range(1, len(self.async_delays) + 2):
                    if not self._invoke("event", event, attempt, str(event.get("id"))).failed:
                        return
                    if attempt <= len(self.async_delays):
                        time.sleep(self.async_delays[attempt - 1])
                self.world.sqs.send_message(QueueUrl=self.world.stack.dead_letter_url, MessageBody=json.dumps(event))
                self.dead_letters.append(event)
            finally:
                self._done()

        return self._thread(run)

    def _done(self, sqs: bool = False) -> None:
        with self._lock:
            self._busy -= 1
            if sqs:
                self._sqs_running -= 1
            self._lock.notify_all()

    def _thread(self, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    # -- the SQS event source -------------------------------------------------------------
    def poll(self) -> None:
        """Start the work queue's poller."""
        self._thread(self._poll)

    def _poll(self) -> None:
        url = self.world.stack.work_queue_url
        while not self._stopping.is_set():
            with self._lock:
                while self._sqs_running >= self.sqs_concurrency and not self._stopping.is_set():
                    self._lock.wait(0.5)
                self._sqs_running += 1
                self._busy += 1
            messages = self.world.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                self._done(sqs=True)
                self._stopping.wait(POLL_SECONDS)
                continue
            message = messages[0]
            self._thread(lambda m=message: self._consume(url, m))

    def _consume(self, url: str, message: dict[str, Any]) -> None:
        try:
            event = {"Records": [sqs_record(self.world, url, message)]}
            received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            invocation = self._invoke("sqs", event, received, _push_of(message["Body"]))
            handle = message["ReceiptHandle"]
            if invocation.failed:
                self.world.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=self.retry_visibility
                )
            else:
                self.world.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        finally:
            self._done(sqs=True)

    # -- the end ------------------------------------------------------------------------
    def settled(self) -> bool:
        """Nothing running, nothing to retry, nothing on the work queue (visible or in flight)."""
        with self._lock:
            if self._busy:
                return False
        attributes = self.world.sqs.get_queue_attributes(
            QueueUrl=self.world.stack.work_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        queued = sum(int(v) for v in attributes.values())
        with self._lock:
            return not queued and not self._busy

    def wait_settled(self, seconds: float) -> bool:
        """Wait until ``settled`` (True), or ``seconds`` (False)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.settled():
                return True
            time.sleep(0.25)
        return False

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        for environment in self._environments:
            environment.stop()

    @property
    def environments(self) -> int:
        return len(self._environments)


def _push_of(body: str) -> str:
    """The event id of the push a continuation carries on ("?" for a message that is not one)."""
    try:
        return str(json.loads(body)["push"]["event_id"])
    except (ValueError, KeyError, TypeError):
        return "?"
