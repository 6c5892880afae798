"""Everything one push led to in one invocation: for the handler's result, logs and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from slipway.model import Push, Status
from slipway.outcome import Outcome


@dataclass
class PushReport:
    """Everything one push led to, for the handler's result, logs and metrics."""

    push: Push
    outcomes: list[Outcome] = field(default_factory=list)
    matched_rules: list[str] = field(default_factory=list)
    unmatched_rules: dict[str, str] = field(default_factory=dict)
    notification_failures: list[str] = field(default_factory=list)
    handed_on: list[Outcome] = field(default_factory=list)  # transient failures a later invocation carries on
    waiting: int = 0  # targets handed on to a later invocation, tried or not
    hand_on_failure: str | None = None
    received_already: str | None = None  # the path that received this push first (event or reconcile)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def retryable(self) -> list[Outcome]:
        """Transient failures no later invocation was handed: a retry of this one must finish them."""
        return [o for o in self.outcomes if o.retryable]

    def summary(self) -> dict[str, object]:
        return {
            "repository": self.push.repository,
            "tag": self.push.tag,
            "digest": self.push.digest,
            "matched_rules": self.matched_rules,
            "unmatched_rules": self.unmatched_rules,
            "outcomes": [
                {
                    "status": o.status.value,
                    "rule": o.rule,
                    "target": o.target.key if o.target else None,
                    "reason": o.reason,
                    "task_definition": o.task_definition,
                    "rollout_id": o.rollout_id,
                    "held": o.held,
                }
                for o in self.outcomes
            ],
            "handed_on": self.waiting,
            "received_already": self.received_already,
            "notification_failures": self.notification_failures,
        }
