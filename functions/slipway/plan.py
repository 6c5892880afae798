"""Deciding what one push does to one service: pure, no AWS, no I/O.

``plan`` takes the service, its task definition and Slipway's last decision for the
service (its state) and returns either the Plan of the new revision to register or
the Outcome that ends the target here: a skip (already running, a downgrade, the same
digest rolled out by another push) or an error (a container Slipway cannot choose, a
deployment controller it does not drive).
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from semver import Version

from slipway import strategy
from slipway.model import RECONCILE, Push, Service, ServiceState, Status, TaskDefinition
from slipway.outcome import Outcome
from slipway.rules import Rule, Target
from slipway.scheduled_targets import ScheduledTarget
from slipway.versions import parse_version

ROLLOUT_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-4c5d-9e6f-a7b8c9d0e1f2")
TAG_PREFIX = "slipway:"
IN_FLIGHT = frozenset({"PENDING", "REGISTERED"})
LIVE = frozenset({"PENDING", "REGISTERED", "DEPLOYING", "SUCCEEDED"})
SUPPORTED_CONTROLLERS = frozenset({"ECS"})
TAG_VALUE_LIMIT = 256  # characters of an ECS tag value


@dataclass(frozen=True)
class Plan:
    """A rollout that should happen: which containers change and the new revision's body."""

    containers: tuple[str, ...]
    body: dict[str, Any]
    deployment_configuration: dict[str, Any]
    tags: tuple[tuple[str, str], ...] = field(default=())


def rollout_id(event_id: str, rule: str, key: str) -> str:
    """A stable id for one event's rollout of one rule to one service (same on retries)."""
    return str(uuid.uuid5(ROLLOUT_NAMESPACE, f"{event_id}|{rule}|{key}"))


def image_repository(image: str) -> str:
    """``registry/repository`` of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def image_tag(image: str) -> str | None:
    """The tag of an image reference, if it names one."""
    name = image.split("@", 1)[0]
    _, sep, tail = name.rpartition(":")
    return tail if sep and "/" not in tail else None


def select_containers(taskdef: TaskDefinition, target: Target | ScheduledTarget, push: Push) -> tuple[str, ...]:
    """Containers the push updates; ValueError (ambiguous or unknown container) otherwise."""
    names = [str(c.get("name")) for c in taskdef.containers]
    if target.container:
        if target.container not in names:
            raise ValueError(
                f'container "{target.container}" is not in task definition {taskdef.arn} (has: {", ".join(names)})'
            )
        return (target.container,)
    from_repository = tuple(
        str(c["name"]) for c in taskdef.containers if image_repository(str(c.get("image", ""))) == push.repository_uri
    )
    if from_repository:
        return from_repository
    if len(names) == 1:
        return (names[0],)
    raise ValueError(
        f"ambiguous container: none of {', '.join(names)} runs an image from {push.repository_uri}; "
        'name one with "container" in the rule target'
    )


def body_fingerprint(body: dict[str, Any]) -> str:
    """What a revision's body is, in a few bytes: two bodies with one fingerprint register the same revision."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def clone_with_image(taskdef: TaskDefinition, containers: tuple[str, ...], image: str) -> dict[str, Any]:
    """The task definition body with only the given containers' image replaced."""
    body = copy.deepcopy(taskdef.body)
    for container in body.get("containerDefinitions", []):
        if container.get("name") in containers:
            container["image"] = image
    return body


def deployed_version(
    taskdef: TaskDefinition, containers: tuple[str, ...], state: ServiceState | None, service: Service
) -> tuple[Version | None, str | None]:
    """The highest semantic version the service runs or Slipway is moving it to, and its tag.

    Both count: the running revision's tag, and the tag of Slipway's latest decision
    while it is in flight or deploying (the service read may predate it) or while the
    service still runs it. A failed, rolled back or superseded decision, or one the
    service was moved away from by hand, no longer counts.
    """
    candidates: list[tuple[Version, str]] = []
    moving = state is not None and (state.status in IN_FLIGHT or state.status == "DEPLOYING")
    settled_here = state is not None and state.status in LIVE and state.task_definition == service.task_definition
    if state is not None and (moving or settled_here) and state.tag:
        version = parse_version(state.tag)
        if version is not None:
            candidates.append((version, state.tag))
    tag = taskdef.tag(TAG_PREFIX + "tag")
    if tag is None:
        images = [str(c.get("image", "")) for c in taskdef.containers if c.get("name") in containers]
        tag = next((t for t in (image_tag(i) for i in images) if t), None)
    running = parse_version(tag) if tag else None
    if running is not None and tag:
        candidates.append((running, tag))
    if not candidates:
        return None, None
    return max(candidates, key=lambda item: item[0])


def runs_digest(taskdef: TaskDefinition, containers: tuple[str, ...], push: Push) -> bool:
    images = [str(c.get("image", "")) for c in taskdef.containers if c.get("name") in containers]
    return bool(images) and all(
        i.endswith("@" + push.digest) and image_repository(i) == push.repository_uri for i in images
    )


def deployment_configuration(service: Service, rule: Rule, hook_role: str | None = None) -> dict[str, Any]:
    """The service's deployment configuration with the rule's strategy, circuit breaker and alarms."""
    return strategy.configuration(service, rule, hook_role)


