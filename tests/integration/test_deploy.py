"""The deploy handler under moto: rollouts on EC2 and Fargate, skips, errors, notifications."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import pytest

from sandbox.faults import Fault, Faults
from sandbox.stack import World
from tests.conftest import load_event

ROLE = "arn:aws:iam::123456789012:role/web-task"
EXEC_ROLE = "arn:aws:iam::123456789012:role/ecs-execution"


def fargate_web(world: World, cluster: str = "prod", name: str = "web", tag: str = "1.0.0", **service: Any) -> str:
    """A Fargate service running web:tag beside an envoy sidecar."""
    world.cluster(cluster)
    td = world.task_definition(
        name,
        [
            {
                "name": "app",
                "image": world.image_uri("web", tag),
                "portMappings": [{"containerPort": 8080}],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}],
            },
            {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29", "essential": True},
        ],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        taskRoleArn=ROLE,
        executionRoleArn=EXEC_ROLE,
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        volumes=[{"name": "scratch"}],
        tags=[{"key": "team", "value": "payments"}],
    )
    service.setdefault("launchType", "FARGATE")
    world.service(cluster, name, td, **service)
    return td


def push(world: World, repository: str, tag: str | None, digest: str | None = None, **event: Any) -> dict[str, Any]:
    """Push an image and return the event the template's rule delivers to the function."""
    digest = digest or world.push_image(repository, tag or "untagged")
    delivered = world.route(world.push_event(repository, digest, tag, **event))
    assert len(delivered) == 1, "the template's EventBridge rule should deliver a successful push"
    return delivered[0]


def registered_revisions(world: World, family: str) -> list[str]:
    return world.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def put_artifact(world: World, repository: str, tag: str, config_media_type: str) -> str:
    """PutImage of an OCI manifest that carries ``config_media_type`` (a signature, an SBOM, a chart)."""
    blob = hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_media_type, "size": 2, "digest": f"sha256:{blob}"},
        "layers": [{"mediaType": "application/octet-stream", "size": 1, "digest": f"sha256:{blob[::-1]}"}],
    }
    response = world.ecr.put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageManifestMediaType=OCI_MANIFEST, imageTag=tag
    )
    return str(response["image"]["imageId"]["imageDigest"])


def artifact_push(world: World, name: str, repository: str, tag: str, digest: str) -> dict[str, Any]:
    """A recorded artifact push from events/, for this repository, tag and digest, as the rule delivers it."""
    event = load_event(name)
    event["detail"].update({"repository-name": repository, "image-tag": tag, "image-digest": digest})
    [delivered] = world.route(event)
    return delivered


def emitted_counts(out: str, name: str) -> list[float]:
    """The values of one metric in the EMF blobs the handler printed, one per invocation that counted it."""
    counts = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(name)
            if value is not None:
                counts.extend(value if isinstance(value, list) else [value])
    return counts


@pytest.fixture
def web(world: World) -> World:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "tags": ["1.*"]})
    return world


def test_deploy_fargate_push_pins_digest_and_keeps_everything_else(web: World, deploy) -> None:
    # GIVEN a Fargate service with a sidecar, roles, secrets and a runtime platform
    before = web.running_task_definition("prod", "web")
    event = push(web, "web", "1.1.0")
    digest = event["detail"]["image-digest"]

    # WHEN the push reaches the deploy function
    deploy(event)

    # THEN the service runs a new revision of the same family, pinned by digest
    after = web.running_task_definition("prod", "web")
    assert after["family"] == "web" and after["revision"] == before["revision"] + 1
    images = {c["name"]: c["image"] for c in after["containerDefinitions"]}
    assert images["app"] == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@{digest}"
    assert images["envoy"] == "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29"
    # AND only the image changed
    for key in ("taskRoleArn", "executionRoleArn", "cpu", "memory", "networkMode", "volumes", "runtimePlatform"):
        assert after.get(key) == before.get(key), key
    assert sorted(after["requiresCompatibilities"]) == sorted(before["requiresCompatibilities"])
    strip = [{k: v for k, v in c.items() if k != "image"} for c in after["containerDefinitions"]]
    assert strip == [{k: v for k, v in c.items() if k != "image"} for c in before["containerDefinitions"]]
    # AND the revision says which push and rule made it, keeping the family's own tags
    tags = {t["key"]: t["value"] for t in after["tags"]}
    assert tags["team"] == "payments"
    assert tags["slipway:digest"] == digest and tags["slipway:tag"] == "1.1.0" and tags["slipway:rule"] == "prod"
    assert tags["slipway:event-id"] == event["id"]


