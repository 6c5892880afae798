"""Client-side token buckets: AWS calls paced per action to the quotas the account has.

ECS throttles every account and region with a token bucket per action (AWS
documentation, "Request throttling for the Amazon ECS API"): a bucket holds up to
``burst`` tokens, each request takes one, and ``rate`` tokens come back per second.
A request to an empty bucket fails with ``ThrottlingException``. Slipway keeps a bucket
of its own per action with the same shape and waits for a token before each attempt,
so that one push to a thousand services goes at the rate the account allows instead of
into a wall of throttling errors.

Other tools share the account's buckets, so the local bucket can believe it has tokens
the account does not. A throttled answer says the account's bucket is empty: ``drain``
empties the local one too, and the next attempt waits for a refill.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """A token bucket: ``burst`` tokens at most, ``rate`` tokens back per second."""

    burst: int
    rate: float


# AWS documentation, "Request throttling for the Amazon ECS API" (per account and Region).
ECS_QUOTAS: Mapping[str, Quota] = {
    "RegisterTaskDefinition": Quota(20, 1),
    "DeregisterTaskDefinition": Quota(20, 1),
    "CreateService": Quota(50, 5),
    "UpdateService": Quota(50, 5),
    "DeleteService": Quota(50, 5),
    "DescribeServices": Quota(100, 20),
    "ListServices": Quota(100, 20),
    "DescribeTaskDefinition": Quota(50, 20),
    "ListTaskDefinitions": Quota(50, 20),
    "DescribeTasks": Quota(100, 20),
    "ListTasks": Quota(100, 20),
    "RunTask": Quota(100, 40),  # its own bucket ("task launch"), apart from the read buckets
    "StopTask": Quota(100, 40),
    "DescribeServiceDeployments": Quota(50, 20),
    "ListServiceDeployments": Quota(50, 20),
}


def parse_quotas(text: str) -> dict[str, Quota]:
    """``Action:burst:rate`` entries, comma-separated (``RegisterTaskDefinition:40:2``); ValueError otherwise."""
    quotas: dict[str, Quota] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3:
            raise ValueError(f"{entry!r} is not Action:burst:rate (e.g. RegisterTaskDefinition:40:2)")
        action, burst, rate = parts
        if action not in ECS_QUOTAS:
            raise ValueError(f"{action!r} is not an ECS action Slipway paces ({', '.join(sorted(ECS_QUOTAS))})")
        try:
            quota = Quota(int(burst), float(rate))
        except ValueError:
            raise ValueError(f"{entry!r}: burst must be a whole number and rate a number") from None
        if quota.burst < 1 or not quota.rate > 0:
            raise ValueError(f"{entry!r}: burst must be at least 1 and rate above 0")
        quotas[action] = quota
    return quotas


class TokenBucket:
    """One action's bucket. Requests reserve tokens ahead (the count goes below zero), so
    that concurrent callers are spaced out rather than all waking at the next refill."""

    def __init__(self, quota: Quota, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._tokens = float(quota.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.quota.burst), self._tokens + (now - self._stamp) * self.quota.rate)
        self._stamp = now

    def reserve(self) -> float:
        """Take a token; the seconds to wait until it is there (0 when it is there now)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.quota.rate

    def give_back(self) -> None:
        """Return a reserved token that will not be used."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(float(self.quota.burst), self._tokens + 1)

    def drain(self) -> None:
        """The account's bucket is empty (a request was throttled): so is this one."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0)

    def eta(self, count: int) -> float:
        """Seconds until ``count`` more tokens could be taken, on top of those reserved."""
        with self._lock:
            self._refill(self._clock())
            missing = count - self._tokens
            return 0.0 if missing <= 0 else missing / self.quota.rate


class Pacer:
    """Buckets per scope (an account and Region: ECS throttles each apart), service and action, made on first use."""

    def __init__(
        self,
        quotas: Mapping[str, Mapping[str, Quota]],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._quotas = quotas
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, scope: str, service: str, action: str) -> TokenBucket | None:
        quota = self._quotas.get(service, {}).get(action)
        if quota is None:
            return None
        key = (scope, service, action)
        with self._lock:
            if key not in self._buckets:
                self._buckets[key] = TokenBucket(quota, self._clock)
            return self._buckets[key]

    def acquire(self, scope: str, service: str, action: str, within: float | None) -> bool:
        """Wait for a token; False (and no token taken) when it would come later than ``within`` seconds."""
        bucket = self.bucket(scope, service, action)
        if bucket is None:
            return True
        wait = bucket.reserve()
        if within is not None and wait > within:
            bucket.give_back()
            return False
        if wait > 0:
            self._sleep(wait)
        return True

    def drain(self, scope: str, service: str, action: str) -> None:
        bucket = self.bucket(scope, service, action)
        if bucket is not None:
            bucket.drain()

    def eta(self, scope: str, service: str, action: str, count: int) -> float:
        """Seconds until ``count`` more calls of ``action`` could go (0 for an unpaced action)."""
        bucket = self.bucket(scope, service, action)
        return 0.0 if bucket is None or count <= 0 else bucket.eta(count)


def ecs_quotas(overrides: Mapping[str, Quota] | None = None) -> dict[str, dict[str, Quota]]:
    """The quotas Slipway paces to: ECS's documented ones, with the stack's overrides."""
    return {"ecs": {**ECS_QUOTAS, **(overrides or {})}}
