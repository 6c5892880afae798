"""Many accounts and Regions: a push in the registry account rolling out to services in two others.

Slipway's stack runs in the hub (123456789012, eu-west-1): its rules, table and topic. The
staging account (222233334444, eu-west-1) and the production account (333344445555,
eu-west-2) have the services; Slipway reaches them through their target role, and their
ECS events come back through their forwarding rules. moto keeps the accounts apart by
credentials (sandbox.accounts).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.accounts import AccountWorld, forwarded, replicate
from sandbox.deployments import Deployments
from sandbox.faults import Faults
from sandbox.stack import LambdaContext, World
from tests.integration.test_deploy import push

STAGING = ("222233334444", "eu-west-1")
PROD = ("333344445555", "eu-west-2")
STAGING_ARN = "arn:aws:ecs:eu-west-1:222233334444:cluster/app"
PROD_ARN = "arn:aws:ecs:eu-west-2:333344445555:cluster/app"
ALLOWED = "*,arn:aws:ecs:*:222233334444:cluster/*,arn:aws:ecs:*:333344445555:cluster/*"


@pytest.fixture
def hub(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The registry account with Slipway, TargetAccounts and AllowedClusters naming staging and production."""
    monkeypatch.setenv("SLIPWAY_TARGET_ACCOUNTS", f"{STAGING[0]},{PROD[0]}")
    monkeypatch.setenv("SLIPWAY_ALLOWED_CLUSTERS", ALLOWED)
    world.create_repository("web")
    return world


@pytest.fixture
def counted(hub: World, clock: Any) -> Faults:
    from slipway import app

    app.reset()
    faults = Faults()
    app.use(app.App(session=faults.session(), clock=clock))
    return faults


def spoke(hub: World, place: tuple[str, str], cluster: str = "app", own_registry: bool = False) -> AccountWorld:
    """An account with the target role and its forwarding rules, running app/web from the registry
    account's web (or, ``own_registry``, from the replica in its own registry)."""
    account = hub.account_world(*place)
    account.create_target_role()
    account.forward_events()
    account.cluster(cluster)
    image = (account if own_registry else hub).image_uri("web", "1.0.0")
    td = account.task_definition(
        "web",
        [{"name": "app", "image": image}],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
    )
    account.service(cluster, "web", td, launchType="FARGATE", desiredCount=2)
    return account


def deploy(event: dict[str, Any]) -> Any:
    from slipway.handlers import deploy as handler

    return handler.handler(event, LambdaContext())


def track(event: dict[str, Any]) -> Any:
    from slipway.handlers import track as handler

    return handler.handler(event, LambdaContext(function_name="slipway-track"))


def by_account(hub: World, status: str) -> dict[str, dict[str, Any]]:
    return {n["message"]["account"]: n for n in hub.notifications() if n["message"]["status"] == status}


def test_multi_account_push_in_the_registry_rolls_out_to_two_other_accounts(hub: World, counted: Faults) -> None:
    # GIVEN services in a staging and a production account, and a rule naming both by cluster ARN
    staging, prod = spoke(hub, STAGING), spoke(hub, PROD)
    targets = [{"cluster": STAGING_ARN, "service": "web"}, {"cluster": PROD_ARN, "service": "web"}]
    hub.put_rule("web", "release", {"targets": targets})

    # WHEN the registry account gets a push
    event = push(hub, "web", "2.0.0")
    deploy(event)

    # THEN each account's service runs the hub's image, pinned by digest
    image = f"{hub.account}.dkr.ecr.{hub.region}.amazonaws.com/web@{event['detail']['image-digest']}"
    assert staging.images("app", "web")["app"] == image
    assert prod.images("app", "web")["app"] == image
    # AND each DEPLOYING names its account and Region, in the message, the attributes and the Subject
    deploying = {n["message"]["account"]: n for n in hub.notifications()}
    assert set(deploying) == {STAGING[0], PROD[0]}
    note = deploying[PROD[0]]
    assert (note["message"]["region"], note["attributes"]["account"], note["attributes"]["region"]) == (
        PROD[1],
        PROD[0],
        PROD[1],
    )
    assert f"in {PROD[0]} {PROD[1]}" in note["subject"]
    # AND each account's role was assumed once, nothing else
    assert counted.calls["sts.AssumeRole"] == 2

    # WHEN ECS completes each deployment and the accounts forward the events
    for account, (number, region) in ((staging, STAGING), (prod, PROD)):
        assert (account.account, account.region) == (number, region)
        message = deploying[number]["message"]
        [delivered] = forwarded(hub, Deployments(number, region).complete("app", "web", message["deployment_id"]))
        assert (delivered["account"], delivered["region"]) == (number, region)
        track(delivered)

    # THEN both succeed, each named by its account, and the history is kept per account
    succeeded = by_account(hub, "SUCCEEDED")
    assert set(succeeded) == {STAGING[0], PROD[0]}
    from slipway import app

    [rollout] = app.app().store.history(f"{PROD[0]}:{PROD[1]}:app/web", limit=5)
    assert (rollout.status, rollout.account, rollout.region) == ("SUCCEEDED", *PROD)