def plan(
    push: Push,
    rule: Rule,
    target: Target,
    service: Service,
    taskdef: TaskDefinition,
    state: ServiceState | None,
    hook_role: str | None = None,
) -> Plan | Outcome:
    """Decide what a push does to one service: a Plan to apply, or the Outcome that ends it."""
    base: dict[str, Any] = {
        "rule": rule.name,
        "parameter": rule.parameter,
        "target": target,
        "service": service,
        "strategy": rule.spec.strategy,
    }
    base["previous_task_definition"] = service.task_definition
    if service.deployment_controller not in SUPPORTED_CONTROLLERS:
        return Outcome(
            Status.ERROR,
            f"unsupported deployment controller {service.deployment_controller}: "
            "Slipway rolls out services that use the ECS (rolling update) controller",
            error_code="UnsupportedDeploymentController",
            **base,
        )
    unfit = strategy.unfit(service, rule, hook_role)
    if unfit is not None:
        return Outcome(Status.ERROR, unfit, error_code="StrategyUnsupported", **base)
    try:
        containers = select_containers(taskdef, target, push)
    except ValueError as error:
        code = "AmbiguousContainer" if "ambiguous" in str(error) else "ContainerNotFound"
        return Outcome(Status.ERROR, str(error), error_code=code, **base)
    base["containers"] = containers
    if runs_digest(taskdef, containers, push):
        return Outcome(Status.SKIPPED, f"already running {push.digest} in {', '.join(containers)}", **base)
    if state is not None and state.digest == push.digest:
        verb = "is being rolled out" if state.status in IN_FLIGHT else f"was rolled out ({state.status})"
        label = f"tag {state.tag}" if state.tag else "a push"
        return Outcome(Status.SKIPPED, f"{push.digest} {verb} by {label}, rollout {state.rollout_id}", **base)
    downgrade = _downgrade(push, rule, taskdef, containers, state, service) or _older_than_running(push, taskdef)
    if downgrade:
        return Outcome(Status.SKIPPED, downgrade, **base)
    tags = push_tags(push, rule, rollout_id(push.event_id, rule.name, service.key))
    return Plan(
        containers=containers,
        body=clone_with_image(taskdef, containers, push.image),
        deployment_configuration=deployment_configuration(service, rule, hook_role),
        tags=merge_tags(taskdef.tags, tags),
    )


def push_tags(push: Push, rule: Rule, rollout: str) -> tuple[tuple[str, str], ...]:
    """Slipway's tags of a revision it registers (``slipway:`` is prefixed by ``merge_tags``): the push, the rule
    and the rollout it is for."""
    return (
        ("repository", push.repository),
        ("tag", push.tag or ""),
        ("digest", push.digest),
        ("rule", rule.name),
        ("event-id", push.event_id),
        ("rollout-id", rollout),
    )


def merge_tags(existing: tuple[tuple[str, str], ...], ours: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The revision's tags: the family's own (AWS-reserved ones dropped) plus Slipway's.

    ECS takes tag values of up to 256 characters and ECR tags may have 300: a longer
    image tag is cut (the digest, not the tag, says what runs).
    """
    ours_keyed = {TAG_PREFIX + k: v[:TAG_VALUE_LIMIT] for k, v in ours if v}
    kept = [(k, v) for k, v in existing if not k.lower().startswith("aws:") and k not in ours_keyed]
    return tuple(kept) + tuple(ours_keyed.items())


def _downgrade(
    push: Push,
    rule: Rule,
    taskdef: TaskDefinition,
    containers: tuple[str, ...],
    state: ServiceState | None,
    service: Service,
) -> str | None:
    if rule.spec.allow_downgrade or not push.tag:
        return None
    new = parse_version(push.tag)
    current, current_tag = deployed_version(taskdef, containers, state, service)
    if new is None or current is None or new.compare(current) >= 0:
        return None
    tags = f" (tags {current_tag} -> {push.tag})" if (current_tag, push.tag) != (str(current), str(new)) else ""
    return f"downgrade {current} -> {new}{tags}; set allow_downgrade to permit it"


def _older_than_running(push: Push, taskdef: TaskDefinition) -> str | None:
    """A push found by the reconcile must not replace a revision registered after it was pushed.

    Event-driven pushes arrive in order often enough that the semver check suffices; a
    push the reconcile found may be minutes old, and for tags that are no versions the
    service's revision time is the only order there is.
    """
    registered = taskdef.registered_at
    if push.initiated_by != RECONCILE or registered is None or registered <= push.time:
        return None
    return (
        f"pushed at {push.time:%Y-%m-%d %H:%M:%S} UTC, before the running revision {taskdef.arn.rsplit('/', 1)[-1]} "
        f"was registered ({registered:%Y-%m-%d %H:%M:%S} UTC): the reconcile never deploys an older image"
    )


def made_for(taskdef: TaskDefinition, state: ServiceState) -> bool:
    """Whether ``taskdef`` is the revision Slipway registered for the claim ``state``.

    A revision may serve several services of one push (they shared their source
    revision), so it is recognised by the push's event and digest, not by one rollout.
    """
    return taskdef.tag(TAG_PREFIX + "event-id") == state.event_id and taskdef.tag(TAG_PREFIX + "digest") == state.digest


def expects_rollback(rule: Rule) -> bool:
    """Whether ECS will roll a failed deployment of this rule back on its own."""
    breaker = rule.spec.circuit_breaker
    return bool((breaker.enable and breaker.rollback) or rule.spec.alarms)
