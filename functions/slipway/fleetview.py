"""What runs where: per service, the release it runs, its last outcome, a rollout in flight, holds waiting.

The fleet view a release manager opens first (``slipway status``). It reads Slipway's own
records only (states, history, holds), so a view of a thousand services costs table reads,
not ECS calls; the strategy detail of one rollout in flight comes from ``slipway.control``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slipway.control import IN_FLIGHT, image_label
from slipway.model import Hold, Rollout, Status
from slipway.places import of_arn, service_key
from slipway.ports import FleetStore
from slipway.rules import Rule

HISTORY_DEPTH = 20  # rollouts read per service: enough to find the last success behind a few failures


def hold_key(hold: Hold) -> str:
    """The key of the service a hold is for (its cluster is a name at home, or an ARN elsewhere)."""
    cluster = hold.cluster.rsplit("/", 1)[-1] if hold.cluster.startswith("arn:") else hold.cluster
    return service_key(cluster, hold.service, of_arn(hold.cluster) if hold.cluster.startswith("arn:") else None)


def rule_keys(rules: Iterable[Rule]) -> list[str]:
    """The services a repository's rules deploy to, each once, sorted."""
    return sorted({target.key for rule in rules for target in rule.spec.entries})  # services and scheduled tasks


@dataclass(frozen=True)
class ServiceView:
    """One service as Slipway's records tell it."""

    key: str
    running: Rollout | None  # the newest SUCCEEDED rollout: what the service runs
    last: Rollout | None  # the newest rollout that ended, whatever its outcome
    in_flight: Rollout | None  # the newest rollout, while it has no outcome yet
    holds: tuple[Hold, ...] = ()

    @property
    def last_at(self) -> datetime | None:
        return (self.last.finished_at or self.last.started_at) if self.last else None

    def record(self) -> dict[str, Any]:
        """The view as one JSON-ready record (``slipway status --json``)."""
        running, last, flight = self.running, self.last, self.in_flight
        return {
            "service": self.key,
            "tag": running.tag if running else None,
            "digest": running.digest if running else None,
            "revision": running.task_definition if running else None,
            "repository": running.repository if running else None,
            "last_outcome": last.status if last else None,
            "last_outcome_at": self.last_at,
            "last_rollout_id": last.rollout_id if last else None,
            "in_flight": None
            if flight is None
            else {
                "rollout_id": flight.rollout_id,
                "image": image_label(flight),
                "status": flight.status,
                "strategy": flight.strategy,
                "stage": flight.stage,
                "started_at": flight.started_at,
            },
            "holds": [
                {"rollout_id": h.hold_id, "image": f"{h.repository}:{h.tag}", "rule": h.rule, "gate": h.gate}
                for h in self.holds
            ],
        }


def view_of(key: str, history: Sequence[Rollout], holds: Sequence[Hold] = ()) -> ServiceView:
    """A service's view from its history (newest first) and the holds waiting for it."""
    newest = history[0] if history else None
    in_flight = newest if newest is not None and newest.status in IN_FLIGHT else None
    ended = [r for r in history if r.status not in IN_FLIGHT]
    running = next((r for r in history if r.status == Status.SUCCEEDED.value), None)
    return ServiceView(key, running, ended[0] if ended else None, in_flight, tuple(holds))


class FleetView:
    """Builds service views from the table: every service with a state, a repository's, or one."""

    def __init__(self, store: FleetStore, depth: int = HISTORY_DEPTH) -> None:
        self._store = store
        self._depth = depth

    def every(self) -> list[ServiceView]:
        """Every service Slipway has a state for."""
        return self.services([state.key for state in self._store.states()])

    def services(self, keys: Sequence[str], repository: str | None = None) -> list[ServiceView]:
        """The views of ``keys``, in their order; holds of ``repository`` only when one is named."""
        waiting: dict[str, list[Hold]] = {}
        for hold in self._store.holds(repository):
            waiting.setdefault(hold_key(hold), []).append(hold)
        return [view_of(key, self._store.history(key, limit=self._depth), waiting.get(key, ())) for key in keys]

    def service(self, key: str) -> ServiceView:
        return self.services([key])[0]