def test_deploy_fargate_push_publishes_deploying_with_full_contract(web: World, deploy) -> None:
    before = web.describe_service("prod", "web")["taskDefinition"]
    event = push(web, "web", "1.1.0")
    deploy(event)

    [note] = web.notifications()
    service = web.describe_service("prod", "web")
    message = note["message"]
    assert message["status"] == "DEPLOYING"
    assert message["repository"] == "web" and message["tag"] == "1.1.0"
    assert message["digest"] == event["detail"]["image-digest"]
    assert message["image"].endswith("/web@" + event["detail"]["image-digest"])
    assert (message["cluster"], message["service"], message["launch_type"]) == ("prod", "web", "FARGATE")
    assert message["rule"] == "prod"
    assert (message["account"], message["region"]) == (web.account, web.region)
    assert message["task_definition"] == service["taskDefinition"]
    assert message["previous_task_definition"] == before
    primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
    assert message["deployment_id"] == primary["id"]
    assert message["reason"] and message["time"]
    assert "DEPLOYING" in note["subject"] and "web:1.1.0" in note["subject"] and "prod/web" in note["subject"]
    assert note["attributes"] == {
        "status": "DEPLOYING",
        "repository": "web",
        "cluster": "prod",
        "service": "web",
        "rule": "prod",
        "account": web.account,
        "region": web.region,
    }
    assert set(note["attribute_types"].values()) == {"String"}


@pytest.mark.parametrize("network_mode", ["bridge", "host", "awsvpc"])
def test_deploy_ec2_service_any_network_mode_rolls_out(world: World, deploy, network_mode: str) -> None:
    world.create_repository("api")
    world.cluster("ec2")
    td = world.task_definition(
        "api",
        [{"name": "api", "image": world.image_uri("api", "2.0.0"), "portMappings": [{"containerPort": 80}]}],
        networkMode=network_mode,
        requiresCompatibilities=["EC2"],
    )
    world.service("ec2", "api", td, launchType="EC2")
    world.put_rule("api", "main", {"targets": [{"cluster": "ec2", "service": "api"}]})

    event = push(world, "api", "2.1.0")
    deploy(event)

    after = world.running_task_definition("ec2", "api")
    assert after["networkMode"] == network_mode
    assert after["containerDefinitions"][0]["image"].endswith("@" + event["detail"]["image-digest"])
    [note] = world.notifications()
    assert note["message"]["launch_type"] == "EC2"


@pytest.mark.parametrize(
    ("providers", "expected"),
    [(["FARGATE_SPOT"], "FARGATE"), (["FARGATE", "FARGATE_SPOT"], "FARGATE"), (["ec2-asg"], "EC2")],
)
def test_deploy_capacity_provider_service_reports_launch_type_from_service(
    world: World, deploy, providers: list[str], expected: str
) -> None:
    world.create_repository("worker")
    if "ec2-asg" in providers:
        world.ecs.create_capacity_provider(
            name="ec2-asg",
            autoScalingGroupProvider={
                "autoScalingGroupArn": "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x"
            },
        )
    world.cluster("mixed", capacity_providers=providers)
    td = world.task_definition("worker", [{"name": "worker", "image": world.image_uri("worker", "1.0.0")}])
    strategy = [{"capacityProvider": p, "weight": 1} for p in providers]
    world.service("mixed", "worker", td, capacityProviderStrategy=strategy)
    world.put_rule("worker", "all", {"targets": [{"cluster": "mixed", "service": "worker"}]})

    deploy(push(world, "worker", "1.1.0"))

    [note] = world.notifications()
    assert note["message"]["status"] == "DEPLOYING"
    assert note["message"]["launch_type"] == expected


