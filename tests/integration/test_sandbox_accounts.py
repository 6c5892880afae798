"""The sandbox's accounts and Regions: that moto behaves, through its bridges, as AWS does between accounts.

Slipway's account (123456789012, eu-west-1) is the hub; staging (222233334444, eu-west-1)
and production (333344445555, eu-west-2) are accounts it reaches. These tests check the
sandbox, not Slipway: what the tests of cross-account rollouts stand on.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox import accounts
from sandbox import template as tpl
from sandbox.accounts import AccountWorld
from sandbox.demo_accounts import ENVIRONMENT, HubAndSpokes
from sandbox.deployments import Deployments, StoppedTask
from sandbox.faults import Faults
from sandbox.stack import ACCOUNT, REGION, World
from sandbox.throttling import ECS_BUCKETS, AccountBuckets, ThrottledAccount
from tests.conftest import load_event
from tests.integration.conftest import PRODUCTION_ACCOUNT, PRODUCTION_REGION, STAGING_ACCOUNT, STAGING_REGION


def web_service(where: World, image: str = "web:1.0.0") -> dict[str, Any]:
    """prod/web in ``where``, on EC2 with a bridge network."""
    where.cluster("prod")
    definition = where.task_definition("web", [{"name": "app", "image": image}], networkMode="bridge")
    return where.service("prod", "web", definition, launchType="EC2")


def new_revision(where: World, image: str) -> str:
    """UpdateService of prod/web to a revision running ``image``; the new deployment's id."""
    definition = where.task_definition("web", [{"name": "app", "image": image}], networkMode="bridge")
    where.ecs.update_service(cluster="prod", service="web", taskDefinition=definition)
    return str(Deployments(where.account, where.region).primary("prod", "web")["id"])


# -- clients that act in another account --------------------------------------------------------


def test_account_world_clients_act_in_that_account(world: World, staging: AccountWorld) -> None:
    identity = staging.sts.get_caller_identity()

    assert identity["Account"] == STAGING_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::{STAGING_ACCOUNT}:assumed-role/{accounts.ADMIN_ROLE}/sandbox"
    assert world.sts.get_caller_identity()["Account"] == ACCOUNT


def test_account_world_cluster_is_invisible_from_home(world: World, production: AccountWorld) -> None:
    # GIVEN a cluster created in the production account
    arn = production.cluster("prod")

    # THEN its ARN carries that account and Region, and only that account lists it
    assert arn == f"arn:aws:ecs:{PRODUCTION_REGION}:{PRODUCTION_ACCOUNT}:cluster/prod"
    assert production.ecs.list_clusters()["clusterArns"] == [arn]
    assert world.ecs.list_clusters()["clusterArns"] == []
    assert world.account_world(ACCOUNT, PRODUCTION_REGION).ecs.list_clusters()["clusterArns"] == []


def test_account_world_service_helpers_work_there(production: AccountWorld) -> None:
    service = web_service(production, image="web:1.0.0")

    assert service["serviceArn"] == f"arn:aws:ecs:{PRODUCTION_REGION}:{PRODUCTION_ACCOUNT}:service/prod/web"
    assert production.describe_service("prod", "web")["serviceArn"] == service["serviceArn"]
    definition = production.running_task_definition("prod", "web")["taskDefinitionArn"]
    assert definition == f"arn:aws:ecs:{PRODUCTION_REGION}:{PRODUCTION_ACCOUNT}:task-definition/web:1"
    assert production.images("prod", "web") == {"app": "web:1.0.0"}


def test_account_world_hub_account_in_other_region_needs_no_role(world: World) -> None:
    # WHEN the hub's own account is reached in another Region
    elsewhere = world.account_world(ACCOUNT, PRODUCTION_REGION)

    # THEN its clients keep the hub's credentials and act there
    assert elsewhere.sts.get_caller_identity()["Arn"] == world.sts.get_caller_identity()["Arn"]
    assert elsewhere.cluster("prod").startswith(f"arn:aws:ecs:{PRODUCTION_REGION}:{ACCOUNT}:")
    assert world.ecs.list_clusters()["clusterArns"] == []


