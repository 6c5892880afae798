"""Bad input never deploys and never crashes: each case is a clear ERROR or is ignored."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox.faults import Faults
from sandbox.stack import World
from tests.conftest import load_event
from tests.integration.test_deploy import fargate_web, push


@pytest.fixture
def web(world: World) -> World:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    return world


def mutate(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the event with ``a.b`` set to value (or deleted when value is ...)."""
    changed = copy.deepcopy(event)
    node = changed
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    if value is ...:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return changed


BAD_ECR_PUSHES = [
    ("detail.image-digest", ..., "image-digest"),
    ("detail.image-digest", "sha256:abc", "image-digest"),
    ("detail.image-digest", "md5:" + "a" * 64, "image-digest"),
    ("detail.image-digest", "sha256:" + "G" * 64, "image-digest"),
    ("detail.image-digest", 42, "image-digest"),
    ("detail.repository-name", ..., "repository-name"),
    ("detail.repository-name", "Web/UPPER", "repository-name"),
    ("detail.repository-name", ["web"], "repository-name"),
    ("detail.image-tag", "bad tag!", "image-tag"),
    ("detail.image-tag", "tag:colon", "image-tag"),
    ("detail.image-tag", "x" * 301, "image-tag"),
    ("detail.image-tag", 1.5, "image-tag"),
    ("time", "yesterday", "time"),
    ("detail", "not an object", "detail"),
    ("id", ..., "id"),
]


@pytest.mark.parametrize(("path", "value", "named"), BAD_ECR_PUSHES)
def test_bad_input_malformed_push_is_a_clear_error_and_deploys_nothing(
    web: World, deploy, faults: Faults, path: str, value: Any, named: str
) -> None:
    event = mutate(
        load_event("ecr-push.json", detail={**load_event("ecr-push.json")["detail"], "repository-name": "web"}),
        path,
        value,
    )

    result = deploy(event)

    assert result["status"] == "REJECTED"
    assert named in result["reason"]
    assert faults.count("ecs.") == 0
    notes = web.notifications()
    assert [n["message"]["status"] for n in notes] in ([], ["ERROR"])
    if notes:
        assert named in notes[0]["message"]["reason"]


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},
        {"source": "custom.app", "detail-type": "ECR Image Action", "detail": {"action-type": "PUSH"}},
        {},
        {"detail": None},
    ],
)
def test_bad_input_foreign_or_empty_events_are_ignored(
    web: World, deploy, faults: Faults, event: dict[str, Any]
) -> None:
    result = deploy({"id": "x", **event})

    assert result["status"] == "REJECTED"
    assert web.notifications() == []
    assert faults.count("ecs.") == 0


@pytest.mark.parametrize("name", ["ecr-push-other-account.json", "ecr-push-other-region.json"])
def test_bad_input_push_from_another_account_or_region_is_refused(
    web: World, deploy, faults: Faults, name: str
) -> None:
    event = load_event(name)

    result = deploy(event)

    assert result["status"] == "REJECTED"
    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR"
    assert "AllowedRegistries" in note["message"]["reason"]
    assert faults.count("ecs.") == 0


def test_bad_input_foreign_push_allowed_by_stack_parameter_deploys(world: World, monkeypatch, faults) -> None:
    # GIVEN a stack that allows pushes from the registry of another region
    monkeypatch.setenv("SLIPWAY_ALLOWED_REGISTRIES", load_event("ecr-push-other-region.json")["region"])
    from sandbox.stack import LambdaContext
    from slipway import app
    from slipway.handlers import deploy as handler

    app.reset()
    app.use(app.App(session=faults.session()))
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web", "container": "app"}]})
    event = load_event("ecr-push-other-region.json")

    handler.handler(event, LambdaContext())

    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING"
    assert "us-east-1.amazonaws.com/web@" in note["message"]["image"]


