"""What on-call and release managers do to a strategy rollout in flight: look, approve, abort.

- ``status``: the service's latest rollout and, for a blue/green, canary or linear one
  still in flight, its ECS service deployment read now (stage, traffic, hooks waiting).
- ``approve``: continue the pause hook waiting for action (ContinueServiceDeployment
  with CONTINUE); who approved is written on the rollout.
- ``abort``: roll the deployment back (StopServiceDeployment with ROLLBACK); who and
  why are written on the rollout, and the ROLLED_BACK outcome that follows says so.

``summary`` is a status as one record, for ``slipway status`` (its --json prints it).

Outcomes are not decided here: the track function and the sweep read them from ECS and
notify them as any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from slipway.errors import SlipwayError
from slipway.model import HookDetail, Rollout, ServiceDeployment
from slipway.ports import DeploymentControl
from slipway.rule_strategies import ROLLING
from slipway.stages import read

IN_FLIGHT = frozenset({"DEPLOYING", "TIMED_OUT"})


class ControlStore(Protocol):
    def get_rollout(self, rollout_id: str) -> Rollout | None: ...

    def history(self, key: str, limit: int = 20) -> list[Rollout]: ...

    def annotate(self, rollout: Rollout, **changes: str | None) -> Rollout: ...


@dataclass(frozen=True)
class RolloutStatus:
    """A service's latest rollout, and its service deployment as ECS shows it now (strategy rollouts)."""

    rollout: Rollout
    deployment: ServiceDeployment | None = None

    @property
    def waiting(self) -> list[HookDetail]:
        return [h for h in self.deployment.hooks if h.awaiting] if self.deployment else []

    @property
    def next_command(self) -> str | None:
        """What someone should run now: approve, when a pause hook waits for it."""
        return f"slipway approve {self.rollout.rollout_id}" if self.waiting else None


@dataclass(frozen=True)
class Approval:
    """A pause hook continued: the deployment it held, at the stage it held it."""

    deployment: ServiceDeployment
    hook: HookDetail

    @property
    def stage(self) -> str:
        return self.deployment.lifecycle_stage or "unknown"


class Control:
    """Reads and acts on strategy rollouts through ECS's service-deployment API."""

    def __init__(self, ecs: DeploymentControl, store: ControlStore) -> None:
        self._ecs = ecs
        self._store = store

    def status(self, key: str) -> RolloutStatus:
        """The latest rollout of ``cluster/service``; SlipwayError when it has none."""
        found = self._store.history(key, limit=1)
        if not found:
            raise SlipwayError(f"no rollout of {key} on record")
        rollout = found[0]
        if rollout.strategy == ROLLING or rollout.status not in IN_FLIGHT:
            return RolloutStatus(rollout)
        return RolloutStatus(rollout, self._deployment(rollout))

    def strategy_rollout(self, rollout_id: str) -> Rollout | None:
        """The rollout if it is a strategy rollout Slipway knows; None otherwise."""
        rollout = self._store.get_rollout(rollout_id)
        return rollout if rollout is not None and rollout.strategy != ROLLING else None

    def abortable(self, rollout_id: str) -> Rollout:
        """The strategy rollout ``abort`` acts on; SlipwayError saying why when there is none."""
        rollout = self._store.get_rollout(rollout_id)
        if rollout is None:
            raise SlipwayError(f"no rollout {rollout_id} on record (see slipway history CLUSTER/SERVICE)")
        if rollout.strategy == ROLLING:
            raise SlipwayError(
                f"rollout {rollout_id} of {rollout.key} is a rolling one: abort is for blue/green, canary and "
                f"linear rollouts; use slipway rollback {rollout.key} for a rolling one"
            )
        return rollout

    def approve(self, rollout: Rollout, who: str) -> Approval:
        """Continue the pause hook the rollout's deployment waits at; SlipwayError when none waits."""
        deployment = self._in_flight(rollout, "approve")
        hook = deployment.awaiting()
        if hook is None:
            stage = deployment.lifecycle_stage or "unknown"
            raise SlipwayError(
                f"rollout {rollout.rollout_id} is not waiting for approval "
                f"(its deployment is {deployment.status} at stage {stage})"
            )
        self._ecs.continue_service_deployment(deployment.arn, hook.hook_id, "CONTINUE")
        self._store.annotate(rollout, approved_by=who)
        return Approval(deployment, hook)

    def abort(self, rollout: Rollout, who: str, reason: str | None) -> ServiceDeployment:
        """Roll the rollout's deployment back; SlipwayError when it is no longer in flight."""
        deployment = self._in_flight(rollout, "abort")
        self._ecs.stop_service_deployment(deployment.arn, "ROLLBACK")  # ECS first: a refused stop records nothing
        self._store.annotate(rollout, aborted_by=who, abort_reason=reason)
        return deployment

    def _in_flight(self, rollout: Rollout, verb: str) -> ServiceDeployment:
        if rollout.status not in IN_FLIGHT:
            raise SlipwayError(f"cannot {verb} rollout {rollout.rollout_id}: it ended {rollout.status}")
        deployment = self._deployment(rollout)
        if deployment is None:
            raise SlipwayError(f"cannot {verb} rollout {rollout.rollout_id}: ECS shows no service deployment for it")
        if deployment.status not in ("PENDING", "IN_PROGRESS"):
            raise SlipwayError(
                f"cannot {verb} rollout {rollout.rollout_id}: its deployment is {deployment.status} already"
            )
        return deployment

    def _deployment(self, rollout: Rollout) -> ServiceDeployment | None:
        arn = rollout.service_deployment_arn
        if not arn:
            listed = self._ecs.list_service_deployments(
                rollout.cluster_ref, rollout.service, ["PENDING", "IN_PROGRESS"]
            )
            arn = listed[0] if listed else None
        if not arn:
            return None
        found = self._ecs.describe_service_deployments([arn])
        return found[0] if found else None