def test_account_world_is_made_once_per_account_and_region(world: World, staging: AccountWorld) -> None:
    assert world.account_world(STAGING_ACCOUNT, STAGING_REGION) is staging
    assert staging.account_world(STAGING_ACCOUNT, STAGING_REGION) is staging
    assert world.account_world(STAGING_ACCOUNT, PRODUCTION_REGION) is not staging


def test_target_role_trusts_the_hub_stack_function_roles(world: World, production: AccountWorld) -> None:
    role = production.iam.get_role(RoleName=tpl.parameter_default("TargetRoleName"))["Role"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]

    assert role["Arn"] == f"arn:aws:iam::{PRODUCTION_ACCOUNT}:role/slipway-target"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Action"] == "sts:AssumeRole"
    trusted = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert f"arn:aws:iam::{ACCOUNT}:role/slipway-DeployFunctionRole-*" in trusted
    assert f"arn:aws:iam::{ACCOUNT}:role/slipway-TrackFunctionRole-*" in trusted
    with pytest.raises(ClientError, match="NoSuchEntity"):
        world.iam.get_role(RoleName="slipway-target")


# -- ECS deployments in another account ----------------------------------------------------------


def test_deployments_other_account_complete_event_names_that_account_and_service(
    production: AccountWorld,
) -> None:
    # GIVEN prod/web in the production account, updated to a new revision
    service = web_service(production)
    deployment_id = new_revision(production, "web:2.0.0")

    # WHEN ECS completes the deployment there
    event = Deployments(PRODUCTION_ACCOUNT, PRODUCTION_REGION).complete("prod", "web", deployment_id)

    # THEN the event is that account's and Region's, naming the service there
    assert (event["account"], event["region"]) == (PRODUCTION_ACCOUNT, PRODUCTION_REGION)
    assert event["resources"] == [service["serviceArn"]]
    assert event["detail"]["eventName"] == "SERVICE_DEPLOYMENT_COMPLETED"
    assert event["detail"]["deploymentId"] == deployment_id
    [deployment] = production.describe_service("prod", "web")["deployments"]
    assert (deployment["id"], deployment["rolloutState"]) == (deployment_id, "COMPLETED")
    assert production.images("prod", "web") == {"app": "web:2.0.0"}


def test_deployments_books_are_kept_per_account(world: World, production: AccountWorld) -> None:
    # GIVEN prod/web both at home and in production, each with a new deployment
    web_service(world)
    web_service(production)
    home_id = new_revision(world, "web:2.0.0")
    production_id = new_revision(production, "web:2.0.0")

    # WHEN the production deployment fails and the circuit breaker rolls it back
    ecs = Deployments(PRODUCTION_ACCOUNT, PRODUCTION_REGION)
    failed = ecs.fail("prod", "web", production_id, stopped=[StoppedTask(reason="CannotPullContainerError")])
    started, rollback_id = ecs.roll_back("prod", "web", production_id)

    # THEN its events are production's, and the home service is untouched
    assert {(e["account"], e["region"]) for e in (failed, started)} == {(PRODUCTION_ACCOUNT, PRODUCTION_REGION)}
    assert failed["detail"]["eventName"] == "SERVICE_DEPLOYMENT_FAILED"
    assert started["detail"]["deploymentId"] == rollback_id
    assert production.images("prod", "web") == {"app": "web:1.0.0"}
    primary = Deployments(ACCOUNT, REGION).primary("prod", "web")
    assert (primary["id"], primary["rolloutState"]) == (home_id, "IN_PROGRESS")
    assert world.images("prod", "web") == {"app": "web:2.0.0"}


def test_throttling_buckets_are_kept_per_account_and_region(world: World, production: AccountWorld) -> None:
    # GIVEN ECS lets one ListClusters through per account and Region, and refills none
    throttle = ThrottledAccount(AccountBuckets({**ECS_BUCKETS, "ListClusters": (1, 0.0)}))
    once = Config(retries={"total_max_attempts": 1})
    frozen = production.session.get_credentials().get_frozen_credentials()
    there = boto3.session.Session(
        region_name=PRODUCTION_REGION,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
    )
    home_ecs = throttle.install(boto3.session.Session(region_name=REGION)).client("ecs", config=once)
    production_ecs = throttle.install(there).client("ecs", config=once)

    # WHEN home spends its token
    home_ecs.list_clusters()

    # THEN production's bucket is still full, and home's second call is throttled
    production_ecs.list_clusters()
    with pytest.raises(ClientError, match="ThrottlingException"):
        home_ecs.list_clusters()
    assert throttle.places[(PRODUCTION_ACCOUNT, PRODUCTION_REGION)].taken["ListClusters"] == 1
    assert throttle.buckets.throttled["ListClusters"] == 1


