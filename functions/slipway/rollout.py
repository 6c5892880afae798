"""The two ECS steps of a rollout: register a group's revision once, point each service at it.

Each step leaves the service's claim right for what comes next: a refused call gives
the claim back (the target ends in ERROR); a call that may succeed later (throttling,
5xx, time running out) keeps it, with the registered revision written down when there
is one, so that the next attempt resumes instead of registering again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slipway.attempt import Deploy
from slipway.claims import Claims, Settle, containers_of
from slipway.errors import AwsError
from slipway.outcome import Outcome
from slipway.ports import Ecs
from slipway.records import Record, deploying
from slipway.revisions import RevisionGroup


@dataclass(frozen=True)
class Registered:
    """A group's revision, or why every member of the group ends here."""

    revision: str | None
    outcomes: tuple[Outcome, ...] = ()


# A revision registered already for a group's very body (the one its rule's pre-deploy task ran), or None.
KnownRevision = Callable[[RevisionGroup], str | None]


class Roller:
    """Registers revisions and updates services through the ECS port, minding the claims."""

    def __init__(self, ecs: Ecs, claims: Claims, known: KnownRevision | None = None) -> None:
        self._ecs = ecs
        self._claims = claims
        self._known = known

    def register(self, group: RevisionGroup) -> Registered:
        """The group's revision: registered once for all its members (or known already)."""
        if group.revision is not None:
            return Registered(group.revision)
        known = self._known(group) if self._known else None
        if known is not None:
            return Registered(known)
        try:
            return Registered(self._ecs.register_task_definition(group.body, group.tags, group.place))
        except AwsError as error:
            if not error.retryable:
                for member in group.members:
                    self._claims.release(member.claim, member.previous)
            return Registered(None, tuple(member.attempt.error(error) for member in group.members))

    def update(self, deploy: Deploy, revision: str) -> Record | Outcome:
        """UpdateService to ``revision``; the Record to write, or the Outcome that ends the target.

        A refused call gives the claim back; one worth retrying writes the REGISTERED state
        (when the claim did not name the revision yet) so that the retry reuses it.
        """
        attempt, stored = deploy.attempt, deploy.claim
        if stored.status == "REGISTERED" and stored.task_definition == revision:
            state = stored
        else:
            state = stored.advance(status="REGISTERED", task_definition=revision)
        service = attempt.service
        try:
            updated = self._ecs.update_service(service.cluster_arn, service.name, revision, deploy.config)
        except AwsError as error:
            if not error.retryable:
                self._claims.release(stored, deploy.previous)
            elif state is not stored:
                self._claims.keep(state, stored.generation)
            return attempt.error(error)
        deployment = next((d for d in updated.deployments if d.task_definition == revision), None)
        deployment_id = deployment.id if deployment else None
        return deploying(attempt, updated, state, deployment_id, deploy.containers, stored)

    @staticmethod
    def settle(settle: Settle) -> Record:
        """The record of a rollout whose revision the service already runs (an earlier attempt's UpdateService)."""
        attempt = settle.attempt
        primary = attempt.service.primary()
        deployment_id = primary.id if primary else None
        containers = containers_of(attempt)
        return deploying(attempt, attempt.service, settle.state, deployment_id, containers, settle.replaces)
