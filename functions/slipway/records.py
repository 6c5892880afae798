"""What a rollout UpdateService accepted leaves behind: its DEPLOYING outcome, history and state."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from slipway.attempt import Attempt
from slipway.model import Push, Rollout, Service, ServiceState, Status
from slipway.outcome import Outcome
from slipway.plan import expects_rollback
from slipway.rule_strategies import ROLLING

ACCEPTED = "UpdateService accepted the new revision"


@dataclass(frozen=True)
class Record:
    """A rollout UpdateService accepted, still to be written: its outcome, history and next state."""

    outcome: Outcome
    history: Rollout
    state: ServiceState  # DEPLOYING
    expected_generation: int  # of the claim it replaces
    announced: bool = False  # its DEPLOYING notification is out

    @property
    def rollout_id(self) -> str:
        return self.history.rollout_id

    def unannounced(self) -> Record:
        """The record of a rollout whose notification failed: the state keeps the notice to send."""
        return replace(self, state=replace(self.state, notice=Status.DEPLOYING.value), announced=False)


def deploying(
    attempt: Attempt,
    service: Service,
    state: ServiceState,
    deployment_id: str | None,
    containers: tuple[str, ...],
    replaces: ServiceState,
) -> Record:
    """The DEPLOYING outcome of a claimed rollout, its history (stamped with the claim's time) and state.

    ``service`` is the service as UpdateService returned it; ``replaces`` is the service's
    state as stored, which the DEPLOYING state is written over. The claim names the rollout
    it took the service from while that still deployed: this one supersedes it.
    """
    assert state.task_definition is not None
    outcome = attempt.outcome(
        Status.DEPLOYING,
        ACCEPTED,
        service=service,
        task_definition=state.task_definition,
        previous_task_definition=state.previous_task_definition,
        deployment_id=deployment_id,
        containers=containers,
        expects_rollback=expects_rollback(attempt.rule),
        service_deployment=service.current_service_deployment,
        supersedes=state.supersedes,
    )
    history = to_rollout(attempt.push, outcome, state.claimed_at)
    deploying_state = state.advance(status="DEPLOYING", deployment_id=deployment_id, notice=None, supersedes=None)
    return Record(outcome, history, deploying_state, replaces.generation)


def to_rollout(push: Push, outcome: Outcome, now: datetime) -> Rollout:
    """The history record of a rollout that UpdateService accepted."""
    assert outcome.service is not None and outcome.task_definition is not None
    return Rollout(
        rollout_id=outcome.rollout_id or "",
        key=outcome.service.key,
        cluster=outcome.service.cluster_name,
        service=outcome.service.name,
        service_arn=outcome.service.arn,
        repository=push.repository,
        tag=push.tag,
        digest=push.digest,
        image=push.image,
        rule=outcome.rule or "",
        launch_type=outcome.service.launch_type,
        task_definition=outcome.task_definition,
        previous_task_definition=outcome.previous_task_definition,
        deployment_id=outcome.deployment_id,
        status=outcome.status.value,
        reason=outcome.reason,
        started_at=now,
        event_id=push.event_id,
        containers=outcome.containers,
        expects_rollback=outcome.expects_rollback,
        initiated_by=push.initiated_by,
        approved_by=push.approved_by,
        strategy=outcome.strategy or ROLLING,
        service_deployment_arn=outcome.service_deployment,
        stage_changed_at=now,
        pushed_at=push.time,
    )
