"""What the domain needs from the outside world; adapters in ``slipway.aws`` provide it.

Every port the domain calls is here, so the seams are typed in one place: the adapters
implement them, and the in-memory fakes of the unit tests implement the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from slipway.errors import AwsError
from slipway.model import DigestRecord, Hold, Push, Rollout, Service, ServiceDeployment, ServiceState, TaskDefinition
from slipway.places import Place
from slipway.rules import Rule, RuleInvalid

if TYPE_CHECKING:
    from slipway.attempt import Attempt
    from slipway.handon import Continuation
    from slipway.notifications import Notification
    from slipway.pushes import PushMark, RuleLatest
    from slipway.report import PushReport
    from slipway.rulecheck import RuleVersion
    from slipway.task_run import TaskLaunch, TaskRequest, TaskRun


@dataclass
class ServiceLookup:
    """DescribeServices for one cluster: the services found and, per name, why not."""

    found: dict[str, Service] = field(default_factory=dict)
    missing: dict[str, AwsError] = field(default_factory=dict)


@dataclass
class RuleSet:
    """The rules under one repository's path: valid ones and the invalid ones' problems."""

    rules: list[Rule] = field(default_factory=list)
    invalid: list[RuleInvalid] = field(default_factory=list)


@dataclass(frozen=True)
class ImageRecord:
    """One tagged image as ECR lists it (DescribeImages)."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    manifest_media_type: str | None = None
    artifact_media_type: str | None = None


@dataclass(frozen=True)
class ScanFindings:
    """DescribeImageScanFindings of one digest: ECR's scan status, its description and the counts per severity.

    ``status`` is ECR's ``imageScanStatus.status`` (COMPLETE, ACTIVE, IN_PROGRESS, ...), or
    ``NOT_FOUND`` when ECR has no scan of the digest yet (ScanNotFoundException).
    """

    status: str
    description: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SigningStatus:
    """One entry of DescribeImageSigningStatus: a signing profile's status for the digest."""

    profile_arn: str
    status: str  # IN_PROGRESS, COMPLETE or FAILED
    failure_code: str | None = None
    failure_reason: str | None = None


# -- AWS services ---------------------------------------------------------------------


class Ecs(Protocol):
    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup: ...

    def describe_task_definition(self, arn: str) -> TaskDefinition: ...

    def register_task_definition(
        self, body: dict[str, Any], tags: Sequence[tuple[str, str]], place: Place | None = None
    ) -> str:
        """Register a revision in ``place`` (None: Slipway's own account and Region); its ARN."""
        ...

    def update_service(
        self, cluster: str, service: str, task_definition: str, deployment_configuration: dict[str, Any]
    ) -> Service: ...

    def describe_tasks(
        self, cluster: str, deployment_id: str, task_definition: str, limit: int = 3
    ) -> list[dict[str, Any]]: ...

    def forecast(self, operation: str, count: int, place: Place | None = None) -> float:
        """Seconds until ``count`` more ``operation`` calls could go in ``place``, at its pace (0: now)."""
        ...


class TaskRunner(Protocol):
    """What a pre-deploy task asks of ECS: the service's placement, the revision, RunTask and after."""

    def task_launch(self, cluster: str, service: str) -> TaskLaunch:
        """How the service runs its tasks (its revision, launch type or capacity providers, network)."""
        ...

    def describe_task_definition(self, arn: str) -> TaskDefinition: ...

    def register_task_definition(
        self, body: dict[str, Any], tags: Sequence[tuple[str, str]], place: Place | None = None
    ) -> str: ...

    def run_task(self, cluster: str, request: TaskRequest) -> str:
        """Start the task; its ARN (AwsError when ECS refuses it or reports a failure)."""
        ...

    def describe_task(self, cluster: str, task_arn: str) -> dict[str, Any] | None:
        """The task as DescribeTasks shows it; None when ECS no longer knows it."""
        ...

    def stop_task(self, cluster: str, task_arn: str, reason: str) -> None: ...


class Schedules(Protocol):
    """EventBridge Scheduler: the schedules whose ECS target Slipway moves."""

    def get_schedule(self, group: str, name: str) -> dict[str, Any]:
        """GetSchedule's answer: the whole schedule (AwsError ResourceNotFoundException if there is none)."""
        ...

    def update_schedule(self, schedule: dict[str, Any]) -> None:
        """UpdateSchedule with every field of ``schedule`` the call takes (unset fields would be reset)."""
        ...


class EventRules(Protocol):
    """EventBridge rules whose ECS targets Slipway moves."""

    def targets(self, rule: str, bus: str) -> list[dict[str, Any]]:
        """Every target of the rule (ListTargetsByRule, all pages)."""
        ...

    def put_target(self, rule: str, bus: str, target: dict[str, Any]) -> None:
        """PutTargets of one whole target (AwsError when EventBridge refuses the entry)."""
        ...

    def rule_arn(self, rule: str, bus: str) -> str:
        """The rule's ARN, for history and messages."""
        ...