def test_deploy_both_launch_types_one_push_deploys_each(world: World, deploy) -> None:
    world.create_repository("web")
    fargate_web(world, cluster="shared", name="web-fargate")
    td = world.task_definition(
        "web-ec2", [{"name": "app", "image": world.image_uri("web", "1.0.0")}], networkMode="bridge"
    )
    world.service("shared", "web-ec2", td, launchType="EC2")
    rule = {"targets": [{"cluster": "shared", "service": "web-fargate"}, {"cluster": "shared", "service": "web-ec2"}]}
    world.put_rule("web", "prod", rule)

    event = push(world, "web", "1.1.0")
    deploy(event)

    notes = {n["message"]["service"]: n["message"] for n in world.notifications()}
    assert {k: v["launch_type"] for k, v in notes.items()} == {"web-fargate": "FARGATE", "web-ec2": "EC2"}
    assert {v["status"] for v in notes.values()} == {"DEPLOYING"}
    for name in ("web-fargate", "web-ec2"):
        assert world.images("shared", name)["app"].endswith("@" + event["detail"]["image-digest"])


def test_deploy_sidecars_only_containers_from_pushed_repository_change(world: World, deploy) -> None:
    world.create_repository("web")
    world.cluster("prod")
    td = world.task_definition(
        "web",
        [
            {"name": "app", "image": world.image_uri("web", "1.0.0")},
            {"name": "worker", "image": world.image_uri("web", "sha256:" + "0" * 64)},
            {"name": "log-router", "image": world.image_uri("fluent-bit", "2.1")},
            {"name": "xray", "image": "amazon/aws-xray-daemon:3"},
        ],
    )
    world.service("prod", "web", td, launchType="EC2")
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})

    event = push(world, "web", "1.1.0")
    deploy(event)

    images = world.images("prod", "web")
    pinned = world.image_uri("web", event["detail"]["image-digest"])
    assert images == {
        "app": pinned,
        "worker": pinned,
        "log-router": world.image_uri("fluent-bit", "2.1"),
        "xray": "amazon/aws-xray-daemon:3",
    }


def test_deploy_named_container_updates_only_that_container(world: World, deploy) -> None:
    world.create_repository("web")
    world.cluster("prod")
    td = world.task_definition(
        "web", [{"name": "app", "image": world.image_uri("web", "1.0.0")}, {"name": "sidecar", "image": "busybox:1"}]
    )
    world.service("prod", "web", td, launchType="EC2")
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web", "container": "sidecar"}]})

    event = push(world, "web", "1.1.0")
    deploy(event)

    images = world.images("prod", "web")
    assert images["app"] == world.image_uri("web", "1.0.0")
    assert images["sidecar"] == world.image_uri("web", event["detail"]["image-digest"])


def test_deploy_ambiguous_container_errors_and_registers_nothing(world: World, deploy, faults: Faults) -> None:
    world.create_repository("web")
    world.cluster("prod")
    td = world.task_definition("web", [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis:7"}])
    world.service("prod", "web", td, launchType="EC2")
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})

    deploy(push(world, "web", "1.1.0"))

    [note] = world.notifications()
    assert note["message"]["status"] == "ERROR"
    assert "ambiguous container" in note["message"]["reason"]
    assert faults.calls["ecs.RegisterTaskDefinition"] == 0 and faults.calls["ecs.UpdateService"] == 0
    assert registered_revisions(world, "web") == [td]


def test_deploy_push_without_tag_deploys_nothing_and_sends_nothing(web: World, deploy, faults: Faults) -> None:
    result = deploy(push(web, "web", None))

    assert result["outcomes"] == []
    assert web.notifications() == []
    assert faults.count("ecs.") == 0


