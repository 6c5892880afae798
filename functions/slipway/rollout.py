"""Plan and apply the rollout of one pushed image to one target service.

``plan`` is pure: given the service, its task definition and Slipway's last decision
for the service, it returns either the new task definition to register or the
outcome that ends the target here (skip or error). ``TargetRollout`` applies a plan
through the ports, claiming the service first so duplicate and concurrent pushes
make at most one revision and one UpdateService.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from semver import Version

from slipway.errors import AwsError, ConditionFailed
from slipway.model import Push, Rollout, Service, ServiceState, Status, TaskDefinition
from slipway.ports import Ecs, Store
from slipway.rules import Rule, Target
from slipway.versions import parse_version

logger = Logger(child=True)

ROLLOUT_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-4c5d-9e6f-a7b8c9d0e1f2")
TAG_PREFIX = "slipway:"
IN_FLIGHT = frozenset({"PENDING", "REGISTERED"})
LIVE = frozenset({"PENDING", "REGISTERED", "DEPLOYING", "SUCCEEDED"})
SUPPORTED_CONTROLLERS = frozenset({"ECS"})
CLAIM_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    """How one target of one push ended in this invocation."""

    status: Status
    reason: str
    rule: str | None = None
    parameter: str | None = None
    target: Target | None = None
    service: Service | None = None
    task_definition: str | None = None
    previous_task_definition: str | None = None
    deployment_id: str | None = None
    rollout_id: str | None = None
    error_code: str | None = None
    retryable: bool = False
    containers: tuple[str, ...] = ()
    supersedes: str | None = None
    expects_rollback: bool = False
    quiet: bool = False
    held: str | None = None

    @property
    def launch_type(self) -> str | None:
        return self.service.launch_type if self.service else None


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


def select_containers(taskdef: TaskDefinition, target: Target, push: Push) -> tuple[str, ...]:
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


def deployment_configuration(service: Service, rule: Rule) -> dict[str, Any]:
    """The service's deployment configuration with the rule's circuit breaker and alarms."""
    config = copy.deepcopy(service.deployment_configuration)
    breaker = rule.spec.circuit_breaker
    config["deploymentCircuitBreaker"] = {"enable": breaker.enable, "rollback": breaker.rollback}
    if rule.spec.alarms:
        config["alarms"] = {"alarmNames": list(rule.spec.alarms), "enable": True, "rollback": True}
    return config


def plan(
    push: Push,
    rule: Rule,
    target: Target,
    service: Service,
    taskdef: TaskDefinition,
    state: ServiceState | None,
) -> Plan | Outcome:
    """Decide what a push does to one service: a Plan to apply, or the Outcome that ends it."""
    base: dict[str, Any] = {"rule": rule.name, "parameter": rule.parameter, "target": target, "service": service}
    base["previous_task_definition"] = service.task_definition
    if service.deployment_controller not in SUPPORTED_CONTROLLERS:
        return Outcome(
            Status.ERROR,
            f"unsupported deployment controller {service.deployment_controller}: "
            "Slipway rolls out services that use the ECS (rolling update) controller",
            error_code="UnsupportedDeploymentController",
            **base,
        )
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
    downgrade = _downgrade(push, rule, taskdef, containers, state, service)
    if downgrade:
        return Outcome(Status.SKIPPED, downgrade, **base)
    tags = (
        ("repository", push.repository),
        ("tag", push.tag or ""),
        ("digest", push.digest),
        ("rule", rule.name),
        ("event-id", push.event_id),
        ("rollout-id", rollout_id(push.event_id, rule.name, service.key)),
    )
    return Plan(
        containers=containers,
        body=clone_with_image(taskdef, containers, push.image),
        deployment_configuration=deployment_configuration(service, rule),
        tags=merge_tags(taskdef.tags, tags),
    )


def merge_tags(existing: tuple[tuple[str, str], ...], ours: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The revision's tags: the family's own (AWS-reserved ones dropped) plus Slipway's."""
    ours_keyed = {TAG_PREFIX + k: v for k, v in ours if v}
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


