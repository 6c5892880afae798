"""Each function's role in template.yaml allows every AWS call the function makes, and no more.

Each function is driven through the paths it has (under moto, with every call counted),
each call is mapped to the IAM actions AWS checks for it, hidden ones included (SNS and
SQS encrypted with Slipway's key need the key; a tagged RegisterTaskDefinition needs
TagResource, one naming roles PassRole; the SQS event source polls with the function's
role), and the role, as SAM expands the template for the stack the tours run in (STACK:
TargetAccounts set, so the TargetAccountsPolicy exists), is compared with them both ways:

- every action the calls need is allowed by a statement of the role;
- every action the role allows is needed by some call (or by Lambda itself: logs, traces,
  dead letters), so a grant no code path uses fails here.

Each tour also reaches a service in a target account, through its target role. A call is
counted under the account it acts in (the one moto maps its access key to): sts:AssumeRole
is the function's, in Slipway's account; what follows with the assumed credentials is the
target role's (templates/target-account.yaml), and is checked against that role instead.

Actions are compared, not resources or conditions: those are the template's own tests'
(tests/template/test_least_privilege.py) and checkov's to judge.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import pytest

from sandbox import template as tpl
from sandbox.accounts import AccountWorld, forwarded
from sandbox.deployments import Deployments, StoppedTask
from sandbox.faults import Fault, Faults
from sandbox.runtime import Runtime
from sandbox.stack import ACCOUNT, LambdaContext, World
from sandbox.strategies import Strategies
from sandbox.task_runs import held_tasks
from sandbox.throttling import ECS_BUCKETS, AccountBuckets, ThrottledAccount
from tests.conftest import EVENTS
from tests.integration.conftest import PRODUCTION_ACCOUNT, PRODUCTION_REGION, STAGING_ACCOUNT
from tests.integration.test_deploy import ROLE, fargate_web, push
from tests.integration.test_strategy_tracking import balanced_web
from tests.template.test_least_privilege import Stack

# What AWS checks for a call, where it is not simply service:Operation.
HIDDEN: dict[str, tuple[str, ...]] = {
    "dynamodb.TransactWriteItems": ("dynamodb:PutItem",),  # Slipway's transactions only Put
    "sns.PublishBatch": ("sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"),  # the topic's key
    "sqs.SendMessageBatch": ("sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"),  # the queue's key
    "ecs.RegisterTaskDefinition": ("ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"),
    # with enhanced scanning, ECR reads Amazon Inspector's findings as the caller
    "ecr.DescribeImageScanFindings": (
        "ecr:DescribeImageScanFindings",
        "inspector2:ListFindings",
        "inspector2:ListCoverage",
    ),
    # a tagged task naming roles: tag-on-create and PassRole of its task and execution roles
    "ecs.RunTask": ("ecs:RunTask", "ecs:TagResource", "iam:PassRole"),
    # Scheduler and EventBridge pass the schedule's or target's RoleArn on each update
    "scheduler.UpdateSchedule": ("scheduler:UpdateSchedule", "iam:PassRole"),
    "eventbridge.PutTargets": ("events:PutTargets", "iam:PassRole"),
    "eventbridge.ListTargetsByRule": ("events:ListTargetsByRule",),  # botocore's EventBridge is IAM's events
}
# Lambda's SQS event source polls the work queue with the deploy function's role.
EVENT_SOURCE = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# What Lambda itself does with every function's role: it writes the function's logs, sends its
# traces (Tracing: Active), and sends a failed asynchronous invocation to the dead-letter queue,
# which is encrypted with Slipway's key. No code of Slipway's makes these calls.
LAMBDA_ITSELF = (
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "sqs:SendMessage",
    "kms:GenerateDataKey",
    "kms:Decrypt",
)
# Rules whose SecureString value is read decrypt it with the rules' key (through Parameter Store).
SECURE_RULES = ("kms:Decrypt",)
# The stack the tours run in: the parameters the target_accounts fixture sets in the environment.
TARGETS = (STAGING_ACCOUNT, PRODUCTION_ACCOUNT)
STACK = {
    "TargetAccounts": ",".join(TARGETS),
    "AllowedClusters": ",".join(["*", *(f"arn:aws:ecs:*:{account}:cluster/*" for account in TARGETS)]),
    "AllowedSchedules": "default/nightly-*",  # the tours' scheduled tasks (nightly_tasks)
    "AllowedEventRules": "nightly-*",
}


@pytest.fixture(autouse=True)
def trusted_signing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tours' stack trusts the sandbox's release signing profile (TrustedSigningProfiles), set after the
    sandbox stack's environment (``world``) where a test has one."""
    if "world" in request.fixturenames:
        request.getfixturevalue("world")
    from sandbox.image_checks import TRUSTED_PROFILE
    from slipway.settings import settings

    monkeypatch.setenv("SLIPWAY_TRUSTED_SIGNING_PROFILES", TRUSTED_PROFILE)
    settings.cache_clear()