class Registry(Protocol):
    def tagged_images(self, repository: str, since: datetime) -> list[ImageRecord]:
        """The repository's tagged images pushed after ``since``, newest first."""
        ...


class ImageChecks(Protocol):
    """What ECR says of a pushed digest before it may roll out: its scan findings and signing status."""

    def scan_findings(self, registry_id: str, repository: str, digest: str, region: str | None = None) -> ScanFindings:
        """The digest's scan in registry ``registry_id`` (in ``region``; None: Slipway's own)."""
        ...

    def signing_status(
        self, registry_id: str, repository: str, digest: str, region: str | None = None
    ) -> list[SigningStatus]:
        """Every signing profile's status for the digest (empty: ECR has not started signing it)."""
        ...


class RuleSource(Protocol):
    def load(self, repository: str) -> RuleSet: ...

    def repositories(self) -> list[str]:
        """Every repository that has at least one rule."""
        ...


class Notifier(Protocol):
    def publish(self, messages: Sequence[Notification]) -> list[str]:
        """Publish messages; return a description of each one that could not be sent."""
        ...

    def publish_each(self, messages: Sequence[Notification]) -> list[str | None]:
        """Publish messages; per message, None when it went out, else why not."""
        ...


class WorkQueue(Protocol):
    def hand_on(self, continuations: Sequence[Continuation]) -> None:
        """Keep the continuations durably for a later invocation (AwsError if they could not be kept)."""
        ...


class Superseder(Protocol):
    def supersede(self, rollout_id: str, reason: str) -> str | None:
        """Close a rollout a newer one replaced before it finished; the status sent, if any."""
        ...


class PushDeployer(Protocol):
    def deploy(self, push: Push) -> PushReport:
        """Roll a push out to every target of every rule it matches."""
        ...


class Rereader(Protocol):
    def reread(self, attempt: Attempt) -> Attempt:
        """The attempt with its service, task definition and state read again."""
        ...


# -- Slipway's table ------------------------------------------------------------------


class ClaimStore(Protocol):
    def get_state(self, key: str) -> ServiceState | None: ...

    def get_states(self, keys: Iterable[str]) -> dict[str, ServiceState]:
        """The states of many services at once (services without one are left out)."""
        ...

    def put_state(self, state: ServiceState, expected_generation: int | None) -> None:
        """Write the state if the stored generation is still ``expected_generation``.

        Raises ConditionFailed when another writer got there first.
        """
        ...

    def put_states(self, writes: Sequence[tuple[ServiceState, int | None]]) -> list[tuple[ServiceState, int | None]]:
        """``put_state`` for many services, several to a transaction; returns the writes not made."""
        ...

    def delete_state(self, key: str, rollout_id: str) -> None: ...

    def clear_notice(self, key: str, rollout_id: str) -> None:
        """The state's pending notification went out (if the state is still that rollout's)."""
        ...


class RecordStore(Protocol):
    def put_rollout(
        self, rollout: Rollout, state: ServiceState | None = None, expected_generation: int | None = None
    ) -> None:
        """Write a rollout's history, and with ``state`` the service's state in the same transaction.

        Raises ConditionFailed (nothing written) when the state's generation moved on.
        """
        ...

    def put_rollouts(
        self, records: Sequence[tuple[Rollout, ServiceState, int]]
    ) -> list[tuple[Rollout, ServiceState, int]]:
        """``put_rollout`` with a state for many rollouts, several to a transaction; returns those not written."""
        ...


class PipelineStore(ClaimStore, RecordStore, Protocol):
    """What the rollout pipeline writes: claims and records."""


class RollbackStore(PipelineStore, Protocol):
    def history(self, key: str, limit: int = 20) -> list[Rollout]:
        """A service's rollouts, newest first."""
        ...


class FleetStore(Protocol):
    """What ``slipway status`` and ``slipway adopt`` read and write: states, history, holds."""

    def states(self) -> list[ServiceState]:
        """Every service Slipway has a state for."""
        ...

    def get_state(self, key: str) -> ServiceState | None: ...

    def history(self, key: str, limit: int = 20) -> list[Rollout]: ...

    def holds(self, repository: str | None = None) -> list[Hold]: ...

    def get_rollout(self, rollout_id: str) -> Rollout | None: ...

    def put_rollout(
        self, rollout: Rollout, state: ServiceState | None = None, expected_generation: int | None = None
    ) -> None: ...


class GateQueries(Protocol):
    def digest_rollouts(self, repository: str, digest: str, rule: str) -> list[DigestRecord]: ...

    def in_flight(self, repository: str, rule: str) -> int: ...


class HoldStore(Protocol):
    def put_hold(self, hold: Hold) -> None: ...

    def holds(self, repository: str | None = None) -> list[Hold]: ...

    def get_hold(self, hold_id: str) -> Hold | None: ...

    def delete_hold(self, hold: Hold) -> bool:
        """Drop the hold if it is still this one; False when a newer push or another release got there first."""
        ...