def test_deploy_artifacts_beside_an_image_under_matching_tags_never_roll_out(
    world: World, deploy, faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a rule whose tags match the image's tag and every artifact's
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "tags": ["1.4.2*", "sha256-*"]})
    before = registered_revisions(world, "web")
    # AND the repository holds the image and, under matching tags, an SBOM pushed before it,
    # then a cosign signature (an OCI image config, told apart by its tag), a Helm chart and a
    # Notation signature, each pushed event as ECR reports it
    image = world.push_image("web", "1.4.2")
    signature_tag = f"sha256-{image.removeprefix('sha256:')}.sig"
    sbom = put_artifact(world, "web", "1.4.2-sbom", "application/spdx+json")
    signature = put_artifact(world, "web", signature_tag, "application/vnd.oci.image.config.v1+json")
    chart = put_artifact(world, "web", "1.4.2-chart", "application/vnd.cncf.helm.config.v1+json")
    notation = put_artifact(world, "web", "1.4.2-notation", "application/vnd.cncf.notary.signature")
    events = [
        artifact_push(world, "ecr-push-sbom.json", "web", "1.4.2-sbom", sbom),
        push(world, "web", "1.4.2", digest=image),
        artifact_push(world, "ecr-push-signature.json", "web", signature_tag, signature),
        artifact_push(world, "ecr-push-helm-chart.json", "web", "1.4.2-chart", chart),
        push(
            world,
            "web",
            "1.4.2-notation",
            digest=notation,
            manifest_media_type=OCI_MANIFEST,
            artifact_media_type="application/vnd.cncf.notary.signature",
        ),
    ]
    capsys.readouterr()

    # WHEN each push reaches the deploy function
    results = [deploy(event) for event in events]

    # THEN only the image rolls out: one new revision, pinned to the image's digest, one DEPLOYING
    notes = [n["message"] for n in world.notifications()]
    assert [(m["status"], m["tag"], m["digest"]) for m in notes] == [("DEPLOYING", "1.4.2", image)]
    after = registered_revisions(world, "web")
    assert len(after) == len(before) + 1
    assert world.running_task_definition("prod", "web")["containerDefinitions"][0]["image"].endswith(f"@{image}")
    assert faults.calls["ecs.RegisterTaskDefinition"] == 1 and faults.calls["ecs.UpdateService"] == 1
    # AND every artifact is ignored with its reason, counted once, and sends nothing
    ignored = [r for r in results if r.get("status") == "REJECTED"]
    assert len(ignored) == 4 and all("not a container image" in r["reason"] for r in ignored)
    assert "Helm chart" in results[3]["reason"] and "cosign signature" in results[2]["reason"]
    assert emitted_counts(capsys.readouterr().out, "ArtifactsIgnored") == [1.0, 1.0, 1.0, 1.0]


def test_deploy_tag_not_matching_any_rule_sends_nothing(web: World, deploy, faults: Faults) -> None:
    result = deploy(push(web, "web", "2.0.0"))

    assert result["matched_rules"] == [] and "prod" in result["unmatched_rules"]
    assert web.notifications() == []
    assert faults.calls["ecs.UpdateService"] == 0


def test_deploy_service_already_on_digest_is_skipped(web: World, deploy, faults: Faults) -> None:
    event = push(web, "web", "1.1.0")
    deploy(event)
    web.notifications()
    # A second, distinct event for a rule that also matches (another tag, same image).
    again = push(web, "web", "1.1.1", digest=event["detail"]["image-digest"])

    deploy(again)

    [note] = web.notifications()
    assert note["message"]["status"] == "SKIPPED"
    assert event["detail"]["image-digest"] in note["message"]["reason"]
    assert faults.calls["ecs.RegisterTaskDefinition"] == 1 and faults.calls["ecs.UpdateService"] == 1


def test_deploy_service_running_digest_outside_slipway_is_skipped(world: World, deploy, faults: Faults) -> None:
    world.create_repository("web")
    digest = world.push_image("web", "1.1.0")
    world.cluster("prod")
    td = world.task_definition("web", [{"name": "app", "image": world.image_uri("web", digest)}])
    world.service("prod", "web", td, launchType="EC2")
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})

    deploy(push(world, "web", "1.1.0", digest=digest))

    [note] = world.notifications()
    assert note["message"]["status"] == "SKIPPED" and "already running" in note["message"]["reason"]
    assert faults.calls["ecs.RegisterTaskDefinition"] == 0


def test_deploy_disabled_rule_skips_each_target(web: World, deploy, faults: Faults) -> None:
    web.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "enabled": False})

    deploy(push(web, "web", "1.1.0"))

    [note] = web.notifications()
    assert note["message"]["status"] == "SKIPPED" and "disabled" in note["message"]["reason"]
    assert faults.calls["ecs.UpdateService"] == 0 and faults.calls["ecs.RegisterTaskDefinition"] == 0


def test_deploy_downgrade_is_skipped_without_allow_downgrade(web: World, deploy, faults: Faults) -> None:
    deploy(push(web, "web", "1.2.0"))
    web.notifications()

    deploy(push(web, "web", "1.1.9"))

    [note] = web.notifications()
    assert note["message"]["status"] == "SKIPPED"
    assert "downgrade" in note["message"]["reason"] and "1.2.0" in note["message"]["reason"]
    assert faults.calls["ecs.UpdateService"] == 1


