"""Watching blue/green, canary and linear rollouts through ECS's service deployments.

Their events only say that something happened to a service; DescribeServiceDeployments
says what. So every event about a strategy rollout, and every sweep, reads the rollout's
service deployment and lets ``stages.read`` decide: an outcome, a new stage (one
PROGRESS message per milestone), or nothing new. The sweep reads every strategy rollout
in flight on each run (paced like every ECS call), since bakes and pauses last hours,
and times one out only ``DeploymentTimeoutMinutes`` after its last stage change and
never before a bake or pause that ECS itself ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from slipway.model import Rollout, ServiceDeployment, Status
from slipway.moves import AWAITING_ROLLBACK, SU, D, Mover, R, S, T
from slipway.ports import TrackingEcs, TrackingStore
from slipway.rule_strategies import strategy_name
from slipway.stages import Reading, deadline, read

logger = Logger(child=True)
WATCHED = frozenset({D, *AWAITING_ROLLBACK})


class Watcher:
    """Turns a strategy rollout's service deployment into outcomes and PROGRESS messages."""

    def __init__(self, ecs: TrackingEcs, store: TrackingStore, mover: Mover, clock: Callable[[], datetime]) -> None:
        self._ecs = ecs
        self._store = store
        self._mover = mover
        self._clock = clock

    def observe(self, rollout: Rollout, timeout: timedelta | None = None) -> str | None:
        """Read the rollout's service deployment and move it on; the status or PROGRESS sent, if any.

        With ``timeout`` (the sweep), a rollout with no outcome past its deadline is TIMED_OUT.
        """
        if rollout.status not in WATCHED:
            self._store.untrack(rollout)
            return None
        deployment = self._deployment(rollout)
        if deployment is None:
            return self._lost(rollout, timeout)
        reading = read(deployment, rollout)
        if reading.verdict is not None:
            return self._conclude(rollout, reading)
        if rollout.status != D:
            return None  # reported TIMED_OUT already; only an outcome is news now
        sent = self._mover.advance(rollout, reading.stage, reading.milestone)
        if timeout is not None and sent is None and reading.stage == rollout.stage:  # no change: is it late?
            due = deadline(reading, rollout, timeout)
            if due is not None and self._clock() >= due:
                return self._mover.move(rollout, T, self._stalled(rollout, deployment), keep_watching=True)
        return sent

    def _deployment(self, rollout: Rollout) -> ServiceDeployment | None:
        arn = rollout.service_deployment_arn or self._current_arn(rollout)
        if not arn:
            return None
        found = self._ecs.describe_service_deployments([arn])
        return found[0] if found else None

    def _current_arn(self, rollout: Rollout) -> str | None:
        """The service's current service deployment, when UpdateService did not name it."""
        service = self._mover.service(rollout)
        return service.current_service_deployment if service else None

    def _conclude(self, rollout: Rollout, reading: Reading) -> str | None:
        verdict = reading.verdict
        assert verdict is not None
        service = self._mover.service(rollout)
        if service is None:
            return None  # an outcome is never guessed: the next event or sweep decides
        primary = service.primary()
        if verdict.status == Status.SUCCEEDED:
            if primary is None or primary.task_definition != rollout.task_definition:
                running = primary.task_definition if primary else "no PRIMARY deployment"
                return self._replaced(rollout, f"{verdict.reason}, but the service now runs {running}")
            return self._mover.move(rollout, S, verdict.reason, stage=reading.stage)
        if verdict.status == Status.ROLLED_BACK:
            back_on = primary.task_definition if primary else None
            return self._mover.move(
                rollout, R, verdict.reason, with_stopped=True, rolled_back_to=back_on, stage=reading.stage
            )
        current = service.current_service_deployment
        if current and rollout.service_deployment_arn and current != rollout.service_deployment_arn:
            return self._replaced(rollout, f"replaced by service deployment {current}, not started by this rollout")
        return self._mover.move(rollout, verdict.status.value, verdict.reason, with_stopped=True, stage=reading.stage)

    def _replaced(self, rollout: Rollout, reason: str) -> str | None:
        """Another deployment took the service over: SUPERSEDED while deploying; a timed-out one is let go."""
        if rollout.status == D:
            return self._mover.move(rollout, SU, reason)
        self._store.untrack(rollout)
        return None

    def _lost(self, rollout: Rollout, timeout: timedelta | None) -> str | None:
        if rollout.status != D:
            if timeout is not None:
                self._store.untrack(rollout)  # timed out, and ECS no longer knows its deployment: nothing to learn
            return None
        if timeout is None:
            return None
        changed = rollout.stage_changed_at or rollout.started_at
        if self._clock() < changed + timeout:
            return None
        arn = rollout.service_deployment_arn or "unknown"
        reason = f"no outcome after the timeout: ECS lists no service deployment {arn} for {rollout.key}"
        return self._mover.move(rollout, T, reason, keep_watching=True)

    @staticmethod
    def _stalled(rollout: Rollout, deployment: ServiceDeployment) -> str:
        weight = deployment.production_weight
        traffic = f", {weight:g} % of production traffic on the new revision" if weight is not None else ""
        return (
            f"no outcome after the timeout: the {strategy_name(rollout.strategy)} deployment is {deployment.status} "
            f"at stage {deployment.lifecycle_stage or 'unknown'}{traffic}"
        )
