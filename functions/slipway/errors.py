"""Slipway's own exceptions; adapters translate AWS errors into these."""

from __future__ import annotations

from typing import Any

# Error codes AWS uses to say a request was over a rate limit.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
# Slipway's own: a call not made (or not retried) because the invocation's time is up.
OUT_OF_TIME = "OutOfTime"
# Error codes AWS uses for conditions that a later attempt may not meet.
RETRYABLE_CODES = THROTTLING_CODES | frozenset(
    {
        OUT_OF_TIME,
        "ServerException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "EndpointConnectionError",
        "ConnectTimeout",
        "ReadTimeout",
        "TransactionConflictException",
    }
)


class SlipwayError(Exception):
    """Base of the errors Slipway raises on purpose."""


class AwsError(SlipwayError):
    """An AWS call that failed, with the AWS error code and message kept."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        *,
        status: int | None = None,
        reasons: tuple[str, ...] = (),
        item: dict[str, Any] | None = None,
    ) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status
        self.reasons = reasons  # a cancelled transaction's reason per item ("None" where the item was fine)
        self.item = item  # DynamoDB: the item a failed condition was checked against (when asked for)
        super().__init__(f"{operation}: {code}: {message}")

    @property
    def retryable(self) -> bool:
        """True for throttling, 5xx, timeouts and time running out: a later attempt may succeed."""
        return self.code in RETRYABLE_CODES or (self.status is not None and self.status >= 500)

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLING_CODES


class ConditionFailed(SlipwayError):
    """A conditional write lost to a concurrent writer."""


class RetryLater(SlipwayError):
    """Raised at the end of an invocation whose transient failures a retry can finish.

    Everything that could be done was done and reported first; raising makes Lambda
    (and EventBridge) deliver the event again, and the rollout records make the retry
    resume rather than repeat.
    """

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("transient failures, the event will be retried: " + "; ".join(failures))
