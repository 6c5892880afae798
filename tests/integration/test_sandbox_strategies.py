"""The sandbox's bridge for ECS service deployments, through boto3 under moto, as the product sees ECS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import ListShape, Shape, StructureShape
from moto import mock_aws

from sandbox.deployments import Deployments
from sandbox.stack import World
from sandbox.strategies import Strategies
from tests.conftest import EVENTS, load_event

ALARMS = {"alarmNames": ["web-5xx"], "enable": True, "rollback": True}
PAUSE_BEFORE_PRODUCTION = {
    "targetType": "PAUSE",
    "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
    "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"},
}
CANARY = {
    "strategy": "CANARY",
    "canaryConfiguration": {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10},
    "bakeTimeInMinutes": 15,
    "alarms": ALARMS,
}
BLUE_GREEN = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 15, "alarms": ALARMS}
LINEAR = {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 5}}


class Web:
    """prod/web on task definition web:1, with web:2 registered to deploy."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ecs = world.ecs
        self.strategies = Strategies(world.account, world.region)
        world.cluster("prod")
        repository = world.create_repository("web")
        self.digest = world.push_image("web", "1.4.2")
        self.old = world.task_definition("web", [{"name": "web", "image": f"{repository}:1.4.1"}])
        self.new = world.task_definition("web", [{"name": "web", "image": f"{repository}:1.4.2"}])

    def create(self, configuration: dict[str, Any]) -> dict[str, Any]:
        return self.world.service("prod", "web", self.old, desiredCount=3, deploymentConfiguration=configuration)

    def deploy(self, configuration: dict[str, Any] | None = None) -> str:
        """UpdateService to web:2; returns the service deployment's ARN."""
        extra = {"deploymentConfiguration": configuration} if configuration else {}
        service = self.ecs.update_service(cluster="prod", service="web", taskDefinition=self.new, **extra)["service"]
        return str(service["currentServiceDeployment"])

    def described(self, arn: str) -> dict[str, Any]:
        return dict(self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0])

    def service(self) -> dict[str, Any]:
        return self.world.describe_service("prod", "web")

    def advance_to(self, arn: str, stage: str, weight: float | None = None) -> list[dict[str, Any]]:
        """Advance (continuing pauses) until the deployment is at ``stage`` (with that production weight)."""
        events: list[dict[str, Any]] = []
        for _ in range(30):
            events += self.strategies.advance("prod", "web")
            found = self.described(arn)
            if found.get("lifecycleStage") == stage and weight in (None, production(found)):
                return events
            self.continue_pause(arn)
        raise AssertionError(f"{arn} never reached {stage}")

    def continue_pause(self, arn: str, action: str = "CONTINUE") -> str | None:
        hooks = [h for h in self.described(arn).get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        if not hooks:
            return None
        self.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hooks[0]["hookId"], action=action)
        return str(hooks[0]["hookId"])


def about(elapsed: timedelta, expected: timedelta) -> bool:
    """Times the sandbox clock stamps run with the real clock: equal to within a second."""
    return abs(elapsed - expected) < timedelta(seconds=1)


def production(deployment: dict[str, Any]) -> float | None:
    return deployment["targetServiceRevision"].get("requestedProductionTrafficWeight")


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


@pytest.fixture
def web() -> Iterator[Web]:
    with mock_aws():
        yield Web(World())


