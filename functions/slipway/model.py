"""The domain's vocabulary: a push, a service, a task definition, a rollout's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from slipway.places import Place, of_arn, service_key


class Status(StrEnum):
    """Every status a rollout can report on the topic."""

    DEPLOYING = "DEPLOYING"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"
    SUPERSEDED = "SUPERSEDED"
    TIMED_OUT = "TIMED_OUT"
    PROGRESS = "PROGRESS"  # a stage of a blue/green, canary or linear rollout: a message, never a rollout's status

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.ROLLED_BACK, Status.SUPERSEDED, Status.TIMED_OUT})
RECONCILE = "reconcile"  # initiated_by of a push the reconcile found in ECR without its event


@dataclass(frozen=True)
class Push:
    """An image pushed to ECR, as the event tells it."""

    event_id: str
    account: str
    region: str
    repository: str
    digest: str
    tag: str | None
    time: datetime
    initiated_by: str | None = None
    approved_by: str | None = None

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    @property
    def repository_uri(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def image(self) -> str:
        """The image reference Slipway deploys: pinned by digest, since tags move."""
        if not self.digest:  # only a rollback to a revision that named its image by tag
            return f"{self.repository_uri}:{self.tag}" if self.tag else self.repository_uri
        return f"{self.repository_uri}@{self.digest}"

    @property
    def label(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class Deployment:
    """One entry of a service's ``deployments``."""

    id: str
    status: str
    task_definition: str
    rollout_state: str | None = None
    rollout_state_reason: str | None = None
    desired_count: int = 0
    running_count: int = 0
    pending_count: int = 0
    failed_tasks: int = 0


@dataclass(frozen=True)
class Traffic:
    """How ECS can shift a service's traffic between revisions (what blue/green needs).

    ``load_balancers`` counts the service's target groups; ``advanced`` those of them
    with an ``advancedConfiguration`` (an alternate target group and a production
    listener rule); ``service_connect`` whether the service uses Service Connect.
    """

    load_balancers: int = 0
    advanced: int = 0
    service_connect: bool = False

    @property
    def headless(self) -> bool:
        return self.load_balancers == 0 and not self.service_connect


@dataclass(frozen=True)
class Service:
    """What Slipway needs to know of an ECS service."""

    arn: str
    name: str
    cluster_arn: str
    status: str
    task_definition: str
    launch_type: str
    deployment_controller: str
    deployment_configuration: dict[str, Any] = field(default_factory=dict)
    deployments: tuple[Deployment, ...] = ()
    scheduling_strategy: str = "REPLICA"
    traffic: Traffic = field(default_factory=lambda: Traffic())
    current_service_deployment: str | None = None  # the ARN DescribeServiceDeployments takes
    place: Place | None = None  # its account and Region, when they are not Slipway's own

    @property
    def cluster_name(self) -> str:
        return self.cluster_arn.rsplit("/", 1)[-1]

    @property
    def key(self) -> str:
        return service_key(self.cluster_name, self.name, self.place)

    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)


@dataclass(frozen=True)
class TaskDefinition:
    """A task definition as DescribeTaskDefinition returns it, with its tags."""

    arn: str
    body: dict[str, Any]
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def family(self) -> str:
        return str(self.body.get("family", ""))

    @property
    def containers(self) -> list[dict[str, Any]]:
        return list(self.body.get("containerDefinitions", []))

    def tag(self, key: str) -> str | None:
        return next((v for k, v in self.tags if k == key), None)

    @property
    def registered_at(self) -> datetime | None:
        """When the revision was registered (DescribeTaskDefinition's ``registeredAt``), if known."""
        value = self.body.get("registeredAt")
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return None


@dataclass(frozen=True)
class ServiceState:
    """Slipway's latest decision for one service, guarded by a generation counter.

    Every rollout claims the service by writing this record conditionally on the
    generation it read, so concurrent pushes for one service serialise: one wins,
    the other re-reads and re-plans against the winner.
    """

    key: str
    generation: int
    rollout_id: str
    event_id: str
    digest: str
    tag: str | None
    status: str
    claimed_at: datetime
    previous_task_definition: str | None = None
    task_definition: str | None = None
    deployment_id: str | None = None
    notice: str | None = None  # a status whose notification is still to be sent (DEPLOYING)
    supersedes: str | None = None  # the rollout still DEPLOYING when this claim took the service over

    def advance(self, **changes: Any) -> ServiceState:
        return replace(self, generation=self.generation + 1, **changes)


