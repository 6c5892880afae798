"""The claim state machine: may this attempt roll its service out, resume it, or must it wait?

Every rollout first claims its service: a state item per ``cluster/service``, written
conditionally on the generation read, so concurrent pushes serialise (the loser re-reads
and re-plans against the winner). The rollout id comes from the event, rule and
service, so an attempt that finds its own claim resumes it:

- PENDING, and the service already runs a revision made for this push: UpdateService
  went through before the earlier attempt ended; record it.
- PENDING otherwise: plan again and register (nothing of ours reached ECS).
- REGISTERED: its revision exists; update the service to it (or record it, if ECS has it).
- DEPLOYING or later: done; say DEPLOYING again only if its notification never went out.

This module is the one place those decisions live: a push to many services and a
single rollout (or rollback) both go through ``decide`` and ``claim_alone``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from slipway.attempt import Attempt, Deploy
from slipway.errors import AwsError, ConditionFailed
from slipway.model import Push, ServiceState, Status
from slipway.outcome import Outcome
from slipway.plan import IN_FLIGHT, deployment_configuration, made_for, plan, rollout_id, select_containers
from slipway.ports import ClaimStore, Rereader

logger = Logger(child=True)

CLAIM_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Busy:
    """Another rollout holds the service right now."""

    attempt: Attempt


@dataclass(frozen=True)
class Fresh:
    """A rollout to start: its claim is still to be written."""

    deploy: Deploy


@dataclass(frozen=True)
class Settle:
    """A rollout whose revision the service already runs: only its record is missing."""

    attempt: Attempt
    state: ServiceState  # REGISTERED, naming the running revision
    replaces: ServiceState  # the state as stored, which the DEPLOYING state is written over


@dataclass(frozen=True)
class Reannounce:
    """A rollout already DEPLOYING whose notification never went out."""

    attempt: Attempt
    state: ServiceState


Decision = Outcome | Busy | Fresh | Deploy | Settle | Reannounce


class Claims:
    """Decides, claims and gives back services, through the store's conditional writes."""

    def __init__(
        self,
        store: ClaimStore,
        reader: Rereader,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        hook_role: str | None = None,  # the role ECS invokes Lambda lifecycle hooks with
    ) -> None:
        self._hook_role = hook_role
        self._store = store
        self._reader = reader
        self._clock = clock
        self._sleep = sleep

    def busy(self, state: ServiceState) -> bool:
        """Whether another rollout holds the service (a claim in flight and not yet stale)."""
        return state.status in IN_FLIGHT and self._clock() - state.claimed_at < STALE_CLAIM

    def decide(self, attempt: Attempt) -> Decision:
        """What this attempt does next, against the state it read (nothing is written here)."""
        state = attempt.state
        if attempt.own:
            assert state is not None
            return self._resume(attempt, state)
        if state is not None and self.busy(state):
            return Busy(attempt)
        decision = plan(
            attempt.push, attempt.rule, attempt.target, attempt.service, attempt.taskdef, state, self._hook_role
        )
        if isinstance(decision, Outcome):
            return decision
        claim = attempt.claim(self._clock())
        return Fresh(
            Deploy(attempt, claim, state, decision.deployment_configuration, decision.containers, plan=decision)
        )

    def _resume(self, attempt: Attempt, state: ServiceState) -> Decision:
        logger.info("resuming a rollout of an earlier attempt", extra={"status": state.status, "service": state.key})
        service = attempt.service
        if state.status == "PENDING":
            if made_for(attempt.taskdef, state):
                running = state.advance(status="REGISTERED", task_definition=service.task_definition)
                return Settle(attempt, running, replaces=state)
            decision = plan(attempt.push, attempt.rule, attempt.target, service, attempt.taskdef, None, self._hook_role)
            if isinstance(decision, Outcome):
                self.release(state, None)
                return decision
            return Deploy(attempt, state, None, decision.deployment_configuration, decision.containers, plan=decision)
        if state.status == "REGISTERED":
            if service.task_definition == state.task_definition:
                return Settle(attempt, state, replaces=state)
            config = deployment_configuration(service, attempt.rule, self._hook_role)
            return Deploy(attempt, state, None, config, containers_of(attempt))
        if state.status == "DEPLOYING" and state.notice == "DEPLOYING":
            return Reannounce(attempt, state)
        # Reported already: DEPLOYING was published, or the tracker has moved it on since.
        return attempt.outcome(
            Status.DEPLOYING,
            "UpdateService accepted the new revision",
            quiet=True,
            task_definition=state.task_definition,
            previous_task_definition=state.previous_task_definition,
            deployment_id=state.deployment_id,
        )

    def claim_alone(self, attempt: Attempt) -> Decision:
        """Decide and claim one attempt, re-reading and backing off while the service is busy
        or another writer wins the claim; a Deploy, Settle, Reannounce or the Outcome that ends it."""
        for round_ in range(CLAIM_ATTEMPTS):
            decision = self.decide(attempt)
            if isinstance(decision, Busy):
                self._sleep(0.2 * 2**round_)
                attempt = self._reader.reread(attempt)
                continue
            if isinstance(decision, Fresh):
                deploy = decision.deploy
                try:
                    self._store.put_state(deploy.claim, deploy.previous.generation if deploy.previous else None)
                except ConditionFailed:
                    logger.info("lost the claim on a service, re-planning", extra={"service": attempt.key})
                    attempt = self._reader.reread(attempt)
                    continue
                return deploy
            return decision
        return attempt.outcome(
            Status.ERROR,
            f"service {attempt.key} stayed busy with other rollouts; it will be tried again",
            error_code="ServiceBusy",
            retryable=True,
        )

    def claim_many(self, fresh: Sequence[Fresh]) -> tuple[list[Deploy], list[Attempt]]:
        """Claim many services in transactions; those whose transaction failed go alone."""
        writes = [(f.deploy.claim, f.deploy.previous.generation if f.deploy.previous else None) for f in fresh]
        lost = {state.key for state, _ in self._store.put_states(writes)}
        claimed = [f.deploy for f in fresh if f.deploy.claim.key not in lost]
        return claimed, [f.deploy.attempt for f in fresh if f.deploy.claim.key in lost]

    def release(self, claim: ServiceState, previous: ServiceState | None) -> None:
        """Give the service back after a rollout that cannot go on."""
        try:
            if previous is None:
                self._store.delete_state(claim.key, claim.rollout_id)
            else:
                restored = replace(previous, generation=claim.generation + 1)
                self._store.put_state(restored, claim.generation)
        except ConditionFailed:
            logger.warning("claim changed hands before release", extra={"service": claim.key})

    def drop(self, push: Push, tried: Sequence[tuple[str, str]]) -> None:
        """Give back the claims of targets that will not be rolled out after all (a newer push
        overtook them, or their rule let them go) while they waited to be carried on.

        ``tried`` are the (rule name, service key) of such targets an earlier invocation tried:
        only those can hold a claim. Their state says DROPPED afterwards, so the service is
        free at once for the push that overtook them, not only after STALE_CLAIM.
        """
        if not tried:
            return
        keys = [key for _, key in tried]
        states = self._store.get_states(keys) if len(keys) > 1 else {}
        for rule, key in tried:
            state = states.get(key) if len(keys) > 1 else self._store.get_state(key)
            own = state is not None and state.rollout_id == rollout_id(push.event_id, rule, key)
            if own and state is not None and state.status in IN_FLIGHT:
                try:
                    self._store.put_state(state.advance(status="DROPPED"), state.generation)
                except ConditionFailed:
                    pass  # it changed hands meanwhile: not ours to give back

    def keep(self, registered: ServiceState, expected_generation: int) -> None:
        """Write the REGISTERED state after a failed UpdateService, so the next attempt reuses the revision."""
        try:
            self._store.put_state(registered, expected_generation)
        except (AwsError, ConditionFailed) as error:
            logger.warning(
                "registered revision not kept; the next attempt registers another",
                extra={"service": registered.key, "task_definition": registered.task_definition, "error": str(error)},
            )


def containers_of(attempt: Attempt) -> tuple[str, ...]:
    """The containers the push changes in the attempt's task definition (none if Slipway cannot choose)."""
    try:
        return select_containers(attempt.taskdef, attempt.target, attempt.push)
    except ValueError:
        return ()