def test_canary_bake_pause_continue_ends_successful_on_the_new_revision(web: Web) -> None:
    # GIVEN a canary service with a pause before each production traffic shift
    web.create({**CANARY, "lifecycleHooks": [PAUSE_BEFORE_PRODUCTION]})
    arn = web.deploy()
    # WHEN the canary takes 5 % and bakes
    web.advance_to(arn, "PRODUCTION_TRAFFIC_SHIFT", 5.0)
    baking = web.described(arn)
    # THEN 5 % of production is on the new revision, 95 % on the old
    assert baking["status"] == "IN_PROGRESS"
    assert baking["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 95.0
    # WHEN the bake ends, the pause before the rest of the traffic waits for approval
    events = web.strategies.advance("prod", "web")
    paused = web.described(arn)
    [hook] = paused["lifecycleHookDetails"]
    assert hook["status"] == "AWAITING_ACTION" and hook["hookId"].startswith("ecs-pause-")
    assert about(paused["updatedAt"] - baking["updatedAt"], timedelta(minutes=10))
    assert about(hook["expiresAt"] - paused["updatedAt"], timedelta(minutes=60))
    assert [(e["detail-type"], e["detail"]["eventName"], e["resources"]) for e in events] == [
        ("ECS Hook State Change", "HOOK_AWAITING_ACTION", [web.service()["serviceArn"]])
    ]
    assert web.strategies.advance("prod", "web") == []  # a pause holds the deployment
    # WHEN someone continues it
    web.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    web.strategies.advance("prod", "web")
    assert production(web.described(arn)) == 100.0
    events = web.strategies.settle("prod", "web")
    # THEN the deployment is SUCCESSFUL and the service runs only the new revision
    done = web.described(arn)
    assert done["status"] == "SUCCESSFUL" and about(done["finishedAt"] - done["updatedAt"], timedelta())
    service = web.service()
    [primary] = service["deployments"]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (web.new, "COMPLETED")
    assert service["taskDefinition"] == web.new
    assert [(e["detail"]["eventName"], e["detail"]["deploymentId"]) for e in events] == [
        ("SERVICE_DEPLOYMENT_COMPLETED", primary["id"])
    ]


def test_alarm_during_canary_bake_rolls_back_to_the_old_revision(web: Web) -> None:
    web.create(CANARY)
    arn = web.deploy()
    web.advance_to(arn, "PRODUCTION_TRAFFIC_SHIFT", 5.0)
    failed_id = next(d["id"] for d in web.service()["deployments"] if d["taskDefinition"] == web.new)
    source = web.described(arn)["sourceServiceRevisions"][0]["arn"]
    # WHEN the deployment's alarm goes to ALARM during the canary bake
    events = web.strategies.fire_alarm("prod", "web", "web-5xx")
    rolling_back = web.described(arn)
    # THEN ECS fails the deployment and starts rolling back to the source revision
    reason = "ECS deployment alarms: alarm web-5xx is in ALARM state."
    assert [(e["detail"]["eventName"], e["detail"]["deploymentId"], e["detail"]["reason"]) for e in events] == [
        ("SERVICE_DEPLOYMENT_FAILED", failed_id, reason)
    ]
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert rolling_back["rollback"]["reason"] == reason
    assert rolling_back["rollback"]["serviceRevisionArn"] == source
    assert rolling_back["alarms"] == {
        "status": "TRIGGERED",
        "alarmNames": ["web-5xx"],
        "triggeredAlarmNames": ["web-5xx"],
    }
    assert web.service()["taskDefinition"] == web.old
    # WHEN the rollback completes
    web.strategies.advance("prod", "web")
    done = web.described(arn)
    assert done["status"] == "ROLLBACK_SUCCESSFUL" and "finishedAt" in done
    assert production(done) == 0.0
    assert done["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 100.0
    [primary] = web.service()["deployments"]
    assert (primary["taskDefinition"], primary["status"], primary["rolloutState"]) == (web.old, "PRIMARY", "COMPLETED")


def test_alarm_the_deployment_does_not_watch_changes_nothing(web: Web) -> None:
    web.create(CANARY)
    arn = web.deploy()
    web.advance_to(arn, "PRODUCTION_TRAFFIC_SHIFT", 5.0)
    assert web.strategies.fire_alarm("prod", "web", "someone-elses-alarm") == []
    assert web.described(arn)["status"] == "IN_PROGRESS"


def test_alarm_without_rollback_stops_the_deployment(web: Web) -> None:
    web.create({**CANARY, "alarms": {**ALARMS, "rollback": False}})
    arn = web.deploy()
    web.advance_to(arn, "PRODUCTION_TRAFFIC_SHIFT", 5.0)
    events = web.strategies.fire_alarm("prod", "web", "web-5xx")
    stopped = web.described(arn)
    assert stopped["status"] == "STOPPED" and "stoppedAt" in stopped and "rollback" not in stopped
    assert [e["detail"]["eventName"] for e in events] == ["SERVICE_DEPLOYMENT_FAILED"]


def test_stop_rollback_rolls_back_with_a_requested_reason(web: Web) -> None:
    web.create(BLUE_GREEN)
    arn = web.deploy()
    web.advance_to(arn, "POST_TEST_TRAFFIC_SHIFT")
    response = web.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert response["serviceDeploymentArn"] == arn
    rolling_back = web.described(arn)
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert "StopServiceDeployment" in rolling_back["rollback"]["reason"]
    assert [e["detail"]["eventName"] for e in web.strategies.api_events()] == ["SERVICE_DEPLOYMENT_FAILED"]
    assert web.strategies.api_events() == []
    web.strategies.advance("prod", "web")
    assert web.described(arn)["status"] == "ROLLBACK_SUCCESSFUL"
    assert web.service()["taskDefinition"] == web.old


def test_stop_abort_stops_where_it_stands(web: Web) -> None:
    web.create(BLUE_GREEN)
    arn = web.deploy()
    web.advance_to(arn, "TEST_TRAFFIC_SHIFT")
    web.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
    stopped = web.described(arn)
    assert stopped["status"] == "STOPPED" and "stoppedAt" in stopped
    assert stopped["lifecycleStage"] == "TEST_TRAFFIC_SHIFT"
    with pytest.raises(ValueError, match="STOPPED"):
        web.strategies.advance("prod", "web")
    with pytest.raises(ClientError) as raised:
        web.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert error_code(raised) == "ConflictException"


def test_linear_shifts_in_steps_baking_between_them(web: Web) -> None:
    web.create(LINEAR)
    arn = web.deploy()
    web.advance_to(arn, "PRODUCTION_TRAFFIC_SHIFT", 25.0)
    steps = [web.described(arn)]
    while production(steps[-1]) != 100.0:
        web.strategies.advance("prod", "web")
        steps.append(web.described(arn))
    assert [production(s) for s in steps] == [25.0, 50.0, 75.0, 100.0]
    gaps = [b["updatedAt"] - a["updatedAt"] for a, b in pairwise(steps)]
    assert all(about(gap, timedelta(minutes=5)) for gap in gaps)
    web.strategies.advance("prod", "web")  # no bake after 100 %
    assert about(web.described(arn)["updatedAt"] - steps[-1]["updatedAt"], timedelta())


def test_blue_green_goes_through_the_documented_stages_in_order(web: Web) -> None:
    web.create(BLUE_GREEN)
    arn = web.deploy()
    assert web.described(arn)["status"] == "PENDING"
    seen = []
    while web.described(arn)["status"] in ("PENDING", "IN_PROGRESS"):
        web.strategies.advance("prod", "web")
        found = web.described(arn)
        seen.append((found["status"], found["lifecycleStage"], production(found)))
    assert seen == [
        ("IN_PROGRESS", "PRE_SCALE_UP", 0.0),
        ("IN_PROGRESS", "SCALE_UP", 0.0),
        ("IN_PROGRESS", "POST_SCALE_UP", 0.0),
        ("IN_PROGRESS", "TEST_TRAFFIC_SHIFT", 0.0),
        ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0.0),
        ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 100.0),
        ("IN_PROGRESS", "POST_PRODUCTION_TRAFFIC_SHIFT", 100.0),
        ("IN_PROGRESS", "BAKE_TIME", 100.0),
        ("IN_PROGRESS", "CLEAN_UP", 100.0),
        ("SUCCESSFUL", "CLEAN_UP", 100.0),
    ]


