"""Deployment outcomes: from ECS deployment events (and a timeout sweep) to one message each.

A rollout Slipway started is ``DEPLOYING`` until ECS says how it ended:

- ``SUCCEEDED``: COMPLETED for Slipway's deployment while the service's PRIMARY
  deployment runs the registered revision;
- ``FAILED``: FAILED for Slipway's deployment, with ECS's reason;
- ``ROLLED_BACK``: the circuit breaker (or deployment alarms) started a rollback
  deployment, and that deployment COMPLETED;
- ``SUPERSEDED``: a newer rollout or a manual UpdateService replaced it first;
- ``TIMED_OUT``: nothing terminal within the timeout (the sweep reports it).

A rollback deployment announces itself with the reason "ECS deployment circuit breaker:
rolling back to deploymentId ecs-svc/...", which names the deployment ECS rolls back
*to*: the last one that completed, not the failed one (AWS's "Amazon ECS service
deployment state change events"). The rollout it undoes is the service's current
unfinished Slipway rollout (DEPLOYING, FAILED or TIMED_OUT) whose deployment is neither
the rollback deployment nor the one rolled back to. When that deployment rolled back to
belongs to an older Slipway rollout, the older rollout is left as it was.

Each move is a conditional write from the statuses it may come from, so duplicate
and out-of-order events can neither send a status twice nor move one backwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.model import Rollout, Service, Status
from slipway.notifications import Notification
from slipway.ports import Notifier, TrackingEcs, TrackingStore

logger = Logger(child=True)

IN_PROGRESS = "SERVICE_DEPLOYMENT_IN_PROGRESS"
COMPLETED = "SERVICE_DEPLOYMENT_COMPLETED"
FAILED = "SERVICE_DEPLOYMENT_FAILED"
ROLLBACK_REASON = re.compile(r"rolling back to deploymentId\s+(?P<id>\S+?)[.,;]?$", re.IGNORECASE)

D, S, F, R, SU, T = (
    s.value
    for s in (
        Status.DEPLOYING,
        Status.SUCCEEDED,
        Status.FAILED,
        Status.ROLLED_BACK,
        Status.SUPERSEDED,
        Status.TIMED_OUT,
    )
)
# Where each outcome may come from: anything else is a duplicate or a step backwards.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    S: frozenset({D, T}),
    F: frozenset({D, T}),
    R: frozenset({D, F, T}),
    SU: frozenset({D}),
    T: frozenset({D}),
}
# Outcomes after which ECS may still report more (a FAILED deployment may be rolled back).
AWAITING_ROLLBACK = frozenset({F, T})


def can_move(current: str, new: str) -> bool:
    """True when ``current`` may become ``new`` (the status machine, for tests and docs)."""
    return current in ALLOWED_FROM.get(new, frozenset())


@dataclass(frozen=True)
class DeploymentChange:
    """The parts of an ``ECS Deployment State Change`` event tracking uses."""

    service_arn: str
    deployment_id: str
    event_name: str
    reason: str
    time: datetime

    @property
    def service_key(self) -> str:
        """``cluster/service`` from ``arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE``."""
        resource = self.service_arn.split(":", 5)[-1]
        parts = resource.split("/")
        return "/".join(parts[1:3]) if len(parts) >= 3 else ""

    @property
    def rolls_back(self) -> str | None:
        """The deployment this one rolls the service back to (the last completed one), if it is a rollback."""
        match = ROLLBACK_REASON.search(self.reason.strip())
        return match.group("id") if match else None


def outcome_notification(rollout: Rollout, now: datetime) -> Notification:
    """The message for a rollout's outcome: the deploy contract plus duration and reasons."""
    return Notification(
        status=rollout.status,
        repository=rollout.repository,
        tag=rollout.tag,
        digest=rollout.digest,
        image=rollout.image,
        cluster=rollout.cluster,
        service=rollout.service,
        launch_type=rollout.launch_type,
        rule=rollout.rule,
        task_definition=rollout.task_definition,
        previous_task_definition=rollout.previous_task_definition,
        deployment_id=rollout.deployment_id,
        rollout_id=rollout.rollout_id,
        reason=rollout.reason,
        event_id=rollout.event_id,
        time=now,
        duration_seconds=rollout.duration_seconds,
        stopped_reasons=list(rollout.stopped_reasons),
        rolled_back_to=rollout.rolled_back_to,
        initiated_by=rollout.initiated_by,
        approved_by=rollout.approved_by,
    )


