"""Reading an ECS service deployment (blue/green, canary, linear) as Slipway's outcomes and progress.

Pure: DescribeServiceDeployments' answer and the rollout in, a ``Reading`` out.

- ``SUCCESSFUL`` is a success only when the target revision serves production (its
  production weight, when ECS reports one, is 100); the watcher also checks that the
  service runs the rollout's revision, and decides nothing while it cannot see the service.
- ``ROLLBACK_SUCCESSFUL`` is ROLLED_BACK with ECS's reason; ``ROLLBACK_FAILED`` and
  ``STOPPED`` are FAILED. A deployment that rolled back is never a success.
- While the deployment is in flight, the moments a subscriber cares about are
  milestones, each reported once as a PROGRESS message: production traffic partly
  shifted (canary, linear step) and baking until a time; a pause hook waiting for
  approval, until its expiry; all production traffic shifted; a rollback under way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slipway.model import Rollout, ServiceDeployment, Status
from slipway.rule_strategies import strategy_name

IN_FLIGHT = frozenset({"PENDING", "IN_PROGRESS"})
ROLLING_BACK = frozenset({"ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"})
AFTER_PRODUCTION = frozenset({"POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"})


@dataclass(frozen=True)
class Milestone:
    """A moment of a strategy rollout worth one PROGRESS message; ``key`` changes when it does."""

    key: str
    stage: str | None
    reason: str
    traffic_percent: float | None = None
    until: datetime | None = None  # bake end, next step or the pause's expiry
    hook_id: str | None = None


@dataclass(frozen=True)
class Verdict:
    """How a service deployment ended, in Slipway's statuses."""

    status: Status
    reason: str


@dataclass(frozen=True)
class Reading:
    """What a service deployment says now: a verdict when it ended, else the milestone it is at."""

    stage: str | None
    verdict: Verdict | None = None
    milestone: Milestone | None = None
    waits_until: datetime | None = None  # a bake or pause ECS itself ends by this time


def read(deployment: ServiceDeployment, rollout: Rollout) -> Reading:
    """The reading of one service deployment for the rollout it carries."""
    stage = deployment.lifecycle_stage
    status = deployment.status
    name = strategy_name(rollout.strategy)
    if status == "SUCCESSFUL":
        # A headless blue/green moves no traffic (its weights may read 0); a share between 0 and 100 is never done.
        if deployment.production_weight is not None and 0 < deployment.production_weight < 100:
            reason = (
                f"ECS reports the {name} deployment SUCCESSFUL with {percent(deployment.production_weight)} "
                "of production traffic on the new revision"
            )
            return Reading(stage, Verdict(Status.FAILED, reason))
        return Reading(stage, Verdict(Status.SUCCEEDED, f"{name} deployment successful"))
    if status == "ROLLBACK_SUCCESSFUL":
        return Reading(stage, Verdict(Status.ROLLED_BACK, rolled_back(deployment, rollout, name)))
    if status == "ROLLBACK_FAILED":
        why = deployment.rollback_reason or deployment.status_reason or "no reason given"
        return Reading(stage, Verdict(Status.FAILED, f"ECS could not roll the {name} deployment back: {why}"))
    if status == "STOPPED":
        why = deployment.status_reason or "no reason given"
        return Reading(stage, Verdict(Status.FAILED, f"ECS stopped the {name} deployment: {why}"))
    if status in ROLLING_BACK:
        why = deployment.rollback_reason or deployment.status_reason or "rollback requested"
        milestone = Milestone("ROLLING_BACK", stage, f"rolling back: {why}", deployment.production_weight)
        return Reading(stage, milestone=milestone)
    if status not in IN_FLIGHT:
        return Reading(stage)  # STOP_REQUESTED: the STOPPED that follows is the outcome
    return _in_flight(deployment, rollout, name)


def _in_flight(deployment: ServiceDeployment, rollout: Rollout, name: str) -> Reading:
    stage = deployment.lifecycle_stage
    hook = deployment.awaiting()
    if hook is not None:
        action = (hook.timeout_action or "ROLLBACK").lower()
        expiry = f" until {when(hook.expires_at)}, then {action}" if hook.expires_at else ""
        reason = f"paused at {stage or 'a lifecycle hook'}, waiting for approval{expiry}: slipway approve {rollout.rollout_id}"
        milestone = Milestone(
            f"PAUSED:{hook.hook_id}", stage, reason, deployment.production_weight, hook.expires_at, hook.hook_id
        )
        return Reading(stage, milestone=milestone, waits_until=hook.expires_at)
    weight = deployment.production_weight
    config = deployment.configuration
    if weight is not None and 0 < weight < 100:
        bake = _partial_bake(config, rollout.strategy)
        until = deployment.updated_at + timedelta(minutes=bake) if bake is not None and deployment.updated_at else None
        then = "the rest" if rollout.strategy == "canary" else "the next step"
        baking = f"; baking until {when(until)}, then {then}" if until else ""
        reason = f"{percent(weight)} of production traffic shifted to the new revision{baking}"
        return Reading(
            stage, milestone=Milestone(f"TRAFFIC:{weight:g}", stage, reason, weight, until), waits_until=until
        )
    if (weight == 100 and stage in {"PRODUCTION_TRAFFIC_SHIFT", *AFTER_PRODUCTION}) or (
        weight is None and stage in AFTER_PRODUCTION
    ):
        bake = config.get("bakeTimeInMinutes")
        start = deployment.updated_at
        until = start + timedelta(minutes=int(bake)) if bake is not None and start else None
        baking = f"; the previous revision stays until {when(until)} for a rollback" if until else ""
        reason = f"all production traffic shifted to the new revision ({name}){baking}"
        return Reading(stage, milestone=Milestone("PRODUCTION", stage, reason, 100.0, until), waits_until=until)
    return Reading(stage)


def _partial_bake(config: dict[str, Any], strategy: str) -> int | None:
    if strategy == "canary":
        value = (config.get("canaryConfiguration") or {}).get("canaryBakeTimeInMinutes")
    else:
        value = (config.get("linearConfiguration") or {}).get("stepBakeTimeInMinutes")
    return int(value) if value is not None else None


def rolled_back(deployment: ServiceDeployment, rollout: Rollout, name: str) -> str:
    why = deployment.rollback_reason or deployment.status_reason or "no reason given"
    who = f"aborted by {rollout.aborted_by}" + (f" ({rollout.abort_reason})" if rollout.abort_reason else "")
    lead = f"{who}; " if rollout.aborted_by else ""
    return f"{lead}ECS rolled the {name} deployment back: {why}"


def deadline(reading: Reading, rollout: Rollout, timeout: timedelta) -> datetime | None:
    """When a strategy rollout with no outcome times out: ``timeout`` after its last stage change,
    and never before a bake or pause ECS itself ends (plus ``timeout``)."""
    changed = rollout.stage_changed_at or rollout.started_at
    candidates = [changed + timeout]
    if reading.waits_until is not None:
        candidates.append(reading.waits_until + timeout)
    return max(candidates)


def percent(weight: float | None) -> str:
    return "an unknown share" if weight is None else f"{weight:g} %"


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "an unknown time"
