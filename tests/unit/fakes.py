"""In-memory fakes of Slipway's ports, and builders for the domain objects tests need.

The fakes behave like the adapters they stand for, not like mocks: FakeEcs keeps
services and task definitions and moves a service to a new deployment on UpdateService;
FakeStore enforces the generation check with a real ``ConditionFailed``; FakeRules
validates rule values with the real parser. Each fake records the calls made to it
and can be told to fail the next call of an operation.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from slipway.deploy import Deployer
from slipway.errors import AwsError, ConditionFailed
from slipway.handon import Continuation
from slipway.model import Deployment, DigestRecord, Hold, Push, Rollout, Service, ServiceState, TaskDefinition
from slipway.notifications import Notification
from slipway.places import Place, Reach
from slipway.ports import RuleSet, ServiceLookup
from slipway.pushes import PushMark, RuleLatest
from slipway.report import PushReport
from slipway.rules import Rule, RuleInvalid, parse_rule, rule_parameter

ACCOUNT = "123456789012"
REGION = "eu-west-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
RULES_PATH = "/slipway/rules"
NOW = datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)


def digest(char: str) -> str:
    """A well-formed image digest made of one repeated hex character."""
    return "sha256:" + char * 64


def cluster_arn(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:ecs:{region}:{account}:cluster/{name}"


# -- builders ---------------------------------------------------------------------


def make_push(
    tag: str | None = "1.5.0",
    image_digest: str = digest("b"),
    *,
    repository: str = "web",
    event_id: str = "evt-1",
    account: str = ACCOUNT,
    region: str = REGION,
) -> Push:
    return Push(
        event_id=event_id,
        account=account,
        region=region,
        repository=repository,
        digest=image_digest,
        tag=tag,
        time=NOW,
    )


def rule_value(**spec: Any) -> str:
    """A rule's JSON value; ``targets`` defaults to prod/web."""
    spec.setdefault("targets", [{"cluster": "prod", "service": "web"}])
    return json.dumps(spec)


def make_rule(name: str = "main", repository: str = "web", **spec: Any) -> Rule:
    """A rule validated by the real parser, as the rule source would hand it over."""
    return parse_rule(repository, name, rule_parameter(RULES_PATH, repository, name), rule_value(**spec))


def app_container(image: str, name: str = "app") -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "essential": True,
        "cpu": 256,
        "memoryReservation": 512,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp", "name": "http"}],
        "environment": [{"name": "PORT", "value": "8080"}],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/web/db"}],
        "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/tmp", "readOnly": False}],
        "dependsOn": [{"containerName": "log-router", "condition": "START"}],
        "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch"}},
        "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost:8080/health"], "interval": 10},
    }


def sidecar(name: str = "log-router") -> dict[str, Any]:
    return {
        "name": name,
        "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0",
        "essential": True,
        "firelensConfiguration": {"type": "fluentbit"},
        "user": "0",
    }