# -- events forwarded to Slipway's bus -------------------------------------------------------------


def test_forwarded_deployment_event_arrives_as_its_account_emitted_it(world: World, production: AccountWorld) -> None:
    # GIVEN ECS's completion of a deployment in production
    web_service(production)
    event = Deployments(PRODUCTION_ACCOUNT, PRODUCTION_REGION).complete(
        "prod", "web", new_revision(production, "web:2.0.0")
    )

    # WHEN production's forwarding rule sends it to Slipway's bus
    delivered = accounts.forwarded(world, event)

    # THEN the track function's rule delivers it once, account, Region, id and resources unchanged
    assert delivered == [event]


def test_forwarded_fixture_events_match_the_template_rules(world: World) -> None:
    for name in ("ecs-deployment-forwarded.json", "ecr-push-forwarded.json"):
        event = load_event(name)

        assert accounts.forwarded(world, event) == [event], name


def test_forwarded_event_outside_the_template_patterns_is_not_delivered(world: World) -> None:
    failed_push = load_event("ecr-push-forwarded.json")
    failed_push["detail"]["result"] = "FAILED"

    assert accounts.forwarded(world, failed_push) == []


def test_forward_events_rules_carry_the_template_patterns(world: World, staging: AccountWorld) -> None:
    rules = {r["Name"]: r for r in staging.events.list_rules()["Rules"]}

    for function, event in accounts.FORWARDED:
        rule = rules[f"slipway-forward-{event}"]
        assert json.loads(rule["EventPattern"]) == tpl.event_pattern(function, event)
        [target] = staging.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    assert world.events.list_rules(NamePrefix="slipway-forward")["Rules"] == []


def test_route_home_deployment_event_reaches_the_track_rule(world: World) -> None:
    web_service(world)
    event = Deployments(ACCOUNT, REGION).complete("prod", "web", new_revision(world, "web:2.0.0"))

    [delivered] = world.route(event)

    assert (delivered["id"], delivered["account"], delivered["detail"]) == (event["id"], ACCOUNT, event["detail"])


# -- ECR replication ---------------------------------------------------------------------------


def test_replicate_success_puts_the_image_in_the_destination(world: World, production: AccountWorld) -> None:
    # GIVEN web:2.0.0 pushed to Slipway's registry
    world.create_repository("web")
    digest = world.push_image("web", "2.0.0")

    # WHEN ECR replicates it to production's registry
    event = accounts.replicate(world, "web", "2.0.0", PRODUCTION_ACCOUNT, PRODUCTION_REGION)

    # THEN production has the same image under the same tag
    [image] = production.ecr.describe_images(repositoryName="web")["imageDetails"]
    assert (image["imageDigest"], image["imageTags"], image["registryId"]) == (digest, ["2.0.0"], PRODUCTION_ACCOUNT)
    assert (event["account"], event["region"]) == (PRODUCTION_ACCOUNT, PRODUCTION_REGION)
    assert event["resources"] == [f"arn:aws:ecr:{PRODUCTION_REGION}:{PRODUCTION_ACCOUNT}:repository/web"]
    assert event["detail"] == {
        "result": "SUCCESS",
        "repository-name": "web",
        "image-digest": digest,
        "source-account": ACCOUNT,
        "action-type": "REPLICATE",
        "source-region": REGION,
        "image-tag": "2.0.0",
    }


def test_replicate_event_has_the_shape_of_aws_sample(world: World) -> None:
    sample = load_event("ecr-replication-success.json")
    world.create_repository("web")
    world.push_image("web", "2.0.0")

    event = accounts.replicate(world, "web", "2.0.0", PRODUCTION_ACCOUNT, PRODUCTION_REGION)

    assert list(event) == list(sample)
    assert list(event["detail"]) == list(sample["detail"])
    assert (event["source"], event["detail-type"]) == (sample["source"], sample["detail-type"])


