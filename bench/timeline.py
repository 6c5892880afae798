"""Where a throttled run's time went, read from the server's record (``bench.throttle``).

The record has every ECS request with its outcome and invocation, every revision
registered with its images, every service updated with the revision it now runs, and
every message SNS accepted. From it: when each push's last service moved to a revision
with the pushed image, the limit the buckets allow, how many of the buckets' tokens
went unused, and per invocation what it did.

ECS's buckets are per account and Region (a place, ``ACCOUNT:REGION``), and each ECS
request in the record names the place whose buckets it took from: the functions that
replay a bucket take a ``place`` (None: every request, right when all went to one place).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

REGISTER, UPDATE = "RegisterTaskDefinition", "UpdateService"


@dataclass(frozen=True)
class Quota:
    burst: int
    rate: float


def quota(record: dict[str, Any], action: str) -> Quota:
    burst, rate = record["quotas"][action]
    return Quota(int(burst), float(rate))


def limit_seconds(record: dict[str, Any], registrations: int, updates: int) -> float:
    """The least time one place's buckets allow: max over the two write actions of (calls needed - burst) / refill."""
    needed = {REGISTER: registrations, UPDATE: updates}
    return max(0.0, *((n - quota(record, a).burst) / quota(record, a).rate for a, n in needed.items()))


def _requests(record: dict[str, Any], place: str | None) -> list[tuple[float, str, str, str]]:
    """``(t, action, outcome, invocation)`` of the record's requests, of ``place`` only unless it is None."""
    return [(t, a, o, i) for t, a, o, i, p in record["requests"] if place is None or p == place]


def place_of_arn(arn: str) -> str:
    """``ACCOUNT:REGION`` of an ECS ARN (``arn:aws:ecs:REGION:ACCOUNT:...``)."""
    parts = arn.split(":")
    return f"{parts[4]}:{parts[3]}"


def pushed_revisions(record: dict[str, Any], digest: str) -> set[str]:
    """The revisions registered during the run whose containers include the pushed image."""
    return {arn for _, arn, images, _ in record["registrations"] if any(i.endswith("@" + digest) for i in images)}


def updates_to(record: dict[str, Any], revisions: set[str]) -> dict[str, list[float]]:
    """Per service (``cluster/service``), the times of successful UpdateService calls onto ``revisions``."""
    moved: dict[str, list[float]] = {}
    for t, service, revision, _ in record["updates"]:
        if revision in revisions:
            moved.setdefault(service, []).append(t)
    return moved


def deploying(record: dict[str, Any], repository: str, digest: str) -> Counter[str]:
    """DEPLOYING messages SNS accepted for a push, per ``cluster/service``."""
    return Counter(
        f"{m.get('cluster')}/{m.get('service')}"
        for _, m, _ in record["messages"]
        if m.get("status") == "DEPLOYING" and m.get("repository") == repository and m.get("digest") == digest
    )


def unused_tokens(record: dict[str, Any], action: str, start: float, end: float, place: str | None = None) -> float:
    """Tokens of ``action``'s bucket that came while it was full, between ``start`` and ``end``: capacity lost.

    The bucket (``place``'s) is full when the record starts; it is replayed over the successful calls.
    """
    q = quota(record, action)
    tokens, stamp, unused = float(q.burst), float(record["started"]), 0.0

    def overflow(tokens: float, stamp: float, until: float) -> float:
        full_at = stamp + max(0.0, q.burst - tokens) / q.rate
        return max(0.0, until - max(full_at, start)) * q.rate

    for t, name, outcome, _ in sorted(_requests(record, place)):
        if name != action or outcome != "ok":
            continue
        if t > end:
            break
        unused += overflow(tokens, stamp, t)
        tokens, stamp = min(float(q.burst), tokens + (t - stamp) * q.rate) - 1, t
    return unused + overflow(tokens, stamp, end)


def achieved_rate(record: dict[str, Any], action: str, start: float, place: str | None = None) -> float | None:
    """Successful calls per second beyond the burst, from ``start`` to the last one (None: within the burst)."""
    times = _ok_times(record, action, place)
    beyond = len(times) - quota(record, action).burst
    if beyond <= 0 or times[-1] <= start:
        return None
    return beyond / (times[-1] - start)


def by_invocation(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per invocation: successful and throttled ECS calls by action, and DEPLOYING messages."""
    found: dict[str, dict[str, Any]] = {}
    for _, action, outcome, invocation in _requests(record, None):
        entry = found.setdefault(invocation, {"ok": Counter(), "throttled": Counter(), "deploying": 0})
        if outcome == "ok":
            entry["ok"][action] += 1
        elif outcome == "throttled":
            entry["throttled"][action] += 1
    for _, message, invocation in record["messages"]:
        entry = found.setdefault(invocation, {"ok": Counter(), "throttled": Counter(), "deploying": 0})
        entry["deploying"] += message.get("status") == "DEPLOYING"
    return found


def first_call(record: dict[str, Any], action: str, place: str | None = None) -> float | None:
    """When ``action``'s first successful call was answered (None: there was none)."""
    times = _ok_times(record, action, place)
    return times[0] if times else None


def _ok_times(record: dict[str, Any], action: str, place: str | None) -> list[float]:
    return sorted(t for t, name, outcome, _ in _requests(record, place) if name == action and outcome == "ok")


def unused_by_phase(
    record: dict[str, Any],
    action: str,
    start: float,
    end: float,
    running: list[tuple[float, float]],
    place: str | None = None,
) -> dict[str, float]:
    """``unused_tokens`` split: before the action's first call, while no invocation ran, and the rest.

    ``running`` holds the invocations' (start, end) times.
    """
    times = _ok_times(record, action, place)
    first = min(times[0], end) if times else end
    gaps, covered = [], first
    for began, ended in sorted(running):
        if began > covered:
            gaps.append((covered, min(began, end)))
        covered = max(covered, ended)
    if covered < end:
        gaps.append((covered, end))
    total = unused_tokens(record, action, start, end, place)
    before_first = unused_tokens(record, action, start, first, place)
    between = sum(unused_tokens(record, action, a, b, place) for a, b in gaps if b > a)
    return {
        "before_first_call": before_first,
        "between_invocations": between,
        "during_invocations": total - before_first - between,
    }