def describe_stopped(task: dict[str, Any]) -> str:
    """One line for a stopped task: its stop reason, then each container's exit code and reason."""
    parts = [str(task.get("stoppedReason") or task.get("stopCode") or "stopped")]
    for container in task.get("containers") or []:
        bits = []
        if container.get("exitCode") is not None:
            bits.append(f"exit code {container['exitCode']}")
        if container.get("reason"):
            bits.append(str(container["reason"]))
        if bits:
            parts.append(f"container {container.get('name')}: {', '.join(bits)}")
    task_id = str(task.get("taskArn", "")).rsplit("/", 1)[-1]
    return f"task {task_id}: " + "; ".join(parts) if task_id else "; ".join(parts)


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
        self._ecs = ecs
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._count = count

    # -- ECS events ------------------------------------------------------------
    def on_change(self, change: DeploymentChange) -> str | None:
        """Handle one deployment event; returns the status sent, if any."""
        found = self._store.rollout_by_deployment(change.deployment_id)
        if found is None:
            return self._foreign(change)
        rollout, role = found
        if role == "rollback":
            return self._rollback_event(rollout, change)
        if change.event_name == COMPLETED:
            return self._completed(rollout, change)
        if change.event_name == FAILED:
            reason = f"ECS deployment failed: {change.reason}" if change.reason else "ECS deployment failed"
            return self.move(rollout, F, reason, with_stopped=True, keep_watching=rollout.expects_rollback)
        return self._resend_pending(rollout)

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
            return self.move(current, SU, reason)
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
        service = self._service(rollout)
        primary = service.primary() if service else None
        if primary is not None and primary.task_definition == rollout.task_definition:
            return self.move(rollout, S, f"deployment {rollout.deployment_id} completed and is PRIMARY")
        running = primary.task_definition if primary else "unknown"
        return self.move(rollout, SU, f"deployment completed but the service now runs {running}")

    def _rollback_event(self, rollout: Rollout, change: DeploymentChange) -> str | None:
        if change.event_name == COMPLETED:
            return self._rolled_back(rollout, change)
        if change.event_name == FAILED:
            reason = f"ECS rollback deployment {change.deployment_id} failed too: {change.reason}"
            return self.move(rollout, F, reason, with_stopped=True)
        return None

    def _rolled_back(self, rollout: Rollout, change: DeploymentChange) -> str | None:
        service = self._service(rollout)
        primary = service.primary() if service else None
        back_on = primary.task_definition if primary else None
        reason = (
            f"ECS rolled deployment {rollout.deployment_id} back; the service runs {back_on or 'its previous revision'}"
        )
        return self.move(
            rollout,
            R,
            reason,
            with_stopped=True,
            rolled_back_to=back_on,
            rollback_deployment_id=change.deployment_id,
        )

    def _service(self, rollout: Rollout) -> Service | None:
        try:
            lookup = self._ecs.describe_services(rollout.cluster, [rollout.service])
        except AwsError as error:
            if error.retryable:
                raise  # the invocation fails and is retried, rather than guessing an outcome
            logger.warning("cannot describe service", extra={"error": str(error)})
            return None
        return lookup.found.get(rollout.service)  # type: ignore[no-any-return]

    def _stopped_reasons(self, rollout: Rollout) -> tuple[str, ...]:
        if not rollout.deployment_id:
            return ()
        try:
            tasks = self._ecs.describe_tasks(rollout.cluster, rollout.deployment_id, rollout.task_definition)
        except AwsError as error:
            logger.warning("cannot read stopped tasks", extra={"error": str(error)})
            return ()
        return tuple(describe_stopped(t) for t in tasks[:3])

    # -- moving a rollout ---------------------------------------------------------
    def move(
        self,
        rollout: Rollout,
        status: str,
        reason: str,
        *,
        with_stopped: bool = False,
        keep_watching: bool = False,
        **changes: Any,
    ) -> str | None:
        """Move a rollout to an outcome and notify once; None when it already moved on."""
        allowed = ALLOWED_FROM[status]
        if rollout.status not in allowed:
            logger.info(
                "outcome ignored", extra={"from": rollout.status, "to": status, "rollout_id": rollout.rollout_id}
            )
            return self._resend_pending(rollout)
        stopped = self._stopped_reasons(rollout) if with_stopped else ()
        now = self._clock()
        moved = self._store.transition(
            rollout,
            status,
            allowed,
            reason=reason,
            finished_at=now,
            stopped_reasons=list(stopped) or None,
            **changes,
        )
        if moved is None:
            logger.info("outcome lost to a concurrent event", extra={"to": status, "rollout_id": rollout.rollout_id})
            return None
        if status not in AWAITING_ROLLBACK or not keep_watching:
            self._store.untrack(moved)
        self._store.set_state_status(moved.key, moved.rollout_id, status)
        self._count(f"Rollouts{status.title().replace('_', '')}", 1)
        self._notify(moved, status)
        return status

    def _resend_pending(self, rollout: Rollout) -> str | None:
        """Resend an outcome whose notification an earlier attempt could not publish."""
        notice = self._store.pending_notice(rollout)
        if notice and notice == rollout.status and Status(notice).terminal:
            self._notify(rollout, notice)
            return notice
        return None

    def _notify(self, rollout: Rollout, status: str) -> None:
        failures = self._notifier.publish([outcome_notification(rollout, self._clock())])
        if failures:
            self._count("NotificationFailures", len(failures))
            raise AwsError("PublishBatch", "NotificationFailed", "; ".join(failures))
        self._store.notice_sent(rollout, status)

    def supersede(self, rollout_id: str, reason: str) -> str | None:
        """A newer Slipway rollout replaced this one before it finished."""
        rollout = self._store.get_rollout(rollout_id)
        return self.move(rollout, SU, reason) if rollout else None

    # -- the timeout sweep --------------------------------------------------------
    def sweep(self, timeout: timedelta) -> list[tuple[str, str]]:
        """Report rollouts with no outcome after ``timeout``; returns (rollout id, status) pairs."""
        results: list[tuple[str, str]] = []
        for rollout_id in self._store.tracked_before(self._clock() - timeout):
            rollout = self._store.get_rollout(rollout_id)
            if rollout is None:
                continue
            status = self._expire(rollout)
            if status:
                results.append((rollout_id, status))
        return results

    def _expire(self, rollout: Rollout) -> str | None:
        if rollout.status not in (D, F, T):
            self._store.untrack(rollout)
            return None
        service = self._service(rollout)
        deployment = next((d for d in service.deployments if d.id == rollout.deployment_id), None) if service else None
        primary = service.primary() if service else None
        if rollout.status in AWAITING_ROLLBACK:
            if (
                primary is not None
                and primary.task_definition != rollout.task_definition
                and primary.rollout_state == "COMPLETED"
            ):
                return self.move(
                    rollout,
                    R,
                    f"ECS rolled deployment {rollout.deployment_id} back",
                    with_stopped=True,
                    rolled_back_to=primary.task_definition,
                )
            self._store.untrack(rollout)
            return None
        if deployment is not None and deployment.status == "PRIMARY" and deployment.rollout_state == "COMPLETED":
            return self.move(rollout, S, f"deployment {rollout.deployment_id} completed and is PRIMARY")
        return self.move(rollout, T, self._what_it_sees(rollout, service, deployment), with_stopped=True)

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
