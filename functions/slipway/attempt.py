"""One target of one push, as it travels through the pipeline: what was read, and where it stands.

- ``Assignment``: a target a push should reach under a rule (before anything is read);
  it is what a hand-on carries to the next invocation.
- ``Attempt``: the assignment with the service, its task definition and its state read.
- ``Deploy``: an attempt that holds the service's claim and is on its way to UpdateService.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from slipway.errors import AwsError
from slipway.model import Push, Service, ServiceState, Status, TaskDefinition
from slipway.outcome import Outcome, error_outcome
from slipway.plan import Plan, rollout_id
from slipway.rules import Rule, Target


@dataclass(frozen=True)
class Assignment:
    """A target a push is to reach under a rule; ``tries`` counts invocations that had to hand it on."""

    rule: Rule
    target: Target
    tries: int = 0
    announced: str | None = None  # the rollout whose DEPLOYING was published before its record was written
    last_error: str | None = None

    @property
    def key(self) -> str:
        return self.target.key


@dataclass(frozen=True)
class Attempt:
    """An assignment tried in this invocation, with the service, its revision and its state as read."""

    push: Push
    assignment: Assignment
    service: Service
    taskdef: TaskDefinition
    state: ServiceState | None  # Slipway's state of the service as read: what a claim must replace

    @property
    def rule(self) -> Rule:
        return self.assignment.rule

    @property
    def target(self) -> Target:
        return self.assignment.target

    @property
    def key(self) -> str:
        return self.service.key

    @property
    def rollout_id(self) -> str:
        return rollout_id(self.push.event_id, self.rule.name, self.service.key)

    @property
    def own(self) -> bool:
        """Whether the service's state is this rollout's: an earlier attempt claimed it."""
        return self.state is not None and self.state.rollout_id == self.rollout_id

    def reread(self, service: Service, taskdef: TaskDefinition, state: ServiceState | None) -> Attempt:
        return replace(self, service=service, taskdef=taskdef, state=state)

    def claim(self, now: datetime) -> ServiceState:
        """The PENDING state that claims the service for this rollout, one generation on."""
        return ServiceState(
            key=self.service.key,
            generation=(self.state.generation if self.state else 0) + 1,
            rollout_id=self.rollout_id,
            event_id=self.push.event_id,
            digest=self.push.digest,
            tag=self.push.tag,
            status="PENDING",
            claimed_at=now,
            previous_task_definition=self.service.task_definition,
            supersedes=_deploying(self.state, self.rollout_id),
        )

    def outcome(self, status: Status, reason: str, **fields: Any) -> Outcome:
        """An outcome of this attempt (``fields`` override the service, revision and so on)."""
        values: dict[str, Any] = {
            "rule": self.rule.name,
            "parameter": self.rule.parameter,
            "target": self.target,
            "service": self.service,
            "rollout_id": self.rollout_id,
            "previous_task_definition": self.service.task_definition,
            "strategy": self.rule.spec.strategy,
        }
        return Outcome(status, reason, **{**values, **fields})

    def error(self, error: AwsError) -> Outcome:
        return error_outcome(self.rule, self.target, self.service, error, self.rollout_id)


@dataclass(frozen=True)
class Deploy:
    """An attempt holding its service's claim, on its way to UpdateService.

    ``claim`` is the state as written: PENDING (its revision is still to be registered
    from ``plan``) or REGISTERED (``claim.task_definition`` is the revision).
    """

    attempt: Attempt
    claim: ServiceState
    previous: ServiceState | None  # what the claim replaced: given back if the rollout cannot go on
    config: dict[str, Any]  # UpdateService's deploymentConfiguration
    containers: tuple[str, ...]
    plan: Plan | None = field(default=None)

    @property
    def revision(self) -> str | None:
        return self.claim.task_definition if self.claim.status == "REGISTERED" else None


def _deploying(state: ServiceState | None, rollout_id: str) -> str | None:
    """The rollout a claim over ``state`` takes the service from while it still deploys (kept in
    the claim, so that an attempt resumed in a later invocation supersedes it too)."""
    if state is None or state.status != "DEPLOYING" or state.rollout_id == rollout_id:
        return None
    return state.rollout_id
