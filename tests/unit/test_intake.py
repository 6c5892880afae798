"""From an EventBridge event to a Push, or a precise reason why not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from slipway import app as composition
from slipway.events import EcrImageActionEvent
from slipway.intake import PushRejected, parse_push_event, push_from_event, rejection_notice
from slipway.model import Push
from slipway.places import Place
from slipway.settings import Settings
from tests.conftest import load_event
from tests.unit.fakes import ACCOUNT, REGION, FakeNotifier

OTHER_ACCOUNT = "210987654321"


def accept(
    event: dict[str, Any], *, registries: tuple[str, ...] = (), account: str = ACCOUNT, region: str = REGION
) -> Push:
    return push_from_event(parse_push_event(event), Place(account, region), registries)


def with_detail(**changes: Any) -> dict[str, Any]:
    event = load_event("ecr-push.json")
    for key, value in changes.items():
        if value is None:
            event["detail"].pop(key.replace("_", "-"))
        else:
            event["detail"][key.replace("_", "-")] = value
    return event


def problem(event: dict[str, Any]) -> str:
    """The reason a malformed push is refused, as the deploy function reports it."""
    with pytest.raises(ValidationError) as raised:
        EcrImageActionEvent.model_validate(event)
    notice = rejection_notice(event, raised.value)
    assert notice.status == "ERROR"
    assert notice.error_code == "InvalidEvent"
    assert notice.reason is not None
    return notice.reason


# -- valid pushes -----------------------------------------------------------------------------


def test_push_from_event_valid_push_gives_the_push() -> None:
    push = accept(load_event("ecr-push.json"))

    assert push == Push(
        event_id="4f5ec4d5-4de4-7aad-a046-56d5cfe1df0e",
        account="123456789012",
        region="eu-west-1",
        repository="web",
        digest="sha256:" + "a" * 64,
        tag="1.4.2",
        time=datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC),
    )
    assert push.image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "a" * 64


def test_push_from_event_repository_with_slashes_is_valid() -> None:
    push = accept(load_event("ecr-push-nested-repository.json"))

    assert (push.repository, push.tag) == ("team/payments-api", "v2.0.0")
    assert push.repository_uri == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/payments-api"


def test_push_from_event_without_tag_is_a_push_with_no_tag() -> None:
    push = accept(load_event("ecr-push-no-tag.json"))

    assert push.tag is None
    assert push.label == "web@sha256:" + "b" * 64


def test_push_from_event_empty_tag_is_no_tag() -> None:
    assert accept(with_detail(image_tag="")).tag is None


def test_push_from_event_image_index_is_a_push() -> None:
    assert accept(load_event("ecr-push-image-index.json")).tag == "1.5.0"


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "1.2.3-rc.1", "_private", "A" * 128, "release_2026.11-27"])
def test_push_from_event_docker_valid_tags_are_accepted(tag: str) -> None:
    assert accept(with_detail(image_tag=tag)).tag == tag


# ECR's ImageTag is 1 to 300 characters of [a-zA-Z0-9-_.]: wider than Docker's grammar.
@pytest.mark.parametrize("tag", ["a" * 129, "a" * 300, ".hidden", "-dash", "x", "a.b-c_D9"])
def test_push_from_event_ecr_valid_tags_beyond_docker_grammar_are_accepted(tag: str) -> None:
    assert accept(with_detail(image_tag=tag)).tag == tag


@pytest.mark.parametrize(
    "repository",
    [
        "web",
        "team/payments-api",
        "a/b/c/d",
        "my.repo_name-1",
        "0web",
        "team__svc",
        "my--app",
        "a-----b",
        "ab",
        "a/b",
        "a" * 256,
        "/".join(["abc"] * 64),
    ],
)
def test_push_from_event_ecr_valid_repository_names_are_accepted(repository: str) -> None:
    assert accept(with_detail(repository_name=repository)).repository == repository


# -- malformed pushes ---------------------------------------------------------------------


@pytest.mark.parametrize("field", ["repository-name", "image-digest", "action-type", "result"])
def test_rejection_missing_detail_field_is_named(field: str) -> None:
    event = load_event("ecr-push.json")
    del event["detail"][field]

    reason = problem(event)

    assert reason.startswith("malformed ECR push event: ")
    assert f"detail.{field}: Field required" in reason


def test_rejection_missing_detail_is_named() -> None:
    event = load_event("ecr-push.json")
    del event["detail"]

    assert problem(event) == "malformed ECR push event: detail: Field required"


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha512:" + "a" * 64,
        "a" * 64,
        "sha256:" + "g" * 64,
        "sha256:" + "a" * 64 + "\n",
    ],
)
def test_rejection_digest_not_sha256_hex_is_explained(digest: str) -> None:
    reason = problem(with_detail(image_digest=digest))

    assert f"detail.image-digest: {digest!r} is not a sha256 image digest" in reason


@pytest.mark.parametrize(
    "tag", ["bad tag", "a" * 301, "v1.2.3+build", "tag/with/slash", "tág", "tag:colon", "tag@x", "a\nb", "1.4.2\n"]
)
def test_rejection_bad_tag_characters_are_explained(tag: str) -> None:
    reason = problem(with_detail(image_tag=tag))

    assert f"detail.image-tag: {tag!r} is not a valid image tag" in reason


@pytest.mark.parametrize(
    "repository",
    [
        "Web",
        "web/",
        "/web",
        "web//api",
        "web..api",
        "web_",
        "a" * 257,
        "a",
        "a/",
        "a//b",
        "a..b",
        "-a",
        "a___b",
        "a_-b",
        "a.-b",
        "a-",
        "_a",
        "team/Web",
        "a b",
        "web\n",
    ],
)
def test_rejection_bad_repository_name_is_explained(repository: str) -> None:
    reason = problem(with_detail(repository_name=repository))

    assert "detail.repository-name: " in reason


def test_rejection_repository_name_of_one_character_names_the_minimum() -> None:
    assert "detail.repository-name: String should have at least 2 characters" in problem(
        with_detail(repository_name="a")
    )


def test_rejection_repository_name_off_pattern_is_explained() -> None:
    reason = problem(with_detail(repository_name="a..b"))

    assert "detail.repository-name: 'a..b' is not an ECR repository name" in reason


def test_rejection_notice_keeps_what_the_event_says() -> None:
    event = with_detail(image_digest="sha256:abc")
    with pytest.raises(ValidationError) as raised:
        EcrImageActionEvent.model_validate(event)

    notice = rejection_notice(event, raised.value)

    assert (notice.repository, notice.tag, notice.digest) == ("web", "1.4.2", "sha256:abc")
    assert notice.event_id == event["id"]


def test_rejection_notice_non_dict_event_is_ignored() -> None:
    notice = rejection_notice(["not", "an", "event"], ValueError("nope"))

    assert notice.status == "IGNORED"


# -- ignored events ----------------------------------------------------------------------------


def test_push_from_event_delete_is_ignored() -> None:
    with pytest.raises(PushRejected) as raised:
        accept(load_event("ecr-delete.json"))

    assert raised.value.ignored is True
    assert raised.value.reason == "ECR DELETE with result SUCCESS is not a push to deploy"


def test_push_from_event_failed_push_with_digest_is_ignored() -> None:
    with pytest.raises(PushRejected) as raised:
        accept(with_detail(result="FAILURE"))

    assert raised.value.ignored is True


def test_rejection_failed_push_without_digest_is_ignored_not_malformed() -> None:
    # GIVEN the real shape of a failed push: ECR sends no image digest
    event = load_event("ecr-push-failed.json")
    with pytest.raises(ValidationError) as raised:
        EcrImageActionEvent.model_validate(event)

    notice = rejection_notice(event, raised.value)

    assert notice.status == "IGNORED"
    assert notice.reason == "ECR PUSH with result FAILURE is not a push to deploy"
    assert notice.error_code is None


def test_rejection_event_from_other_source_is_ignored() -> None:
    event = load_event("ecr-push.json", source="aws.s3")
    with pytest.raises(ValidationError) as raised:
        EcrImageActionEvent.model_validate(event)

    notice = rejection_notice(event, raised.value)

    assert notice.status == "IGNORED"
    assert "'aws.s3'" in notice.reason


# -- artifacts that are not container images ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ecr-push-signature.json", "cosign signature (by cosign's tag convention)"),
        ("ecr-push-helm-chart.json", "Helm chart (application/vnd.cncf.helm.config.v1+json)"),
        ("ecr-push-sbom.json", "SPDX SBOM (application/spdx+json)"),
    ],
)
def test_push_from_event_artifact_push_is_ignored_naming_what_it_is(name: str, kind: str) -> None:
    event = load_event(name)

    with pytest.raises(PushRejected) as raised:
        accept(event)

    assert raised.value.ignored is True
    assert raised.value.artifact == kind
    detail = event["detail"]
    assert raised.value.reason == (
        f"{detail['repository-name']}:{detail['image-tag']} is a {kind}, not a container image: "
        "Slipway deploys images only"
    )


def test_push_from_event_untagged_artifact_is_ignored_naming_the_repository() -> None:
    event = with_detail(image_tag=None, artifact_media_type="application/vnd.cncf.notary.signature")

    with pytest.raises(PushRejected) as raised:
        accept(event)

    assert raised.value.reason.startswith("web is a Notary Project signature (")


def test_push_from_event_artifact_from_another_account_is_ignored_not_an_error() -> None:
    event = load_event("ecr-push-signature.json", account=OTHER_ACCOUNT)

    with pytest.raises(PushRejected) as raised:
        accept(event)

    assert raised.value.ignored is True and raised.value.artifact


@pytest.mark.parametrize(
    ("manifest", "artifact"),
    [
        ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json"),
        ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json"),
    ],
)
def test_push_from_event_image_with_image_config_media_type_is_a_push(manifest: str, artifact: str) -> None:
    push = accept(with_detail(manifest_media_type=manifest, artifact_media_type=artifact))

    assert (push.repository, push.tag) == ("web", "1.4.2")


def test_push_from_event_aws_published_sample_is_read_as_published() -> None:
    # GIVEN the "completed image push" sample of ECR's user guide, verbatim: its digest is a
    # placeholder of 60 hex digits, where a real sha256 digest has 64
    event = load_event("ecr-push-aws-sample.json")

    assert "detail.image-digest" in problem(event)

    # WHEN the placeholder is a real digest THEN it is a tagged push of an image
    event["detail"]["image-digest"] = "sha256:" + "7f5b2640" * 8
    push = accept(event, region="us-west-2")
    assert (push.repository, push.tag, push.region) == ("my-repository-name", "latest", "us-west-2")


# -- account and region ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ecr-push-other-account.json", "ecr-push-other-region.json"])
def test_push_from_event_foreign_push_is_rejected_as_error(name: str) -> None:
    event = load_event(name)

    with pytest.raises(PushRejected) as raised:
        accept(event)

    assert raised.value.ignored is False
    assert event["account"] in raised.value.reason
    assert event["region"] in raised.value.reason
    assert "AllowedRegistries" in raised.value.reason


@pytest.mark.parametrize(
    ("name", "listed"), [("ecr-push-other-account.json", "account"), ("ecr-push-other-region.json", "region")]
)
def test_push_from_event_foreign_push_allowed_is_accepted(name: str, listed: str) -> None:
    event = load_event(name)

    push = accept(event, registries=(event[listed],))

    assert (push.account, push.region) == (event["account"], event["region"])


def test_push_from_event_listed_account_from_an_unlisted_region_is_rejected() -> None:
    event = {**load_event("ecr-push-other-account.json"), "region": "ap-south-1"}

    with pytest.raises(PushRejected) as raised:
        accept(event, registries=(event["account"],))

    assert "ap-south-1" in raised.value.reason and raised.value.ignored is False


def test_push_from_event_unknown_own_account_does_not_reject() -> None:
    push = accept(load_event("ecr-push-other-account.json"), account="")

    assert push.account == OTHER_ACCOUNT


# -- the deploy function's intake, end to end without AWS ----------------------------------------


class RecordingDeployer:
    def __init__(self) -> None:
        self.pushes: list[Push] = []

    def deploy(self, push: Push) -> Any:
        from slipway.report import PushReport

        self.pushes.append(push)
        return PushReport(push)


@pytest.fixture
def process() -> Callable[..., tuple[dict[str, Any], FakeNotifier, RecordingDeployer]]:
    from slipway.handlers import deploy as handler

    def run(
        event: dict[str, Any], registries: tuple[str, ...] = ()
    ) -> tuple[dict[str, Any], FakeNotifier, RecordingDeployer]:
        settings = Settings(account_id=ACCOUNT, region=REGION, allowed_registries=registries)
        instance = composition.use(composition.App(config=settings))
        notifier, deployer = FakeNotifier(), RecordingDeployer()
        instance.notifier = notifier
        instance.deployer = deployer
        result = handler.process(event)
        return result, notifier, deployer

    return run


def test_process_valid_push_reaches_the_deployer(process: Callable[..., Any]) -> None:
    _, notifier, deployer = process(load_event("ecr-push.json"))

    assert [(p.repository, p.tag) for p in deployer.pushes] == [("web", "1.4.2")]
    assert notifier.published == []


@pytest.mark.parametrize("name", ["ecr-delete.json", "ecr-push-failed.json"])
def test_process_ignored_event_publishes_nothing(process: Callable[..., Any], name: str) -> None:
    result, notifier, deployer = process(load_event(name))

    assert result["status"] == "REJECTED"
    assert deployer.pushes == []
    assert notifier.calls == 0


@pytest.mark.parametrize("name", ["ecr-push-signature.json", "ecr-push-helm-chart.json", "ecr-push-sbom.json"])
def test_process_artifact_push_is_counted_and_publishes_nothing(process: Callable[..., Any], name: str) -> None:
    from slipway.telemetry import metrics

    metrics.clear_metrics()
    try:
        result, notifier, deployer = process(load_event(name))

        assert result["status"] == "REJECTED" and "not a container image" in result["reason"]
        assert deployer.pushes == []
        assert notifier.calls == 0
        assert "ArtifactsIgnored" in metrics.metric_set
        assert "InvalidEvents" not in metrics.metric_set
    finally:
        metrics.clear_metrics()


def test_process_malformed_push_publishes_one_error(process: Callable[..., Any]) -> None:
    result, notifier, deployer = process(with_detail(image_digest="sha256:nope"))

    assert deployer.pushes == []
    (notice,) = notifier.published
    assert notice.status == "ERROR"
    assert "detail.image-digest" in notice.reason
    assert result["reason"] == notice.reason


def test_process_foreign_push_rejected_unless_allowed(process: Callable[..., Any]) -> None:
    _, notifier, deployer = process(load_event("ecr-push-other-account.json"))
    assert deployer.pushes == []
    assert [n.status for n in notifier.published] == ["ERROR"]

    _, notifier, deployer = process(load_event("ecr-push-other-account.json"), registries=(OTHER_ACCOUNT,))
    assert [p.account for p in deployer.pushes] == [OTHER_ACCOUNT]
    assert notifier.published == []


# -- replications: a push in the destination registry -----------------------------------------


def replication(result: str = "SUCCESS") -> dict[str, Any]:
    """AWS's sample replication (into us-east-1 of 123456789012), with a real digest for its placeholder."""
    event = load_event("ecr-replication-success.json" if result == "SUCCESS" else "ecr-replication-failed.json")
    event["detail"]["image-digest"] = "sha256:" + "7f5b2640" * 8
    return event


