"""Faults on every AWS call of the deploy and track paths, injected where botocore's retries run."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sandbox.deployments import Deployments
from sandbox.faults import Fault, Faults
from sandbox.runtime import Runtime
from sandbox.stack import World
from tests.integration.test_deploy import fargate_web, push, registered_revisions

# Every AWS call the deploy handler makes on a first push of an image to a service (a push
# to several services reads their claims with BatchGetItem instead: see the ``pair`` tests).
DEPLOY_CALLS = [
    "ssm.GetParametersByPath",
    "ecs.DescribeServices",
    "ecs.DescribeTaskDefinition",
    "ecs.RegisterTaskDefinition",
    "ecs.UpdateService",
    "dynamodb.GetItem",
    "dynamodb.PutItem",
    "dynamodb.TransactWriteItems",
    "sns.PublishBatch",
]
# And the track handler, when a deployment completes.
TRACK_CALLS = [
    "dynamodb.GetItem",
    "dynamodb.UpdateItem",
    "ecs.DescribeServices",
    "sns.PublishBatch",
]
BEYOND_BUDGET = 6  # standard retry mode: one call and five retries


def throttle(operation: str) -> Fault:
    code = "Throttling" if operation.startswith("sns.") else "ThrottlingException"
    return Fault(code, 400, "Rate exceeded")


@pytest.fixture
def web(world: World) -> World:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    return world


def deploy_until_done(deploy, event: dict[str, Any], attempts: int = 3) -> list[BaseException]:
    """Invoke as Lambda would: a failed invocation is retried with the same event."""
    failures: list[BaseException] = []
    for _ in range(attempts):
        try:
            deploy(json.loads(json.dumps(event)))
            return failures
        except Exception as error:  # the invocation failed; Lambda retries it
            failures.append(error)
    return failures


def statuses(world: World) -> list[str]:
    return [n["message"]["status"] for n in world.notifications()]


@pytest.mark.parametrize("operation", DEPLOY_CALLS)
def test_faults_deploy_throttled_within_retry_budget_deploys_once(
    web: World, deploy, faults: Faults, no_backoff, operation: str
) -> None:
    faults.fail(operation, throttle(operation), times=2)
    event = push(web, "web", "1.1.0")

    deploy(event)

    assert faults.calls[operation] >= 3
    assert web.images("prod", "web")["app"].endswith(event["detail"]["image-digest"])
    assert len(registered_revisions(web, "web")) == 2
    assert statuses(web) == ["DEPLOYING"]


@pytest.mark.parametrize("operation", DEPLOY_CALLS)
@pytest.mark.parametrize(
    "fault", [Fault("ThrottlingException", 400), Fault("InternalError", 500), Fault("ServiceUnavailable", 503)]
)
def test_faults_deploy_failing_past_botocore_budget_is_retried_in_the_invocation_and_deploys_once(
    web: World, deploy, faults: Faults, no_backoff, operation: str, fault: Fault
) -> None:
    # GIVEN a call that keeps failing past the five retries botocore would make
    if operation.startswith("sns.") and fault.code == "ThrottlingException":
        fault = Fault("Throttling", 400)
    faults.fail(operation, fault, times=BEYOND_BUDGET)
    event = push(web, "web", "1.1.0")

    # WHEN Lambda invokes once
    deploy(event)

    # THEN the invocation's time, not a count of attempts, decided: it kept trying and deployed once
    assert faults.calls[operation] > BEYOND_BUDGET
    assert web.images("prod", "web")["app"].endswith(event["detail"]["image-digest"])
    assert len(registered_revisions(web, "web")) == 2, "no duplicate revision"
    assert faults.calls["ecs.UpdateService"] == 1 + (BEYOND_BUDGET if operation == "ecs.UpdateService" else 0)
    assert statuses(web) == ["DEPLOYING"]
    from slipway.app import app

    assert [r.status for r in app().store.history("prod/web")] == ["DEPLOYING"], "no lost rollout"


# An invocation of a minute whose failing calls take five seconds each (a slow answer, a read
# timeout) runs out of time after about ten of them, on the sandbox's Lambda clock: however
# fast or loaded the machine is.
INVOCATION_MS = 60_000
FAILING_CALL_TAKES = 5.0


@pytest.mark.parametrize(
    "operation",
    ["ecs.DescribeServices", "ecs.DescribeTaskDefinition", "ecs.RegisterTaskDefinition", "ecs.UpdateService"],
)
def test_faults_deploy_failing_until_time_is_up_hands_the_target_on_and_it_deploys_once(
    web: World, runtime: Runtime, faults: Faults, no_backoff, operation: str
) -> None:
    # GIVEN an ECS call that keeps being throttled for as long as the invocation lasts
    faults.fail_always(operation, Fault("ThrottlingException", 400, "Rate exceeded", takes=FAILING_CALL_TAKES))
    runtime.timeout_ms = INVOCATION_MS
    event = push(web, "web", "1.1.0")

    # WHEN the push is handled, the target is handed on, not failed and not reported
    result = runtime.invoke(event)
    assert result["handed_on"] == 1
    assert statuses(web) == []

    # AND once ECS answers again, the work queue's invocation deploys it, once
    faults.stop(operation)
    assert runtime.carry_on() == 1
    assert web.images("prod", "web")["app"].endswith(event["detail"]["image-digest"])
    assert len(registered_revisions(web, "web")) == 2, "no duplicate revision"
    assert statuses(web) == ["DEPLOYING"]


def test_faults_rules_unreadable_until_time_is_up_fail_the_invocation_and_the_retry_deploys(
    web: World, runtime: Runtime, faults: Faults, no_backoff
) -> None:
    faults.fail_always(
        "ssm.GetParametersByPath", Fault("ThrottlingException", 400, "Rate exceeded", takes=FAILING_CALL_TAKES)
    )
    runtime.timeout_ms = INVOCATION_MS
    event = push(web, "web", "1.1.0")

    with pytest.raises(Exception, match="ThrottlingException"):
        runtime.invoke(event)  # no rules, no targets: nothing to hand on, so Lambda retries the event

    faults.stop("ssm.GetParametersByPath")
    runtime.invoke(event)
    assert web.images("prod", "web")["app"].endswith(event["detail"]["image-digest"])
    assert statuses(web) == ["DEPLOYING"]


@pytest.mark.parametrize(
    "operation",
    ["ecs.DescribeServices", "ecs.DescribeTaskDefinition", "ecs.RegisterTaskDefinition", "ecs.UpdateService"],
)
def test_faults_deploy_access_denied_is_clear_error_not_retried(
    web: World, deploy, faults: Faults, operation: str
) -> None:
    faults.fail(operation, Fault("AccessDeniedException", 400, f"not authorized to perform {operation}"))

    result = deploy(push(web, "web", "1.1.0"))  # the invocation succeeds: there is nothing to retry

    assert faults.calls[operation] == 1
    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR"
    assert note["message"]["error_code"] == "AccessDeniedException"
    assert operation.split(".")[1] in note["message"]["reason"]
    assert result["outcomes"][0]["status"] == "ERROR"
    assert len(registered_revisions(web, "web")) == (2 if operation == "ecs.UpdateService" else 1)


@pytest.fixture
def pair(world: World) -> World:
    """prod/web and prod/api, both running the web repository's image, under one rule."""
    world.create_repository("web")
    fargate_web(world)
    fargate_web(world, name="api")
    world.put_rule(
        "web", "prod", {"targets": [{"cluster": "prod", "service": "web"}, {"cluster": "prod", "service": "api"}]}
    )
    return world