# What the image gates ask ECR of a pushed digest (every function that admits or releases a push).
IMAGE_CHECKS = {"ecr.DescribeImageScanFindings", "ecr.DescribeImageSigningStatus"}
# app/payments in the production account, which every tour reaches through its target role.
ABROAD = {"cluster": f"arn:aws:ecs:{PRODUCTION_REGION}:{PRODUCTION_ACCOUNT}:cluster/app", "service": "payments"}


def iam_actions(calls: Counter[str]) -> set[str]:
    actions: set[str] = set()
    for call in calls:
        service, operation = call.split(".", 1)
        actions.update(HIDDEN.get(call, (f"{service}:{operation}",)))
    return actions


def _allowed(documents: list[dict[str, Any]]) -> set[str]:
    allowed: set[str] = set()
    for document in documents:
        for statement in document["Statement"]:
            if statement.get("Effect") == "Allow":
                action = statement["Action"]
                allowed.update(action if isinstance(action, list) else [action])
    return allowed


@lru_cache(maxsize=4)
def _expanded(parameters: tuple[tuple[str, str], ...]) -> dict[str, dict[str, Any]]:
    """The resources of the SAM-expanded template, as CloudFormation would make them for ``parameters``.

    SAM leaves conditions to CloudFormation; they are evaluated here (``Stack``), so a resource
    under a false Condition is absent and an Fn::If takes the branch its condition gives.
    """
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = copy.deepcopy(tpl.template())
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"  # SAM wants an S3 location offline
    return Stack(transform(template, {}, NoManagedPolicies()), **dict(parameters)).resources()


def role_actions(function: str, parameters: dict[str, str] | None = None) -> set[str]:
    """Every action the function's role allows (inline and managed policies) in the stack of ``parameters``."""
    resources = _expanded(tuple(sorted((STACK if parameters is None else parameters).items())))
    role = resources[f"{function}Role"]["Properties"]
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    for arn in role.get("ManagedPolicyArns", []):
        name = str(arn).strip("<>")  # a Ref to a resource of the stack evaluates to <Name>
        if name not in resources:
            raise ValueError(f"{function}Role attaches {arn}, not a policy of the template")
        documents.append(resources[name]["Properties"]["PolicyDocument"])
    return _allowed(documents)


def target_role_actions() -> set[str]:
    """Every action the target account's role (templates/target-account.yaml) allows, by its defaults."""
    role = Stack(tpl.target_account_template()).resources()["SlipwayTargetRole"]["Properties"]
    return _allowed([policy["PolicyDocument"] for policy in role["Policies"]])


def _not_allowed(needed: set[str], allowed: set[str]) -> list[str]:
    return sorted(a for a in needed if not any(fnmatch.fnmatchcase(a, pattern) for pattern in allowed))