def test_deploy_downgrade_from_image_tag_of_service_not_deployed_by_slipway(web: World, deploy) -> None:
    # GIVEN the service runs web:1.0.0, a tag (not a Slipway revision), and a rule taking 0.x too
    web.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "tags": ["0.*"]})
    # WHEN an older version is pushed
    deploy(push(web, "web", "0.9.0"))
    # THEN the version is read from the image tag, and the push is a downgrade
    [note] = web.notifications()
    assert note["message"]["status"] == "SKIPPED" and "downgrade" in note["message"]["reason"]


def test_deploy_downgrade_allowed_by_rule_rolls_out(web: World, deploy) -> None:
    web.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "allow_downgrade": True})
    deploy(push(web, "web", "1.2.0"))
    web.notifications()

    event = push(web, "web", "1.1.9")
    deploy(event)

    # the new rollout deploys, and the unfinished 1.2.0 rollout is reported superseded
    notes = [(n["message"]["status"], n["message"]["tag"]) for n in web.notifications()]
    assert notes == [("DEPLOYING", "1.1.9"), ("SUPERSEDED", "1.2.0")]
    assert web.images("prod", "web")["app"].endswith(event["detail"]["image-digest"])


def test_deploy_missing_service_errors_while_other_targets_deploy(web: World, deploy) -> None:
    rule = {"targets": [{"cluster": "prod", "service": "orders"}, {"cluster": "prod", "service": "web"}]}
    web.put_rule("web", "prod", rule)

    event = push(web, "web", "1.1.0")
    deploy(event)

    notes = {n["message"]["service"]: n["message"] for n in web.notifications()}
    assert notes["web"]["status"] == "DEPLOYING"
    assert notes["orders"]["status"] == "ERROR"
    assert notes["orders"]["error_code"] == "MISSING"
    assert 'no service "orders" in cluster "prod"' in notes["orders"]["reason"]


def test_deploy_missing_cluster_errors_with_aws_code(web: World, deploy) -> None:
    web.put_rule(
        "web", "prod", {"targets": [{"cluster": "nope", "service": "web"}, {"cluster": "prod", "service": "web"}]}
    )

    deploy(push(web, "web", "1.1.0"))

    notes = {n["message"]["cluster"]: n["message"] for n in web.notifications()}
    assert notes["nope"]["status"] == "ERROR" and notes["nope"]["error_code"] == "ClusterNotFoundException"
    assert notes["prod"]["status"] == "DEPLOYING"


def test_deploy_inactive_service_errors(web: World, deploy, faults: Faults) -> None:
    web.ecs.update_service(cluster="prod", service="web", desiredCount=0)
    web.ecs.delete_service(cluster="prod", service="web")

    deploy(push(web, "web", "1.1.0"))

    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR"
    assert note["message"]["error_code"] in {"ServiceNotActiveException", "MISSING"}
    assert faults.calls["ecs.UpdateService"] == 0


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
def test_deploy_unsupported_controller_errors_without_registering(
    world: World, deploy, faults: Faults, controller: str
) -> None:
    world.create_repository("web")
    fargate_web(world, deploymentController={"type": controller})
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})

    deploy(push(world, "web", "1.1.0"))

    [note] = world.notifications()
    assert note["message"]["status"] == "ERROR"
    assert "unsupported deployment controller" in note["message"]["reason"]
    assert faults.calls["ecs.RegisterTaskDefinition"] == 0


def test_deploy_access_denied_on_update_errors_with_code_and_releases_service(
    web: World, deploy, faults: Faults
) -> None:
    faults.fail("ecs.UpdateService", Fault("AccessDeniedException", 400, "not authorized to perform ecs:UpdateService"))

    deploy(push(web, "web", "1.1.0"))

    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR" and note["message"]["error_code"] == "AccessDeniedException"
    assert "ecs:UpdateService" in note["message"]["reason"]
    assert faults.calls["ecs.UpdateService"] == 1  # not retried
    # the claim was released: the next push deploys
    deploy(push(web, "web", "1.1.1"))
    assert web.notifications()[0]["message"]["status"] == "DEPLOYING"


