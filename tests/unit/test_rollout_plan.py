"""Planning one target: container selection, the task definition clone, tags and skips."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from slipway.model import Status
from slipway.outcome import Outcome
from slipway.plan import (
    Plan,
    clone_with_image,
    deployed_version,
    image_repository,
    image_tag,
    merge_tags,
    plan,
    rollout_id,
    select_containers,
)
from slipway.rules import Target
from tests.unit.fakes import (
    REGISTRY,
    app_container,
    digest,
    fargate_body,
    make_push,
    make_rule,
    make_service,
    make_state,
    make_task_definition,
    sidecar,
)

PUSH = make_push("1.5.0", digest("b"))
PINNED = f"{REGISTRY}/web@{digest('b')}"


def target(container: str | None = None) -> Target:
    return Target(cluster="prod", service="web", container=container)


def images(body: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["image"] for c in body["containerDefinitions"]}


def without_images(body: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(body)
    for container in stripped["containerDefinitions"]:
        container.pop("image")
    return stripped


# -- image references -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        (f"{REGISTRY}/web:1.4.0", f"{REGISTRY}/web", "1.4.0"),
        (f"{REGISTRY}/web@{digest('a')}", f"{REGISTRY}/web", None),
        (f"{REGISTRY}/web:1.4.0@{digest('a')}", f"{REGISTRY}/web", "1.4.0"),
        (f"{REGISTRY}/team/payments-api:v2", f"{REGISTRY}/team/payments-api", "v2"),
        (f"{REGISTRY}/web", f"{REGISTRY}/web", None),
        ("localhost:5000/web", "localhost:5000/web", None),
        ("localhost:5000/web:1.0.0", "localhost:5000/web", "1.0.0"),
        ("nginx", "nginx", None),
    ],
)
def test_image_reference_split_into_repository_and_tag(image: str, repository: str, tag: str | None) -> None:
    assert image_repository(image) == repository
    assert image_tag(image) == tag


# -- select_containers ---------------------------------------------------------------------


def test_select_containers_named_container_is_the_only_one() -> None:
    taskdef = make_task_definition()

    assert select_containers(taskdef, target("log-router"), PUSH) == ("log-router",)


def test_select_containers_named_container_missing_raises_naming_it() -> None:
    taskdef = make_task_definition()

    with pytest.raises(ValueError, match='container "worker" is not in task definition') as raised:
        select_containers(taskdef, target("worker"), PUSH)
    assert "app, log-router" in str(raised.value)


def test_select_containers_without_name_takes_every_container_of_pushed_repository() -> None:
    # GIVEN two containers from the pushed repository (one by tag, one by digest) and a sidecar
    body = fargate_body(
        containers=[
            app_container(f"{REGISTRY}/web:1.4.0", name="app"),
            sidecar(),
            app_container(f"{REGISTRY}/web@{digest('a')}", name="migrate"),
            app_container(f"{REGISTRY}/web-assets:1.4.0", name="assets"),
        ]
    )

    assert select_containers(make_task_definition(body), target(), PUSH) == ("app", "migrate")


def test_select_containers_same_repository_name_in_other_registry_is_not_selected() -> None:
    body = fargate_body(
        containers=[
            app_container(f"{REGISTRY}/web:1.4.0", name="app"),
            app_container("999999999999.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.0", name="mirror"),
        ]
    )

    assert select_containers(make_task_definition(body), target(), PUSH) == ("app",)


def test_select_containers_only_container_is_selected_even_from_other_repository() -> None:
    body = fargate_body(containers=[app_container("public.ecr.aws/nginx/nginx:1.27", name="proxy")])

    assert select_containers(make_task_definition(body), target(), PUSH) == ("proxy",)


def test_select_containers_several_containers_none_from_repository_is_ambiguous() -> None:
    body = fargate_body(containers=[sidecar("a"), sidecar("b")])

    with pytest.raises(ValueError, match="ambiguous container"):
        select_containers(make_task_definition(body), target(), PUSH)


# -- clone_with_image -------------------------------------------------------------------------


def test_clone_with_image_changes_only_selected_images() -> None:
    taskdef = make_task_definition()

    clone = clone_with_image(taskdef, ("app",), PINNED)

    assert images(clone) == {"app": PINNED, "log-router": images(taskdef.body)["log-router"]}
    assert without_images(clone) == without_images(taskdef.body)


def test_clone_with_image_keeps_roles_sizes_network_platform_volumes_secrets() -> None:
    taskdef = make_task_definition()

    clone = clone_with_image(taskdef, ("app",), PINNED)

    # THEN each field named by the contract is the original's, checked one by one
    original = fargate_body()
    for key in (
        "taskRoleArn",
        "executionRoleArn",
        "cpu",
        "memory",
        "networkMode",
        "requiresCompatibilities",
        "runtimePlatform",
        "volumes",
        "ephemeralStorage",
        "family",
    ):
        assert clone[key] == original[key], key
    app = clone["containerDefinitions"][0]
    assert app["secrets"] == app_container("x")["secrets"]
    assert app["mountPoints"] == app_container("x")["mountPoints"]
    assert clone["containerDefinitions"][1] == sidecar()


def test_clone_with_image_does_not_mutate_original() -> None:
    taskdef = make_task_definition()
    before = copy.deepcopy(taskdef.body)

    clone = clone_with_image(taskdef, ("app",), PINNED)
    clone["containerDefinitions"][0]["environment"].append({"name": "X", "value": "1"})
    clone["volumes"].append({"name": "other"})

    assert taskdef.body == before


def test_clone_with_image_every_selected_container_gets_the_image() -> None:
    body = fargate_body(
        containers=[app_container(f"{REGISTRY}/web:1.4.0", "app"), app_container(f"{REGISTRY}/web:1.4.0", "worker")]
    )

    clone = clone_with_image(make_task_definition(body), ("app", "worker"), PINNED)

    assert images(clone) == {"app": PINNED, "worker": PINNED}


# -- plan: the happy path ------------------------------------------------------------------


def test_plan_pins_selected_container_to_pushed_digest() -> None:
    taskdef = make_task_definition()
    service = make_service(taskdef.arn)

    decision = plan(PUSH, make_rule(), target(), service, taskdef, None)

    assert isinstance(decision, Plan)
    assert decision.containers == ("app",)
    assert images(decision.body)["app"] == f"{REGISTRY}/web@sha256:{'b' * 64}"
    assert without_images(decision.body) == without_images(taskdef.body)


def test_plan_tags_new_revision_with_push_rule_and_rollout() -> None:
    taskdef = make_task_definition(tags=[("team", "payments"), ("aws:cloudformation:stack-name", "web")])
    service = make_service(taskdef.arn)
    push = make_push("1.5.0", digest("b"), event_id="evt-42")

    decision = plan(push, make_rule("canary"), target(), service, taskdef, None)

    assert isinstance(decision, Plan)
    tags = dict(decision.tags)
    assert tags == {
        "team": "payments",
        "slipway:repository": "web",
        "slipway:tag": "1.5.0",
        "slipway:digest": digest("b"),
        "slipway:rule": "canary",
        "slipway:event-id": "evt-42",
        "slipway:rollout-id": rollout_id("evt-42", "canary", "prod/web"),
    }


def test_plan_deployment_configuration_carries_rule_circuit_breaker_and_alarms() -> None:
    taskdef = make_task_definition()
    service = make_service(taskdef.arn, deployment_configuration={"maximumPercent": 150, "minimumHealthyPercent": 50})
    rule = make_rule(circuit_breaker={"enable": True, "rollback": False}, alarms=["web-5xx"])

    decision = plan(PUSH, rule, target(), service, taskdef, None)

    assert isinstance(decision, Plan)
    assert decision.deployment_configuration == {
        "maximumPercent": 150,
        "minimumHealthyPercent": 50,
        "deploymentCircuitBreaker": {"enable": True, "rollback": False},
        "alarms": {"alarmNames": ["web-5xx"], "enable": True, "rollback": True},
    }
    assert service.deployment_configuration == {"maximumPercent": 150, "minimumHealthyPercent": 50}


def test_plan_default_circuit_breaker_enables_rollback() -> None:
    taskdef = make_task_definition()

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Plan)
    assert decision.deployment_configuration["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert "alarms" not in decision.deployment_configuration


# -- plan: skips and errors -------------------------------------------------------------------


def test_plan_service_already_running_digest_is_skipped() -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:1.5.0@{digest('b')}"), sidecar()])
    taskdef = make_task_definition(body)

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.SKIPPED
    assert decision.reason.startswith(f"already running {digest('b')}")


def test_plan_same_digest_in_other_repository_is_not_already_running() -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/other@{digest('b')}")])
    taskdef = make_task_definition(body)

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Plan)


def test_plan_digest_running_in_one_of_two_selected_containers_still_plans() -> None:
    body = fargate_body(
        containers=[
            app_container(f"{REGISTRY}/web@{digest('b')}", "app"),
            app_container(f"{REGISTRY}/web:1.4.0", "worker"),
        ]
    )
    taskdef = make_task_definition(body)

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Plan)
    assert decision.containers == ("app", "worker")


@pytest.mark.parametrize("status", ["PENDING", "REGISTERED", "DEPLOYING", "SUCCEEDED"])
def test_plan_state_with_same_digest_from_other_event_is_skipped(status: str) -> None:
    taskdef = make_task_definition()
    state = make_state(image_digest=digest("b"), tag="v1.5.0", status=status, rollout_id="r-other")

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, state)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.SKIPPED
    assert "r-other" in decision.reason
    assert "v1.5.0" in decision.reason


def test_plan_downgrade_from_slipway_tag_is_skipped() -> None:
    # GIVEN the running revision says Slipway deployed 1.6.0 (its image is pinned by digest)
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web@{digest('a')}"), sidecar()])
    taskdef = make_task_definition(body, tags=[("slipway:tag", "1.6.0")])

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.SKIPPED
    assert decision.reason.startswith("downgrade 1.6.0 -> 1.5.0;")
    assert "allow_downgrade" in decision.reason


def test_plan_downgrade_from_image_tag_is_skipped() -> None:
    # GIVEN a service deployed outside Slipway, running web:v2.0.0
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:v2.0.0"), sidecar()])
    taskdef = make_task_definition(body)

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.SKIPPED
    assert "downgrade 2.0.0 -> 1.5.0 (tags v2.0.0 -> 1.5.0)" in decision.reason


def test_plan_downgrade_allowed_by_rule_plans() -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:2.0.0"), sidecar()])
    taskdef = make_task_definition(body)

    decision = plan(PUSH, make_rule(allow_downgrade=True), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Plan)


def test_plan_prerelease_of_running_version_is_a_downgrade() -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:1.5.0"), sidecar()])
    taskdef = make_task_definition(body)
    push = make_push("1.5.0-rc.2", digest("b"))

    decision = plan(push, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.SKIPPED


@pytest.mark.parametrize("running", ["1.4.0", "1.5.0", "latest", "main-abc123"])
def test_plan_upgrade_same_version_or_unversioned_current_plans(running: str) -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:{running}"), sidecar()])
    taskdef = make_task_definition(body)

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Plan)


def test_plan_non_semver_push_is_never_a_downgrade() -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:9.9.9"), sidecar()])
    taskdef = make_task_definition(body)

    decision = plan(make_push("latest"), make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Plan)


def test_plan_downgrade_against_in_flight_rollout_of_newer_tag_is_skipped() -> None:
    # GIVEN the service still runs 1.4.0, but another push of 1.7.0 has claimed it
    taskdef = make_task_definition()
    state = make_state(image_digest=digest("d"), tag="1.7.0", status="REGISTERED", task_definition="arn:new")

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, state)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.SKIPPED
    assert "downgrade 1.7.0" in decision.reason


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
def test_plan_unsupported_deployment_controller_is_error(controller: str) -> None:
    taskdef = make_task_definition()
    service = make_service(taskdef.arn, controller=controller)

    decision = plan(PUSH, make_rule(), target(), service, taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.ERROR
    assert decision.reason.startswith(f"unsupported deployment controller {controller}")
    assert decision.error_code == "UnsupportedDeploymentController"


def test_plan_ambiguous_container_is_error() -> None:
    taskdef = make_task_definition(fargate_body(containers=[sidecar("a"), sidecar("b")]))

    decision = plan(PUSH, make_rule(), target(), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.ERROR
    assert "ambiguous container" in decision.reason
    assert decision.error_code == "AmbiguousContainer"


def test_plan_named_container_missing_is_error() -> None:
    taskdef = make_task_definition()

    decision = plan(PUSH, make_rule(), target("worker"), make_service(taskdef.arn), taskdef, None)

    assert isinstance(decision, Outcome)
    assert decision.status is Status.ERROR
    assert decision.error_code == "ContainerNotFound"
    assert '"worker"' in decision.reason


def test_plan_outcome_names_rule_target_and_current_revision() -> None:
    taskdef = make_task_definition()
    service = make_service(taskdef.arn, controller="CODE_DEPLOY")
    rule = make_rule("canary")

    decision = plan(PUSH, rule, target(), service, taskdef, None)

    assert isinstance(decision, Outcome)
    assert (decision.rule, decision.parameter) == ("canary", "/slipway/rules/web/canary")
    assert decision.target == target()
    assert decision.previous_task_definition == taskdef.arn


# -- tags and versions ------------------------------------------------------------------


def test_merge_tags_keeps_family_tags_drops_aws_and_replaces_slipway() -> None:
    existing = (
        ("team", "payments"),
        ("aws:cloudformation:stack-name", "web"),
        ("AWS:Reserved", "x"),
        ("slipway:tag", "1.4.0"),
        ("slipway:owner", "kept"),
    )

    merged = merge_tags(existing, (("tag", "1.5.0"), ("rule", "main")))

    assert dict(merged) == {
        "team": "payments",
        "slipway:owner": "kept",
        "slipway:tag": "1.5.0",
        "slipway:rule": "main",
    }
    assert len(merged) == len(dict(merged))


def test_merge_tags_empty_value_is_not_written() -> None:
    assert merge_tags((), (("tag", ""), ("digest", digest("b")))) == (("slipway:digest", digest("b")),)


def test_deployed_version_prefers_slipway_tag_over_image_tag() -> None:
    body = fargate_body(containers=[app_container(f"{REGISTRY}/web:1.0.0")])
    taskdef = make_task_definition(body, tags=[("slipway:tag", "v1.3.0")])

    version, tag = deployed_version(taskdef, ("app",), None, make_service(taskdef.arn))

    assert (str(version), tag) == ("1.3.0", "v1.3.0")


def test_deployed_version_reads_only_selected_containers() -> None:
    body = fargate_body(containers=[app_container("public.ecr.aws/x/y:9.9.9", "proxy"), app_container("web", "app")])
    taskdef = make_task_definition(body)

    assert deployed_version(taskdef, ("app",), None, make_service(taskdef.arn)) == (None, None)


def test_deployed_version_uses_state_of_rollout_that_service_runs() -> None:
    taskdef = make_task_definition()
    state = make_state(tag="1.8.0", status="SUCCEEDED", task_definition=taskdef.arn)

    version, tag = deployed_version(taskdef, ("app",), state, make_service(taskdef.arn))

    assert (str(version), tag) == ("1.8.0", "1.8.0")


def test_deployed_version_ignores_finished_state_service_no_longer_runs() -> None:
    # GIVEN a state for a revision the service has since left (e.g. rolled back by hand)
    taskdef = make_task_definition()
    state = make_state(tag="1.8.0", status="SUCCEEDED", task_definition="arn:elsewhere")

    version, tag = deployed_version(taskdef, ("app",), state, make_service(taskdef.arn))

    assert (str(version), tag) == ("1.4.0", "1.4.0")


def test_rollout_id_is_stable_and_distinct_per_event_rule_and_service() -> None:
    first = rollout_id("evt-1", "main", "prod/web")

    assert rollout_id("evt-1", "main", "prod/web") == first
    assert len({first, rollout_id("evt-2", "main", "prod/web"), rollout_id("evt-1", "b", "prod/web")}) == 3
    assert rollout_id("evt-1", "main", "prod/api") != first


def test_merge_tags_cuts_a_value_longer_than_ecs_allows() -> None:
    tag = "v1-" + "x" * 297  # ECR allows 300 characters, ECS tag values 256

    merged = dict(merge_tags((), (("tag", tag),)))

    assert merged["slipway:tag"] == tag[:256]