def fargate_body(family: str = "web", containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A task definition body as DescribeTaskDefinition returns it (read-only fields included)."""
    if containers is None:
        containers = [app_container(f"{REGISTRY}/web:1.4.0"), sidecar()]
    return {
        "family": family,
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{family}-task",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{family}-execution",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "volumes": [{"name": "scratch"}],
        "containerDefinitions": containers,
        "status": "ACTIVE",
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
        "registeredBy": f"arn:aws:iam::{ACCOUNT}:role/ci",
    }


def make_task_definition(
    body: dict[str, Any] | None = None, tags: Sequence[tuple[str, str]] = (), revision: int = 7
) -> TaskDefinition:
    body = dict(body or fargate_body())
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{body['family']}:{revision}"
    body.update(taskDefinitionArn=arn, revision=revision)
    return TaskDefinition(arn=arn, body=body, tags=tuple(tags))


def make_service(
    task_definition: str,
    *,
    name: str = "web",
    cluster: str = "prod",
    launch_type: str = "FARGATE",
    controller: str = "ECS",
    status: str = "ACTIVE",
    deployment_configuration: dict[str, Any] | None = None,
) -> Service:
    return Service(
        arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}",
        name=name,
        cluster_arn=cluster_arn(cluster),
        status=status,
        task_definition=task_definition,
        launch_type=launch_type,
        deployment_controller=controller,
        deployment_configuration=deployment_configuration
        if deployment_configuration is not None
        else {"maximumPercent": 200, "minimumHealthyPercent": 100},
        deployments=(Deployment(id="ecs-svc/0000000000000000001", status="PRIMARY", task_definition=task_definition),),
    )


def make_state(
    key: str = "prod/web",
    *,
    generation: int = 1,
    rollout_id: str = "rollout-of-another-event",
    event_id: str = "evt-0",
    image_digest: str = digest("c"),
    tag: str | None = "1.4.0",
    status: str = "SUCCEEDED",
    claimed_at: datetime = NOW,
    task_definition: str | None = None,
    previous_task_definition: str | None = None,
) -> ServiceState:
    return ServiceState(
        key=key,
        generation=generation,
        rollout_id=rollout_id,
        event_id=event_id,
        digest=image_digest,
        tag=tag,
        status=status,
        claimed_at=claimed_at,
        task_definition=task_definition,
        previous_task_definition=previous_task_definition,
    )


# -- fakes ------------------------------------------------------------------------


@dataclass
class _Fault:
    error: AwsError
    after_effect: bool = False


@dataclass
class Call:
    operation: str
    args: dict[str, Any] = field(default_factory=dict)


class FakeEcs:
    """ECS in memory: clusters of services, task definitions by ARN, deployments on update."""

    def __init__(self, account: str = ACCOUNT, region: str = REGION, registrations: int | None = None) -> None:
        """``registrations``: how many the account's pace allows this invocation (None: no limit)."""
        self.account = account
        self.region = region
        self.registrations_left = registrations
        self.clusters: dict[str, dict[str, Service]] = {}
        self.task_definitions: dict[str, TaskDefinition] = {}
        self.calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = defaultdict(list)
        self._revisions: dict[str, int] = defaultdict(int)
        self._deployment_ids = itertools.count(2)
        self._lock = threading.RLock()

    # -- arranging
    def add_task_definition(self, body: dict[str, Any] | None = None, tags: Sequence[tuple[str, str]] = ()) -> str:
        body = dict(body or fargate_body())
        with self._lock:
            self._revisions[body["family"]] += 1
            revision = self._revisions[body["family"]]
        arn = f"arn:aws:ecs:{self.region}:{self.account}:task-definition/{body['family']}:{revision}"
        body.update(taskDefinitionArn=arn, revision=revision)
        self.task_definitions[arn] = TaskDefinition(arn=arn, body=body, tags=tuple(tags))
        return arn

    def add_service(self, cluster: str, name: str, task_definition: str, **kwargs: Any) -> Service:
        service = make_service(task_definition, name=name, cluster=cluster, **kwargs)
        service = replace(service, arn=f"arn:aws:ecs:{self.region}:{self.account}:service/{cluster}/{name}")
        self.clusters.setdefault(cluster, {})[name] = service
        return service

    def service(self, cluster: str, name: str) -> Service:
        return self.clusters[cluster][name]

    def fail(self, operation: str, code: str, *, status: int = 400, times: int = 1, after_effect: bool = False) -> None:
        """Fail the next ``times`` calls of ``operation``; ``after_effect``: fail after doing it."""
        error = AwsError(operation, code, f"injected {code}", status=status)
        self._faults[operation].extend(_Fault(error, after_effect) for _ in range(times))

    def count(self, operation: str) -> int:
        return sum(1 for c in self.calls if c.operation == operation)

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.operation == operation]

    # -- the Ecs port
    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup:
        self._record("DescribeServices", cluster=cluster, names=list(names))
        self._fault_before("DescribeServices")
        cluster_name = cluster.rsplit("/", 1)[-1]
        if cluster_name not in self.clusters:
            raise AwsError("DescribeServices", "ClusterNotFoundException", "Cluster not found.", status=400)
        lookup = ServiceLookup()
        for name in names:
            if name in self.clusters[cluster_name]:
                lookup.found[name] = self.clusters[cluster_name][name]
            else:
                lookup.missing[name] = AwsError(
                    "DescribeServices", "MISSING", f'no service "{name}" in cluster "{cluster_name}" (MISSING)'
                )
        return lookup

    def describe_task_definition(self, arn: str) -> TaskDefinition:
        self._record("DescribeTaskDefinition", arn=arn)
        self._fault_before("DescribeTaskDefinition")
        if arn not in self.task_definitions:
            raise AwsError("DescribeTaskDefinition", "ClientException", "Unable to describe task definition.")
        return self.task_definitions[arn]

    def register_task_definition(
        self, body: dict[str, Any], tags: Sequence[tuple[str, str]], place: Place | None = None
    ) -> str:
        self._record("RegisterTaskDefinition", body=body, tags=list(tags))
        with self._lock:
            if self.registrations_left is not None:
                self.registrations_left -= 1
        fault = self._fault_before("RegisterTaskDefinition")
        arn = self.add_task_definition(json.loads(json.dumps(body)), tags)
        if fault:
            raise fault.error
        return arn

    def update_service(
        self, cluster: str, service: str, task_definition: str, deployment_configuration: dict[str, Any]
    ) -> Service:
        self._record(
            "UpdateService",
            cluster=cluster,
            service=service,
            task_definition=task_definition,
            deployment_configuration=deployment_configuration,
        )
        fault = self._fault_before("UpdateService")
        cluster_name = cluster.rsplit("/", 1)[-1]
        with self._lock:
            current = self.clusters[cluster_name][service]
            deployment = Deployment(
                id=f"ecs-svc/{next(self._deployment_ids):019d}", status="PRIMARY", task_definition=task_definition
            )
            older = tuple(replace(d, status="ACTIVE") for d in current.deployments)
            updated = replace(
                current,
                task_definition=task_definition,
                deployment_configuration=deployment_configuration,
                deployments=(deployment, *older),
            )
            self.clusters[cluster_name][service] = updated
        if fault:
            raise fault.error
        return updated

    def describe_tasks(
        self, cluster: str, deployment_id: str, task_definition: str, limit: int = 3
    ) -> list[dict[str, Any]]:
        self._record("ListTasks", cluster=cluster, deployment_id=deployment_id)
        return []

    def forecast(self, operation: str, count: int, place: Place | None = None) -> float:
        """Now, or never within this invocation once the registrations allowed are spent."""
        left = self.registrations_left
        if operation != "RegisterTaskDefinition" or left is None or count <= left:
            return 0.0
        return 3600.0

    # -- internals
    def _record(self, operation: str, **args: Any) -> None:
        with self._lock:
            self.calls.append(Call(operation, args))

    def _fault_before(self, operation: str) -> _Fault | None:
        """Raise an injected fault now, or return one that should fire after the effect."""
        with self._lock:
            if not self._faults[operation]:
                return None
            fault = self._faults[operation].pop(0)
        if not fault.after_effect:
            raise fault.error
        return fault


