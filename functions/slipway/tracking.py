"""Deployment outcomes: from ECS deployment events (and a timeout sweep) to one message each.

A rollout Slipway started is ``DEPLOYING`` until ECS says how it ended:

- ``SUCCEEDED``: COMPLETED for Slipway's deployment while the service's PRIMARY
  deployment runs the registered revision;
- ``FAILED``: FAILED for Slipway's deployment, with ECS's reason;
- ``ROLLED_BACK``: the circuit breaker (or deployment alarms) started a rollback
  deployment, and that deployment COMPLETED;
- ``SUPERSEDED``: a newer rollout or a manual UpdateService replaced it first;
- ``TIMED_OUT``: nothing terminal within the timeout (the sweep reports it).

This is a rolling update's story. A blue/green, canary or linear rollout is read from
its ECS service deployment instead (``watching``): its events, and the sweep, hand it
to the ``Watcher``.

A rollback deployment announces itself with the reason "ECS deployment circuit breaker:
rolling back to deploymentId ecs-svc/...", which names the deployment ECS rolls back
*to*: the last one that completed, not the failed one (AWS's "Amazon ECS service
deployment state change events"). The rollout it undoes is the service's current
unfinished Slipway rollout (DEPLOYING, FAILED or TIMED_OUT) whose deployment is neither
the rollback deployment nor the one rolled back to. When that deployment rolled back to
belongs to an older Slipway rollout, the older rollout is left as it was.

Each move is a conditional write from the statuses it may come from (``moves``), so
duplicate and out-of-order events can neither send a status twice nor move one backwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.model import Rollout, Service
from slipway.moves import AWAITING_ROLLBACK, SU, D, F, Mover, R, S, T
from slipway.places import Place, away, of_arn, service_key
from slipway.ports import Notifier, TrackingEcs, TrackingStore
from slipway.rule_strategies import ROLLING
from slipway.watching import Watcher

logger = Logger(child=True)

IN_PROGRESS = "SERVICE_DEPLOYMENT_IN_PROGRESS"
COMPLETED = "SERVICE_DEPLOYMENT_COMPLETED"
FAILED = "SERVICE_DEPLOYMENT_FAILED"
ROLLBACK_REASON = re.compile(r"rolling back to deploymentId\s+(?P<id>\S+?)[.,;]?$", re.IGNORECASE)


def key_of_arn(arn: str, home: Place | None = None) -> str:
    """The service key of a service ARN (``...:service/CLUSTER/SERVICE``) or a service deployment's
    (``...:service-deployment/CLUSTER/SERVICE/ID``): ``cluster/service``, qualified by the ARN's
    account and Region when they are not ``home``'s; '' from anything else."""
    resource = arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) < 3 or parts[0] not in ("service", "service-deployment"):
        return ""
    return service_key(parts[1], parts[2], away(of_arn(arn), home) if home else None)


@dataclass(frozen=True)
class DeploymentChange:
    """The parts of an ``ECS Deployment State Change`` event tracking uses."""

    service_arn: str
    deployment_id: str
    event_name: str
    reason: str
    time: datetime
    home: Place | None = None  # the stack's account and Region: a service elsewhere has a qualified key

    @property
    def service_key(self) -> str:
        return key_of_arn(self.service_arn, self.home)

    @property
    def rolls_back(self) -> str | None:
        """The deployment this one rolls the service back to (the last completed one), if it is a rollback."""
        match = ROLLBACK_REASON.search(self.reason.strip())
        return match.group("id") if match else None