def test_replicate_event_forwarded_matches_the_replication_rule(world: World, production: AccountWorld) -> None:
    world.create_repository("web")
    world.push_image("web", "2.0.0")
    event = accounts.replicate(world, "web", "2.0.0", PRODUCTION_ACCOUNT, PRODUCTION_REGION)

    assert accounts.forwarded(world, event) == [event]


def test_replicate_into_the_hub_is_routed_there(world: World) -> None:
    # GIVEN web:2.0.0 in Slipway's own account, in another Region
    elsewhere = world.account_world(ACCOUNT, PRODUCTION_REGION)
    elsewhere.create_repository("web")
    digest = elsewhere.push_image("web", "2.0.0")

    # WHEN ECR replicates it into Slipway's Region
    event = accounts.replicate(elsewhere, "web", "2.0.0", ACCOUNT, REGION)

    # THEN Slipway's registry has it and the deploy function's replication rule delivers the event
    assert world.ecr.describe_images(repositoryName="web")["imageDetails"][0]["imageDigest"] == digest
    [delivered] = accounts.forwarded(world, event)
    assert (delivered["id"], delivered["account"], delivered["detail"]) == (event["id"], ACCOUNT, event["detail"])


def test_replicate_failed_returns_the_event_only(world: World, production: AccountWorld) -> None:
    world.create_repository("web")
    world.push_image("web", "2.0.0")

    event = accounts.replicate(world, "web", "2.0.0", PRODUCTION_ACCOUNT, PRODUCTION_REGION, result="FAILED")

    assert event["detail"]["result"] == "FAILED"
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        production.ecr.describe_images(repositoryName="web")
    # the template's replication rule takes failures too, for the deploy function to log as ignored
    assert accounts.forwarded(world, event) == [event]


def test_replication_fixtures_match_the_replication_rule(world: World) -> None:
    for name in ("ecr-replication-success.json", "ecr-replication-failed.json"):
        event = load_event(name)

        assert len(accounts.forwarded(world, event)) == 1, name


# -- an account Slipway cannot reach --------------------------------------------------------------


def test_deny_assume_role_fails_that_role_only(world: World, staging: AccountWorld, production: AccountWorld) -> None:
    # GIVEN production's target role refuses Slipway
    denied = f"arn:aws:iam::{PRODUCTION_ACCOUNT}:role/slipway-target"
    sts = Faults().deny_assume_role(denied).session().client("sts")

    # WHEN Slipway assumes it, and staging's
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=denied, RoleSessionName="slipway-deploy", DurationSeconds=3600)
    allowed = f"arn:aws:iam::{STAGING_ACCOUNT}:role/slipway-target"
    credentials = sts.assume_role(RoleArn=allowed, RoleSessionName="slipway-deploy", DurationSeconds=3600)

    # THEN production's is AccessDenied (403, naming the role), staging's acts in staging
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert error["Error"]["Message"].endswith(f"is not authorized to perform: sts:AssumeRole on resource: {denied}")
    keys = credentials["Credentials"]
    session_client = world.session.client(
        "sts",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    assert session_client.get_caller_identity()["Account"] == STAGING_ACCOUNT


def test_deny_assume_role_stops_when_told(world: World) -> None:
    denied = f"arn:aws:iam::{PRODUCTION_ACCOUNT}:role/slipway-target"
    hook = Faults().deny_assume_role(denied)
    sts = hook.session().client("sts")

    hook.stop("sts.AssumeRole")

    assert sts.assume_role(RoleArn=denied, RoleSessionName="slipway-deploy")["AssumedRoleUser"]["Arn"].startswith(
        f"arn:aws:sts::{PRODUCTION_ACCOUNT}:"
    )


# -- the demo's section on it ----------------------------------------------------------------------


@pytest.fixture
def demo_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def test_demo_accounts_section_deploys_and_tracks_in_both_accounts(
    demo_environment: None, world: World, deploy: Any, track: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the demo's hub and spokes, with the real deploy and track handlers
    section = HubAndSpokes(world, deploy, track)

    # WHEN it runs (it raises DemoFailed when a step does not do what it shows)
    section.run()

    # THEN both accounts' services run the pushed image and were reported SUCCEEDED
    printed = capsys.readouterr().out
    assert "SUCCEEDED  222233334444 eu-west-1  staging/web" in printed
    assert "SUCCEEDED  333344445555 eu-west-2  prod/web" in printed