def test_push_from_event_replication_is_a_push_of_the_destination_registry() -> None:
    # GIVEN AWS's sample: replicated from us-west-2 into us-east-1 of the same account
    event = replication()

    push = accept(event, region="us-east-1")

    # THEN it deploys the replica's own URI, by digest: the services of us-east-1 pull from their Region
    assert (push.account, push.region, push.repository, push.tag) == (
        ACCOUNT,
        "us-east-1",
        "docker-hub/alpine",
        "3.17.2",
    )
    assert (
        push.image == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/docker-hub/alpine@{event['detail']['image-digest']}"
    )


def test_push_from_event_failed_replication_is_ignored_naming_where_it_came_from() -> None:
    with pytest.raises(PushRejected) as raised:
        accept(replication("FAILED"), region="us-east-1")

    assert raised.value.ignored is True
    assert "FAILED" in raised.value.reason and "us-west-2" in raised.value.reason


def test_push_from_event_replication_into_an_unlisted_registry_is_an_error() -> None:
    with pytest.raises(PushRejected) as raised:
        accept(replication())  # the stack's own Region is eu-west-1; the replica landed in us-east-1

    assert raised.value.ignored is False
    assert "replication into account" in raised.value.reason and "us-east-1" in raised.value.reason


def test_push_from_event_replication_aws_sample_placeholder_digest_is_malformed() -> None:
    # AWS's sample verbatim has a 60-digit placeholder digest: read as a malformed event, not deployed
    with pytest.raises(ValidationError) as raised:
        parse_push_event(load_event("ecr-replication-success.json"))

    assert "image-digest" in str(raised.value)


def test_process_replication_reaches_the_deployer_and_failed_one_publishes_nothing(process: Callable[..., Any]) -> None:
    _, notifier, deployer = process(replication(), registries=("us-east-1",))
    assert [(p.region, p.tag) for p in deployer.pushes] == [("us-east-1", "3.17.2")]

    result, notifier, deployer = process(replication("FAILED"), registries=("us-east-1",))
    assert result["status"] == "REJECTED" and deployer.pushes == [] and notifier.calls == 0