def assert_pair_deployed_once(pair: World, event: dict[str, Any]) -> None:
    """Both services run the pushed digest, each with one new revision, both DEPLOYING."""
    digest = event["detail"]["image-digest"]
    assert pair.images("prod", "web")["app"].endswith(digest)
    assert pair.images("prod", "api")["app"].endswith(digest)
    assert len(registered_revisions(pair, "web")) == 2
    assert len(registered_revisions(pair, "api")) == 2
    assert sorted(statuses(pair)) == ["DEPLOYING", "DEPLOYING"]


@pytest.mark.parametrize("times", [2, BEYOND_BUDGET], ids=["within-budget", "past-botocore-budget"])
def test_faults_state_batch_read_throttled_still_deploys_each_service_once(
    pair: World, deploy, faults: Faults, no_backoff, times: int
) -> None:
    # GIVEN the batch read of the services' claims is throttled (past botocore's five retries, or not)
    faults.fail("dynamodb.BatchGetItem", throttle("dynamodb.BatchGetItem"), times=times)
    event = push(pair, "web", "1.1.0")

    # WHEN one invocation handles the push
    deploy(event)

    # THEN the batch read was retried until it went through (the invocation had the time), and both
    # services are on the digest, one new revision each, each reported once
    assert faults.calls["dynamodb.BatchGetItem"] == times + 1
    assert faults.calls["dynamodb.GetItem"] == 0
    assert_pair_deployed_once(pair, event)