@dataclass(frozen=True)
class Rollout:
    """One rollout of one image to one service, as history keeps it."""

    rollout_id: str
    key: str
    cluster: str
    service: str
    service_arn: str
    repository: str
    tag: str | None
    digest: str
    image: str
    rule: str
    launch_type: str
    task_definition: str
    previous_task_definition: str | None
    deployment_id: str | None
    status: str
    reason: str
    started_at: datetime
    event_id: str
    containers: tuple[str, ...] = ()
    finished_at: datetime | None = None
    rolled_back_to: str | None = None
    stopped_reasons: tuple[str, ...] = ()
    initiated_by: str | None = None
    rollback_deployment_id: str | None = None
    expects_rollback: bool = False
    approved_by: str | None = None
    strategy: str = "rolling"
    service_deployment_arn: str | None = None
    stage: str | None = None  # the ECS lifecycle stage last seen, for strategy rollouts
    stage_changed_at: datetime | None = None  # when it was reached: the timeout counts from here
    progress: str | None = None  # the key of the last PROGRESS milestone reported
    aborted_by: str | None = None
    abort_reason: str | None = None
    pushed_at: datetime | None = None  # the push's time: PushToOutcomeSeconds counts from it

    @property
    def account(self) -> str | None:
        """The account of the service (from its ARN)."""
        place = of_arn(self.service_arn)
        return place.account if place else None

    @property
    def region(self) -> str | None:
        place = of_arn(self.service_arn)
        return place.region if place else None

    @property
    def cluster_ref(self) -> str:
        """How ECS calls name the cluster: its ARN (which says where it is), or its name at home."""
        arn = self.service_arn
        if arn.startswith("arn:") and ":service/" in arn and arn.count("/") >= 2:
            prefix, resource = arn.split(":service/", 1)
            return f"{prefix}:cluster/{resource.split('/', 1)[0]}"
        return self.cluster

    @property
    def duration_seconds(self) -> int | None:
        if self.finished_at is None:
            return None
        return max(0, int((self.finished_at - self.started_at).total_seconds()))

    def with_status(self, status: str, reason: str, **changes: Any) -> Rollout:
        return replace(self, status=status, reason=reason, **changes)


@dataclass(frozen=True)
class Hold:
    """A push held back by a gate of one rule for one target, until the gate opens."""

    hold_id: str
    repository: str
    rule: str
    cluster: str
    service: str
    container: str | None
    event_id: str
    account: str
    region: str
    digest: str
    tag: str | None
    pushed_at: datetime
    gate: str
    reason: str
    created_at: datetime
    not_before: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.repository}#{self.rule}#{self.cluster}/{self.service}"

    def push(self) -> Push:
        return Push(self.event_id, self.account, self.region, self.repository, self.digest, self.tag, self.pushed_at)


@dataclass(frozen=True)
class DigestRecord:
    """How one rollout of a digest under a rule ended (for promotion gates)."""

    key: str
    status: str
    finished_at: datetime | None


@dataclass(frozen=True)
class HookDetail:
    """One lifecycle hook of a service deployment, as DescribeServiceDeployments lists it."""

    hook_id: str
    target_type: str  # AWS_LAMBDA or PAUSE
    status: str  # AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT
    target_arn: str | None = None
    expires_at: datetime | None = None
    timeout_action: str | None = None

    @property
    def awaiting(self) -> bool:
        return self.status == "AWAITING_ACTION"


@dataclass(frozen=True)
class ServiceDeployment:
    """An ECS service deployment (DescribeServiceDeployments): its status, stage, traffic and hooks."""

    arn: str
    service_arn: str
    status: str
    lifecycle_stage: str | None = None
    status_reason: str | None = None
    target_revision: str | None = None
    production_weight: float | None = None  # of the target revision, in percent
    test_weight: float | None = None
    source_production_weight: float | None = None
    hooks: tuple[HookDetail, ...] = ()
    rollback_reason: str | None = None
    rollback_revision: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    configuration: dict[str, Any] = field(default_factory=dict)  # the deployment's deploymentConfiguration

    def awaiting(self) -> HookDetail | None:
        """The hook waiting for someone to act (ContinueServiceDeployment), if any."""
        return next((h for h in self.hooks if h.awaiting), None)