def test_bad_input_nested_repository_name_with_slash_deploys(world: World, deploy) -> None:
    world.create_repository("team/payments-api")
    world.cluster("prod")
    td = world.task_definition("pay", [{"name": "api", "image": world.image_uri("team/payments-api", "v1.0.0")}])
    world.service("prod", "pay", td, launchType="EC2")
    world.put_rule("team/payments-api", "prod", {"targets": [{"cluster": "prod", "service": "pay"}]})

    deploy(push(world, "team/payments-api", "v2.0.0"))

    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["repository"] == "team/payments-api"


@pytest.mark.parametrize("repository", ["team__svc", "my--app", "ab"])
def test_bad_input_repository_names_ecr_allows_beyond_docker_separators_deploy(
    world: World, deploy, repository: str
) -> None:
    # GIVEN a repository name ECR's model allows ("__" and runs of "-" join components).
    # moto's CreateRepository still checks an older pattern, so the push is ECR's event
    # alone: the deploy function never reads the repository itself.
    world.cluster("prod")
    td = world.task_definition("svc", [{"name": "app", "image": world.image_uri(repository, "1.0.0")}])
    world.service("prod", "svc", td, launchType="EC2")
    world.put_rule(repository, "prod", {"targets": [{"cluster": "prod", "service": "svc"}]})
    digest = "sha256:" + "c" * 64

    deploy(push(world, repository, "1.1.0", digest=digest))

    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["repository"] == repository
    assert world.running_task_definition("prod", "svc")["containerDefinitions"][0]["image"] == world.image_uri(
        repository, digest
    )


@pytest.mark.parametrize(
    "tag", ["v1.2.3-rc.1.build-7", "release_2026.11.27", "UPPER.case-Tag_9", "-leading-dash", ".dot", "x" * 200]
)
def test_bad_input_tags_with_unusual_but_valid_characters_deploy(web: World, deploy, tag: str) -> None:
    deploy(push(web, "web", tag))
    [note] = web.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["tag"] == tag


def test_bad_input_oversized_rule_is_an_error_naming_the_limit(web: World, deploy, faults: Faults) -> None:
    huge = {"targets": [{"cluster": "prod", "service": "web"}], "tags": [f"t{i}-*" for i in range(1000)]}
    web.ssm.put_parameter(Name="/slipway/rules/web/huge", Value=json.dumps(huge), Type="String", Tier="Advanced")

    deploy(push(web, "web", "1.1.0"))

    notes = {n["message"]["rule"]: n["message"] for n in web.notifications()}
    assert notes["huge"]["status"] == "ERROR" and "more than 8192" in notes["huge"]["reason"]
    assert notes["prod"]["status"] == "DEPLOYING"


def test_bad_input_rule_pointing_at_another_accounts_cluster_is_refused(web: World, deploy, faults: Faults) -> None:
    foreign = "arn:aws:ecs:eu-west-1:999999999999:cluster/prod"
    web.put_rule("web", "prod", {"targets": [{"cluster": foreign, "service": "web"}]})

    deploy(push(web, "web", "1.1.0"))

    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR" and note["message"]["error_code"] == "AccountNotAllowed"
    assert "999999999999" in note["message"]["reason"] and "TargetAccounts" in note["message"]["reason"]
    assert faults.count("ecs.") == 0 and faults.count("sts.") == 0  # nothing asked of that account


def test_bad_input_cluster_outside_allowed_clusters_is_refused(world: World, monkeypatch, faults) -> None:
    monkeypatch.setenv("SLIPWAY_ALLOWED_CLUSTERS", "staging-*,qa")
    from sandbox.stack import LambdaContext
    from slipway import app
    from slipway.handlers import deploy as handler

    app.reset()
    app.use(app.App(session=faults.session()))
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    event = push(world, "web", "1.1.0")

    handler.handler(event, LambdaContext())

    [note] = world.notifications()
    assert note["message"]["status"] == "ERROR" and note["message"]["error_code"] == "ClusterNotAllowed"
    assert "staging-*" in note["message"]["reason"]
    assert faults.calls["ecs.UpdateService"] == 0
