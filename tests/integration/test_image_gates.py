"""The scan and signature gates under moto, with ECR's answers from the sandbox bridge (``images``).

The push, its hold, the scan events and the sweep go through the real handlers; ECR's
DescribeImageScanFindings and DescribeImageSigningStatus are answered per digest by
``sandbox.image_checks``. The test clock starts at the push's time.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from sandbox.image_checks import OTHER_PROFILE, TRUSTED_PROFILE, ImageChecks
from sandbox.stack import World
from tests.conftest import load_event
from tests.integration.conftest import Clock
from tests.integration.test_deploy import fargate_web, push

PROD = {"cluster": "prod", "service": "web"}


def messages(world: World) -> list[dict[str, Any]]:
    return [n["message"] for n in world.notifications()]


def holds() -> list[Any]:
    from slipway import app

    return list(app.app().store.holds())


@pytest.fixture
def web(world: World) -> World:
    """prod/web (Fargate) running web:1.0.0; no rules yet."""
    world.create_repository("web")
    fargate_web(world, cluster="prod")
    return world


def pushed(world: World, clock: Clock, tag: str = "1.1.0") -> tuple[dict[str, Any], str]:
    """A push of web:tag, the clock at its time; the event and its digest."""
    event = push(world, "web", tag)
    clock.now = datetime.fromisoformat(event["time"])
    return event, event["detail"]["image-digest"]


def scan_rule(world: World, **scan: Any) -> None:
    world.put_rule("web", "prod", {"targets": [PROD], "scan": {"max_severity": "HIGH", **scan}})


def task_definition(world: World) -> str:
    return str(world.describe_service("prod", "web")["taskDefinition"])


def image_of(world: World) -> str:
    from_ecs = world.ecs.describe_task_definition(taskDefinition=task_definition(world))
    return str(from_ecs["taskDefinition"]["containerDefinitions"][0]["image"])


def delivered(world: World, event: dict[str, Any]) -> dict[str, Any]:
    [routed] = world.route(event)
    return routed


# -- scan: held, released ------------------------------------------------------------------------


def test_scan_gate_incomplete_scan_held_then_released_by_ecr_image_scan_event(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    # GIVEN a rule that allows findings up to HIGH, and a push whose scan is in progress
    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")
    before = task_definition(web)

    # WHEN the push arrives
    deploy(event)

    # THEN it is held at the scan gate, the service untouched
    [held] = messages(web)
    assert (held["status"], held["held"]) == ("SKIPPED", "scan")
    assert held["reason"] == f"waiting for the scan of {digest[:19]} (IN_PROGRESS), up to 30 min more"
    assert [h.gate for h in holds()] == ["scan"]
    assert task_definition(web) == before

    # WHEN the scan completes with a HIGH finding and ECR's event arrives
    clock.advance(minutes=4)
    images.scan("web", digest, counts={"HIGH": 1, "LOW": 3})
    result = deploy(delivered(web, images.scan_event("web", digest)))

    # THEN the push rolls out, pinned by its digest, and the hold is gone
    assert result["status"] == "RELEASED"
    assert [(m["status"], m["rule"]) for m in messages(web)] == [("DEPLOYING", "prod")]
    assert image_of(web).endswith(f"@{digest}")
    assert holds() == []


def test_scan_gate_scan_completes_without_event_released_by_sweep(
    web: World, deploy, sweep, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web)
    event, digest = pushed(web, clock)
    deploy(event)  # no scan yet: ScanNotFoundException
    assert [h.gate for h in holds()] == ["scan"]
    web.notifications()

    # WHEN the scan completes clean and only the sweep looks
    images.scan("web", digest)
    clock.advance(minutes=5)
    result = sweep()

    # THEN the sweep releases it
    assert [r["status"] for r in result["released"]] == ["DEPLOYING"]
    assert image_of(web).endswith(f"@{digest}")
    assert holds() == []


def test_scan_gate_still_scanning_sweep_says_nothing(
    web: World, deploy, sweep, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")
    deploy(event)
    web.notifications()

    clock.advance(minutes=10)
    assert sweep()["released"] == []

    assert messages(web) == []
    assert [h.gate for h in holds()] == ["scan"]


def test_scan_gate_past_wait_minutes_skipped_scan_not_complete(
    web: World, deploy, sweep, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web, wait_minutes=15)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")
    deploy(event)
    web.notifications()
    before = task_definition(web)

    # WHEN the sweep looks after the wait
    clock.advance(minutes=16)
    sweep()

    # THEN the hold ends SKIPPED: scan not complete
    [closed] = messages(web)
    assert (closed["status"], closed["reason"]) == ("SKIPPED", "scan not complete")
    assert holds() == []
    assert task_definition(web) == before


def test_scan_gate_past_wait_minutes_on_unavailable_allow_rolls_out(
    web: World, deploy, sweep, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web, wait_minutes=15, on_unavailable="allow")
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")
    deploy(event)
    web.notifications()

    clock.advance(minutes=16)
    sweep()

    assert [m["status"] for m in messages(web)] == ["DEPLOYING"]
    assert image_of(web).endswith(f"@{digest}")


def test_scan_gate_wait_minutes_zero_does_not_hold(web: World, deploy, images: ImageChecks, clock: Clock) -> None:
    scan_rule(web, wait_minutes=0)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")

    deploy(event)

    [note] = messages(web)
    assert (note["status"], note["reason"], note.get("held")) == ("SKIPPED", "scan not complete", None)
    assert holds() == []


@pytest.mark.parametrize("status", ["UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE", "SCAN_ELIGIBILITY_EXPIRED", "FAILED"])
def test_scan_gate_unavailable_status_block_skipped_with_its_name(
    web: World, deploy, images: ImageChecks, clock: Clock, status: str
) -> None:
    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status=status, description="ECR says why")
    before = task_definition(web)

    deploy(event)

    [note] = messages(web)
    assert note["status"] == "SKIPPED"
    assert note["reason"] == f"scan {status}: ECR says why"
    assert note.get("held") is None
    assert holds() == []
    assert task_definition(web) == before


@pytest.mark.parametrize("status", ["UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE", "SCAN_ELIGIBILITY_EXPIRED"])
def test_scan_gate_unavailable_status_allow_rolls_out_logging_the_status(
    web: World, deploy, images: ImageChecks, clock: Clock, status: str, caplog: pytest.LogCaptureFixture
) -> None:
    scan_rule(web, on_unavailable="allow")
    event, digest = pushed(web, clock)
    images.scan("web", digest, status=status, description="ECR says why")

    deploy(event)

    assert [m["status"] for m in messages(web)] == ["DEPLOYING"]
    assert image_of(web).endswith(f"@{digest}")
    [passed] = [r for r in caplog.records if r.getMessage() == "scan gate passed without findings"]
    assert (passed.levelname, passed.reason) == ("WARNING", f"scan {status}: ECR says why")


# -- scan: over the limit ------------------------------------------------------------------------


def test_scan_gate_critical_over_high_limit_skipped_with_counts_not_held(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    # GIVEN a push with 2 CRITICAL findings under a rule that allows up to HIGH
    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, counts={"CRITICAL": 2, "HIGH": 5, "MEDIUM": 1})
    before = task_definition(web)

    # WHEN it arrives
    deploy(event)

    # THEN it is SKIPPED with the counts in the reason and in findings, not held, the service untouched
    [note] = messages(web)
    assert note["status"] == "SKIPPED"
    assert note["reason"] == "2 CRITICAL findings; the rule allows up to HIGH"
    assert note["findings"] == {"CRITICAL": 2, "HIGH": 5, "MEDIUM": 1}
    assert note.get("held") is None
    assert holds() == []
    assert task_definition(web) == before


def test_scan_gate_over_medium_limit_reason_lists_each_severity_above_worst_first(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web, max_severity="MEDIUM")
    event, digest = pushed(web, clock)
    images.scan("web", digest, counts={"MEDIUM": 1, "HIGH": 5, "CRITICAL": 2})

    deploy(event)

    [note] = messages(web)
    assert note["reason"] == "2 CRITICAL, 5 HIGH findings; the rule allows up to MEDIUM"


def test_scan_gate_enhanced_findings_counted_when_ecr_gives_no_counts(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web, max_severity="LOW")
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="ACTIVE", counts={"MEDIUM": 2, "LOW": 1}, enhanced=True)

    deploy(event)

    [note] = messages(web)
    assert note["reason"] == "2 MEDIUM findings; the rule allows up to LOW"
    assert note["findings"] == {"MEDIUM": 2, "LOW": 1}


def test_scan_gate_findings_over_limit_after_hold_ends_the_hold_skipped(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")
    deploy(event)
    web.notifications()

    images.scan("web", digest, counts={"CRITICAL": 1})
    deploy(delivered(web, images.scan_event("web", digest)))

    [closed] = messages(web)
    assert (closed["status"], closed["reason"]) == ("SKIPPED", "1 CRITICAL finding; the rule allows up to HIGH")
    assert closed["findings"] == {"CRITICAL": 1}
    assert holds() == []


# -- scan: events --------------------------------------------------------------------------------


def test_scan_gate_inspector2_scan_event_with_repository_arn_releases_hold(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="PENDING")
    deploy(event)
    web.notifications()

    # WHEN enhanced scanning finishes and Amazon Inspector's event (repository-name an ARN) arrives
    images.scan("web", digest, status="ACTIVE", counts={"MEDIUM": 4})
    inspected = delivered(web, images.inspector_event("web", digest))
    assert inspected["detail"]["repository-name"].endswith(":repository/web")
    result = deploy(inspected)

    assert result["repository"] == "web"
    assert [m["status"] for m in messages(web)] == ["DEPLOYING"]
    assert image_of(web).endswith(f"@{digest}")


@pytest.mark.parametrize(
    ("name", "change", "problem"),
    [
        ("ecr-image-scan.json", {"repository-name": "Not A Repo"}, "detail.repository-name"),
        ("ecr-image-scan.json", {"scan-status": None}, "detail.scan-status"),
        ("inspector2-scan.json", {"repository-name": "amazon/amazon-ecs-sample"}, "is not an ECR repository ARN"),
    ],
)
def test_scan_event_malformed_rejected_with_clear_log(
    web: World, deploy, name: str, change: dict[str, Any], problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event(name)
    event["detail"].update(change)

    result = deploy(event)

    assert result["status"] == "REJECTED"
    assert problem in result["reason"]
    assert result["reason"].startswith(f"malformed {event['detail-type']} event: ")
    [logged] = [r for r in caplog.records if r.getMessage() == "scan event rejected"]
    assert (logged.levelname, logged.problem) == ("ERROR", result["reason"])
    assert messages(web) == []


def test_scan_event_aws_samples_parse_and_name_their_repository(world: World, deploy) -> None:
    # AWS's samples, verbatim: nothing is held in those repositories, so nothing is released
    expected = {"status": "NO_CHANGE", "repository": "my-repository-name", "released": []}
    assert deploy(load_event("ecr-image-scan.json")) == expected
    assert deploy(load_event("inspector2-scan.json"))["repository"] == "amazon/amazon-ecs-sample"


# -- signature -----------------------------------------------------------------------------------


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> str:
    """The stack trusts one signing profile (TrustedSigningProfiles)."""
    from slipway.settings import settings

    monkeypatch.setenv("SLIPWAY_TRUSTED_SIGNING_PROFILES", TRUSTED_PROFILE)
    settings.cache_clear()
    return TRUSTED_PROFILE


def signature_rule(world: World, wait_minutes: int = 30) -> None:
    world.put_rule("web", "prod", {"targets": [PROD], "signature": {"required": True, "wait_minutes": wait_minutes}})


def test_signature_gate_complete_by_trusted_profile_rolls_out(
    web: World, trusted: str, deploy, images: ImageChecks, clock: Clock
) -> None:
    signature_rule(web)
    event, digest = pushed(web, clock)
    images.sign("web", digest, profile=trusted)

    deploy(event)

    assert [m["status"] for m in messages(web)] == ["DEPLOYING"]
    assert image_of(web).endswith(f"@{digest}")


def test_signature_gate_complete_by_untrusted_profile_skipped_naming_it(
    web: World, trusted: str, deploy, images: ImageChecks, clock: Clock
) -> None:
    signature_rule(web)
    event, digest = pushed(web, clock)
    images.sign("web", digest, profile=OTHER_PROFILE)
    before = task_definition(web)

    deploy(event)

    [note] = messages(web)
    assert note["status"] == "SKIPPED"
    assert note["reason"] == f"signed by {OTHER_PROFILE}, which TrustedSigningProfiles does not list"
    assert holds() == []
    assert task_definition(web) == before


def test_signature_gate_not_signed_held_then_released_by_sweep_when_signed(
    web: World, trusted: str, deploy, sweep, images: ImageChecks, clock: Clock
) -> None:
    signature_rule(web)
    event, digest = pushed(web, clock)
    deploy(event)
    [held] = messages(web)
    assert (held["status"], held["held"]) == ("SKIPPED", "signature")
    assert held["reason"] == f"waiting for ECR managed signing of {digest[:19]} (not signed yet), up to 30 min more"

    images.sign("web", digest, profile=trusted, status="IN_PROGRESS")
    clock.advance(minutes=3)
    assert sweep()["released"] == []
    images.sign("web", digest, profile=trusted)
    clock.advance(minutes=3)
    sweep()

    assert [m["status"] for m in messages(web)] == ["DEPLOYING"]
    assert image_of(web).endswith(f"@{digest}")
    assert holds() == []


def test_signature_gate_past_wait_minutes_skipped(
    web: World, trusted: str, deploy, sweep, images: ImageChecks, clock: Clock
) -> None:
    signature_rule(web, wait_minutes=10)
    event, digest = pushed(web, clock)
    images.sign("web", digest, profile=trusted, status="IN_PROGRESS")
    deploy(event)
    web.notifications()

    clock.advance(minutes=11)
    sweep()

    [closed] = messages(web)
    assert (closed["status"], closed["reason"]) == (
        "SKIPPED",
        "signature not complete after 10 min (signing IN_PROGRESS)",
    )
    assert holds() == []


def test_signature_gate_signing_failed_skipped_with_code_and_reason(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    signature_rule(web)
    event, digest = pushed(web, clock)
    images.sign(
        "web",
        digest,
        profile=OTHER_PROFILE,
        status="FAILED",
        failure_code="AccessDenied",
        failure_reason="no signer:SignPayload",
    )

    deploy(event)

    [note] = messages(web)
    assert note["reason"] == f"signing failed: {OTHER_PROFILE}: AccessDenied: no signer:SignPayload"


def test_signature_gate_no_trusted_profiles_trusts_no_signing(
    web: World, deploy, images: ImageChecks, clock: Clock
) -> None:
    # GIVEN a stack that lists no TrustedSigningProfiles: signed, but by no profile anyone said to trust
    signature_rule(web)
    event, digest = pushed(web, clock)
    images.sign("web", digest, profile=OTHER_PROFILE)

    deploy(event)

    [note] = messages(web)
    assert note["status"] == "SKIPPED"
    assert note["reason"] == (
        f"signed by {OTHER_PROFILE}, which TrustedSigningProfiles does not list (it lists no profile: no signature is trusted)"
    )


def test_image_gates_ecr_error_becomes_error_outcome_with_code(
    web: World, deploy, faults: Any, images: ImageChecks, clock: Clock
) -> None:
    from sandbox.faults import Fault

    scan_rule(web)
    event, _ = pushed(web, clock)
    faults.fail_always("ecr.DescribeImageScanFindings", Fault("AccessDeniedException", 400, "not allowed"))

    deploy(event)

    [note] = messages(web)
    assert (note["status"], note["error_code"]) == ("ERROR", "AccessDeniedException")
    assert note["reason"] == "DescribeImageScanFindings failed: AccessDeniedException: not allowed"
    assert holds() == []


# -- slipway plan and explain --------------------------------------------------------------------


@pytest.fixture
def cli_images(faults: Any, monkeypatch: pytest.MonkeyPatch) -> ImageChecks:
    """The sessions the CLI creates are answered by the same image checks bridge."""
    import boto3.session

    class Bridged(boto3.session.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.events.register_first("before-send", faults.images.before_send)

    monkeypatch.setattr(boto3.session, "Session", Bridged)
    return faults.images  # type: ignore[no-any-return]


def planned(capsys: pytest.CaptureFixture[str], image: str) -> dict[str, dict[str, Any]]:
    from tests.integration.test_cli_history_rollback import slipway

    _, out, _ = slipway(capsys, "plan", image, "--json")
    return {line["rule"]: line for line in json.loads(out)["plan"]}


def test_plan_scan_in_progress_would_hold_at_scan_gate(
    web: World, cli_images: ImageChecks, capsys: pytest.CaptureFixture[str]
) -> None:
    scan_rule(web)
    digest = web.push_image("web", "1.1.0")
    cli_images.scan("web", digest, status="IN_PROGRESS")

    lines = planned(capsys, "web:1.1.0")

    assert lines["prod"]["action"] == "hold"
    assert lines["prod"]["detail"].startswith(f"waiting for the scan of {digest[:19]} (IN_PROGRESS), up to ")


def test_plan_findings_over_limit_would_skip_with_counts(
    web: World, cli_images: ImageChecks, capsys: pytest.CaptureFixture[str]
) -> None:
    scan_rule(web, max_severity="MEDIUM")
    digest = web.push_image("web", "1.1.0")
    cli_images.scan("web", digest, counts={"CRITICAL": 2, "HIGH": 5, "MEDIUM": 1})

    lines = planned(capsys, "web:1.1.0")

    assert (lines["prod"]["action"], lines["prod"]["detail"]) == (
        "skip",
        "2 CRITICAL, 5 HIGH findings; the rule allows up to MEDIUM",
    )


def test_plan_unsigned_push_would_hold_at_signature_gate(
    web: World, cli_images: ImageChecks, capsys: pytest.CaptureFixture[str]
) -> None:
    signature_rule(web)
    digest = web.push_image("web", "1.1.0")

    lines = planned(capsys, "web:1.1.0")

    assert lines["prod"]["action"] == "hold"
    assert lines["prod"]["detail"].startswith(f"waiting for ECR managed signing of {digest[:19]} (not signed yet)")


def test_explain_held_push_shows_its_gate_and_reason(
    web: World, deploy, images: ImageChecks, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli_history_rollback import slipway

    scan_rule(web)
    event, digest = pushed(web, clock)
    images.scan("web", digest, status="IN_PROGRESS")
    deploy(event)

    code, out, err = slipway(capsys, "explain", "web")

    assert code == 0, err
    rows = [re.split(r"\s{2,}", line) for line in out.strip().splitlines()[2:]]
    assert [
        "prod",
        "SKIPPED, held: scan",
        "prod/web",
        f"waiting for the scan of {digest[:19]} (IN_PROGRESS), up to 30 min more",
    ] in rows


def test_image_gates_push_from_another_registry_is_read_there(
    web: World, deploy, images: ImageChecks, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN pushes from registry account 444455556666 in eu-west-2 are deployed (AllowedRegistries)
    from slipway.settings import settings

    monkeypatch.setenv("SLIPWAY_ALLOWED_REGISTRIES", "444455556666,eu-west-2")
    monkeypatch.setenv("SLIPWAY_TRUSTED_SIGNING_PROFILES", TRUSTED_PROFILE)  # the profile images.sign signs with
    settings.cache_clear()
    from slipway import app

    app.use(app.App(session=app.app().session, clock=clock))
    gates = {"signature": {"required": True}, "scan": {"max_severity": "HIGH"}}
    web.put_rule("web", "prod", {"targets": [{**PROD, "container": "app"}], **gates})
    digest = web.push_image("web", "1.1.0")
    # (as that registry's forwarding rule delivers it: account and Region the registry's)
    event = web.push_event("web", digest, "1.1.0", account="444455556666", region="eu-west-2")
    clock.now = datetime.fromisoformat(event["time"])
    images.sign("web", digest)
    images.scan("web", digest)

    # WHEN the push arrives
    deploy(event)

    # THEN ECR is asked in the push's registry: its account as registryId, in its Region
    assert images.asked == [
        ("DescribeImageSigningStatus", "444455556666", "eu-west-2", "web"),
        ("DescribeImageScanFindings", "444455556666", "eu-west-2", "web"),
    ]
    assert [m["status"] for m in messages(web)] == ["DEPLOYING"]
