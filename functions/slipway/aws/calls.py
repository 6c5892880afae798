"""Every AWS call Slipway makes: paced to the account's quotas, retried while the invocation has time.

botocore's own retries stop after a fixed number of attempts, whatever time is left;
Slipway's clients have them switched off (``clients.client``) and ``Caller`` retries
instead: throttling, 5xx answers and timeouts are retried with backoff for as long as
the invocation's budget (``slipway.budget``) allows. Calls that start new work (ECS,
ECR, Parameter Store) stop at the budget's work deadline; the calls that finish it
(DynamoDB records, SNS notifications, the SQS hand-on) may use the reserve. When the
time is up the last error is raised, still retryable, and the domain hands the target on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from slipway import budget
from slipway.aws.clients import translated
from slipway.aws.pacing import Pacer
from slipway.errors import OUT_OF_TIME, AwsError

T = TypeVar("T")
Count = Callable[[str, int], None]

ATTEMPTS_WITHOUT_DEADLINE = 8  # the slipway command has no deadline: stop after this many
BASE_DELAY = 0.05
THROTTLED_BASE_DELAY = 0.25
MAX_DELAY = 5.0
FINISHING_SERVICES = frozenset({"dynamodb", "sns", "sqs"})


def backoff_delay(attempt: int, throttled: bool) -> float:
    """Exponential backoff with full jitter (``attempt`` counts from 1)."""
    base = THROTTLED_BASE_DELAY if throttled else BASE_DELAY
    return float(random.random() * min(MAX_DELAY, base * 2 ** (attempt - 1)))


class Caller:
    """Calls one service in one scope (an account and Region): a token per attempt from the pacer, retries to
    the deadline."""

    def __init__(
        self,
        service: str,
        scope: str,
        pacer: Pacer | None = None,
        *,
        count: Count | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.scope = scope
        self._pacer = pacer
        self._count = count or (lambda name, value: None)
        self._sleep = sleep
        self._finishing = service in FINISHING_SERVICES

    def __call__(self, operation: str, fn: Callable[..., T], **kwargs: object) -> T:
        """``fn(**kwargs)`` as ``operation``; botocore's errors translated to AwsError."""
        return self._attempts(operation, fn, kwargs, raw=False)

    def raw(self, operation: str, fn: Callable[..., T], **kwargs: object) -> T:
        """The same retries, but the last error raised as botocore raised it (for code that expects that)."""
        return self._attempts(operation, fn, kwargs, raw=True)

    def _attempts(self, operation: str, fn: Callable[..., T], kwargs: dict[str, object], raw: bool) -> T:
        attempt = 0
        while True:
            attempt += 1
            self._acquire(operation)
            try:
                return fn(**kwargs)
            except (ClientError, BotoCoreError) as original:
                error = translated(operation, original)
                delay = self._retry_delay(operation, error, attempt) if error.retryable else None
                if delay is None:
                    if raw:
                        raise
                    raise error from original
            self._count("ThrottlingRetries" if error.throttled else "AwsRetries", 1)
            if delay:
                self._sleep(delay)

    def _left(self) -> float | None:
        """Seconds this call may still take: to the deadline when it finishes work, to the work deadline when
        it starts some (None: no deadline)."""
        current = budget.current()
        if not current.limited:
            return None
        return current.remaining() if self._finishing else current.work_remaining()

    def _acquire(self, operation: str) -> None:
        if self._pacer is not None and not self._pacer.acquire(self.scope, self.service, operation, self._left()):
            raise AwsError(
                operation,
                OUT_OF_TIME,
                f"no {self.service} {operation} token before the invocation's time is up; handed on",
            )

    def _retry_delay(self, operation: str, error: AwsError, attempt: int) -> float | None:
        """How long to wait before the next attempt; None when there is no time (or attempt) left for one.

        A throttled attempt also empties the action's bucket, so the next one waits for a refill.
        """
        if error.throttled and self._pacer is not None:
            self._pacer.drain(self.scope, self.service, operation)
        delay = backoff_delay(attempt, error.throttled)
        left = self._left()
        if left is None:
            return delay if attempt < ATTEMPTS_WITHOUT_DEADLINE else None
        return None if left <= BASE_DELAY else min(delay, left / 2)


class RetryingClient:
    """A boto3 client whose calls go through a Caller, for libraries that call the client themselves.

    The Powertools idempotency layer calls its DynamoDB client directly and expects
    botocore's exceptions: this proxy gives those calls Slipway's pacing and retries to
    the deadline, and still raises what botocore raised.
    """

    def __init__(self, client: Any, caller: Caller) -> None:
        self._client = client
        self._caller = caller
        self.meta = client.meta
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        operation = self._client.meta.method_to_api_mapping.get(name)
        if operation is None or not callable(method):
            return method
        return lambda **kwargs: self._caller.raw(operation, method, **kwargs)
