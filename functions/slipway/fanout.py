"""Roll one push out to many services with one DynamoDB transaction per step, not per service.

Each service still goes through the states one rollout does (claim PENDING, register,
UpdateService, DEPLOYING with its history), and each write keeps its condition on the
generation read. What changes is how the writes travel: the claims of every service go
in transactions of up to 100, then each service registers its revision and is updated
on the worker pool, then the histories go in transactions again. A transaction that does
not go through (a concurrent push claimed one of its services, or DynamoDB refused it)
falls back to one write per service, so nothing is lost and the other services are not
held up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import partial

from aws_lambda_powertools import Logger

from slipway.errors import AwsError, ConditionFailed
from slipway.model import Push, Service, ServiceState, TaskDefinition
from slipway.ports import Store
from slipway.rollout import Outcome, Plan, Record, TargetRollout, error_outcome, plan
from slipway.rules import Rule, Target
from slipway.workers import parallel_map

logger = Logger(child=True)

RECORDS_PER_TRANSACTION = 14  # a record is at most 7 items, a transaction at most 100
RECORD_WRITERS = 4


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
    state: ServiceState  # the claim
    previous: ServiceState | None


class PushRollout:
    """Rolls one push out to many services, batching the DynamoDB writes of each step."""

    def __init__(self, rollout: TargetRollout, store: Store, workers: int) -> None:
        self._rollout = rollout
        self._store = store
        self._workers = workers

    def run(self, push: Push, items: Sequence[Ready], states: Mapping[str, ServiceState] | None) -> list[Outcome]:
        """One Outcome per item, in order. Without ``states`` (or for one item) each target goes alone."""
        if states is None or len(items) <= 1:
            return self._one_by_one(push, items, states)
        outcomes: dict[int, Outcome] = {}
        alone: list[int] = []  # resumed, busy or repeated services, and lost claims: after the batch
        claims = self._plan(push, items, states, outcomes, alone)
        claimed = self._write_states(claims, alone)
        outcomes.update(self._deploy_and_record(push, claimed))
        later = self._one_by_one(push, [items[i] for i in alone], None)
        outcomes.update(zip(alone, later, strict=True))
        return [outcomes[i] for i in range(len(items))]

    def _one_by_one(
        self, push: Push, items: Sequence[Ready], states: Mapping[str, ServiceState] | None
    ) -> list[Outcome]:
        def one(item: Ready) -> Outcome:
            return self._rollout.run(push, item.rule, item.target, item.service, item.taskdef, states)

        return parallel_map(one, items, self._workers)

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

    def _deploy_and_record(self, push: Push, claimed: list[_Claimed]) -> dict[int, Outcome]:
        """Register and update every claimed service on the worker pool, recording them as they finish.

        The records go in groups of RECORDS_PER_TRANSACTION on a pool of their own, while
        the ECS calls of the services still deploying go on.
        """
        outcomes: dict[int, Outcome] = {}
        if not claimed:
            return outcomes
        writes: list[Future[dict[int, Outcome]]] = []
        with (
            ThreadPoolExecutor(max_workers=min(self._workers, len(claimed))) as steps,
            ThreadPoolExecutor(max_workers=RECORD_WRITERS) as writers,
        ):
            ready: list[tuple[_Claimed, Record]] = []
            for done in as_completed([steps.submit(self._deploy, push, claim) for claim in claimed]):
                claim, result = done.result()
                if isinstance(result, Outcome):
                    outcomes[claim.index] = result
                    continue
                ready.append((claim, result))
                if len(ready) == RECORDS_PER_TRANSACTION:
                    writes.append(writers.submit(self._write_records, ready))
                    ready = []
            if ready:
                writes.append(writers.submit(self._write_records, ready))
            for write in writes:
                outcomes.update(write.result())
        return outcomes

    def _deploy(self, push: Push, claim: _Claimed) -> tuple[_Claimed, Record | Outcome]:
        """Register and update one claimed service; an AWS error ends that target."""
        ready = claim.ready
        try:
            record = self._rollout.deploy(
                push, ready.rule, ready.target, ready.service, claim.decision, claim.state, claim.previous
            )
        except AwsError as error:
            return claim, error_outcome(ready.rule, ready.target, ready.service, error, claim.state.rollout_id)
        return claim, record

    def _write_records(self, records: list[tuple[_Claimed, Record]]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
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
        return outcomes

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