def test_multi_account_forwarded_event_ends_only_its_own_accounts_rollout(hub: World, counted: Faults) -> None:
    # GIVEN app/web in two accounts, one cluster name and one service name
    spoke(hub, STAGING), spoke(hub, PROD)
    hub.put_rule("web", "release", {"targets": [{"cluster": STAGING_ARN, "service": "web"}]})
    hub.put_rule("web", "prod", {"targets": [{"cluster": PROD_ARN, "service": "web"}]})
    deploy(push(hub, "web", "2.0.0"))
    deploying = by_account(hub, "DEPLOYING")

    # WHEN only the production account's deployment fails
    message = deploying[PROD[0]]["message"]
    [delivered] = forwarded(hub, Deployments(*PROD).fail("app", "web", message["deployment_id"]))
    track(delivered)

    # THEN production's rollout FAILED, and staging's is still DEPLOYING
    failed = [n["message"] for n in hub.notifications() if n["message"]["status"] == "FAILED"]
    assert [(m["account"], m["region"]) for m in failed] == [PROD]
    from slipway import app

    [staging_rollout] = app.app().store.history(f"{STAGING[0]}:{STAGING[1]}:app/web", limit=5)
    assert staging_rollout.status == "DEPLOYING"


def test_multi_account_target_in_an_account_not_allowed_is_an_error_before_any_call(
    hub: World, counted: Faults
) -> None:
    spoke(hub, STAGING)
    stranger = "arn:aws:ecs:eu-west-1:999988887777:cluster/app"
    hub.put_rule(
        "web",
        "release",
        {"targets": [{"cluster": stranger, "service": "web"}, {"cluster": STAGING_ARN, "service": "web"}]},
    )

    deploy(push(hub, "web", "2.0.0"))

    notes = {n["message"]["cluster"] + "@" + str(n["message"]["account"]): n["message"] for n in hub.notifications()}
    refused = notes["app@999988887777"]
    assert refused["status"] == "ERROR" and refused["error_code"] == "AccountNotAllowed"
    assert "TargetAccounts" in refused["reason"]
    assert notes[f"app@{STAGING[0]}"]["status"] == "DEPLOYING"
    assert counted.calls["sts.AssumeRole"] == 1  # staging's only: nothing asked of 999988887777


def test_multi_account_role_that_cannot_be_assumed_is_a_clear_error_and_others_roll_out(
    hub: World, counted: Faults
) -> None:
    spoke(hub, STAGING), spoke(hub, PROD)
    targets = [{"cluster": STAGING_ARN, "service": "web"}, {"cluster": PROD_ARN, "service": "web"}]
    hub.put_rule("web", "release", {"targets": targets})
    counted.deny_assume_role(f"arn:aws:iam::{PROD[0]}:role/slipway-target")

    deploy(push(hub, "web", "2.0.0"))

    notes = {n["message"]["account"]: n["message"] for n in hub.notifications()}
    assert notes[STAGING[0]]["status"] == "DEPLOYING"
    denied = notes[PROD[0]]
    assert denied["status"] == "ERROR" and denied["error_code"] == "AccessDenied"
    assert f"cannot assume arn:aws:iam::{PROD[0]}:role/slipway-target" in denied["reason"]


