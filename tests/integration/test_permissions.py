"""Each function's role in template.yaml allows every AWS call the function makes, and no more.

Each function is driven through the paths it has (under moto, with every call counted),
each call is mapped to the IAM actions AWS checks for it, hidden ones included (SNS and
SQS encrypted with Slipway's key need the key; a tagged RegisterTaskDefinition needs
TagResource, one naming roles PassRole; the SQS event source polls with the function's
role), and the role, as SAM expands the template, is compared with them both ways:

- every action the calls need is allowed by a statement of the role;
- every action the role allows is needed by some call (or by Lambda itself: logs, traces,
  dead letters), so a grant no code path uses fails here.

Actions are compared, not resources or conditions: those are the template's own tests' and
checkov's to judge.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from sandbox import template as tpl
from sandbox.deployments import Deployments, StoppedTask
from sandbox.faults import Fault, Faults
from sandbox.runtime import Runtime
from sandbox.stack import LambdaContext, World
from sandbox.strategies import Strategies
from sandbox.throttling import ECS_BUCKETS, AccountBuckets, ThrottledAccount
from tests.conftest import EVENTS
from tests.integration.test_deploy import fargate_web, push
from tests.integration.test_strategy_tracking import BLUE_TG, GREEN_TG, LB_ROLE, PROD_RULE

# What AWS checks for a call, where it is not simply service:Operation.
HIDDEN: dict[str, tuple[str, ...]] = {
    "dynamodb.TransactWriteItems": ("dynamodb:PutItem",),  # Slipway's transactions only Put
    "sns.PublishBatch": ("sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"),  # the topic's key
    "sqs.SendMessageBatch": ("sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"),  # the queue's key
    "ecs.RegisterTaskDefinition": ("ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"),
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
# sts:AssumeRole is called only on the paths to other accounts (tests/integration/test_multi_account.py
# drives them); until those are driven here too, the grant is allowed without a counted call.
NOT_YET_DRIVEN = frozenset({"sts:AssumeRole"})


def iam_actions(calls: Counter[str]) -> set[str]:
    actions: set[str] = set()
    for call in calls:
        service, operation = call.split(".", 1)
        actions.update(HIDDEN.get(call, (f"{service}:{operation}",)))
    return actions


def _branches(node: Any) -> list[Any]:
    """What a value may be: both branches of an Fn::If (nested ones too), else the value itself."""
    if isinstance(node, dict) and "Fn::If" in node:
        return [leaf for branch in node["Fn::If"][1:] for leaf in _branches(branch)]
    return [node]


def role_actions(function: str) -> set[str]:
    """Every action the function's role allows (inline and managed policies, under any condition)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = copy.deepcopy(tpl.template())
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"  # SAM wants an S3 location offline
    expanded = transform(template, {}, NoManagedPolicies())["Resources"]
    role = expanded[f"{function}Role"]["Properties"]
    documents: list[dict[str, Any]] = []
    for policy in role.get("Policies", []):
        # a policy under a condition (Fn::If) grants what its branches grant, when they apply
        documents.extend(
            b["PolicyDocument"] for b in _branches(policy) if isinstance(b, dict) and "PolicyDocument" in b
        )
    # ManagedPolicyArns may be a list under an Fn::If, and each of its entries one too
    entries = [entry for listed in _branches(role.get("ManagedPolicyArns", [])) for entry in listed]
    for arn in (leaf for entry in entries for leaf in _branches(entry)):
        if isinstance(arn, dict) and arn.get("Ref") in expanded:
            documents.append(expanded[arn["Ref"]]["Properties"]["PolicyDocument"])
    allowed: set[str] = set()
    for document in documents:
        for statement in document["Statement"]:
            if statement.get("Effect") == "Allow":
                action = statement["Action"]
                allowed.update(action if isinstance(action, list) else [action])
    return allowed