class Tracker:
    """Turns deployment events and the passage of time into rollout outcomes."""

    def __init__(
        self,
        ecs: TrackingEcs,
        store: TrackingStore,
        notifier: Notifier,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        count: Callable[[str, int], None] = lambda name, value: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._mover = Mover(ecs, store, notifier, clock, count)
        self._watcher = Watcher(ecs, store, self._mover, clock)

    # -- ECS events ------------------------------------------------------------
    def on_change(self, change: DeploymentChange) -> str | None:
        """Handle one deployment event; returns the status sent, if any."""
        found = self._store.rollout_by_deployment(change.deployment_id)
        if found is None:
            current = self._current_rollout(change.service_key)
            if current is not None and current.strategy != ROLLING:
                return self._watcher.observe(current)
            return self._foreign(change)
        rollout, role = found
        if rollout.strategy != ROLLING:
            return self._watcher.observe(rollout)
        if role == "rollback":
            return self._rollback_event(rollout, change)
        if change.event_name == COMPLETED:
            return self._completed(rollout, change)
        if change.event_name == FAILED:
            reason = f"ECS deployment failed: {change.reason}" if change.reason else "ECS deployment failed"
            return self._mover.move(rollout, F, reason, with_stopped=True, keep_watching=rollout.expects_rollback)
        return self._mover.resend_pending(rollout)

    def _foreign(self, change: DeploymentChange) -> str | None:
        back_to = change.rolls_back
        current = self._current_rollout(change.service_key)
        if change.event_name == IN_PROGRESS and back_to:
            undone = self._rollout_undone(current, change.deployment_id, back_to)
            if undone is not None:
                self._store.link_deployment(change.deployment_id, undone, "rollback")
                logger.info(
                    "ECS is rolling a Slipway rollout back",
                    extra={"rollout_id": undone.rollout_id, "rolling_back_to": back_to},
                )
                return None
        if current is None:
            logger.debug("deployment not started by Slipway", extra={"deployment_id": change.deployment_id})
            return None
        if change.event_name == IN_PROGRESS and current.status == D and not back_to:
            reason = f"replaced by deployment {change.deployment_id}, not started by Slipway"
            return self._mover.move(current, SU, reason)
        if change.event_name == COMPLETED and current.status in AWAITING_ROLLBACK and current.expects_rollback:
            # The rollback's IN_PROGRESS event was missed: the service settled elsewhere.
            return self._rolled_back(current, change)
        return None

    @staticmethod
    def _rollout_undone(current: Rollout | None, rollback_id: str, back_to: str) -> Rollout | None:
        """The rollout a rollback deployment undoes: the service's current unfinished one.

        ``back_to`` is the deployment the service returns to, which may be an older
        Slipway rollout's; that rollout is not the one undone, and neither is one whose
        deployment is the rollback itself.
        """
        if current is None or current.status not in (D, F, T):
            return None
        if current.deployment_id in (rollback_id, back_to):
            return None
        return current

    def _current_rollout(self, key: str) -> Rollout | None:
        if not key:
            return None
        state = self._store.get_state(key)
        if state is None or not getattr(state, "rollout_id", None):
            return None
        return self._store.get_rollout(state.rollout_id)

    def _completed(self, rollout: Rollout, change: DeploymentChange) -> str | None:
        service = self._mover.service(rollout)
        primary = service.primary() if service else None
        if primary is not None and primary.task_definition == rollout.task_definition:
            return self._mover.move(rollout, S, f"deployment {rollout.deployment_id} completed and is PRIMARY")
        running = primary.task_definition if primary else "unknown"
        return self._mover.move(rollout, SU, f"deployment completed but the service now runs {running}")

    def _rollback_event(self, rollout: Rollout, change: DeploymentChange) -> str | None:
        if change.event_name == COMPLETED:
            return self._rolled_back(rollout, change)
        if change.event_name == FAILED:
            reason = f"ECS rollback deployment {change.deployment_id} failed too: {change.reason}"
            return self._mover.move(rollout, F, reason, with_stopped=True)
        return None

    def _rolled_back(self, rollout: Rollout, change: DeploymentChange) -> str | None:
        service = self._mover.service(rollout)
        primary = service.primary() if service else None
        back_on = primary.task_definition if primary else None
        reason = (
            f"ECS rolled deployment {rollout.deployment_id} back; the service runs {back_on or 'its previous revision'}"
        )
        return self._mover.move(
            rollout,
            R,
            reason,
            with_stopped=True,
            rolled_back_to=back_on,
            rollback_deployment_id=change.deployment_id,
        )

    def supersede(self, rollout_id: str, reason: str) -> str | None:
        """A newer Slipway rollout replaced this one before it finished."""
        rollout = self._store.get_rollout(rollout_id)
        return self._mover.move(rollout, SU, reason) if rollout else None

    def on_service(self, service_key: str) -> str | None:
        """Something happened to a service (a lifecycle hook waits): read its strategy rollout, if any."""
        current = self._current_rollout(service_key)
        if current is None or current.strategy == ROLLING:
            return None
        return self._watcher.observe(current)

    # -- the sweep --------------------------------------------------------------
    def sweep(self, timeout: timedelta) -> list[tuple[str, str]]:
        """Watch strategy rollouts in flight and report rollouts with no outcome after ``timeout``.

        Returns (rollout id, status) pairs, PROGRESS included. A rollout whose reading fails
        (a throttle, a failed publish) does not stop the others: the failures are raised
        together at the end, so the sweep's next run retries them.
        """
        results: list[tuple[str, str]] = []
        failures: list[AwsError] = []
        strategies = self._store.watched_strategies()
        for rollout_id in strategies:
            self._sweep_one(rollout_id, timeout, results, failures)
        watched = set(strategies)
        for rollout_id in self._store.tracked_before(self._clock() - timeout):
            if rollout_id not in watched:
                self._sweep_one(rollout_id, timeout, results, failures)
        if failures:
            first = failures[0]
            raise AwsError(first.operation, first.code, "; ".join(str(f) for f in failures))
        return results

    def _sweep_one(
        self, rollout_id: str, timeout: timedelta, results: list[tuple[str, str]], failures: list[AwsError]
    ) -> None:
        try:
            rollout = self._store.get_rollout(rollout_id)
            if rollout is None:
                return
            watch = rollout.strategy != ROLLING
            status = self._watcher.observe(rollout, timeout) if watch else self._expire(rollout)
        except AwsError as error:
            logger.warning("sweep could not read a rollout", extra={"rollout_id": rollout_id, "error": str(error)})
            failures.append(error)
            return
        if status:
            results.append((rollout_id, status))

    def _expire(self, rollout: Rollout) -> str | None:
        if rollout.status not in (D, F, T):
            self._store.untrack(rollout)
            return None
        service = self._mover.service(rollout)
        deployment = next((d for d in service.deployments if d.id == rollout.deployment_id), None) if service else None
        primary = service.primary() if service else None
        if rollout.status in AWAITING_ROLLBACK:
            if (
                primary is not None
                and primary.task_definition != rollout.task_definition
                and primary.rollout_state == "COMPLETED"
            ):
                return self._mover.move(
                    rollout,
                    R,
                    f"ECS rolled deployment {rollout.deployment_id} back",
                    with_stopped=True,
                    rolled_back_to=primary.task_definition,
                )
            self._store.untrack(rollout)
            return None
        if deployment is not None and deployment.status == "PRIMARY" and deployment.rollout_state == "COMPLETED":
            return self._mover.move(rollout, S, f"deployment {rollout.deployment_id} completed and is PRIMARY")
        return self._mover.move(rollout, T, self._what_it_sees(rollout, service, deployment), with_stopped=True)

    def _what_it_sees(self, rollout: Rollout, service: Service | None, deployment: Any) -> str:
        if service is None:
            return f"no outcome after the timeout, and service {rollout.key} cannot be described"
        if deployment is None:
            return f"no outcome after the timeout; deployment {rollout.deployment_id} is no longer listed"
        return (
            f"no outcome after the timeout: deployment {deployment.id} is {deployment.status}, "
            f"{deployment.rollout_state or 'state unknown'}"
            + (f" ({deployment.rollout_state_reason})" if deployment.rollout_state_reason else "")
            + f"; {deployment.running_count} of {deployment.desired_count} tasks running, "
            f"{deployment.pending_count} pending, {deployment.failed_tasks} failed"
        )