def test_pause_past_its_expiry_takes_its_timeout_action(web: Web) -> None:
    pause = {**PAUSE_BEFORE_PRODUCTION, "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "CONTINUE"}}
    web.create({**BLUE_GREEN, "lifecycleHooks": [pause]})
    arn = web.deploy()
    while not web.described(arn).get("lifecycleHookDetails"):
        web.strategies.advance("prod", "web")
    assert web.strategies.expire_hooks("prod", "web") == []  # not yet
    web.strategies.elapse(31)
    web.strategies.expire_hooks("prod", "web")
    assert [h["status"] for h in web.described(arn)["lifecycleHookDetails"]] == ["TIMED_OUT"]
    web.strategies.advance("prod", "web")
    assert production(web.described(arn)) == 100.0


def test_pause_without_timeout_configured_expires_after_a_day_and_rolls_back(web: Web) -> None:
    web.create({**BLUE_GREEN, "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}]})
    arn = web.deploy()
    web.advance_to(arn, "POST_SCALE_UP")
    [hook] = web.described(arn)["lifecycleHookDetails"]
    assert hook["timeoutAction"] == "ROLLBACK"
    assert about(hook["expiresAt"] - web.described(arn)["updatedAt"], timedelta(minutes=1440))
    web.strategies.elapse(1441)
    events = web.strategies.expire_hooks("prod", "web")
    assert web.described(arn)["status"] == "ROLLBACK_IN_PROGRESS"
    assert [e["detail"]["eventName"] for e in events] == ["SERVICE_DEPLOYMENT_FAILED"]


def test_continue_with_rollback_rolls_back(web: Web) -> None:
    web.create({**BLUE_GREEN, "lifecycleHooks": [PAUSE_BEFORE_PRODUCTION]})
    arn = web.deploy()
    while not web.described(arn).get("lifecycleHookDetails"):
        web.strategies.advance("prod", "web")
    web.continue_pause(arn, action="ROLLBACK")
    rolling_back = web.described(arn)
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert [h["status"] for h in rolling_back["lifecycleHookDetails"]] == ["FAILED"]


def test_lambda_hook_set_to_fail_rolls_back_with_its_reason(web: Web) -> None:
    function = "arn:aws:lambda:eu-west-1:123456789012:function:smoke-test"
    lambda_hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": function, "lifecycleStages": ["POST_SCALE_UP"]}
    web.create({**BLUE_GREEN, "lifecycleHooks": [lambda_hook]})
    arn = web.deploy()
    web.strategies.fail_hook("prod", "web")
    events = web.advance_to(arn, "POST_SCALE_UP")
    failed = web.described(arn)
    assert failed["status"] == "ROLLBACK_IN_PROGRESS"
    assert failed["rollback"]["reason"] == f"ECS deployment lifecycle hook: hook {function} failed at POST_SCALE_UP."
    assert [(h["targetArn"], h["status"]) for h in failed["lifecycleHookDetails"]] == [(function, "FAILED")]
    assert [e["detail"]["eventName"] for e in events] == ["SERVICE_DEPLOYMENT_FAILED"]


def test_lambda_hook_succeeds_at_once_by_default(web: Web) -> None:
    function = "arn:aws:lambda:eu-west-1:123456789012:function:smoke-test"
    lambda_hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": function, "lifecycleStages": ["POST_SCALE_UP"]}
    web.create({**BLUE_GREEN, "lifecycleHooks": [lambda_hook]})
    arn = web.deploy()
    web.advance_to(arn, "POST_SCALE_UP")
    assert [h["status"] for h in web.described(arn)["lifecycleHookDetails"]] == ["SUCCEEDED"]


def test_failed_rollback_ends_rollback_failed(web: Web) -> None:
    web.create(CANARY)
    arn = web.deploy()
    web.advance_to(arn, "PRODUCTION_TRAFFIC_SHIFT", 5.0)
    web.strategies.fire_alarm("prod", "web", "web-5xx")
    web.strategies.fail_rollback("prod", "web")
    assert web.described(arn)["status"] == "ROLLBACK_FAILED"


def test_continue_and_stop_answer_the_models_errors(web: Web) -> None:
    web.create({**BLUE_GREEN, "lifecycleHooks": [PAUSE_BEFORE_PRODUCTION]})
    arn = web.deploy()
    unknown = arn.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAA"
    cases = [
        (web.ecs.continue_service_deployment, {"serviceDeploymentArn": unknown, "hookId": "ecs-pause-x"}),
        (web.ecs.stop_service_deployment, {"serviceDeploymentArn": unknown}),
        (web.ecs.continue_service_deployment, {"serviceDeploymentArn": "not-an-arn", "hookId": "ecs-pause-x"}),
        (web.ecs.continue_service_deployment, {"serviceDeploymentArn": arn, "hookId": "ecs-pause-wrong"}),
    ]
    codes = []
    for call, kwargs in cases:
        with pytest.raises(ClientError) as raised:
            call(**kwargs)
        codes.append(error_code(raised))
    assert codes == [
        "ServiceDeploymentNotFoundException",
        "ServiceDeploymentNotFoundException",
        "InvalidParameterException",
        "InvalidParameterException",
    ]
    while not web.described(arn).get("lifecycleHookDetails"):
        web.strategies.advance("prod", "web")
    hook_id = web.continue_pause(arn)
    with pytest.raises(ClientError) as raised:  # the pause no longer awaits action
        web.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook_id)
    assert error_code(raised) == "InvalidParameterException"


def test_describe_lists_unknown_arns_as_failures_and_refuses_malformed_ones(web: Web) -> None:
    web.create(CANARY)
    arn = web.deploy()
    unknown = arn.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAA"
    response = web.ecs.describe_service_deployments(serviceDeploymentArns=[arn, unknown])
    assert [d["serviceDeploymentArn"] for d in response["serviceDeployments"]] == [arn]
    assert response["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    with pytest.raises(ClientError) as raised:
        web.ecs.describe_service_deployments(serviceDeploymentArns=["arn:aws:ecs:eu-west-1:123456789012:service/x"])
    assert error_code(raised) == "InvalidParameterException"


def test_list_service_deployments_filters_by_status_newest_first(web: Web) -> None:
    first = web.create(CANARY)["currentServiceDeployment"]
    superseded = web.deploy()
    current = web.ecs.update_service(
        cluster="prod", service="web", taskDefinition=web.old, deploymentConfiguration={"strategy": "ROLLING"}
    )["service"]["currentServiceDeployment"]
    listed = web.ecs.list_service_deployments(cluster="prod", service="web")["serviceDeployments"]
    assert [d["serviceDeploymentArn"] for d in listed] == [current, superseded, first]
    assert [d["status"] for d in listed] == ["IN_PROGRESS", "STOPPED", "STOPPED"]
    running = web.ecs.list_service_deployments(cluster="prod", service="web", status=["IN_PROGRESS"])
    assert [d["serviceDeploymentArn"] for d in running["serviceDeployments"]] == [current]
    page = web.ecs.list_service_deployments(cluster="prod", service="web", maxResults=2)
    rest = web.ecs.list_service_deployments(cluster="prod", service="web", nextToken=page["nextToken"])
    assert [d["serviceDeploymentArn"] for d in page["serviceDeployments"] + rest["serviceDeployments"]] == [
        current,
        superseded,
        first,
    ]
    with pytest.raises(ClientError) as raised:
        web.ecs.list_service_deployments(cluster="prod", service="nope")
    assert error_code(raised) == "ServiceNotFoundException"


def test_list_service_deployments_filters_by_creation_time(web: Web) -> None:
    first = web.create({})["currentServiceDeployment"]
    between = web.strategies.elapse(1)
    web.strategies.elapse(1)
    second = web.deploy()

    def created(**window: datetime) -> list[str]:
        listed = web.ecs.list_service_deployments(cluster="prod", service="web", createdAt=window)
        return [d["serviceDeploymentArn"] for d in listed["serviceDeployments"]]

    assert created(after=between) == [second]
    assert created(before=between) == [first]


def test_rolling_service_deployment_follows_deployments_complete(web: Web) -> None:
    web.create({})
    arn = web.deploy()
    assert web.described(arn)["status"] == "IN_PROGRESS"
    assert "lifecycleStage" not in web.described(arn)
    Deployments(web.world.account, web.world.region).complete("prod", "web")
    done = web.described(arn)
    assert done["status"] == "SUCCESSFUL" and "finishedAt" in done
    assert done["targetServiceRevision"]["runningTaskCount"] == 3


def test_rolling_service_deployment_follows_the_circuit_breaker_rollback(web: Web) -> None:
    web.create({"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    arn = web.deploy()
    life = Deployments(web.world.account, web.world.region)
    failed_id = life.primary("prod", "web")["id"]
    life.fail("prod", "web", failed_id)
    assert web.described(arn)["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    _, rollback_id = life.roll_back("prod", "web", failed_id)
    rolling_back = web.described(arn)
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert rolling_back["rollback"]["reason"].startswith("ECS deployment circuit breaker: rolling back to deploymentId")
    life.complete("prod", "web", rollback_id)
    assert web.described(arn)["status"] == "ROLLBACK_SUCCESSFUL"


def test_rolling_failure_without_rollback_stops_the_service_deployment(web: Web) -> None:
    web.create({"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    arn = web.deploy()
    Deployments(web.world.account, web.world.region).fail("prod", "web")
    stopped = web.described(arn)
    assert stopped["status"] == "STOPPED"
    assert stopped["statusReason"] == "ECS deployment circuit breaker: tasks failed to start."


def test_update_service_keeps_configuration_fields_it_omits(web: Web) -> None:
    web.create({**BLUE_GREEN, "lifecycleHooks": [PAUSE_BEFORE_PRODUCTION]})
    arn = web.deploy({"bakeTimeInMinutes": 30})
    configuration = web.described(arn)["deploymentConfiguration"]
    assert configuration["bakeTimeInMinutes"] == 30
    assert configuration["lifecycleHooks"] == [PAUSE_BEFORE_PRODUCTION]
    service = web.service()
    assert service["deploymentConfiguration"] == configuration
    assert service["currentServiceDeployment"] == arn


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({"strategy": "BLUE_GREEN"}, "bakeTimeInMinutes"),
        (
            {
                **BLUE_GREEN,
                "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}],
            },
            "PAUSE hooks cannot",
        ),
        ({**BLUE_GREEN, "lifecycleHooks": [{"lifecycleStages": ["POST_SCALE_UP"]}]}, "hookTargetArn"),
    ],
)
def test_update_service_refuses_what_ecs_refuses(web: Web, configuration: dict[str, Any], message: str) -> None:
    web.create({})
    with pytest.raises(ClientError) as raised:
        web.deploy(configuration)
    assert error_code(raised) == "InvalidParameterException"
    assert message in raised.value.response["Error"]["Message"]
    assert web.service()["taskDefinition"] == web.old


def test_describe_service_revisions_shows_the_image_digest_ecr_resolved(web: Web) -> None:
    web.create(CANARY)
    arn = web.deploy()
    target = web.described(arn)["targetServiceRevision"]["arn"]
    [revision] = web.ecs.describe_service_revisions(serviceRevisionArns=[target])["serviceRevisions"]
    assert revision["taskDefinition"] == web.new
    assert [(i["containerName"], i.get("imageDigest")) for i in revision["containerImages"]] == [("web", web.digest)]
    assert isinstance(revision["createdAt"], datetime)


def test_hook_event_has_the_keys_of_its_fixture(web: Web) -> None:
    web.create({**BLUE_GREEN, "lifecycleHooks": [PAUSE_BEFORE_PRODUCTION]})
    arn = web.deploy()
    events: list[dict[str, Any]] = []
    while not events:
        events = web.strategies.advance("prod", "web")
    [event] = events
    fixture = load_event("ecs-hook-awaiting-action.json")
    assert set(event) == set(fixture) and set(event["detail"]) == set(fixture["detail"])
    assert event["detail"]["serviceDeploymentArn"] == arn
    assert event["detail"]["hookId"] == web.described(arn)["lifecycleHookDetails"][0]["hookId"]


# -- the fixtures against botocore's model ------------------------------------------------
ECS_MODEL = botocore.session.get_session().get_service_model("ecs")
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "double": (int, float),
    "float": (int, float),
    "boolean": (bool,),
    "timestamp": (str,),  # ISO in the fixtures, as the AWS CLI prints them
}


def shape_problems(value: Any, shape: Shape, path: str) -> list[str]:
    """Where ``value`` strays from the model's shape: keys that are not members, or wrong types, recursively."""
    if isinstance(shape, StructureShape):
        if shape.is_document_type:
            return []
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        members = shape.members
        problems = [f"{path}.{key}: not a member of {shape.name}" for key in value if key not in members]
        return problems + [
            problem
            for key, member in value.items()
            if key in members
            for problem in shape_problems(member, members[key], f"{path}.{key}")
        ]
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, item in enumerate(value) for p in shape_problems(item, shape.member, f"{path}[{i}]")]
    kind = shape.type_name
    if not isinstance(value, TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{path}: {value!r} is not a {kind}"]
    if kind == "timestamp":
        datetime.fromisoformat(value)
    enum = getattr(shape, "enum", None)  # only StringShape has one
    if enum and value not in enum:
        return [f"{path}: {value!r} is not one of {shape.name}"]
    return []


def describe_output() -> Shape:
    return ECS_MODEL.operation_model("DescribeServiceDeployments").output_shape


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("ecs-service-deployment-*.json")))
def test_service_deployment_fixture_has_the_models_shape(name: str) -> None:
    body = json.loads((EVENTS / name).read_text())
    assert body["serviceDeployments"]
    assert shape_problems(body, describe_output(), name) == []


def test_sandbox_answers_in_the_models_shape_at_every_stage(web: Web) -> None:
    web.create({**CANARY, "lifecycleHooks": [PAUSE_BEFORE_PRODUCTION]})
    arn = web.deploy()
    seen = [web.described(arn)]
    while seen[-1]["status"] in ("PENDING", "IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
        web.strategies.advance("prod", "web")
        seen.append(web.described(arn))
        if seen[-1].get("lifecycleStage") == "PRODUCTION_TRAFFIC_SHIFT" and production(seen[-1]) == 5.0:
            web.strategies.fire_alarm("prod", "web", "web-5xx")
            seen.append(web.described(arn))
        web.continue_pause(arn)
    assert [s["status"] for s in seen][-2:] == ["ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"]
    as_json = json.loads(json.dumps({"serviceDeployments": seen}, default=lambda moment: moment.isoformat()))
    assert shape_problems(as_json, describe_output(), "live") == []