class FakeRules:
    """Rule values per repository, validated with the real parser like the SSM adapter does."""

    def __init__(self, rules_path: str = RULES_PATH) -> None:
        self.rules_path = rules_path
        self.values: dict[str, dict[str, str]] = defaultdict(dict)
        self.loads: list[str] = []

    def put(self, name: str, value: str | dict[str, Any], repository: str = "web") -> str:
        self.values[repository][name] = value if isinstance(value, str) else json.dumps(value)
        return rule_parameter(self.rules_path, repository, name)

    def repositories(self) -> list[str]:
        return sorted(repository for repository, rules in self.values.items() if rules)

    def load(self, repository: str) -> RuleSet:
        self.loads.append(repository)
        ruleset = RuleSet()
        for name, value in sorted(self.values.get(repository, {}).items()):
            parameter = rule_parameter(self.rules_path, repository, name)
            try:
                # as ParameterStoreRules reads them: with the stack's home
                ruleset.rules.append(parse_rule(repository, name, parameter, value, home=Place(ACCOUNT, REGION)))
            except RuleInvalid as problem:
                ruleset.invalid.append(problem)
        return ruleset


class FakeStore:
    """Service claims guarded by a generation, and rollout history, in dictionaries."""

    def __init__(self) -> None:
        self.states: dict[str, ServiceState] = {}
        self.rollouts: list[Rollout] = []
        self.puts: list[ServiceState] = []
        self.held: dict[str, Hold] = {}
        self.pushes: list[tuple[str, dict[str, Any]]] = []
        self.latest: dict[tuple[str, str], RuleLatest] = {}
        self.marks: dict[tuple[str, str, str], PushMark] = {}
        self.reconciled: dict[str, datetime] = {}
        self._competitors: list[ServiceState] = []
        self._faults: dict[str, list[AwsError]] = defaultdict(list)
        self.calls: Counter[str] = Counter()  # DynamoDB operations, as DynamoStore would make them
        self._lock = threading.RLock()

    def lose_next_claim_to(self, competitor: ServiceState) -> None:
        """On the next put_state, another writer stores ``competitor`` first, so ours fails."""
        self._competitors.append(competitor)

    def fail(self, operation: str, code: str, *, status: int = 400) -> None:
        self._faults[operation].append(AwsError(operation, code, f"injected {code}", status=status))

    def get_state(self, key: str) -> ServiceState | None:
        with self._lock:
            self._raise_fault("GetItem")
            return self.states.get(key)

    def get_states(self, keys: Iterable[str]) -> dict[str, ServiceState]:
        with self._lock:
            self._raise_fault("BatchGetItem")
            return {k: self.states[k] for k in keys if k in self.states}

    def put_state(self, state: ServiceState, expected_generation: int | None) -> None:
        with self._lock:
            self._raise_fault("PutItem")
            self._write_state(state, expected_generation)

    def _write_state(self, state: ServiceState, expected_generation: int | None) -> None:
        """put_state's conditional write, after any competitor lined up has written."""
        self._race()
        self._check_generation(state, expected_generation)
        self.states[state.key] = state
        self.puts.append(state)

    def _race(self) -> None:
        """The competitor, if one is lined up, writes just before this write."""
        if self._competitors:
            competitor = self._competitors.pop(0)
            self.states[competitor.key] = competitor

    def _check_generation(self, state: ServiceState, expected_generation: int | None) -> None:
        current = self.states.get(state.key)
        stored = current.generation if current else None
        if stored != expected_generation:
            raise ConditionFailed(f"{state.key}: generation is {stored}, not {expected_generation}")

    def put_states(self, writes: Sequence[tuple[ServiceState, int | None]]) -> list[tuple[ServiceState, int | None]]:
        """All or nothing, like one DynamoDB transaction (the fake has no size limit)."""
        with self._lock:
            return [] if self._transact_states(writes) else list(writes)

    def put_rollouts(
        self, records: Sequence[tuple[Rollout, ServiceState, int]]
    ) -> list[tuple[Rollout, ServiceState, int]]:
        with self._lock:
            if not self._transact_states([(state, generation) for _, state, generation in records]):
                return list(records)
            ids = {r.rollout_id for r, _, _ in records}
            self.rollouts = [r for r in self.rollouts if r.rollout_id not in ids] + [r for r, _, _ in records]
            return []

    def _transact_states(self, writes: Sequence[tuple[ServiceState, int | None]]) -> bool:
        """Write every state or none (a fault or a lost condition): whether they were written."""
        self._race()
        before = dict(self.states)
        try:
            self._raise_fault("TransactWriteItems")
            for state, generation in writes:
                self._check_generation(state, generation)
                self.states[state.key] = state
        except (AwsError, ConditionFailed):
            self.states = before
            return False
        self.puts.extend(state for state, _ in writes)
        return True

    def delete_state(self, key: str, rollout_id: str) -> None:
        with self._lock:
            self._raise_fault("DeleteItem")
            current = self.states.get(key)
            if current is None or current.rollout_id != rollout_id:
                raise ConditionFailed(f"{key} is not claimed by {rollout_id}")
            del self.states[key]

    def put_rollout(
        self, rollout: Rollout, state: ServiceState | None = None, expected_generation: int | None = None
    ) -> None:
        with self._lock:
            self._raise_fault("TransactWriteItems")
            if state is not None:
                self._write_state(state, expected_generation)
            self.rollouts = [r for r in self.rollouts if r.rollout_id != rollout.rollout_id] + [rollout]

    # -- gates and holds (same contract as DynamoStore) ---------------------------
    def digest_rollouts(self, repository: str, digest: str, rule: str) -> list[DigestRecord]:
        with self._lock:
            latest: dict[str, Rollout] = {}
            for r in self.rollouts:
                if r.repository == repository and r.digest == digest and r.rule == rule:
                    latest[r.key] = r
            return [DigestRecord(r.key, r.status, r.finished_at) for r in latest.values()]

    def in_flight(self, repository: str, rule: str) -> int:
        with self._lock:
            return sum(
                1 for r in self.rollouts if r.repository == repository and r.rule == rule and r.status == "DEPLOYING"
            )

    def put_hold(self, hold: Hold) -> None:
        with self._lock:
            self.held[hold.key] = hold

    def holds(self, repository: str | None = None) -> list[Hold]:
        with self._lock:
            return [h for h in self.held.values() if repository is None or h.repository == repository]

    def get_hold(self, hold_id: str) -> Hold | None:
        with self._lock:
            return next((h for h in self.held.values() if h.hold_id == hold_id), None)

    def delete_hold(self, hold: Hold) -> bool:
        with self._lock:
            if self.held.get(hold.key) is not None and self.held[hold.key].hold_id == hold.hold_id:
                del self.held[hold.key]
                return True
            return False

    def put_push(self, repository: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.pushes.append((repository, record))

    def last_push(self, repository: str) -> dict[str, Any] | None:
        with self._lock:
            return next((r for repo, r in reversed(self.pushes) if repo == repository), None)

    def clear_notice(self, key: str, rollout_id: str) -> None:
        with self._lock:
            self._raise_fault("UpdateItem")
            current = self.states.get(key)
            if current is not None and current.rollout_id == rollout_id:
                self.states[key] = replace(current, notice=None)

    # -- the order of pushes (same contract as DynamoStore: a conditional swap) -----------
    def get_latest(self, repository: str, rule: str) -> RuleLatest | None:
        with self._lock:
            self._raise_fault("GetItem")
            return self.latest.get((repository, rule))

    def put_latest(self, latest: RuleLatest, replaces: RuleLatest | None) -> RuleLatest | None:
        with self._lock:
            self._raise_fault("UpdateItem")
            return self._swap(self.latest, (latest.repository, latest.rule), latest, replaces)

    def put_mark(self, mark: PushMark, replaces: PushMark | None) -> PushMark | None:
        with self._lock:
            self._raise_fault("UpdateItem")
            return self._swap(self.marks, (mark.repository, mark.digest, mark.tag), mark, replaces, own=False)

    @staticmethod
    def _swap(items: dict[Any, Any], key: Any, new: Any, replaces: Any, own: bool = True) -> Any:
        """Write ``new`` over ``replaces``; with None, over nothing (or, ``own``, over the same event's)."""
        stored = items.get(key)
        fresh = stored is None or (own and stored.event_id == new.event_id)
        allowed = fresh if replaces is None else stored == replaces
        if not allowed:
            return stored
        items[key] = new
        return None

    def reconciled_until(self, repository: str) -> datetime | None:
        with self._lock:
            return self.reconciled.get(repository)

    def put_reconciled_until(self, repository: str, until: datetime) -> None:
        with self._lock:
            self.reconciled[repository] = until

    def history(self, key: str, limit: int = 20) -> list[Rollout]:
        with self._lock:
            return [r for r in reversed(self.rollouts) if r.key == key][:limit]

    def _raise_fault(self, operation: str) -> None:
        self.calls[operation] += 1
        if self._faults[operation]:
            raise self._faults[operation].pop(0)


class FakeNotifier:
    """Collects what would be published; can refuse messages like a failed PublishBatch entry."""

    def __init__(self, failing: bool = False) -> None:
        self.published: list[Notification] = []
        self.calls = 0
        self.failing = failing
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[Notification]) -> list[str]:
        return [failure for failure in self.publish_each(messages) if failure]

    def publish_each(self, messages: Sequence[Notification]) -> list[str | None]:
        with self._lock:
            self.calls += 1
            if self.failing:
                return [f"{m.subject()}: InternalError: injected" for m in messages]
            self.published.extend(messages)
            return [None] * len(messages)