class TargetRollout:
    """Applies the rollout of one push, under one rule, to one service."""

    def __init__(
        self,
        ecs: Ecs,
        store: Store,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        refresh: Callable[[Target], tuple[Service, TaskDefinition]] | None = None,
    ) -> None:
        self._ecs = ecs
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._refresh = refresh

    def run(
        self,
        push: Push,
        rule: Rule,
        target: Target,
        service: Service,
        taskdef: TaskDefinition,
        states: Mapping[str, ServiceState] | None = None,
    ) -> Outcome:
        """Roll out, or explain why not; AWS errors become ERROR outcomes with their code.

        ``states`` are service states read for the whole push (BatchGetItem); the first
        attempt plans against them, every later one reads the service's state again.
        """
        try:
            return self._run(push, rule, target, service, taskdef, states)
        except AwsError as error:
            return error_outcome(rule, target, service, error, rollout_id(push.event_id, rule.name, service.key))

    def _run(
        self,
        push: Push,
        rule: Rule,
        target: Target,
        service: Service,
        taskdef: TaskDefinition,
        states: Mapping[str, ServiceState] | None,
    ) -> Outcome:
        rid = rollout_id(push.event_id, rule.name, service.key)
        for attempt in range(CLAIM_ATTEMPTS):
            if attempt == 0 and states is not None:
                state = states.get(service.key)
            else:
                state = self._store.get_state(service.key)
            if state is not None and state.rollout_id == rid:
                return self._resume(push, rule, target, service, taskdef, state)
            if state is not None and self.busy(state):
                self._sleep(0.2 * 2**attempt)
                service, taskdef = self._reread(target, service, taskdef)
                continue
            decision = plan(push, rule, target, service, taskdef, state)
            if isinstance(decision, Outcome):
                return decision
            claim = self.claim(push, rule, service, state)
            try:
                self._store.put_state(claim, state.generation if state else None)
            except ConditionFailed:
                logger.info("lost the claim on a service, re-planning", extra={"service": service.key})
                service, taskdef = self._reread(target, service, taskdef)
                continue
            return self.write(self.deploy(push, rule, target, service, decision, claim, state))
        return Outcome(
            Status.ERROR,
            f"service {service.key} stayed busy with other rollouts; the push will be retried",
            rule=rule.name,
            parameter=rule.parameter,
            target=target,
            service=service,
            error_code="ServiceBusy",
            retryable=True,
            rollout_id=rid,
        )

    def run_revision(self, push: Push, rule: Rule, target: Target, service: Service, revision: str) -> Outcome:
        """Point a service at an existing revision (a rollback) through the same claim and record path."""
        try:
            state = self._store.get_state(service.key)
            if state is not None and self.busy(state):
                raise AwsError(
                    "Claim", "ServiceBusy", f"service {service.key} is in the middle of rollout {state.rollout_id}"
                )
            claim = replace(self.claim(push, rule, service, state), status="REGISTERED", task_definition=revision)
            try:
                self._store.put_state(claim, state.generation if state else None)
            except ConditionFailed:
                raise AwsError("Claim", "ServiceBusy", f"service {service.key} changed hands; try again") from None
            config = deployment_configuration(service, rule)
            return self.write(self.update(push, rule, target, service, claim, config, state, ()))
        except AwsError as error:
            return error_outcome(rule, target, service, error)

    def claim(self, push: Push, rule: Rule, service: Service, state: ServiceState | None) -> ServiceState:
        """The PENDING state that claims a service for this push's rollout, one generation on."""
        return ServiceState(
            key=service.key,
            generation=(state.generation if state else 0) + 1,
            rollout_id=rollout_id(push.event_id, rule.name, service.key),
            event_id=push.event_id,
            digest=push.digest,
            tag=push.tag,
            status="PENDING",
            claimed_at=self._clock(),
            previous_task_definition=service.task_definition,
        )

    def register(self, decision: Plan, claim: ServiceState, previous: ServiceState | None) -> ServiceState:
        """Register the planned revision; the REGISTERED state to write (a failure gives the claim back)."""
        try:
            new_arn = self._ecs.register_task_definition(decision.body, decision.tags)
        except AwsError as error:
            if not error.retryable:
                self.release(claim, previous)
            raise
        return claim.advance(status="REGISTERED", task_definition=new_arn)

    def busy(self, state: ServiceState) -> bool:
        """Whether another rollout holds the service (a claim in flight and not yet stale)."""
        return state.status in IN_FLIGHT and self._clock() - state.claimed_at < STALE_CLAIM

    def _reread(self, target: Target, service: Service, taskdef: TaskDefinition) -> tuple[Service, TaskDefinition]:
        return self._refresh(target) if self._refresh else (service, taskdef)

    def deploy(
        self,
        push: Push,
        rule: Rule,
        target: Target,
        service: Service,
        decision: Plan,
        claim: ServiceState,
        previous: ServiceState | None,
    ) -> Record:
        """Register the planned revision and point the service at it; the Record to write.

        The REGISTERED state is written only when UpdateService fails in a way worth
        retrying: the retry then reuses the revision instead of registering another.
        """
        registered = self.register(decision, claim, previous)
        return self.update(
            push,
            rule,
            target,
            service,
            registered,
            decision.deployment_configuration,
            previous,
            decision.containers,
            stored=claim,
        )

    def update(
        self,
        push: Push,
        rule: Rule,
        target: Target,
        service: Service,
        state: ServiceState,
        config: dict[str, Any],
        previous: ServiceState | None,
        containers: tuple[str, ...],
        stored: ServiceState | None = None,
    ) -> Record:
        """UpdateService to the claimed revision; the Record to write.

        ``stored`` is the service's state as written, when ``state`` (REGISTERED) was not
        written yet. A failure gives the claim back, or, when the call may be retried,
        writes ``state`` so that the retry reuses its revision.
        """
        assert state.task_definition is not None
        written = stored or state
        try:
            updated = self._ecs.update_service(service.cluster_arn, service.name, state.task_definition, config)
        except AwsError as error:
            if not error.retryable:
                self.release(written, previous)
            elif stored is not None:
                self._keep(state, stored.generation)
            raise
        deployment = next((d for d in updated.deployments if d.task_definition == state.task_definition), None)
        deployment_id = deployment.id if deployment else None
        record = deploying(push, rule, target, updated, state, deployment_id, containers, replaces=written)
        if previous is not None and previous.status == "DEPLOYING" and previous.rollout_id != state.rollout_id:
            record = replace(record, outcome=replace(record.outcome, supersedes=previous.rollout_id))
        return record

    def _keep(self, registered: ServiceState, expected_generation: int) -> None:
        """Write the REGISTERED state after a failed UpdateService, so the retry reuses the revision."""
        try:
            self._store.put_state(registered, expected_generation)
        except (AwsError, ConditionFailed) as error:
            logger.warning(
                "registered revision not kept; a retry registers another",
                extra={"service": registered.key, "task_definition": registered.task_definition, "error": str(error)},
            )

    def write(self, record: Record) -> Outcome:
        """Write a rollout's history and DEPLOYING state together (a retry rewrites the same items)."""
        try:
            self._store.put_rollout(record.history, record.state, record.expected_generation)
        except ConditionFailed:
            # Only a takeover of a stale claim gets here; ECS has the new revision, so
            # the history keeps the rollout (and the tracker follows it) all the same.
            logger.warning("service state changed before the rollout was recorded", extra={"service": record.state.key})
            self._store.put_rollout(record.history)
        return record.outcome

    def _resume(
        self, push: Push, rule: Rule, target: Target, service: Service, taskdef: TaskDefinition, state: ServiceState
    ) -> Outcome:
        """Finish a rollout that an earlier attempt of this same event claimed."""
        logger.info("resuming a rollout of an earlier attempt", extra={"status": state.status})
        if state.status == "PENDING":
            if taskdef.tag(TAG_PREFIX + "rollout-id") == state.rollout_id:
                # UpdateService went through but the attempt ended before its record.
                running = state.advance(status="REGISTERED", task_definition=service.task_definition)
                return self._record_running(push, rule, target, service, taskdef, running, replaces=state)
            decision = plan(push, rule, target, service, taskdef, None)
            if isinstance(decision, Outcome):
                self.release(state, None)
                return decision
            return self.write(self.deploy(push, rule, target, service, decision, state, None))
        if state.status == "REGISTERED":
            if service.task_definition == state.task_definition:
                return self._record_running(push, rule, target, service, taskdef, state, replaces=state)
            config = deployment_configuration(service, rule)
            containers = _containers(taskdef, target, push)
            return self.write(self.update(push, rule, target, service, state, config, None, containers))
        # DEPLOYING: the earlier attempt may not have published; say it (again). A later
        # status was reported by the tracker already, so stay quiet.
        return Outcome(
            Status.DEPLOYING,
            "UpdateService accepted the new revision",
            quiet=state.status != "DEPLOYING",
            rule=rule.name,
            parameter=rule.parameter,
            target=target,
            service=service,
            task_definition=state.task_definition,
            previous_task_definition=state.previous_task_definition,
            deployment_id=state.deployment_id,
            rollout_id=state.rollout_id,
        )

    def _record_running(
        self,
        push: Push,
        rule: Rule,
        target: Target,
        service: Service,
        taskdef: TaskDefinition,
        state: ServiceState,
        replaces: ServiceState,
    ) -> Outcome:
        """Record a rollout whose revision the service already runs (an earlier attempt's UpdateService)."""
        primary = service.primary()
        deployment_id = primary.id if primary else None
        containers = _containers(taskdef, target, push)
        return self.write(deploying(push, rule, target, service, state, deployment_id, containers, replaces=replaces))

    def release(self, claim: ServiceState, previous: ServiceState | None) -> None:
        """Give the service back after a rollout that cannot go on."""
        try:
            if previous is None:
                self._store.delete_state(claim.key, claim.rollout_id)
            else:
                restored = ServiceState(**{**previous.__dict__, "generation": claim.generation + 1})
                self._store.put_state(restored, claim.generation)
        except ConditionFailed:
            logger.warning("claim changed hands before release", extra={"service": claim.key})


