"""ECS service deployments and service revisions as the sandbox keeps them.

moto has no service deployments; the sandbox keeps them here, one ``Book`` per moto ECS
backend (so moto's reset clears them). ``sandbox/service_deployment_shapes.py`` renders
them as ECS's API does. Times are the sandbox ``Clock``'s, in milliseconds, as moto's
serializer sends timestamps (epoch numbers, as ECS does).

Where ECS's documentation is silent, the sandbox's reading (kept in one place, here):
- A service deployment's id is 21 letters and digits, as in AWS's examples
  (``ejGvqq2ilnbKT9qj0vLJe``); a service revision's id is the number of the moto
  deployment (``ecs-svc/<n>``) that runs it, a 19-digit number as in AWS's example.
- Pause hooks get ``ecs-pause-`` and 43 URL-safe characters, as the Developer Guide shows;
  Lambda hooks ``ecs-lambda-`` and the same (ECS documents no Lambda hook id).
- ``lifecycleHookDetails`` lists the hooks of the stage the deployment is at.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.moto_api._internal import mock_random
from moto.utilities.utils import get_partition

ROLLING = "ROLLING"
IN_FLIGHT = frozenset({"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"})
ROLLING_BACK = frozenset({"ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"})
AWAITING = "AWAITING_ACTION"

# ECS's documented defaults (API reference: DeploymentConfiguration, CanaryConfiguration,
# LinearConfiguration, DeploymentLifecycleHookTimeoutConfiguration).
DEFAULT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "alarms": {"alarmNames": [], "rollback": False, "enable": False},
    "strategy": ROLLING,
}
CANARY_DEFAULTS = {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}
LINEAR_DEFAULTS = {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
HOOK_TIMEOUT_MINUTES = 1440
HOOK_TIMEOUT_ACTION = "ROLLBACK"


class Clock:
    """The sandbox's time: the real clock plus however far the tests moved it, in milliseconds
    (as ECS's timestamps). It runs as ECS's does, so the product's own clock agrees with it."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        moment = datetime.now(UTC) + self.offset
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def elapse(self, minutes: float) -> datetime:
        self.offset += timedelta(minutes=minutes)
        return self.now()

    def reach(self, moment: datetime) -> None:
        """Move forward to ``moment`` if it is still to come (time never runs back)."""
        ahead = moment - self.now()
        if ahead > timedelta():
            self.offset += ahead


@dataclass
class Revision:
    """A service revision: the task definition and the service settings one deployment runs."""

    arn: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    deployment_id: str  # the moto deployment (ecs-svc/...) that runs it
    created_at: datetime
    settings: dict[str, Any] = field(default_factory=dict)  # launchType, networkConfiguration, ...


@dataclass
class HookRun:
    """One run of a lifecycle hook at a stage."""

    hook_id: str
    target_type: str
    status: str
    expires_at: datetime
    timeout_action: str
    target_arn: str | None = None


@dataclass
class Step:
    """One stage of a strategy's plan, and what reaching it does to traffic and tasks."""

    stage: str | None  # None: the PRE_PRODUCTION_TRAFFIC_SHIFT hook point, which keeps the stage shown
    hook_stage: str | None = None  # the lifecycleStages value whose hooks run here
    production: float | None = None  # the target revision's production weight once reached
    test: float | None = None
    bake_minutes: int = 0  # how long ECS waits here before the next step
    scale_up: bool = False
    clean_up: bool = False


@dataclass
class ServiceDeployment:
    """What ECS keeps of one service deployment."""

    arn: str
    service_arn: str
    cluster_arn: str
    cluster: str
    service: str
    desired: int
    target: Revision
    sources: list[Revision]
    configuration: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    status_reason: str | None = None
    stage: str | None = None
    plan: list[Step] = field(default_factory=list)
    position: int = -1
    entered_at: datetime | None = None
    hooks: list[HookRun] = field(default_factory=list)
    traffic: dict[str, list[float]] | None = None  # revision ARN -> [production, test] weights
    tasks: dict[str, list[int]] = field(default_factory=dict)  # revision ARN -> [requested, running, pending]
    rollback: dict[str, Any] | None = None
    rollback_deployment_id: str | None = None  # the moto deployment a rollback returns to
    triggered_alarms: list[str] = field(default_factory=list)
    failed_tasks: int = 0
    breaker_triggered: bool = False
    fail_next_lambda: bool = False

    @property
    def deployment_id(self) -> str:
        return self.target.deployment_id

    @property
    def strategy(self) -> str:
        return str(self.configuration.get("strategy") or ROLLING)

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    def awaiting(self) -> list[HookRun]:
        return [h for h in self.hooks if h.status == AWAITING]

    def set_traffic(self, production: float, test: float) -> None:
        """The target revision's weights; the first source carries the rest, as production does."""
        if self.traffic is None:
            return
        for index, source in enumerate(self.sources):
            self.traffic[source.arn] = [100.0 - production, 100.0 - test] if index == 0 else [0.0, 0.0]
        self.traffic[self.target.arn] = [production, test]


_books = threading.Lock()


@dataclass
class Book:
    """One moto ECS backend's service deployments, revisions, clock and queued events."""

    clock: Clock = field(default_factory=Clock)
    deployments: dict[str, ServiceDeployment] = field(default_factory=dict)
    revisions: dict[str, Revision] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def of_service(self, service_arn: str) -> list[ServiceDeployment]:
        """The service's deployments, newest first."""
        # a snapshot first: the moto server's threads record deployments while others read them
        found = [d for d in list(self.deployments.values()) if d.service_arn == service_arn]
        return found[::-1]  # kept in the order they were created

    def owning(self, service_arn: str, deployment_id: str) -> ServiceDeployment | None:
        """The newest service deployment that deploys, or rolls back to, a moto deployment."""
        for record in self.of_service(service_arn):
            if deployment_id in (record.deployment_id, record.rollback_deployment_id):
                return record
        return None


def book(backend: Any) -> Book:
    """The book kept on a moto ECS backend (moto's reset empties the backend, and the book with it)."""
    with _books:  # two threads of the moto server must not each start a book
        kept = backend.__dict__.get("slipway_book")
        if kept is None:
            kept = backend.__dict__["slipway_book"] = Book()
    return kept  # type: ignore[no-any-return]


def new_deployment_arn(region: str, account: str, cluster: str, service: str) -> str:
    suffix = mock_random.get_random_string(length=21)
    return f"arn:{get_partition(region)}:ecs:{region}:{account}:service-deployment/{cluster}/{service}/{suffix}"


def revision_arn(region: str, account: str, cluster: str, service: str, deployment_id: str) -> str:
    number = deployment_id.rsplit("/", 1)[-1]
    return f"arn:{get_partition(region)}:ecs:{region}:{account}:service-revision/{cluster}/{service}/{number}"


def new_hook_id(target_type: str) -> str:
    prefix = "ecs-pause-" if target_type == "PAUSE" else "ecs-lambda-"
    return prefix + mock_random.token_urlsafe(32)


def hook_timeout(hook: dict[str, Any]) -> tuple[timedelta, str]:
    """How long a hook may take and what ECS does then: 1440 minutes and ROLLBACK unless configured."""
    timeout = hook.get("timeoutConfiguration") or {}
    minutes = int(timeout.get("timeoutInMinutes") or HOOK_TIMEOUT_MINUTES)
    return timedelta(minutes=minutes), str(timeout.get("action") or HOOK_TIMEOUT_ACTION)


def resolved(configuration: dict[str, Any]) -> dict[str, Any]:
    """A deployment configuration with ECS's defaults filled in where it leaves them out."""
    config = {**copy.deepcopy(DEFAULT_CONFIGURATION), **configuration}
    if config["strategy"] == "CANARY":
        config["canaryConfiguration"] = {**CANARY_DEFAULTS, **(config.get("canaryConfiguration") or {})}
    if config["strategy"] == "LINEAR":
        config["linearConfiguration"] = {**LINEAR_DEFAULTS, **(config.get("linearConfiguration") or {})}
    return config


def breaker_threshold(desired: int) -> int:
    """The circuit breaker's threshold: half the desired count, at least 3, at most 200 (ECS's formula)."""
    return min(200, max(3, math.ceil(0.5 * desired)))