def summary(status: RolloutStatus) -> dict[str, Any]:
    """A rollout's status as one flat record (``slipway status --json``); datetimes stay datetimes."""
    rollout = status.rollout
    return {
        "rollout_id": rollout.rollout_id,
        "service": rollout.key,
        "image": image_label(rollout),
        "digest": rollout.digest,
        "status": rollout.status,
        "in_flight": rollout.status in IN_FLIGHT,
        "strategy": rollout.strategy,
        "rule": rollout.rule,
        "reason": rollout.reason,
        "task_definition": rollout.task_definition,
        "previous_task_definition": rollout.previous_task_definition,
        "deployment_id": rollout.deployment_id,
        "started_at": rollout.started_at,
        "finished_at": rollout.finished_at,
        "approved_by": rollout.approved_by,
        "aborted_by": rollout.aborted_by,
        "abort_reason": rollout.abort_reason,
        "service_deployment": deployment_summary(status.deployment, rollout) if status.deployment else None,
        "next": status.next_command,
    }


def deployment_summary(deployment: ServiceDeployment, rollout: Rollout) -> dict[str, Any]:
    """The service deployment of a strategy rollout in flight: stage, traffic, hooks waiting, bake end."""
    reading = read(deployment, rollout)
    milestone = reading.milestone
    return {
        "arn": deployment.arn,
        "status": deployment.status,
        "lifecycle_stage": deployment.lifecycle_stage,
        "status_reason": deployment.status_reason,
        "target_revision": deployment.target_revision,
        "production_weight": deployment.production_weight,
        "test_weight": deployment.test_weight,
        "source_production_weight": deployment.source_production_weight,
        "hooks_waiting": [
            {
                "hook_id": hook.hook_id,
                "target_type": hook.target_type,
                "expires_at": hook.expires_at,
                "timeout_action": hook.timeout_action,
            }
            for hook in deployment.hooks
            if hook.awaiting
        ],
        "progress": milestone.reason if milestone else None,
        "bake_until": milestone.until if milestone and milestone.hook_id is None else None,
        "waits_until": reading.waits_until,
        "outcome": {"status": str(reading.verdict.status), "reason": reading.verdict.reason}
        if reading.verdict
        else None,
        "rollback_reason": deployment.rollback_reason,
        "updated_at": deployment.updated_at,
    }


def image_label(rollout: Rollout) -> str:
    """``repository:tag``, or ``repository@digest`` for an untagged image."""
    return f"{rollout.repository}:{rollout.tag}" if rollout.tag else f"{rollout.repository}@{rollout.digest}"