def missing(function: str, calls: Counter[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Actions the calls need that the role does not allow."""
    return _not_allowed(iam_actions(calls) | set(extra), role_actions(function))


def missing_there(calls: Counter[str]) -> list[str]:
    """Actions the calls made in a target account need that its target role does not allow."""
    return _not_allowed(iam_actions(calls), target_role_actions())


def unused(function: str, calls: Counter[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Actions (or action patterns) the role allows that neither the calls nor Lambda itself need."""
    needed = iam_actions(calls) | set(LAMBDA_ITSELF) | set(extra)
    return sorted(p for p in role_actions(function) if not any(fnmatch.fnmatchcase(a, p) for a in needed))


# -- how the functions are driven ----------------------------------------------------------------


# The credential scope of a SigV4 signature: Credential=KEY/DATE/REGION/SERVICE/aws4_request.
SIGNED = re.compile(r"Credential=(?P<key>[^/]+)/")


class ByAccount(Faults):
    """Faults that also count each call under the account it acts in: the one moto maps its access key to."""

    def __init__(self) -> None:
        super().__init__()
        self.by_account: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._accounts_lock = threading.Lock()

    def before_send(self, request: Any, event_name: str, **kwargs: Any) -> Any:
        from moto.iam.models import get_account_id_from

        _, service, operation = event_name.split(".", 2)
        signed = SIGNED.search(str(request.headers.get("Authorization", "") or ""))
        account = get_account_id_from(signed.group("key")) if signed else ACCOUNT
        with self._accounts_lock:
            self.by_account[account][f"{service}.{operation}"] += 1
        return super().before_send(request, event_name, **kwargs)

    def reset_counts(self) -> None:
        super().reset_counts()
        with self._accounts_lock:
            self.by_account.clear()


@dataclass
class Calls:
    """What a tour called: in Slipway's account (the function's role) and in target accounts (their role)."""

    own: Counter[str]
    there: Counter[str]

    def __add__(self, other: Calls) -> Calls:
        return Calls(self.own + other.own, self.there + other.there)


def allow_nightly_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's AllowedSchedules and AllowedEventRules, as STACK sets them."""
    monkeypatch.setenv("SLIPWAY_ALLOWED_SCHEDULES", STACK["AllowedSchedules"])
    monkeypatch.setenv("SLIPWAY_ALLOWED_EVENT_RULES", STACK["AllowedEventRules"])


@pytest.fixture
def counted(world: World, target_accounts: tuple[str, ...], clock: Any, monkeypatch: pytest.MonkeyPatch) -> ByAccount:
    """Every call of the functions counted, in a stack whose TargetAccounts are staging and production."""
    from slipway import app

    allow_nightly_tasks(monkeypatch)
    faults = ByAccount()
    app.use(app.App(session=faults.session(), clock=clock))
    return faults


@pytest.fixture
def slow_account(
    world: World, target_accounts: tuple[str, ...], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> ByAccount:
    """Every call counted, and ECS's RegisterTaskDefinition bucket one token a minute: pushes hand on."""
    from slipway import app

    monkeypatch.setenv("SLIPWAY_ECS_QUOTAS", "RegisterTaskDefinition:1:0.0167")
    allow_nightly_tasks(monkeypatch)
    faults = ByAccount()
    throttle = ThrottledAccount(AccountBuckets({**ECS_BUCKETS, "RegisterTaskDefinition": (1, 0.0167)}))
    app.use(app.App(session=throttle.install(faults.session()), clock=clock))
    return faults


def handler(name: str) -> Callable[[dict[str, Any], Any], Any]:
    import importlib

    return importlib.import_module(f"slipway.handlers.{name}").handler  # type: ignore[no-any-return]


def invoke(name: str, timeout_ms: int = 120_000) -> Callable[[dict[str, Any]], Any]:
    function = handler(name)
    return lambda event: function(event, LambdaContext(function_name=f"slipway-{name}", timeout_ms=timeout_ms))


SCHEDULED = {"version": "0", "id": "s", "source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
# each failing call takes two seconds of the invocation (sandbox.stack.LAMBDA_TIME): a 30 s one runs out after a dozen
ECS_DOWN = Fault("ServiceUnavailableException", 503, "ECS is down", takes=2.0)
SHORT_MS = 30_000
SNS_DOWN = Fault("InternalError", 500, "SNS is down")


@contextmanager
def counting(faults: ByAccount) -> Iterator[Calls]:
    """The calls made inside the block (what the functions did before it is not theirs to count)."""
    faults.reset_counts()
    calls = Calls(Counter(), Counter())
    try:
        yield calls
    finally:
        for account, made in faults.by_account.items():
            (calls.own if account == ACCOUNT else calls.there).update(made)


@contextmanager
def failing(faults: Faults, operation: str, fault: Fault) -> Iterator[None]:
    faults.fail_always(operation, fault)
    try:
        yield
    finally:
        faults.stop(operation)


def prod_fleet(world: World) -> None:
    world.create_repository("web")
    fargate_web(world)
    fargate_web(world, name="api")
    targets = [{"cluster": "prod", "service": s} for s in ("web", "api")]
    world.put_rule("web", "prod", {"targets": targets}, secure=True)


def canary_shop(world: World) -> None:
    """prod/shop behind a load balancer that can shift traffic, under a canary rule with approval."""
    balanced_web(world, name="shop")
    canary = {"strategy": "canary", "canary": {"percent": 5, "bake_minutes": 10}, "approval": True}
    world.put_rule("web", "shop", {"targets": [{"cluster": "prod", "service": "shop"}], **canary})


def image_checked(world: World) -> None:
    """prod/checked under a rule with both image gates: each push is signed, its scan never comes (held at scan)."""
    fargate_web(world, name="checked")
    gates = {"scan": {"max_severity": "HIGH"}, "signature": {"required": True}}
    world.put_rule("web", "checked", {"targets": [{"cluster": "prod", "service": "checked"}], **gates})


def signed(faults: Faults, event_or_digest: dict[str, Any] | str) -> None:
    """ECR managed signing COMPLETE for the pushed digest: the scan gate asks ECR next."""
    digest = event_or_digest if isinstance(event_or_digest, str) else event_or_digest["detail"]["image-digest"]
    faults.images.sign("web", digest)


def payments(world: World, production: AccountWorld) -> dict[str, str]:
    """app/payments in the production account, running the hub's web image; the target (ABROAD) naming it."""
    production.cluster("app")
    td = production.task_definition(
        "payments",
        [{"name": "app", "image": world.image_uri("web", "1.0.0")}],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
    )
    production.service("app", "payments", td, launchType="FARGATE", desiredCount=2)
    return dict(ABROAD)


def migrated(world: World, name: str = "migrated", repository: str = "web", **rule: Any) -> None:
    """prod/NAME (Fargate, awsvpc) running REPOSITORY:1.0.0, under a rule (with the keys ``rule`` adds) whose
    pre-deploy task migrates first."""
    import boto3

    subnet = boto3.client("ec2", region_name=world.region).describe_subnets()["Subnets"][0]["SubnetId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}}
    td = world.task_definition(
        name,
        [{"name": "app", "image": world.image_uri(repository, "1.0.0")}],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        taskRoleArn=ROLE,
    )
    world.service("prod", name, td, launchType="FARGATE", networkConfiguration=network)
    migrate = {"container": "app", "command": ["./migrate"]}
    spec = {"targets": [{"cluster": "prod", "service": name}], "pre_deploy": migrate, **rule}
    world.put_rule(repository, name, spec)


def nightly_tasks(world: World, service: str = "web") -> None:
    """A schedule and an events rule running prod/SERVICE's revision, and a rule moving them with each push."""
    from sandbox.scheduled_tasks import create_events_rule, create_schedule, ecs_target

    described = world.describe_service("prod", service)
    cluster, revision = described["clusterArn"], described["taskDefinition"]
    create_schedule(world, "default", "nightly-report", cluster, revision)
    create_events_rule(world, "nightly-report", [ecs_target("report", cluster, revision)])
    targets = [{"schedule": "default/nightly-report"}, {"events_rule": "nightly-report"}]
    world.put_rule("web", "nightly", {"targets": targets})


def deploying(world: World) -> dict[str, str]:
    """The deployment id of each service a DEPLOYING message names, from what the subscriber received."""
    notes = [n["message"] for n in world.notifications()]
    return {m["service"]: m["deployment_id"] for m in notes if m["status"] == "DEPLOYING"}


def hook_event(world: World, service: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "ecs-hook-awaiting-action.json").read_text())
    event["resources"] = [world.describe_service("prod", service)["serviceArn"]]
    return event


def own_process(faults: ByAccount, clock: Any) -> None:
    """The next function runs in a process of its own, as in Lambda: no cache of another's (rules), calls counted."""
    from slipway import app

    app.use(app.App(session=faults.session(), clock=clock))


def deploy_tour(world: World, faults: ByAccount, production: AccountWorld) -> Calls:
    """The deploy function: a push that hands on, its carry-on, holds, a redelivery, a reject, a failure,
    and a target in the production account."""
    from slipway import app
    from slipway.errors import RetryLater

    clock = app.app().clock
    prod_fleet(world)  # the second target waits for ECS's pace: handed on
    fargate_web(world, name="stage")
    fargate_web(world, name="late")
    world.put_rule("web", "approved", {"targets": [{"cluster": "prod", "service": "stage"}], "approval": True})
    world.put_rule("web", "later", {"targets": [{"cluster": "prod", "service": "late"}], "promote_from": "prod"})
    world.put_rule("web", "abroad", {"targets": [payments(world, production)]})  # through the target role
    image_checked(world)  # signed, then held for its scan
    nightly_tasks(world)  # a schedule and an events rule follow the push
    runtime = Runtime(world, handler("deploy"), timeout_ms=6000)
    event = push(world, "web", "1.1.0")
    signed(faults, event)
    with counting(faults) as calls:
        runtime.invoke(event)  # claims, registers, updates, records, holds two pushes, announces, hands on
        runtime.invoke(event)  # a redelivery: the idempotency record answers
        runtime.invoke({"source": "aws.ecr", "detail-type": "ECR Image Action", "id": "x", "detail": {}})  # rejected
        runtime.carry_on()  # the work queue's invocation carries on once its (delayed) message is due
        with failing(faults, "sns.PublishBatch", SNS_DOWN), pytest.raises(RetryLater):
            runtime.invoke(push(world, "web", "1.2.0"))  # fails: its idempotency record is deleted for the retry
        # a push to a rule with a pre-deploy task starts it (RunTask), in a process at ECS's usual pace
        own_process(faults, clock)
        world.create_repository("db")
        migrated(world, repository="db")
        runtime.invoke(push(world, "db", "1.1.0"))
    return calls


def reconcile_tour(world: World, faults: ByAccount, production: AccountWorld) -> Calls:
    """The reconcile: pushes whose event never came: one ECS refuses, one deployed (a wave too, and a target
    in the production account), one handed on."""
    prod_fleet(world)
    for name in ("db", "cache"):
        fargate_web(world, name=name)
    waved = [{"cluster": "prod", "service": s} for s in ("db", "cache")]
    world.put_rule("web", "waved", {"targets": waved, "max_parallel": 1})
    world.put_rule("web", "abroad", {"targets": [payments(world, production)]})  # through the target role
    image_checked(world)  # the pushes it finds are signed, then held for their scan
    migrated(world)  # its pre-deploy task runs (RunTask)
    nightly_tasks(world)  # a schedule and an events rule follow the pushes
    reconcile = invoke("reconcile")
    with counting(faults) as calls:
        reconcile({"source": "aws.scheduler"})  # the first look notes the time
        world.push_image("web", "1.1.0")
        with failing(faults, "ecs.RegisterTaskDefinition", Fault("ClientException", 400, "refused")):
            reconcile({"source": "aws.scheduler"})  # ERROR: the services' claims are given back
        signed(faults, world.push_image("web", "1.2.0"))
        reconcile({"source": "aws.scheduler"})  # web, api, db and payments deploy; cache waits in the wave
        world.push_image("web", "1.3.0")
        with failing(faults, "ecs.RegisterTaskDefinition", ECS_DOWN):
            invoke("reconcile", timeout_ms=SHORT_MS)({"source": "aws.scheduler"})  # retryable: handed on
    return calls


def track_tour(world: World, faults: ByAccount, clock: Any, production: AccountWorld) -> Calls:
    """The track function: promotions released (handed on, then rolled out), stopped tasks, a canary's pause,
    and a rollout in the production account, whose event comes through its forwarding rules."""
    world.create_repository("web")
    for name in ("web", "api", "db", "cache", "edge", "solo"):
        fargate_web(world, name=name)

    def targets(*services: str) -> list[dict[str, str]]:
        return [{"cluster": "prod", "service": s} for s in services]

    world.put_rule("web", "prod", {"targets": targets("web", "api"), "max_parallel": 1}, secure=True)
    world.put_rule("web", "later", {"targets": targets("db", "cache"), "promote_from": "prod"})
    world.put_rule("web", "last", {"targets": targets("edge"), "promote_from": "later"})
    world.put_rule("web", "solo", {"targets": targets("solo")})
    world.put_rule("web", "abroad", {"targets": [payments(world, production)]})
    migrated(world, "promoted", promote_from="later")  # released when later succeeds: its pre-deploy task starts
    canary_shop(world)
    image_checked(world)  # held for its scan: each release asks ECR again
    strategies = Strategies(world.account, world.region)
    clock.now = strategies.now
    life = Deployments(world.account, world.region)
    event = push(world, "web", "1.1.0")
    signed(faults, event)
    invoke("deploy")(event)  # web, solo, shop and payments deploy; the others wait for a gate
    started = deploying(world)
    own_process(faults, clock)
    with counting(faults) as calls, failing(faults, "ecs.RegisterTaskDefinition", ECS_DOWN):
        # web succeeds: db and cache are released, but ECS cannot take them now: handed on
        invoke("track", timeout_ms=SHORT_MS)(life.complete("prod", "web", started["web"]))
    Runtime(world, handler("deploy")).carry_on()  # they deploy from the work queue
    started.update(deploying(world))
    own_process(faults, clock)
    track = invoke("track")
    with counting(faults) as more:
        track(life.complete("prod", "db", started["db"]))
        track(life.complete("prod", "cache", started["cache"]))  # later succeeded: edge is released, rolled out
        stopped = [StoppedTask("Essential container in task exited", exit_code=1)]
        track(life.fail("prod", "solo", started["solo"], stopped=stopped))  # FAILED, with its stopped tasks
        strategies.settle("prod", "shop")  # the canary pauses for approval
        clock.now = strategies.now
        track(hook_event(world, "shop"))
        # payments succeeds in production: the tracker reads the service there for the outcome
        done = Deployments(production.account, production.region).complete("app", "payments", started["payments"])
        [delivered] = forwarded(world, done)
        track(delivered)
    return calls + more


def sweep_tour(world: World, faults: ByAccount, clock: Any, production: AccountWorld) -> Calls:
    """The sweep: frozen pushes released (one handed on, one in the production account), rollouts timed out
    (one with stopped tasks, one in the production account), a canary's pause."""
    world.create_repository("web")
    for name in ("web", "api", "db", "cache", "queue"):
        fargate_web(world, name=name)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": s} for s in ("web", "api")]}, secure=True)
    canary_shop(world)
    strategies = Strategies(world.account, world.region)
    clock.now = strategies.now
    first, second = clock.now + timedelta(minutes=10), clock.now + timedelta(minutes=20)
    db, cache, queue = ({"cluster": "prod", "service": s} for s in ("db", "cache", "queue"))
    for rule, targets, end in (("frozen", [db, cache, payments(world, production)], first), ("later", [queue], second)):
        window = {"start": (clock.now - timedelta(hours=1)).isoformat(), "end": end.isoformat()}
        world.put_rule("web", rule, {"targets": targets, "freeze": [window], "deploy_after_freeze": True})
    image_checked(world)  # held for its scan: the sweep asks ECR again
    migrated(world)  # its pre-deploy task runs until the sweep finds it past its timeout and stops it
    thaw = {"start": (clock.now - timedelta(hours=1)).isoformat(), "end": first.isoformat()}
    migrated(world, "thawed", freeze=[thaw], deploy_after_freeze=True)  # released by the sweep: its task starts
    event = push(world, "web", "1.1.0")
    signed(faults, event)
    invoke("deploy")(event)  # web, api and shop deploy; db, cache, payments and queue are frozen
    life = Deployments(world.account, world.region)
    api = life.primary("prod", "api")
    life.stop_task(
        "prod", api["taskDefinition"], api["id"], StoppedTask("OutOfMemoryError: Container killed", exit_code=137)
    )
    own_process(faults, clock)
    with held_tasks(), counting(faults) as calls:
        strategies.settle("prod", "shop")  # the canary pauses; its event is lost
        clock.now = first  # the first freeze is over: db, cache and (through its target role) payments roll out
        invoke("sweep")(SCHEDULED)
        clock.now = second + timedelta(minutes=45)  # the second is over; web, api and payments are past their timeout
        with failing(faults, "ecs.RegisterTaskDefinition", ECS_DOWN):
            invoke("sweep", timeout_ms=SHORT_MS)(SCHEDULED)  # TIMED_OUT with api's stopped task; queue handed on
    return calls


def rule_check_tour(world: World, faults: ByAccount, production: AccountWorld) -> Calls:
    """The rule-check function: a secure rule created, one with a named container and a promotion, a deletion,
    and one naming a service of the production account, which the checker reads there."""
    prod_fleet(world)
    abroad = {**payments(world, production), "container": "app"}
    check = invoke("rules")
    with counting(faults) as calls:
        [event] = world.rule_change("web", "prod", "Create")
        check(event)
        later = {"targets": [{"cluster": "prod", "service": "api", "container": "app"}], "promote_from": "prod"}
        world.put_rule("web", "later", later)
        [event] = world.rule_change("web", "later", "Update")
        check(event)
        parameter = world.put_rule("web", "gone", {"targets": [{"cluster": "prod", "service": "web"}]})
        world.ssm.delete_parameter(Name=parameter)
        [event] = world.rule_change("web", "gone", "Delete")
        check(event)
        world.put_rule("web", "abroad", {"targets": [abroad]})
        [event] = world.rule_change("web", "abroad", "Update")
        check(event)
    return calls


# -- the role allows every call ---------------------------------------------------------------------


def test_permissions_deploy_function_role_allows_every_call_it_makes(
    world: World, slow_account: ByAccount, production: AccountWorld
) -> None:
    calls = deploy_tour(world, slow_account, production)

    assert {"sqs.SendMessageBatch", "ecs.RegisterTaskDefinition", "dynamodb.BatchGetItem", "sts.AssumeRole"} <= set(
        calls.own
    )
    # the rules are a SecureString: reading them decrypts with the rules' key
    assert set(calls.own) >= IMAGE_CHECKS
    assert missing("DeployFunction", calls.own, (*EVENT_SOURCE, *SECURE_RULES)) == []
    # what it did in the production account, the target role allows
    assert {"ecs.RegisterTaskDefinition", "ecs.UpdateService"} <= set(calls.there)
    assert missing_there(calls.there) == []


def test_permissions_track_function_role_allows_every_call_it_makes(
    world: World, counted: ByAccount, clock: Any, production: AccountWorld
) -> None:
    calls = track_tour(world, counted, clock, production)

    assert {
        "ecs.ListTasks",
        "sns.PublishBatch",
        "ecs.DescribeServiceDeployments",
        "sqs.SendMessageBatch",
        "sts.AssumeRole",
    } <= set(calls.own)
    assert set(calls.own) >= IMAGE_CHECKS
    assert missing("TrackFunction", calls.own, SECURE_RULES) == []
    assert "ecs.DescribeServices" in calls.there
    assert missing_there(calls.there) == []


def test_permissions_sweep_function_role_allows_every_call_it_makes(
    world: World, counted: ByAccount, clock: Any, production: AccountWorld
) -> None:
    calls = sweep_tour(world, counted, clock, production)

    # the work queue's sqs:SendMessage is also the dead-letter queue's: only the call itself shows it is used
    assert {
        "ecs.DescribeServices",
        "ecs.DescribeServiceDeployments",
        "ecs.UpdateService",
        "sqs.SendMessageBatch",
        "sts.AssumeRole",
    } <= set(calls.own)
    assert set(calls.own) >= IMAGE_CHECKS
    assert missing("SweepFunction", calls.own, SECURE_RULES) == []
    assert {"ecs.UpdateService", "ecs.DescribeServices"} <= set(calls.there)  # released there, then timed out
    assert missing_there(calls.there) == []


def test_permissions_reconcile_function_role_allows_every_call_it_makes(
    world: World, counted: ByAccount, production: AccountWorld
) -> None:
    calls = reconcile_tour(world, counted, production)

    assert {"ecr.DescribeImages", "sqs.SendMessageBatch", "sts.AssumeRole"} <= set(calls.own)
    assert set(calls.own) >= IMAGE_CHECKS
    assert missing("ReconcileFunction", calls.own, SECURE_RULES) == []
    assert "ecs.UpdateService" in calls.there
    assert missing_there(calls.there) == []


def test_permissions_rule_check_function_role_allows_every_call_it_makes(
    world: World, counted: ByAccount, production: AccountWorld
) -> None:
    calls = rule_check_tour(world, counted, production)

    assert {"ssm.GetParameter", "sts.AssumeRole"} <= set(calls.own)
    assert missing("RuleCheckFunction", calls.own, SECURE_RULES) == []
    assert {"ecs.DescribeServices", "ecs.DescribeTaskDefinition"} <= set(calls.there)
    assert missing_there(calls.there) == []


def test_permissions_check_finds_a_call_the_role_does_not_allow() -> None:
    # The check itself can fail: the rule checker may not deploy
    assert missing("RuleCheckFunction", Counter({"ecs.UpdateService": 1})) == ["ecs:UpdateService"]
    # nor the target role read Slipway's table
    assert missing_there(Counter({"dynamodb.GetItem": 1})) == ["dynamodb:GetItem"]


def test_permissions_assume_role_is_granted_only_in_a_stack_with_target_accounts() -> None:
    # The roles are read for the stack's parameters: without TargetAccounts, no TargetAccountsPolicy
    for function in ("DeployFunction", "ReconcileFunction", "TrackFunction", "SweepFunction", "RuleCheckFunction"):
        assert "sts:AssumeRole" in role_actions(function), function
        assert "sts:AssumeRole" not in role_actions(function, {}), function


# -- the role allows nothing more --------------------------------------------------------------------


def test_permissions_deploy_function_role_grants_nothing_its_code_never_calls(
    world: World, slow_account: ByAccount, production: AccountWorld
) -> None:
    calls = deploy_tour(world, slow_account, production)

    assert unused("DeployFunction", calls.own, (*EVENT_SOURCE, *SECURE_RULES)) == []


def test_permissions_track_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: ByAccount, clock: Any, production: AccountWorld
) -> None:
    calls = track_tour(world, counted, clock, production)

    assert unused("TrackFunction", calls.own, SECURE_RULES) == []


def test_permissions_sweep_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: ByAccount, clock: Any, production: AccountWorld
) -> None:
    calls = sweep_tour(world, counted, clock, production)

    assert unused("SweepFunction", calls.own, SECURE_RULES) == []


def test_permissions_reconcile_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: ByAccount, production: AccountWorld
) -> None:
    calls = reconcile_tour(world, counted, production)

    assert unused("ReconcileFunction", calls.own, SECURE_RULES) == []


def test_permissions_rule_check_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: ByAccount, production: AccountWorld
) -> None:
    calls = rule_check_tour(world, counted, production)

    assert unused("RuleCheckFunction", calls.own, SECURE_RULES) == []


def test_permissions_check_finds_a_grant_no_call_needs() -> None:
    # The check itself can fail: a rule check that read nothing has no use for its reads
    found = unused("RuleCheckFunction", Counter({"sns.PublishBatch": 1}))

    assert {"ssm:GetParameter", "ecs:DescribeServices"} <= set(found)
    assert "sts:AssumeRole" in found  # no allowance: a role that never assumed a target role has no use for it