def missing(function: str, calls: Counter[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Actions the calls need that the role does not allow."""
    allowed = role_actions(function)
    needed = iam_actions(calls) | set(extra)
    return sorted(a for a in needed if not any(fnmatch.fnmatchcase(a, pattern) for pattern in allowed))


def unused(function: str, calls: Counter[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Actions (or action patterns) the role allows that neither the calls nor Lambda itself need."""
    needed = iam_actions(calls) | set(LAMBDA_ITSELF) | set(extra)
    granted = role_actions(function) - NOT_YET_DRIVEN
    return sorted(p for p in granted if not any(fnmatch.fnmatchcase(action, p) for action in needed))


# -- how the functions are driven ----------------------------------------------------------------


@pytest.fixture
def counted(world: World, clock: Any) -> Faults:
    """Every call of the functions counted."""
    from slipway import app

    faults = Faults()
    app.use(app.App(session=faults.session(), clock=clock))
    return faults


@pytest.fixture
def slow_account(world: World, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Faults:
    """Every call counted, and ECS's RegisterTaskDefinition bucket one token a minute: pushes hand on."""
    from slipway import app

    monkeypatch.setenv("SLIPWAY_ECS_QUOTAS", "RegisterTaskDefinition:1:0.0167")
    faults = Faults()
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
ECS_DOWN = Fault("ServiceUnavailableException", 503, "ECS is down")
SNS_DOWN = Fault("InternalError", 500, "SNS is down")


@contextmanager
def counting(faults: Faults) -> Iterator[Counter[str]]:
    """The calls made inside the block (what the functions did before it is not theirs to count)."""
    faults.reset_counts()
    calls: Counter[str] = Counter()
    try:
        yield calls
    finally:
        calls.update(faults.calls)


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
    fargate_web(
        world,
        name="shop",
        loadBalancers=[
            {
                "targetGroupArn": BLUE_TG,
                "containerName": "app",
                "containerPort": 8080,
                "advancedConfiguration": {
                    "alternateTargetGroupArn": GREEN_TG,
                    "productionListenerRule": PROD_RULE,
                    "roleArn": LB_ROLE,
                },
            }
        ],
    )
    canary = {"strategy": "canary", "canary": {"percent": 5, "bake_minutes": 10}, "approval": True}
    world.put_rule("web", "shop", {"targets": [{"cluster": "prod", "service": "shop"}], **canary})


def deploying(world: World) -> dict[str, str]:
    """The deployment id of each service a DEPLOYING message names, from what the subscriber received."""
    notes = [n["message"] for n in world.notifications()]
    return {m["service"]: m["deployment_id"] for m in notes if m["status"] == "DEPLOYING"}


def hook_event(world: World, service: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "ecs-hook-awaiting-action.json").read_text())
    event["resources"] = [world.describe_service("prod", service)["serviceArn"]]
    return event


def own_process(faults: Faults, clock: Any) -> None:
    """The next function runs in a process of its own, as in Lambda: no cache of another's (rules), calls counted."""
    from slipway import app

    app.use(app.App(session=faults.session(), clock=clock))


def deploy_tour(world: World, faults: Faults) -> Counter[str]:
    """The deploy function: a push that hands on, its carry-on, holds, a redelivery, a reject, a failure."""
    from slipway.errors import RetryLater

    prod_fleet(world)  # the second target waits for ECS's pace: handed on
    fargate_web(world, name="stage")
    fargate_web(world, name="late")
    world.put_rule("web", "approved", {"targets": [{"cluster": "prod", "service": "stage"}], "approval": True})
    world.put_rule("web", "later", {"targets": [{"cluster": "prod", "service": "late"}], "promote_from": "prod"})
    runtime = Runtime(world, handler("deploy"), timeout_ms=6000)
    event = push(world, "web", "1.1.0")
    with counting(faults) as calls:
        runtime.invoke(event)  # claims, registers, updates, records, holds two pushes, announces, hands on
        runtime.invoke(event)  # a redelivery: the idempotency record answers
        runtime.invoke({"source": "aws.ecr", "detail-type": "ECR Image Action", "id": "x", "detail": {}})  # rejected
        runtime.carry_on()  # the work queue's invocation carries on once its (delayed) message is due
        with failing(faults, "sns.PublishBatch", SNS_DOWN), pytest.raises(RetryLater):
            runtime.invoke(push(world, "web", "1.2.0"))  # fails: its idempotency record is deleted for the retry
    return calls


def reconcile_tour(world: World, faults: Faults) -> Counter[str]:
    """The reconcile: pushes whose event never came: one ECS refuses, one deployed (a wave too), one handed on."""
    prod_fleet(world)
    for name in ("db", "cache"):
        fargate_web(world, name=name)
    waved = [{"cluster": "prod", "service": s} for s in ("db", "cache")]
    world.put_rule("web", "waved", {"targets": waved, "max_parallel": 1})
    reconcile = invoke("reconcile")
    with counting(faults) as calls:
        reconcile({"source": "aws.scheduler"})  # the first look notes the time
        world.push_image("web", "1.1.0")
        with failing(faults, "ecs.RegisterTaskDefinition", Fault("ClientException", 400, "refused")):
            reconcile({"source": "aws.scheduler"})  # ERROR: the services' claims are given back
        world.push_image("web", "1.2.0")
        reconcile({"source": "aws.scheduler"})  # web, api and db deploy; cache waits in the wave
        world.push_image("web", "1.3.0")
        with failing(faults, "ecs.RegisterTaskDefinition", ECS_DOWN):
            invoke("reconcile", timeout_ms=3000)({"source": "aws.scheduler"})  # retryable: handed on
    return calls


def track_tour(world: World, faults: Faults, clock: Any) -> Counter[str]:
    """The track function: promotions released (handed on, then rolled out), stopped tasks, a canary's pause."""
    world.create_repository("web")
    for name in ("web", "api", "db", "cache", "edge", "solo"):
        fargate_web(world, name=name)

    def targets(*services: str) -> list[dict[str, str]]:
        return [{"cluster": "prod", "service": s} for s in services]

    world.put_rule("web", "prod", {"targets": targets("web", "api"), "max_parallel": 1}, secure=True)
    world.put_rule("web", "later", {"targets": targets("db", "cache"), "promote_from": "prod"})
    world.put_rule("web", "last", {"targets": targets("edge"), "promote_from": "later"})
    world.put_rule("web", "solo", {"targets": targets("solo")})
    canary_shop(world)
    strategies = Strategies(world.account, world.region)
    clock.now = strategies.now
    life = Deployments(world.account, world.region)
    invoke("deploy")(push(world, "web", "1.1.0"))  # web, solo and shop deploy; the others wait for a gate
    started = deploying(world)
    own_process(faults, clock)
    with counting(faults) as calls, failing(faults, "ecs.RegisterTaskDefinition", ECS_DOWN):
        # web succeeds: db and cache are released, but ECS cannot take them now: handed on
        invoke("track", timeout_ms=3000)(life.complete("prod", "web", started["web"]))
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
    return calls + more


def sweep_tour(world: World, faults: Faults, clock: Any) -> Counter[str]:
    """The sweep: frozen pushes released (one handed on), rollouts timed out with stopped tasks, a canary's pause."""
    world.create_repository("web")
    for name in ("web", "api", "db", "cache", "queue"):
        fargate_web(world, name=name)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": s} for s in ("web", "api")]}, secure=True)
    canary_shop(world)
    strategies = Strategies(world.account, world.region)
    clock.now = strategies.now
    first, second = clock.now + timedelta(minutes=10), clock.now + timedelta(minutes=20)
    for rule, services, end in (("frozen", ("db", "cache"), first), ("later", ("queue",), second)):
        window = {"start": (clock.now - timedelta(hours=1)).isoformat(), "end": end.isoformat()}
        targets = [{"cluster": "prod", "service": s} for s in services]
        world.put_rule("web", rule, {"targets": targets, "freeze": [window], "deploy_after_freeze": True})
    invoke("deploy")(push(world, "web", "1.1.0"))  # web, api and shop deploy; db, cache and queue are frozen
    life = Deployments(world.account, world.region)
    api = life.primary("prod", "api")
    life.stop_task(
        "prod", api["taskDefinition"], api["id"], StoppedTask("OutOfMemoryError: Container killed", exit_code=137)
    )
    own_process(faults, clock)
    with counting(faults) as calls:
        strategies.settle("prod", "shop")  # the canary pauses; its event is lost
        clock.now = first  # the first freeze is over: db and cache roll out
        invoke("sweep")(SCHEDULED)
        clock.now = second + timedelta(minutes=45)  # the second is over, and web and api are past their timeout
        with failing(faults, "ecs.RegisterTaskDefinition", ECS_DOWN):
            invoke("sweep", timeout_ms=3000)(SCHEDULED)  # TIMED_OUT with api's stopped task; queue handed on
    return calls


def rule_check_tour(world: World, faults: Faults) -> Counter[str]:
    """The rule-check function: a secure rule created, one with a named container and a promotion, a deletion."""
    prod_fleet(world)
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
    return calls


# -- the role allows every call ---------------------------------------------------------------------


def test_permissions_deploy_function_role_allows_every_call_it_makes(world: World, slow_account: Faults) -> None:
    calls = deploy_tour(world, slow_account)

    assert {"sqs.SendMessageBatch", "ecs.RegisterTaskDefinition", "dynamodb.BatchGetItem"} <= set(calls)
    # the rules are a SecureString: reading them decrypts with the rules' key
    assert missing("DeployFunction", calls, (*EVENT_SOURCE, *SECURE_RULES)) == []


def test_permissions_track_function_role_allows_every_call_it_makes(world: World, counted: Faults, clock: Any) -> None:
    calls = track_tour(world, counted, clock)

    assert {"ecs.ListTasks", "sns.PublishBatch", "ecs.DescribeServiceDeployments", "sqs.SendMessageBatch"} <= set(calls)
    assert missing("TrackFunction", calls, SECURE_RULES) == []


def test_permissions_sweep_function_role_allows_every_call_it_makes(world: World, counted: Faults, clock: Any) -> None:
    calls = sweep_tour(world, counted, clock)

    # the work queue's sqs:SendMessage is also the dead-letter queue's: only the call itself shows it is used
    assert {
        "ecs.DescribeServices",
        "ecs.DescribeServiceDeployments",
        "ecs.UpdateService",
        "sqs.SendMessageBatch",
    } <= set(calls)
    assert missing("SweepFunction", calls, SECURE_RULES) == []


def test_permissions_reconcile_function_role_allows_every_call_it_makes(world: World, counted: Faults) -> None:
    calls = reconcile_tour(world, counted)

    assert {"ecr.DescribeImages", "sqs.SendMessageBatch"} <= set(calls)
    assert missing("ReconcileFunction", calls, SECURE_RULES) == []


def test_permissions_rule_check_function_role_allows_every_call_it_makes(world: World, counted: Faults) -> None:
    calls = rule_check_tour(world, counted)

    assert "ssm.GetParameter" in calls
    assert missing("RuleCheckFunction", calls, SECURE_RULES) == []


def test_permissions_check_finds_a_call_the_role_does_not_allow() -> None:
    # The check itself can fail: the rule checker may not deploy
    assert missing("RuleCheckFunction", Counter({"ecs.UpdateService": 1})) == ["ecs:UpdateService"]


# -- the role allows nothing more --------------------------------------------------------------------


def test_permissions_deploy_function_role_grants_nothing_its_code_never_calls(
    world: World, slow_account: Faults
) -> None:
    calls = deploy_tour(world, slow_account)

    assert unused("DeployFunction", calls, (*EVENT_SOURCE, *SECURE_RULES)) == []


def test_permissions_track_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: Faults, clock: Any
) -> None:
    calls = track_tour(world, counted, clock)

    assert unused("TrackFunction", calls, SECURE_RULES) == []


def test_permissions_sweep_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: Faults, clock: Any
) -> None:
    calls = sweep_tour(world, counted, clock)

    assert unused("SweepFunction", calls, SECURE_RULES) == []


def test_permissions_reconcile_function_role_grants_nothing_its_code_never_calls(world: World, counted: Faults) -> None:
    calls = reconcile_tour(world, counted)

    assert unused("ReconcileFunction", calls, SECURE_RULES) == []


def test_permissions_rule_check_function_role_grants_nothing_its_code_never_calls(
    world: World, counted: Faults
) -> None:
    calls = rule_check_tour(world, counted)

    assert unused("RuleCheckFunction", calls, SECURE_RULES) == []


def test_permissions_check_finds_a_grant_no_call_needs() -> None:
    # The check itself can fail: a rule check that read nothing has no use for its reads
    found = unused("RuleCheckFunction", Counter({"sns.PublishBatch": 1}))

    assert {"ssm:GetParameter", "ecs:DescribeServices"} <= set(found)
    assert "sts:AssumeRole" not in found  # allowed until the multi-account paths are driven