def test_multi_account_replicated_push_deploys_the_destination_image_in_its_region(
    hub: World, counted: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the hub's registry replicating to the production account's eu-west-2, which Slipway deploys from
    monkeypatch.setenv("SLIPWAY_ALLOWED_REGISTRIES", f"{PROD[0]},{PROD[1]}")
    from slipway import app

    clock = app.app().clock
    app.reset()  # the settings are read again, with the registry
    app.use(app.App(session=counted.session(), clock=clock))
    prod = spoke(hub, PROD, own_registry=True)
    hub.put_rule("web", "release", {"targets": [{"cluster": PROD_ARN, "service": "web"}], "tags": ["2.*"]})
    digest = hub.push_image("web", "2.0.0")

    # WHEN the replica lands in production (no push event there: a replication)
    [delivered] = forwarded(hub, replicate(hub, "web", "2.0.0", *PROD))
    assert delivered["detail-type"] == "ECR Replication Action"
    deploy(delivered)

    # THEN production runs the replica from its own Region's registry, by digest
    assert prod.images("app", "web")["app"] == f"{PROD[0]}.dkr.ecr.{PROD[1]}.amazonaws.com/web@{digest}"
    [note] = hub.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["account"] == PROD[0]


def test_multi_account_failed_replication_is_ignored(
    hub: World, counted: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPWAY_ALLOWED_REGISTRIES", f"{PROD[0]},{PROD[1]}")
    spoke(hub, PROD)
    hub.put_rule("web", "release", {"targets": [{"cluster": PROD_ARN, "service": "web"}]})
    hub.push_image("web", "2.0.0")

    [delivered] = forwarded(hub, replicate(hub, "web", "2.0.0", *PROD, result="FAILED"))
    result = deploy(delivered)

    assert result["status"] == "REJECTED" and "FAILED" in result["reason"]
    assert hub.notifications() == []
    assert counted.count("ecs.") == 0


def test_multi_account_forged_push_from_an_unlisted_registry_is_rejected(hub: World, counted: Faults) -> None:
    spoke(hub, STAGING)
    hub.put_rule("web", "release", {"targets": [{"cluster": STAGING_ARN, "service": "web"}]})
    digest = hub.push_image("web", "2.0.0")

    event = hub.push_event("web", digest, "2.0.0", account="444455556666")
    result = deploy(event)

    assert result["status"] == "REJECTED"
    [note] = hub.notifications()
    assert note["message"]["status"] == "ERROR" and "AllowedRegistries" in note["message"]["reason"]
    assert note["message"]["account"] == "444455556666"
    assert counted.count("ecs.") == 0 and counted.count("sts.") == 0


def test_multi_account_cli_history_and_rollback_reach_the_target_account(
    hub: World, counted: Faults, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    # GIVEN production's app/web released twice, both SUCCEEDED
    prod = spoke(hub, PROD)
    hub.put_rule("web", "release", {"targets": [{"cluster": PROD_ARN, "service": "web"}]})
    revisions = []
    for tag in ("2.0.0", "2.1.0"):
        clock.advance(minutes=10)
        deploy(push(hub, "web", tag))
        [note] = [n["message"] for n in hub.notifications() if n["message"]["status"] == "DEPLOYING"]
        track(forwarded(hub, Deployments(*PROD).complete("app", "web", note["deployment_id"]))[0])
        revisions.append(note["task_definition"])
    key = f"{PROD[0]}:{PROD[1]}:app/web"

    # WHEN on-call asks for its history, by the key that names the account and Region
    code, out, _ = slipway(capsys, "history", key, "--json")

    # THEN it is production's, newest first
    assert code == 0
    entries = json.loads(out)
    assert [r["tag"] for r in entries] == ["2.1.0", "2.0.0"]
    assert {(r["account"], r["region"]) for r in entries} == {PROD}

    # WHEN they roll it back
    code, out, err = slipway(capsys, "rollback", key, "--json")

    # THEN production's service runs the previous revision again, through the target role
    assert code == 0, err
    assert prod.describe_service("app", "web")["taskDefinition"] == revisions[0]
    assert json.loads(out)["task_definition"] == revisions[0]


def test_multi_account_sweep_reads_a_target_accounts_service_for_a_timed_out_rollout(
    hub: World, counted: Faults, clock: Any
) -> None:
    from slipway.handlers import sweep as handler

    spoke(hub, PROD)
    hub.put_rule("web", "release", {"targets": [{"cluster": PROD_ARN, "service": "web"}]})
    deploy(push(hub, "web", "2.0.0"))
    hub.notifications()
    counted.reset_counts()
    clock.advance(hours=2)  # past DeploymentTimeoutMinutes, and no event came back

    handler.handler(
        {"id": "sweep", "source": "aws.scheduler", "detail": {}}, LambdaContext(function_name="slipway-sweep")
    )

    [note] = hub.notifications()
    assert note["message"]["status"] == "TIMED_OUT" and note["message"]["account"] == PROD[0]
    assert counted.calls["sts.AssumeRole"] == 1 and counted.calls["ecs.DescribeServices"] >= 1


def test_multi_account_rule_check_reads_the_target_account(hub: World, counted: Faults) -> None:
    from slipway.handlers import rules as handler

    spoke(hub, PROD)
    hub.put_rule(
        "web",
        "release",
        {"targets": [{"cluster": PROD_ARN, "service": "web"}, {"cluster": PROD_ARN, "service": "gone"}]},
    )
    [event] = hub.rule_change("web", "release", "Update")

    handler.handler(event, LambdaContext(function_name="slipway-rules"))

    [note] = hub.notifications()
    assert note["message"]["status"] == "RULE_INVALID"
    [problem] = note["message"]["problems"]
    assert problem.startswith("targets[1]") and "gone" in problem
