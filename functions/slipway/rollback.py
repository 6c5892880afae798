"""Return a service to an earlier revision, recorded, tracked and notified like any rollout."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from slipway import places
from slipway.attempt import Assignment, Attempt, Deploy
from slipway.claims import Claims
from slipway.errors import AwsError, ConditionFailed, SlipwayError
from slipway.model import Push, Rollout, Service, Status, TaskDefinition
from slipway.outcome import Outcome, error_outcome, notification
from slipway.plan import TAG_PREFIX, deployment_configuration, image_repository, image_tag
from slipway.ports import Ecs, Notifier, RollbackStore, Superseder
from slipway.reading import TargetReader
from slipway.recorder import write_record
from slipway.records import Record
from slipway.rollout import Roller
from slipway.rules import Rule, RuleSpec, Target

ROLLBACK_RULE = "rollback"


class RollbackRefused(SlipwayError):
    """A rollback that cannot be done, with the reason in words."""


def split_key(key: str) -> tuple[str, str]:
    """``(cluster, service)`` from ``CLUSTER/SERVICE``, or from ``ACCOUNT:REGION:CLUSTER/SERVICE`` with the
    cluster as its ARN (which says where ECS is to be asked)."""
    place, local = places.split_key(key)
    cluster, sep, service = local.partition("/")
    if not sep or not cluster or not service or "/" in service or ":" in cluster:
        raise RollbackRefused(f"{key!r} is not CLUSTER/SERVICE (or ACCOUNT:REGION:CLUSTER/SERVICE)")
    if place is not None:
        cluster = places.cluster_arn(cluster, place)
    return cluster, service


def choose_revision(service: Service, history: list[Rollout], to: str | None) -> tuple[str, Rollout | None]:
    """The revision to return a service to and the rollout that made it, if history knows one (``choose``)."""
    return choose(service.task_definition, history, to, service.key)


def choose(current: str, history: list[Rollout], to: str | None, key: str) -> tuple[str, Rollout | None]:
    """The revision to return ``key`` (running ``current``) to, and the rollout that made it, if history knows one.

    Without ``to``: the newest SUCCEEDED rollout whose revision is not the one running.
    ``to`` may be a digest (``sha256:...``) from history, or a task definition
    (``family:revision`` or ARN).
    """
    if to is None:
        for rollout in history:
            if rollout.status == Status.SUCCEEDED.value and rollout.task_definition != current:
                return rollout.task_definition, rollout
        earliest = history[-1] if history else None
        if earliest and earliest.previous_task_definition and earliest.previous_task_definition != current:
            return earliest.previous_task_definition, None
        raise RollbackRefused(f"no earlier successful revision of {key} in history; name one with --to")
    if to.startswith("sha256:"):
        matches = [r for r in history if r.digest == to]
        if not matches:
            raise RollbackRefused(f"{to} was never rolled out to {key} (see slipway history)")
        best = next((r for r in matches if r.status == Status.SUCCEEDED.value), matches[0])
        return best.task_definition, best
    by_revision = next((r for r in history if r.task_definition == to or r.task_definition.endswith("/" + to)), None)
    return to, by_revision


class Rollback:
    """Runs a rollback through the claim and UpdateService path of every rollout."""

    def __init__(
        self,
        ecs: Ecs,
        store: RollbackStore,
        notifier: Notifier,
        tracker: Superseder | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ecs = ecs
        self._store = store
        self._notifier = notifier
        self._tracker = tracker
        self._clock = clock
        self._claims = Claims(store, TargetReader(ecs, store, workers=1), clock)
        self._roller = Roller(ecs, self._claims)

    def run(self, key: str, to: str | None = None, initiated_by: str | None = None) -> Outcome:
        cluster, name = split_key(key)
        lookup = self._ecs.describe_services(cluster, [name])
        if name not in lookup.found:
            raise RollbackRefused(str(lookup.missing[name]))
        service: Service = lookup.found[name]
        revision, source = choose_revision(service, self._store.history(service.key, limit=100), to)
        taskdef: TaskDefinition = self._ecs.describe_task_definition(revision)
        if taskdef.arn == service.task_definition:
            raise RollbackRefused(f"{service.key} already runs {taskdef.arn}")
        push = self._push_for(service, taskdef, source, initiated_by)
        target = Target(cluster=cluster, service=name)
        rule = Rule(
            push.repository,
            ROLLBACK_RULE,
            f"slipway rollback by {initiated_by or 'unknown'}",
            RuleSpec.model_validate({"targets": [target], "allow_downgrade": True}),
        )
        outcome = self._roll_back(Attempt(push, Assignment(rule, target), service, taskdef, None), taskdef.arn)
        failures = self._notifier.publish([notification(push, outcome, self._clock())])
        if outcome.supersedes and self._tracker is not None:
            self._tracker.supersede(outcome.supersedes, f"replaced by rollback {outcome.rollout_id}")
        if failures:
            raise RollbackRefused("rollback started but its notification failed: " + "; ".join(failures))
        return outcome

    def _roll_back(self, attempt: Attempt, revision: str) -> Outcome:
        """Claim the service for the revision (REGISTERED: nothing to register), update, record."""
        try:
            state = self._store.get_state(attempt.key)
            if state is not None and self._claims.busy(state):
                raise AwsError(
                    "Claim", "ServiceBusy", f"service {attempt.key} is in the middle of rollout {state.rollout_id}"
                )
            attempt = replace(attempt, state=state)
            claim = replace(attempt.claim(self._clock()), status="REGISTERED", task_definition=revision)
            try:
                self._store.put_state(claim, state.generation if state else None)
            except ConditionFailed:
                raise AwsError("Claim", "ServiceBusy", f"service {attempt.key} changed hands; try again") from None
            config = deployment_configuration(attempt.service, attempt.rule)
            result = self._roller.update(Deploy(attempt, claim, state, config, ()), revision)
        except AwsError as error:
            return error_outcome(attempt.rule, attempt.target, attempt.service, error)
        return write_record(self._store, result) if isinstance(result, Record) else replace(result, rollout_id=None)

    def _push_for(self, service: Service, taskdef: TaskDefinition, source: Rollout | None, who: str | None) -> Push:
        account, region = service.arn.split(":")[4], service.arn.split(":")[3]
        if source is not None:
            repository, digest, tag = source.repository, source.digest, source.tag
        else:
            image = str(taskdef.containers[0].get("image", "")) if taskdef.containers else ""
            repository = taskdef.tag(TAG_PREFIX + "repository") or image_repository(image).split("/", 1)[-1]
            digest = taskdef.tag(TAG_PREFIX + "digest") or (image.split("@", 1)[1] if "@" in image else "")
            tag = taskdef.tag(TAG_PREFIX + "tag") or image_tag(image)
        return Push(
            event_id=f"rollback-{uuid.uuid4()}",
            account=account,
            region=region,
            repository=repository,
            digest=digest,
            tag=tag,
            time=self._clock(),
            initiated_by=who,
        )
