"""Roll one push out to many services with one DynamoDB transaction per step, not per service.

Each service still goes through the states one rollout does (claim PENDING, register,
REGISTERED, UpdateService, DEPLOYING with its history), and each write keeps its
condition on the generation read. What changes is how the writes travel: the claims of
every service go in transactions of up to 100, then the REGISTERED states, then the
histories, while the ECS calls between them run on the worker pool. A transaction that
does not go through (a concurrent push claimed one of its services, or DynamoDB refused
it) falls back to one write per service, so nothing is lost and the other services are
not held up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from slipway.errors import AwsError, ConditionFailed
from slipway.model import Push, Service, ServiceState, TaskDefinition
from slipway.ports import Store
from slipway.rollout import Outcome, Plan, Record, TargetRollout, deployment_configuration, error_outcome, plan
from slipway.rules import Rule, Target

logger = Logger(child=True)
T = TypeVar("T")

Parallel = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


@dataclass(frozen=True)
class Ready:
    """A target whose service and task definition were read: everything a rollout needs."""

    rule: Rule
    target: Target
    service: Service
    taskdef: TaskDefinition


@dataclass(frozen=True)
class _Claimed:
    index: int
    ready: Ready
    decision: Plan
    state: ServiceState  # the claim, then the REGISTERED state
    previous: ServiceState | None


class PushRollout:
    """Rolls one push out to many services, batching the DynamoDB writes of each step."""

    def __init__(self, rollout: TargetRollout, store: Store, parallel: Parallel) -> None:
        self._rollout = rollout
        self._store = store
        self._parallel = parallel

    def run(self, push: Push, items: Sequence[Ready], states: Mapping[str, ServiceState] | None) -> list[Outcome]:
        """One Outcome per item, in order. Without ``states`` (or for one item) each target goes alone."""
        if states is None or len(items) <= 1:
            return self._one_by_one(push, items, states)
        outcomes: dict[int, Outcome] = {}
        alone: list[int] = []  # resumed, busy or repeated services, and lost claims: after the batch
        claims = self._plan(push, items, states, outcomes, alone)
        claimed = self._write_states(claims, alone)
        registered = self._steps(claimed, self._register, outcomes)
        updatable = self._write_registered(registered, outcomes)
        records = self._steps(updatable, partial(self._update, push), outcomes)
        self._write_records(records, outcomes)
        later = self._one_by_one(push, [items[i] for i in alone], None)
        outcomes.update(zip(alone, later, strict=True))
        return [outcomes[i] for i in range(len(items))]

    def _one_by_one(
        self, push: Push, items: Sequence[Ready], states: Mapping[str, ServiceState] | None
    ) -> list[Outcome]:
        def one(item: Ready) -> Outcome:
            return self._rollout.run(push, item.rule, item.target, item.service, item.taskdef, states)

        return self._parallel(one, items)

    def _plan(
        self,
        push: Push,
        items: Sequence[Ready],
        states: Mapping[str, ServiceState],
        outcomes: dict[int, Outcome],
        alone: list[int],
    ) -> list[_Claimed]:
        claims: list[_Claimed] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            key = item.service.key
            state = states.get(key)
            claim = self._rollout.claim(push, item.rule, item.service, state)
            own = state is not None and state.rollout_id == claim.rollout_id
            if key in seen or own or (state is not None and self._rollout.busy(state)):
                alone.append(index)
                continue
            seen.add(key)
            decision = plan(push, item.rule, item.target, item.service, item.taskdef, state)
            if isinstance(decision, Outcome):
                outcomes[index] = decision
                continue
            claims.append(_Claimed(index, item, decision, claim, state))
        return claims

    def _write_states(self, claims: list[_Claimed], alone: list[int]) -> list[_Claimed]:
        """Claim the services together; the claims of a transaction that failed go alone."""
        writes = [(c.state, c.previous.generation if c.previous else None) for c in claims]
        failed = self._store.put_states(writes)
        lost = {state.key for state, _ in failed}
        alone.extend(c.index for c in claims if c.state.key in lost)
        return [c for c in claims if c.state.key not in lost]

    def _steps(
        self, claims: list[_Claimed], step: Callable[[_Claimed], T], outcomes: dict[int, Outcome]
    ) -> list[tuple[_Claimed, T]]:
        """Run an ECS step for every claim on the worker pool; an AWS error ends that target."""

        def guarded(claim: _Claimed) -> tuple[_Claimed, T | Outcome]:
            try:
                return claim, step(claim)
            except AwsError as error:
                ready = claim.ready
                return claim, error_outcome(ready.rule, ready.target, ready.service, error, claim.state.rollout_id)

        done: list[tuple[_Claimed, T]] = []
        for claim, result in self._parallel(guarded, claims):
            if isinstance(result, Outcome):
                outcomes[claim.index] = result
            else:
                done.append((claim, result))
        return done

    def _register(self, claim: _Claimed) -> ServiceState:
        return self._rollout.register(claim.decision, claim.state, claim.previous)

    def _write_registered(
        self, registered: list[tuple[_Claimed, ServiceState]], outcomes: dict[int, Outcome]
    ) -> list[_Claimed]:
        writes = [(state, claim.state.generation) for claim, state in registered]
        failed = {state.key for state, _ in self._store.put_states(writes)}
        written: list[_Claimed] = []
        for claim, state in registered:
            if state.key in failed:
                problem = self._guard(claim, partial(self._store.put_state, state, claim.state.generation))
                if problem is not None:
                    outcomes[claim.index] = problem
                    continue
            written.append(replace(claim, state=state))
        return written

    def _update(self, push: Push, claim: _Claimed) -> Record:
        ready = claim.ready
        config = deployment_configuration(ready.service, ready.rule)
        return self._rollout.update(
            push,
            ready.rule,
            ready.target,
            ready.service,
            claim.state,
            config,
            claim.previous,
            claim.decision.containers,
        )

    def _write_records(self, records: list[tuple[_Claimed, Record]], outcomes: dict[int, Outcome]) -> None:
        failed = {
            history.rollout_id
            for history, _, _ in self._store.put_rollouts(
                [(r.history, r.state, r.expected_generation) for _, r in records]
            )
        }
        for claim, record in records:
            if record.history.rollout_id in failed:
                problem = self._guard(claim, partial(self._rollout.write, record))
                if problem is not None:
                    outcomes[claim.index] = problem
                    continue
            outcomes[claim.index] = record.outcome

    @staticmethod
    def _guard(claim: _Claimed, write: Callable[[], object]) -> Outcome | None:
        """Do one write; its AWS error or lost condition as the target's ERROR outcome."""
        ready = claim.ready
        try:
            write()
        except AwsError as error:
            return error_outcome(ready.rule, ready.target, ready.service, error, claim.state.rollout_id)
        except ConditionFailed as error:
            lost = AwsError("PutItem", "ConditionalCheckFailedException", f"{error}; the push will be retried")
            return replace(
                error_outcome(ready.rule, ready.target, ready.service, lost, claim.state.rollout_id), retryable=True
            )
        return None
