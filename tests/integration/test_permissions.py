"""Every AWS call each function makes is allowed by its role in template.yaml, as SAM expands it.

Each function is driven through the paths it has (under moto, with every call counted),
each call is mapped to the IAM actions AWS checks for it, hidden ones included (SNS and
SQS encrypted with Slipway's key need the key; a tagged RegisterTaskDefinition needs
TagResource, one naming roles PassRole; the SQS event source polls with the function's
role), and the role's statements must allow every one. Actions are compared, not
resources or conditions: those are the template's own tests' and checkov's to judge.
"""

from __future__ import annotations

import copy
import fnmatch
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from sandbox import template as tpl
from sandbox.deployments import Deployments, StoppedTask
from sandbox.faults import Faults
from sandbox.runtime import Runtime
from sandbox.stack import LambdaContext, World
from sandbox.throttling import ECS_BUCKETS, AccountBuckets, ThrottledAccount
from tests.integration.test_deploy import fargate_web, push

# What AWS checks for a call, where it is not simply service:Operation.
HIDDEN: dict[str, tuple[str, ...]] = {
    "dynamodb.TransactWriteItems": ("dynamodb:PutItem",),  # Slipway's transactions only Put
    "sns.PublishBatch": ("sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"),  # the topic's key
    "sqs.SendMessageBatch": ("sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"),  # the queue's key
    "ecs.RegisterTaskDefinition": ("ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"),
}
# Lambda's SQS event source polls the work queue with the deploy function's role.
EVENT_SOURCE = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def iam_actions(calls: Counter[str]) -> set[str]:
    actions: set[str] = set()
    for call in calls:
        service, operation = call.split(".", 1)
        actions.update(HIDDEN.get(call, (f"{service}:{operation}",)))
    return actions


def role_actions(function: str) -> set[str]:
    """Every action the function's role allows (inline policies and the template's managed policy)."""
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
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        documents.extend(b["PolicyDocument"] for b in branches if isinstance(b, dict) and "PolicyDocument" in b)
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            documents.append(expanded[arn["Ref"]]["Properties"]["PolicyDocument"])
    allowed: set[str] = set()
    for document in documents:
        for statement in document["Statement"]:
            if statement.get("Effect") == "Allow":
                action = statement["Action"]
                allowed.update(action if isinstance(action, list) else [action])
    return allowed


def missing(function: str, calls: Counter[str], extra: tuple[str, ...] = ()) -> list[str]:
    allowed = role_actions(function)
    needed = iam_actions(calls) | set(extra)
    return sorted(a for a in needed if not any(fnmatch.fnmatchcase(a, pattern) for pattern in allowed))


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


def invoke(name: str) -> Callable[[dict[str, Any]], Any]:
    function = handler(name)
    return lambda event: function(event, LambdaContext(function_name=f"slipway-{name}"))


def prod_fleet(world: World) -> None:
    world.create_repository("web")
    fargate_web(world)
    fargate_web(world, name="api")
    targets = [{"cluster": "prod", "service": s} for s in ("web", "api")]
    world.put_rule("web", "prod", {"targets": targets}, secure=True)


def test_permissions_deploy_function_role_allows_every_call_it_makes(world: World, slow_account: Faults) -> None:
    counted = slow_account
    # GIVEN two services, a secure rule, and ECS's pace allowing one registration: the push hands on
    prod_fleet(world)
    runtime = Runtime(world, handler("deploy"), timeout_ms=6000)
    runtime.invoke(push(world, "web", "1.1.0"))  # claims, registers, updates, records, announces, hands on
    runtime.invoke({"source": "aws.ecr", "detail-type": "ECR Image Action", "id": "x", "detail": {}})  # rejected
    runtime.carry_on()  # the work queue's invocation carries on once its (delayed) message is due

    assert {"sqs.SendMessageBatch", "ecs.RegisterTaskDefinition", "dynamodb.BatchGetItem"} <= set(counted.calls)
    # the rules are a SecureString: reading them decrypts with the rules' key
    assert missing("DeployFunction", counted.calls, (*EVENT_SOURCE, "kms:Decrypt")) == []


def test_permissions_track_function_role_allows_every_call_it_makes(world: World, counted: Faults) -> None:
    # GIVEN a rollout whose deployment fails with stopped tasks and rolls back, and a promotion it releases
    prod_fleet(world)
    world.put_rule("web", "later", {"targets": [{"cluster": "prod", "service": "web"}], "promote_from": "prod"})
    life = Deployments(world.account, world.region)
    runtime = Runtime(world, handler("deploy"))
    runtime.invoke(push(world, "web", "1.1.0"))
    notes = [n["message"] for n in world.notifications() if n["message"]["status"] == "DEPLOYING"]
    counted.reset_counts()
    track = invoke("track")
    stopped = [StoppedTask("Essential container in task exited", exit_code=1)]
    first, *others = notes
    track(life.fail("prod", first["service"], first["deployment_id"], stopped=stopped))
    for note in others:
        track(life.complete("prod", note["service"], note["deployment_id"]))

    assert {"ecs.ListTasks", "sns.PublishBatch"} <= set(counted.calls)
    assert missing("TrackFunction", counted.calls) == []


def test_permissions_sweep_function_role_allows_every_call_it_makes(world: World, counted: Faults, clock: Any) -> None:
    prod_fleet(world)
    Runtime(world, handler("deploy")).invoke(push(world, "web", "1.1.0"))
    counted.reset_counts()
    clock.advance(hours=2)  # every rollout is past DeploymentTimeoutMinutes

    invoke("sweep")({"source": "aws.scheduler", "detail-type": "Scheduled Event", "id": "s", "detail": {}})

    assert "ecs.DescribeServices" in counted.calls
    assert missing("SweepFunction", counted.calls) == []


def test_permissions_reconcile_function_role_allows_every_call_it_makes(world: World, counted: Faults) -> None:
    prod_fleet(world)
    reconcile = invoke("reconcile")
    reconcile({"source": "aws.scheduler"})
    world.push_image("web", "1.1.0")

    reconcile({"source": "aws.scheduler"})

    assert "ecr.DescribeImages" in counted.calls
    assert missing("ReconcileFunction", counted.calls, ("kms:Decrypt",)) == []


def test_permissions_rule_check_function_role_allows_every_call_it_makes(world: World, counted: Faults) -> None:
    prod_fleet(world)
    [event] = world.rule_change("web", "prod", "Update")

    invoke("rules")(event)

    assert "ssm.GetParameter" in counted.calls
    assert missing("RuleCheckFunction", counted.calls, ("kms:Decrypt",)) == []


def test_permissions_check_finds_a_call_the_role_does_not_allow() -> None:
    # The check itself can fail: the rule checker may not deploy
    assert missing("RuleCheckFunction", Counter({"ecs.UpdateService": 1})) == ["ecs:UpdateService"]
