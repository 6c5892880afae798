"""Following a rollout to its outcome (``slipway rollback --wait``, ``slipway approve --wait``).

The rollout's record in the table is the truth: the track function and the sweep move it
to SUCCEEDED, FAILED, ROLLED_BACK, SUPERSEDED or TIMED_OUT. Following polls that record
at a short interval until it has an outcome or the overall timeout passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from slipway.errors import SlipwayError
from slipway.model import Rollout, Status


class RolloutReader(Protocol):
    def get_rollout(self, rollout_id: str) -> Rollout | None: ...


@dataclass(frozen=True)
class Pace:
    """How often to look, and the clock and sleep to look with (tests pass their own)."""

    interval: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = field(default=time.monotonic)


@dataclass(frozen=True)
class Followed:
    """Where following ended: the rollout as last read, how long it took, and whether time ran out."""

    rollout: Rollout
    elapsed: float
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return not self.timed_out and self.rollout.status == Status.SUCCEEDED.value


def ended(rollout: Rollout) -> bool:
    """True once the rollout has an outcome (TIMED_OUT counts: the command stops waiting there too)."""
    try:
        return Status(rollout.status).terminal
    except ValueError:
        return True  # a status this version does not know is no reason to wait forever


def follow(
    store: RolloutReader,
    rollout_id: str,
    timeout: float,
    pace: Pace | None = None,
    seen: Callable[[Rollout, float], None] = lambda rollout, elapsed: None,
) -> Followed:
    """Poll the rollout until it has an outcome or ``timeout`` seconds passed; ``seen`` gets each reading."""
    pace = pace or Pace()
    started = pace.monotonic()
    while True:
        rollout = store.get_rollout(rollout_id)
        elapsed = pace.monotonic() - started
        if rollout is None:
            raise SlipwayError(f"no rollout {rollout_id} on record")
        seen(rollout, elapsed)
        if ended(rollout):
            return Followed(rollout, elapsed)
        if elapsed >= timeout:
            return Followed(rollout, elapsed, timed_out=True)
        pace.sleep(min(pace.interval, max(timeout - elapsed, 0.0)) or pace.interval)
