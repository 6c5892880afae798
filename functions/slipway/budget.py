"""How long the current invocation may still work.

A Lambda invocation ends at its deadline, whatever it is doing. Slipway keeps time by
the invocation's own clock, the time its Lambda context says is left (asked afresh each
time, as the context counts down), and keeps a reserve before the end: new work
(an ECS call that starts or continues a rollout) stops at the *work deadline*, so that
recording what was done, notifying and handing the rest on still fit before the end.

The budget of the running invocation is ambient (a context variable), because every
AWS call needs it to decide how long to keep retrying, and threading it through every
port would put a timer into every signature. ``slipway.workers`` copies the context into
its threads, so a rollout's worker threads see their invocation's budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

SAFETY_SECONDS = 0.5  # never plan to the last instant: Lambda's own shutdown needs a moment
MIN_RESERVE_SECONDS = 2.0
MAX_RESERVE_SECONDS = 15.0
RESERVE_SHARE = 0.1  # of the whole invocation: for the records, notifications and the hand-on


class InvocationContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Budget:
    """The time an invocation has: a deadline, and a reserve kept before it for finishing."""

    deadline: float | None  # on ``clock``; None: no deadline (the slipway command)
    reserve: float = 0.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def of(cls, context: InvocationContext) -> Budget:
        """The budget of a Lambda invocation, on its context's clock: the time the context says is left.

        On that clock the invocation ends at 0 (Lambda's deadline) and "now" is minus the
        seconds left, so the budget's deadline sits ``SAFETY_SECONDS`` before it.
        """
        clock = _counting_down(context)
        seconds = max(0.0, -clock() - SAFETY_SECONDS)
        reserve = min(MAX_RESERVE_SECONDS, max(MIN_RESERVE_SECONDS, RESERVE_SHARE * seconds))
        return cls(deadline=-SAFETY_SECONDS, reserve=min(reserve, seconds / 2), clock=clock)

    @classmethod
    def seconds(cls, seconds: float, reserve: float = 0.0, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(deadline=clock() + seconds, reserve=reserve, clock=clock)

    @property
    def limited(self) -> bool:
        return self.deadline is not None

    @property
    def work_deadline(self) -> float | None:
        """When new work must stop, leaving the reserve for finishing."""
        return None if self.deadline is None else self.deadline - self.reserve

    def remaining(self) -> float:
        """Seconds until the deadline (infinite without one)."""
        return math.inf if self.deadline is None else self.deadline - self.clock()

    def work_remaining(self) -> float:
        """Seconds of new work left (infinite without a deadline)."""
        return math.inf if self.deadline is None else self.deadline - self.reserve - self.clock()


def _counting_down(context: InvocationContext) -> Callable[[], float]:
    """A clock that reads minus the seconds the context says are left (rising to 0 at the deadline)."""
    return lambda: -context.get_remaining_time_in_millis() / 1000


UNLIMITED = Budget(deadline=None)
_current: ContextVar[Budget] = ContextVar("slipway_budget", default=UNLIMITED)


def current() -> Budget:
    """The budget of the invocation running in this context."""
    return _current.get()


@contextmanager
def running(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` the current one for the code inside (and the threads it starts via ``workers``)."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