def test_deploy_invalid_rule_beside_valid_reports_error_and_deploys_valid(web: World, deploy) -> None:
    web.put_rule("web", "typo", {"targets": [{"cluster": "prod", "service": "web"}], "tag": ["1.*"]})
    web.put_rule("web", "broken", "{not json")

    deploy(push(web, "web", "1.1.0"))

    notes = web.notifications()
    by_status: dict[str, list[dict[str, Any]]] = {}
    for note in notes:
        by_status.setdefault(note["message"]["status"], []).append(note["message"])
    assert [m["rule"] for m in by_status["DEPLOYING"]] == ["prod"]
    errors = {m["parameter"]: m["reason"] for m in by_status["ERROR"]}
    assert set(errors) == {"/slipway/rules/web/typo", "/slipway/rules/web/broken"}
    assert 'unknown key "tag" (did you mean "tags"?)' in errors["/slipway/rules/web/typo"]
    assert "not valid JSON" in errors["/slipway/rules/web/broken"]


def test_deploy_same_event_twice_registers_and_updates_once(web: World, deploy, faults: Faults) -> None:
    event = push(web, "web", "1.1.0")

    deploy(event)
    deploy(json.loads(json.dumps(event)))

    assert faults.calls["ecs.RegisterTaskDefinition"] == 1 and faults.calls["ecs.UpdateService"] == 1
    assert [n["message"]["status"] for n in web.notifications()] == ["DEPLOYING"]


def test_deploy_same_event_hours_apart_after_idempotency_expiry_still_once(web: World, deploy, faults: Faults) -> None:
    event = push(web, "web", "1.1.0")
    deploy(event)
    # the idempotency record is gone (expired), as after the configured window
    items = web.dynamodb.scan(TableName=web.stack.table)["Items"]
    for item in items:
        if item["pk"]["S"].startswith("idempotency#"):
            web.dynamodb.delete_item(TableName=web.stack.table, Key={"pk": item["pk"], "sk": item["sk"]})

    deploy(event)

    assert faults.calls["ecs.RegisterTaskDefinition"] == 1 and faults.calls["ecs.UpdateService"] == 1


def test_deploy_two_tags_for_one_digest_roll_out_once(web: World, deploy, faults: Faults) -> None:
    digest = web.push_image("web", "1.1.0", content="same-image")
    first = push(web, "web", "1.1.0", digest=digest)
    second = push(web, "web", "1.1", digest=digest)

    deploy(first)
    deploy(second)

    assert faults.calls["ecs.RegisterTaskDefinition"] == 1 and faults.calls["ecs.UpdateService"] == 1
    assert [n["message"]["status"] for n in web.notifications()] == ["DEPLOYING", "SKIPPED"]


def test_deploy_concurrent_events_for_one_digest_roll_out_once(web: World, deploy, faults: Faults) -> None:
    digest = web.push_image("web", "1.1.0", content="same-image")
    events = [push(web, "web", tag, digest=digest) for tag in ("1.1.0", "1.1", "1.1.0-final")]
    events.append(json.loads(json.dumps(events[0])))  # a duplicate delivery too
    errors: list[BaseException] = []

    def run(event: dict[str, Any]) -> None:
        try:
            deploy(event)
        except Exception as error:  # an in-progress duplicate raises, and Lambda retries it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert faults.calls["ecs.RegisterTaskDefinition"] == 1 and faults.calls["ecs.UpdateService"] == 1
    assert all(type(e).__name__ in {"IdempotencyAlreadyInProgressError", "RetryLater"} for e in errors)
    assert web.images("prod", "web")["app"].endswith(digest)


def test_deploy_throttled_calls_are_retried_and_deploy_once(web: World, deploy, faults: Faults, no_backoff) -> None:
    for operation in (
        "ecs.DescribeServices",
        "ecs.RegisterTaskDefinition",
        "ecs.UpdateService",
        "ssm.GetParametersByPath",
    ):
        faults.fail(operation, Fault("ThrottlingException", 400, "Rate exceeded"), times=2)
    faults.fail("sns.PublishBatch", Fault("Throttling", 400, "Rate exceeded"), times=2)

    event = push(web, "web", "1.1.0")
    deploy(event)

    assert web.images("prod", "web")["app"].endswith(event["detail"]["image-digest"])
    assert faults.calls["ecs.UpdateService"] == 3  # two throttled attempts, one accepted
    assert len(registered_revisions(web, "web")) == 2  # the original and exactly one new
    assert [n["message"]["status"] for n in web.notifications()] == ["DEPLOYING"]