def test_faults_state_batch_read_denied_falls_back_to_reading_each_claim(pair: World, deploy, faults: Faults) -> None:
    faults.fail("dynamodb.BatchGetItem", Fault("AccessDeniedException", 400, "not authorized to BatchGetItem"))
    event = push(pair, "web", "1.1.0")

    deploy(event)

    # THEN the denied batch read is not retried, each target reads its own claim, both deploy
    assert faults.calls["dynamodb.BatchGetItem"] == 1
    assert faults.calls["dynamodb.GetItem"] == 2
    assert_pair_deployed_once(pair, event)


@pytest.mark.parametrize("times", [2, BEYOND_BUDGET], ids=["within-budget", "past-botocore-budget"])
def test_faults_batched_claims_throttled_still_deploy_each_service_once(
    pair: World, deploy, faults: Faults, no_backoff, times: int
) -> None:
    # GIVEN the transaction that claims both services is throttled (past botocore's retries, or not)
    faults.fail("dynamodb.TransactWriteItems", throttle("dynamodb.TransactWriteItems"), times=times)
    event = push(pair, "web", "1.1.0")

    deploy(event)

    # THEN both services are claimed together (the transaction is retried while there is time), deployed once
    assert_pair_deployed_once(pair, event)
    from slipway.app import app

    for key in ("prod/web", "prod/api"):
        assert [r.status for r in app().store.history(key)] == ["DEPLOYING"]
        assert app().store.get_state(key).status == "DEPLOYING"
    # the idempotency record and the push record: no claim had to be written alone
    assert faults.calls["dynamodb.PutItem"] == 2


def test_faults_timeout_after_update_service_succeeded_does_not_roll_again(
    web: World, deploy, faults: Faults, no_backoff
) -> None:
    # GIVEN UpdateService is applied by ECS but its answer is lost (a read timeout)
    faults.fail("ecs.UpdateService", Fault("ReadTimeout", after_send=True))
    event = push(web, "web", "1.1.0")

    deploy(event)

    # THEN botocore's retry finds the service already on the revision: one revision, one deployment
    assert faults.sent_after["ecs.UpdateService"] == 1
    assert len(registered_revisions(web, "web")) == 2
    service = web.describe_service("prod", "web")
    assert service["taskDefinition"].endswith(":2")
    assert sum(1 for d in service["deployments"] if d["taskDefinition"] == service["taskDefinition"]) == 1
    assert statuses(web) == ["DEPLOYING"]


def test_faults_timeout_after_update_until_time_is_up_hands_on_and_does_not_roll_again(
    web: World, runtime: Runtime, faults: Faults, no_backoff
) -> None:
    # GIVEN UpdateService's answer is lost on every attempt of the first invocation (ECS applied it)
    faults.fail_always("ecs.UpdateService", Fault("ReadTimeout", after_send=True, takes=FAILING_CALL_TAKES))
    runtime.timeout_ms = INVOCATION_MS
    event = push(web, "web", "1.1.0")

    assert runtime.invoke(event)["handed_on"] == 1
    updates = faults.calls["ecs.UpdateService"]

    # WHEN the work queue's invocation carries on
    faults.stop("ecs.UpdateService")
    runtime.carry_on()

    # THEN it finds the service on the revision and records it without another UpdateService
    assert faults.calls["ecs.UpdateService"] == updates
    assert len(registered_revisions(web, "web")) == 2
    service = web.describe_service("prod", "web")
    assert sum(1 for d in service["deployments"] if d["taskDefinition"] == service["taskDefinition"]) == 1
    assert statuses(web) == ["DEPLOYING"]