class TaskRunStore(Protocol):
    """The pre-deploy task runs, one per repository, rule and digest."""

    def task_run(self, repository: str, rule: str, digest: str) -> TaskRun | None: ...

    def claim_task_run(self, run: TaskRun) -> TaskRun | None:
        """Record a run about to start, unless one is there that is not a failure of another push.

        Returns None when recorded; else the run in the way.
        """
        ...

    def put_task_run(self, run: TaskRun, was: str) -> bool:
        """Record a run's progress if its stored status is still ``was``; False when it moved on."""
        ...

    def drop_task_run(self, run: TaskRun) -> None:
        """Forget a run that could not start (if it is still this push's)."""
        ...

    def task_run_by_arn(self, task_arn: str) -> TaskRun | None: ...

    def task_runs(self) -> list[TaskRun]: ...


class PushStore(Protocol):
    def put_push(self, repository: str, record: dict[str, Any]) -> None:
        """What a push matched and why (for ``slipway explain``)."""
        ...

    def last_push(self, repository: str) -> dict[str, Any] | None: ...

    def get_latest(self, repository: str, rule: str) -> RuleLatest | None:
        """The newest push admitted under a rule."""
        ...

    def put_latest(self, latest: RuleLatest, replaces: RuleLatest | None) -> RuleLatest | None:
        """Record the newest push of a rule over ``replaces`` (None: over nothing, or over itself).

        Returns None when written; else the one stored, which is not ``replaces``.
        """
        ...

    def put_mark(self, mark: PushMark, replaces: PushMark | None) -> PushMark | None:
        """Record how a push was received over ``replaces`` (None: over nothing).

        Returns None when written; else the mark stored, which is not ``replaces``.
        """
        ...

    def reconciled_until(self, repository: str) -> datetime | None: ...

    def put_reconciled_until(self, repository: str, until: datetime) -> None: ...


class Store(PipelineStore, GateQueries, HoldStore, PushStore, Protocol):
    """Slipway's table, as the deploy function uses it."""


# -- the track function and the rule checker ------------------------------------------


class MovingStore(Protocol):
    """What moving a rollout to an outcome or a stage writes."""

    def transition(
        self, rollout: Rollout, status: str, allowed_from: frozenset[str], **changes: Any
    ) -> Rollout | None: ...

    def advance_stage(
        self, rollout: Rollout, stage: str | None, changed_at: datetime, progress: str | None
    ) -> Rollout | None: ...

    def pending_notice(self, rollout: Rollout) -> str | None: ...

    def notice_sent(self, rollout: Rollout, status: str) -> None: ...

    def untrack(self, rollout: Rollout) -> None: ...

    def set_state_status(self, key: str, rollout_id: str, status: str) -> None: ...


class TrackingStore(MovingStore, Protocol):
    def rollout_by_deployment(self, deployment_id: str) -> tuple[Rollout, str] | None: ...

    def get_rollout(self, rollout_id: str) -> Rollout | None: ...

    def link_deployment(self, deployment_id: str, rollout: Rollout, role: str) -> None: ...

    def tracked_before(self, cutoff: datetime) -> list[str]: ...

    def watched_strategies(self) -> list[str]: ...

    def get_state(self, key: str) -> ServiceState | None: ...


class TrackingEcs(Protocol):
    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup: ...

    def describe_tasks(
        self, cluster: str, deployment_id: str, task_definition: str, limit: int = 3
    ) -> list[dict[str, Any]]: ...

    def describe_service_deployments(self, arns: Sequence[str]) -> list[ServiceDeployment]: ...


class DeploymentControl(TrackingEcs, Protocol):
    """What ``slipway status``, ``approve`` and ``abort`` ask of ECS for a strategy rollout."""

    def list_service_deployments(self, cluster: str, service: str, statuses: Sequence[str] = ()) -> list[str]: ...

    def continue_service_deployment(self, arn: str, hook_id: str, action: str = "CONTINUE") -> None: ...

    def stop_service_deployment(self, arn: str, stop_type: str = "ROLLBACK") -> None: ...


class ServiceReader(Protocol):
    """What the rule checker reads of ECS."""

    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup: ...

    def describe_task_definition(self, arn: str) -> TaskDefinition: ...


class RuleReader(Protocol):
    def read(self, name: str) -> RuleVersion | None: ...

    def load(self, repository: str, fresh: bool = False) -> RuleSet: ...


__all__ = [
    "ClaimStore",
    "DeploymentControl",
    "Ecs",
    "EventRules",
    "FleetStore",
    "GateQueries",
    "HoldStore",
    "ImageChecks",
    "ImageRecord",
    "MovingStore",
    "Notifier",
    "PipelineStore",
    "PushDeployer",
    "PushStore",
    "RecordStore",
    "Registry",
    "Rereader",
    "RollbackStore",
    "RuleReader",
    "RuleSet",
    "RuleSource",
    "ScanFindings",
    "Schedules",
    "ServiceLookup",
    "ServiceReader",
    "SigningStatus",
    "Store",
    "Superseder",
    "TaskRunStore",
    "TaskRunner",
    "TrackingEcs",
    "TrackingStore",
    "WorkQueue",
]
