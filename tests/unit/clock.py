"""A monotonic clock tests move by hand, with a sleep that moves it."""

from __future__ import annotations


class FakeMonotonic:
    """``time.monotonic`` and ``time.sleep`` for code that paces itself: sleeping moves the clock."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