def test_faults_sns_failure_keeps_rollout_counts_metric_and_fails_invocation(
    web: World, runtime: Runtime, faults: Faults, no_backoff, capsys
) -> None:
    # GIVEN SNS is down for as long as the invocation has time to retry it
    faults.fail_always("sns.PublishBatch", Fault("InternalError", 500, "SNS is down", takes=FAILING_CALL_TAKES))
    runtime.timeout_ms = INVOCATION_MS
    event = push(web, "web", "1.1.0")

    # THEN the invocation fails (Lambda retries it, then the on-failure destination keeps it)
    with pytest.raises(Exception, match="transient failures"):
        runtime.invoke(event)
    # AND the rollout happened and is recorded, its DEPLOYING still to be sent
    from slipway.app import app

    [rollout] = app().store.history("prod/web")
    assert rollout.status == "DEPLOYING" and rollout.digest == event["detail"]["image-digest"]
    assert app().store.get_state("prod/web").notice == "DEPLOYING"  # type: ignore[union-attr]
    # AND the failure is visible as a metric
    assert '"NotificationFailures":[1.0]' in capsys.readouterr().out.replace(" ", "")
    # AND Lambda's retry tells subscribers once, without rolling out again
    faults.stop("sns.PublishBatch")
    runtime.invoke(event)
    runtime.invoke(event)  # a later duplicate delivery says nothing more
    assert statuses(web) == ["DEPLOYING"]
    assert len(registered_revisions(web, "web")) == 2
    assert app().store.get_state("prod/web").notice is None  # type: ignore[union-attr]


@pytest.mark.parametrize("operation", TRACK_CALLS)
def test_faults_track_throttled_within_budget_reports_once(
    web: World, deploy, track, faults: Faults, ecs_life: Deployments, no_backoff, operation: str
) -> None:
    deploy(push(web, "web", "1.1.0"))
    [note] = web.notifications()
    completed = ecs_life.complete("prod", "web", note["message"]["deployment_id"])
    faults.fail(operation, throttle(operation), times=2)

    track(completed)

    assert statuses(web) == ["SUCCEEDED"]


@pytest.mark.parametrize("operation", TRACK_CALLS)
def test_faults_track_beyond_budget_fails_and_retry_reports_once(
    web: World, deploy, track, faults: Faults, ecs_life: Deployments, no_backoff, operation: str
) -> None:
    deploy(push(web, "web", "1.1.0"))
    [note] = web.notifications()
    completed = ecs_life.complete("prod", "web", note["message"]["deployment_id"])
    faults.fail(operation, Fault("InternalError", 500), times=BEYOND_BUDGET)

    outcomes: list[str] = []
    for _ in range(3):
        try:
            outcomes.append(track(completed)["status"])
        except Exception:
            outcomes.append("FAILED-INVOCATION")

    assert statuses(web) == ["SUCCEEDED"]
    assert "SUCCEEDED" in outcomes


def test_faults_push_storm_ends_on_newest_tag_without_overlapping_rollouts(
    web: World, deploy, faults: Faults, no_backoff
) -> None:
    # GIVEN 50 pushes of increasing versions of one repository, delivered in a shuffled order
    events = [push(web, "web", f"1.0.{n}") for n in range(1, 51)]
    random.Random(7).shuffle(events)
    updates: list[str] = []
    lock = threading.Lock()
    from slipway.app import app

    ecs = app().ecs
    original = ecs.update_service

    def recording(cluster: str, service: str, task_definition: str, config: dict[str, Any]) -> Any:
        result = original(cluster, service, task_definition, config)
        with lock:
            updates.append(task_definition)
        return result

    ecs.update_service = recording  # observe the order ECS sees; the product path is unchanged

    # WHEN they arrive within seconds, ten at a time
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda e: deploy_until_done(deploy, e), events))

    # THEN the service ends on the newest tag and never stepped back to an older one
    tags = [_tag_of(web, arn) for arn in updates]
    assert tags[-1] == "1.0.50"
    assert web.running_task_definition("prod", "web")["containerDefinitions"][0]["image"].endswith(
        next(e["detail"]["image-digest"] for e in events if e["detail"]["image-tag"] == "1.0.50")
    )
    versions = [tuple(int(x) for x in t.split(".")) for t in tags]
    assert versions == sorted(versions) and len(set(versions)) == len(versions), "an older tag rolled after a newer"
    # AND rollouts never overlapped: each one but the last was superseded by the next
    history = app().store.history("prod/web", limit=100)
    assert len(history) == len(updates)
    assert [r.tag for r in history if r.status == "DEPLOYING"] == ["1.0.50"]
    assert all(r.status == "SUPERSEDED" for r in history if r.tag != "1.0.50")
    assert all(not failures or len(failures) < 3 for failures in results), "no push lost"


def _tag_of(world: World, arn: str) -> str:
    response = world.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return next(t["value"] for t in response["tags"] if t["key"] == "slipway:tag")
