"""Moving a rollout to an outcome, and to a new stage, with one message each.

The status machine lives here: each move is a conditional write from the statuses it
may come from, so duplicate and out-of-order events can neither send a status twice nor
move one backwards. A move records the notice it owes before publishing it, so a retry
after a failed publish resends it, once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.model import Rollout, Service, Status
from slipway.notifications import Notification
from slipway.ports import MovingStore, Notifier, TrackingEcs
from slipway.stages import Milestone

logger = Logger(child=True)

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
PROGRESS = Status.PROGRESS.value
# A PROGRESS recorded less than this long ago belongs to the reading publishing it: another one resends
# it only later (a failed publish), so two readings at once send it once.
RESEND_AFTER = timedelta(seconds=60)
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


def outcome_notification(rollout: Rollout, now: datetime, status: str | None = None) -> Notification:
    """The message for a rollout's outcome (or progress): the deploy contract plus duration and reasons."""
    return Notification(
        status=status or rollout.status,
        repository=rollout.repository,
        tag=rollout.tag,
        digest=rollout.digest,
        image=rollout.image,
        cluster=rollout.cluster,
        service=rollout.service,
        account=rollout.account,
        region=rollout.region,
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
        aborted_by=rollout.aborted_by,
        strategy=rollout.strategy,
        stage=rollout.stage,
    )


def progress_notification(rollout: Rollout, milestone: Milestone, now: datetime) -> Notification:
    """The PROGRESS message of a strategy rollout's milestone."""
    message = outcome_notification(rollout, now, PROGRESS)
    return message.model_copy(
        update={
            "reason": milestone.reason,
            "stage": milestone.stage,
            "traffic_percent": milestone.traffic_percent,
            "until": milestone.until,
            "hook_id": milestone.hook_id,
            "duration_seconds": None,
        }
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


class Mover:
    """Moves rollouts to outcomes and stages through the store, and notifies each move once."""

    def __init__(
        self,
        ecs: TrackingEcs,
        store: MovingStore,
        notifier: Notifier,
        clock: Callable[[], datetime],
        count: Callable[[str, int], None] = lambda name, value: None,
    ) -> None:
        self._ecs = ecs
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._count = count

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
            return self.resend_pending(rollout)
        stopped = self._stopped_reasons(rollout) if with_stopped else ()
        moved = self._store.transition(
            rollout,
            status,
            allowed,
            reason=reason,
            finished_at=self._clock(),
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
        # Adopted rollouts, and those recorded before the push time was kept, have none.
        if moved.pushed_at is not None and moved.finished_at is not None:
            self._count("PushToOutcomeSeconds", max(0, int((moved.finished_at - moved.pushed_at).total_seconds())))
        self._notify(moved, status)
        return status

    def advance(self, rollout: Rollout, stage: str | None, milestone: Milestone | None) -> str | None:
        """Record a strategy rollout's stage; a new milestone is one PROGRESS message. Returns PROGRESS if sent."""
        if rollout.stage == stage and (milestone is None or milestone.key == rollout.progress):
            return self._resend_progress(rollout, milestone)
        moved = self._store.advance_stage(rollout, stage, self._clock(), milestone.key if milestone else None)
        if moved is None:
            logger.info("stage lost to a concurrent reading", extra={"stage": stage, "rollout_id": rollout.rollout_id})
            return None
        if milestone is None or milestone.key == rollout.progress:
            return None
        self._publish(progress_notification(moved, milestone, self._clock()), moved, PROGRESS)
        return PROGRESS

    def _resend_progress(self, rollout: Rollout, milestone: Milestone | None) -> str | None:
        """Resend a milestone whose publish failed; not while the reading that recorded it may still be publishing."""
        if milestone is None:
            return None
        recorded = rollout.stage_changed_at or rollout.started_at
        if self._clock() - recorded < RESEND_AFTER or self._store.pending_notice(rollout) != PROGRESS:
            return None
        self._publish(progress_notification(rollout, milestone, self._clock()), rollout, PROGRESS)
        return PROGRESS

    def resend_pending(self, rollout: Rollout) -> str | None:
        """Resend an outcome whose notification an earlier attempt could not publish."""
        notice = self._store.pending_notice(rollout)
        if notice and notice == rollout.status and Status(notice).terminal:
            self._notify(rollout, notice)
            return notice
        return None

    def _notify(self, rollout: Rollout, status: str) -> None:
        self._publish(outcome_notification(rollout, self._clock()), rollout, status)

    def _publish(self, message: Notification, rollout: Rollout, notice: str) -> None:
        failures = self._notifier.publish([message])
        if failures:
            self._count("NotificationFailures", len(failures))
            raise AwsError("PublishBatch", "NotificationFailed", "; ".join(failures))
        self._store.notice_sent(rollout, notice)

    def service(self, rollout: Rollout) -> Service | None:
        """The rollout's service as ECS describes it now; None when ECS refuses (a throttle is raised: retry)."""
        try:
            lookup = self._ecs.describe_services(rollout.cluster_ref, [rollout.service])
        except AwsError as error:
            if error.retryable:
                raise  # the invocation fails and is retried, rather than guessing an outcome
            logger.warning("cannot describe service", extra={"error": str(error)})
            return None
        return lookup.found.get(rollout.service)

    def _stopped_reasons(self, rollout: Rollout) -> tuple[str, ...]:
        if not rollout.deployment_id:
            return ()
        try:
            tasks = self._ecs.describe_tasks(rollout.cluster_ref, rollout.deployment_id, rollout.task_definition)
        except AwsError as error:
            logger.warning("cannot read stopped tasks", extra={"error": str(error)})
            return ()
        return tuple(describe_stopped(t) for t in tasks[:3])
