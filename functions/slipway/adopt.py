"""Adopting a service: its current revision recorded as its baseline in history.

A service Slipway never deployed has no history, so ``slipway rollback`` has nowhere to
return to. Adopting writes one SUCCEEDED entry (rule ``adopt``, no deployment) for the
revision the service runs now; from then on it is the earlier revision a rollback finds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from slipway.control import IN_FLIGHT
from slipway.errors import SlipwayError
from slipway.model import Rollout, Service, Status, TaskDefinition
from slipway.plan import TAG_PREFIX, image_repository, image_tag
from slipway.ports import FleetStore, ServiceLookup
from slipway.rollback import split_key

ADOPT_RULE = "adopt"


class AdoptRefused(SlipwayError):
    """A service that cannot be adopted, with the reason in words."""


class AdoptEcs(Protocol):
    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup: ...

    def describe_task_definition(self, arn: str) -> TaskDefinition: ...


def image_of(taskdef: TaskDefinition) -> tuple[str, str, str | None]:
    """``(repository, digest, tag)`` of a revision: Slipway's tags on it, else its first container's image."""
    image = str(taskdef.containers[0].get("image", "")) if taskdef.containers else ""
    repository = taskdef.tag(TAG_PREFIX + "repository") or image_repository(image).split("/", 1)[-1]
    digest = taskdef.tag(TAG_PREFIX + "digest") or (image.split("@", 1)[1] if "@" in image else "")
    tag = taskdef.tag(TAG_PREFIX + "tag") or image_tag(image)
    return repository, digest, tag


def baseline(service: Service, taskdef: TaskDefinition, who: str | None, now: datetime) -> Rollout:
    """The history entry that records what ``service`` runs as a success Slipway knows."""
    repository, digest, tag = image_of(taskdef)
    return Rollout(
        rollout_id=str(uuid.uuid4()),
        key=service.key,
        cluster=service.cluster_name,
        service=service.name,
        service_arn=service.arn,
        repository=repository,
        tag=tag,
        digest=digest,
        image=str(taskdef.containers[0].get("image", "")) if taskdef.containers else "",
        rule=ADOPT_RULE,
        launch_type=service.launch_type,
        task_definition=service.task_definition,
        previous_task_definition=None,
        deployment_id=None,
        status=Status.SUCCEEDED.value,
        reason=f"adopted by {who or 'unknown'}: the revision the service ran when Slipway took it on",
        started_at=now,
        finished_at=now,
        event_id=f"adopt-{uuid.uuid4()}",
        initiated_by=who,
    )


class Adopter:
    """Records a service's running revision as its baseline, once, and never over a rollout in flight."""

    def __init__(
        self, ecs: AdoptEcs, store: FleetStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._ecs = ecs
        self._store = store
        self._clock = clock

    def adopt(self, key: str, who: str | None) -> Rollout:
        cluster, name = split_key(key)
        lookup = self._ecs.describe_services(cluster, [name])
        if name not in lookup.found:
            raise AdoptRefused(str(lookup.missing[name]))
        service = lookup.found[name]
        history = self._store.history(service.key, limit=20)
        if history and history[0].status in IN_FLIGHT:
            raise AdoptRefused(f"{service.key} has rollout {history[0].rollout_id} in flight; adopt it once it ends")
        known = next((r for r in history if r.status == Status.SUCCEEDED.value), None)
        if known is not None and known.task_definition == service.task_definition:
            raise AdoptRefused(
                f"{service.key} runs {service.task_definition.rsplit('/', 1)[-1]}, which history already records "
                f"as succeeded (rollout {known.rollout_id})"
            )
        taskdef = self._ecs.describe_task_definition(service.task_definition)
        rollout = baseline(service, taskdef, who, self._clock())
        self._store.put_rollout(rollout)
        return rollout