class FakeWorkQueue:
    """Keeps handed-on continuations, in order, as the work queue would; can refuse them."""

    def __init__(self, failing: bool = False) -> None:
        self.sent: list[Continuation] = []
        self.failing = failing

    def hand_on(self, continuations: Sequence[Continuation]) -> None:
        if self.failing:
            raise AwsError("SendMessageBatch", "InternalError", "injected", status=500)
        self.sent.extend(continuations)

    def take(self) -> list[Continuation]:
        taken, self.sent = self.sent, []
        return taken


class DeployerWorld:
    """prod/web, prod/api (same task definition family) and staging/web, all on web:1.4.0, and a Deployer."""

    def __init__(self) -> None:
        self.ecs = FakeEcs()
        self.rules = FakeRules()
        self.store = FakeStore()
        self.notifier = FakeNotifier()
        self.metrics: list[tuple[str, int]] = []
        self.web = self.ecs.add_task_definition()
        self.ecs.add_service("prod", "web", self.web)
        self.ecs.add_service("prod", "api", self.web)
        self.ecs.add_service("staging", "web", self.web)

    def deployer(self, allowed_clusters: tuple[str, ...] = ("*",), **kwargs: Any) -> Deployer:
        kwargs.setdefault("sleep", lambda seconds: None)
        kwargs.setdefault("reach", Reach(Place(ACCOUNT, REGION), allowed_clusters))
        return Deployer(
            self.ecs,
            self.rules,
            self.store,
            self.notifier,
            clock=lambda: NOW,
            count=lambda name, value: self.metrics.append((name, value)),
            **kwargs,
        )

    def deploy(self, tag: str | None = "1.5.0", image_digest: str = digest("b"), **kwargs: Any) -> PushReport:
        return self.deployer(**kwargs).deploy(make_push(tag, image_digest))

    def metric(self, name: str) -> int:
        values = [v for n, v in self.metrics if n == name]
        assert len(values) <= 1, f"{name} counted {len(values)} times"
        return values[0] if values else 0