def test_deploy_nested_repository_reads_only_its_own_rules(world: World, deploy, faults: Faults) -> None:
    world.create_repository("team/api")
    world.create_repository("team")
    world.cluster("prod")
    td = world.task_definition("api", [{"name": "api", "image": world.image_uri("team/api", "v1.0.0")}])
    world.service("prod", "api", td, launchType="EC2")
    td2 = world.task_definition("team", [{"name": "team", "image": world.image_uri("team", "v1.0.0")}])
    world.service("prod", "team", td2, launchType="EC2")
    world.put_rule("team/api", "prod", {"targets": [{"cluster": "prod", "service": "api"}]})
    world.put_rule("team", "prod", {"targets": [{"cluster": "prod", "service": "team"}]})

    event = push(world, "team/api", "v2.0.0")
    deploy(event)

    notes = world.notifications()
    assert [(n["message"]["repository"], n["message"]["service"]) for n in notes] == [("team/api", "api")]
    assert world.images("prod", "team")["team"] == world.image_uri("team", "v1.0.0")
    assert world.images("prod", "api")["api"] == world.image_uri("team/api", event["detail"]["image-digest"])


def test_deploy_parameter_store_calls_do_not_grow_with_rules_of_other_repositories(
    world: World, deploy, faults: Faults
) -> None:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    deploy(push(world, "web", "1.1.0"))
    few = faults.calls["ssm.GetParametersByPath"]
    for i in range(60):
        world.put_rule(f"other-{i}", "prod", {"targets": [{"cluster": "prod", "service": "x"}]})
    from slipway import app

    app.use(app.App(session=faults.session()))  # a cold start: nothing cached
    faults.reset_counts()

    deploy(push(world, "web", "1.2.0"))

    assert faults.calls["ssm.GetParametersByPath"] == few == 1


def test_deploy_secure_string_rule_is_read(world: World, deploy) -> None:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]}, secure=True)

    deploy(push(world, "web", "1.1.0"))

    assert [n["message"]["status"] for n in world.notifications()] == ["DEPLOYING"]


def test_deploy_push_from_other_account_is_rejected(web: World, deploy, faults: Faults) -> None:
    event = load_event("ecr-push-other-account.json")
    event["detail"]["repository-name"] = "web"
    event["detail"]["image-tag"] = "1.1.0"

    deploy(event)

    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR" and "210987654321" in note["message"]["reason"]
    assert faults.calls["ecs.UpdateService"] == 0


def test_deploy_malformed_push_event_reports_error_and_deploys_nothing(web: World, deploy, faults: Faults) -> None:
    event = load_event("ecr-push.json")
    event["detail"]["image-digest"] = "sha256:not-a-digest"

    result = deploy(event)

    assert result["status"] == "REJECTED"
    [note] = web.notifications()
    assert note["message"]["status"] == "ERROR" and "image-digest" in note["message"]["reason"]
    assert faults.count("ecs.") == 0


@pytest.mark.parametrize("name", ["ecr-delete.json", "ecr-push-failed.json"])
def test_deploy_non_push_events_are_ignored_quietly(web: World, deploy, faults: Faults, name: str) -> None:
    result = deploy(load_event(name))

    assert result["status"] == "REJECTED"
    assert web.notifications() == []
    assert faults.count("ecs.") == 0


def test_deploy_filter_policy_delivers_only_failures_of_my_services(web: World, deploy) -> None:
    mine = web.queue("team-orders")
    web.subscribe(web.stack.topic_arn, mine, {"service": ["orders"], "status": ["ERROR", "FAILED", "ROLLED_BACK"]})
    web.put_rule(
        "web", "prod", {"targets": [{"cluster": "prod", "service": "orders"}, {"cluster": "prod", "service": "web"}]}
    )

    deploy(push(web, "web", "1.1.0"))

    received = web.notifications(mine)
    assert [(n["message"]["service"], n["message"]["status"]) for n in received] == [("orders", "ERROR")]