def _containers(taskdef: TaskDefinition, target: Target, push: Push) -> tuple[str, ...]:
    try:
        return select_containers(taskdef, target, push)
    except ValueError:
        return ()


@dataclass(frozen=True)
class Record:
    """A rollout UpdateService accepted, still to be written: its outcome, history and next state."""

    outcome: Outcome
    history: Rollout
    state: ServiceState  # DEPLOYING
    expected_generation: int  # of the claim it replaces


def deploying(
    push: Push,
    rule: Rule,
    target: Target,
    service: Service,
    state: ServiceState,
    deployment_id: str | None,
    containers: tuple[str, ...],
    replaces: ServiceState,
) -> Record:
    """The DEPLOYING outcome of a claimed rollout, its history (stamped with the claim's time) and state.

    ``replaces`` is the service's state as stored, which the DEPLOYING state is written over.
    """
    assert state.task_definition is not None
    outcome = Outcome(
        Status.DEPLOYING,
        "UpdateService accepted the new revision",
        rule=rule.name,
        parameter=rule.parameter,
        target=target,
        service=service,
        task_definition=state.task_definition,
        previous_task_definition=state.previous_task_definition,
        deployment_id=deployment_id,
        rollout_id=state.rollout_id,
        containers=containers,
        expects_rollback=expects_rollback(rule),
    )
    history = to_rollout(push, outcome, state.claimed_at)
    deploying_state = state.advance(status="DEPLOYING", deployment_id=deployment_id)
    return Record(outcome, history, deploying_state, replaces.generation)


def error_outcome(
    rule: Rule, target: Target, service: Service | None, error: AwsError, rollout: str | None = None
) -> Outcome:
    """The ERROR outcome of a target whose AWS call failed, with the AWS code and message."""
    return Outcome(
        Status.ERROR,
        f"{error.operation} failed: {error.code}: {error.message}",
        rule=rule.name,
        parameter=rule.parameter,
        target=target,
        service=service,
        previous_task_definition=service.task_definition if service else None,
        error_code=error.code,
        retryable=error.retryable,
        rollout_id=rollout,
    )


def expects_rollback(rule: Rule) -> bool:
    """Whether ECS will roll a failed deployment of this rule back on its own."""
    breaker = rule.spec.circuit_breaker
    return bool((breaker.enable and breaker.rollback) or rule.spec.alarms)


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
    )
