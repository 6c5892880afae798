"""The image gates' rule keys (``scan``, ``signature``) and their verdicts, against a fake of ECR.

Every invalid value is checked for the exact JSON path of its problem and what the message
says; the verdicts are checked against what ECR could answer, on a fixed clock.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from slipway.errors import AwsError
from slipway.gates import Gatekeeper
from slipway.image_gates import ImageGates, findings_reason, over_limit
from slipway.model import Push, Status
from slipway.ports import ScanFindings, SigningStatus
from slipway.rules import RuleInvalid, RuleSpec, json_schema, parse_rule
from tests.unit.fakes import NOW, RULES_PATH, FakeStore, digest, make_rule

WEB = {"cluster": "prod", "service": "web"}
TRUSTED = "arn:aws:signer:eu-west-1:123456789012:/signing-profiles/release"
OTHER = "arn:aws:signer:eu-west-1:123456789012:/signing-profiles/other"
PUSH = Push("e1", "123456789012", "eu-west-1", "web", digest("a"), "1.1.0", NOW)


def spec_of(**keys: Any) -> RuleSpec:
    return parse_rule("web", "main", f"{RULES_PATH}/web/main", json.dumps({"targets": [WEB], **keys})).spec


def only_problem(**keys: Any) -> str:
    with pytest.raises(RuleInvalid) as raised:
        spec_of(**keys)
    assert len(raised.value.problems) == 1, raised.value.problems
    return raised.value.problems[0]


# -- validation ----------------------------------------------------------------------------------


def test_scan_rule_defaults_wait_30_minutes_and_block() -> None:
    scan = spec_of(scan={"max_severity": "HIGH"}).scan

    assert scan is not None
    assert (scan.max_severity, scan.wait_minutes, scan.on_unavailable) == ("HIGH", 30, "block")


@pytest.mark.parametrize("severity", ["NONE", "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"])
def test_scan_rule_each_severity_valid(severity: str) -> None:
    assert spec_of(scan={"max_severity": severity}).scan.max_severity == severity  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("HIHG", 'scan.max_severity: unknown severity "HIHG" (did you mean "HIGH"?)'),
        ("high", 'scan.max_severity: unknown severity "high" (did you mean "HIGH"? severities are upper case)'),
        ("UNDEFINED", 'scan.max_severity: unknown severity "UNDEFINED"'),
        ("SEVERE", 'scan.max_severity: unknown severity "SEVERE"'),
    ],
)
def test_scan_rule_unknown_severity_named_with_closest(value: str, message: str) -> None:
    assert only_problem(scan={"max_severity": value}).startswith(message)


def test_scan_rule_without_max_severity_is_invalid() -> None:
    assert only_problem(scan={"wait_minutes": 5}) == "scan.max_severity: required"


def test_scan_rule_max_severity_not_a_string_is_invalid() -> None:
    assert only_problem(scan={"max_severity": 3}).startswith("scan.max_severity: ")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "scan.wait_minutes: Input should be greater than or equal to 0"),
        (1441, "scan.wait_minutes: Input should be less than or equal to 1440"),
        ("30", "scan.wait_minutes: Input should be a valid integer"),
        (True, "scan.wait_minutes: Input should be a valid integer"),
        (1.5, "scan.wait_minutes: Input should be a valid integer"),
    ],
)
def test_scan_rule_wait_minutes_out_of_bounds_is_invalid(value: Any, message: str) -> None:
    assert only_problem(scan={"max_severity": "HIGH", "wait_minutes": value}) == message


@pytest.mark.parametrize("value", [0, 1440])
def test_scan_rule_wait_minutes_bounds_are_valid(value: int) -> None:
    assert spec_of(scan={"max_severity": "HIGH", "wait_minutes": value}).scan.wait_minutes == value  # type: ignore[union-attr]


def test_scan_rule_unknown_on_unavailable_is_invalid() -> None:
    problem = only_problem(scan={"max_severity": "HIGH", "on_unavailable": "alow"})

    assert problem == 'scan.on_unavailable: unknown on_unavailable value "alow" (did you mean "allow"?)'


def test_scan_rule_unknown_key_is_invalid_with_suggestion() -> None:
    problem = only_problem(scan={"max_severity": "HIGH", "wait_minute": 5})

    assert problem == 'scan: unknown key "wait_minute" (did you mean "wait_minutes"?)'


def test_scan_rule_not_an_object_is_invalid() -> None:
    assert only_problem(scan="HIGH").startswith("scan: ")


def test_signature_rule_defaults_required_and_30_minutes() -> None:
    signature = spec_of(signature={}).signature

    assert signature is not None
    assert (signature.required, signature.wait_minutes) == (True, 30)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"required": "yes"}, "signature.required: Input should be a valid boolean"),
        ({"wait_minutes": 2000}, "signature.wait_minutes: Input should be less than or equal to 1440"),
        ({"wait_minutes": -5}, "signature.wait_minutes: Input should be greater than or equal to 0"),
        ({"profile": TRUSTED}, 'signature: unknown key "profile" (known keys: required, wait_minutes)'),
    ],
)
def test_signature_rule_bad_value_is_invalid(keys: dict[str, Any], message: str) -> None:
    assert only_problem(signature=keys) == message


def test_rule_schema_has_scan_and_signature_with_severities() -> None:
    schema = json.dumps(json_schema())

    assert '"scan"' in schema and '"signature"' in schema
    assert all(f'"{severity}"' in schema for severity in ("NONE", "INFORMATIONAL", "CRITICAL"))


# -- what counts as over the limit -----------------------------------------------------------------


def test_over_limit_lists_severities_above_limit_worst_first() -> None:
    above = over_limit({"MEDIUM": 1, "HIGH": 5, "CRITICAL": 2, "LOW": 7}, "MEDIUM")

    assert above == [("CRITICAL", 2), ("HIGH", 5)]
    assert findings_reason(above, "MEDIUM") == "2 CRITICAL, 5 HIGH findings; the rule allows up to MEDIUM"


def test_over_limit_unknown_severity_is_refused_and_a_total_is_no_severity() -> None:
    # a severity a newer scanner reports is over any limit; Inspector's TOTAL counts nothing of its own
    assert over_limit({"EXTREME": 1, "TOTAL": 9, "LOW": 2}, "HIGH") == [("EXTREME", 1)]


def test_over_limit_undefined_and_untriaged_rank_as_informational() -> None:
    counts = {"UNDEFINED": 2, "UNTRIAGED": 1}

    assert over_limit(counts, "INFORMATIONAL") == []
    assert over_limit(counts, "NONE") == [("UNDEFINED", 2), ("UNTRIAGED", 1)]


def test_over_limit_none_refuses_any_finding_and_one_reads_singular() -> None:
    above = over_limit({"INFORMATIONAL": 1}, "NONE")

    assert findings_reason(above, "NONE") == "1 INFORMATIONAL finding; the rule allows up to NONE"


# -- verdicts against a fake ECR -----------------------------------------------------------------


class FakeEcr:
    """ImageChecks as ECR would answer for one digest (or raise)."""

    def __init__(self, scan: ScanFindings | AwsError | None = None, signing: list[SigningStatus] | None = None):
        self.scan = scan or ScanFindings("NOT_FOUND")
        self.signing = signing or []
        self.asked: list[tuple[str, str, str, str | None]] = []

    def scan_findings(self, registry_id: str, repository: str, digest: str, region: str | None = None) -> ScanFindings:
        self.asked.append(("scan", registry_id, repository, region))
        if isinstance(self.scan, AwsError):
            raise self.scan
        return self.scan

    def signing_status(
        self, registry_id: str, repository: str, digest: str, region: str | None = None
    ) -> list[SigningStatus]:
        self.asked.append(("signing", registry_id, repository, region))
        return self.signing


def gatekeeper(ecr: FakeEcr, minutes_after_push: float = 0, trusted: tuple[str, ...] = (TRUSTED,)) -> Gatekeeper:
    now = NOW + timedelta(minutes=minutes_after_push)
    return Gatekeeper(FakeStore(), clock=lambda: now, images=ImageGates(ecr, trusted))


def test_gatekeeper_scan_asks_the_push_registry_and_region() -> None:
    ecr = FakeEcr(ScanFindings("COMPLETE"))

    verdict = gatekeeper(ecr).scan(make_rule(scan={"max_severity": "HIGH"}), PUSH)

    assert verdict.passed is True
    assert ecr.asked == [("scan", "123456789012", "web", "eu-west-1")]


def test_gatekeeper_scan_over_limit_final_not_held_with_findings() -> None:
    counts = {"CRITICAL": 2, "HIGH": 5, "MEDIUM": 1}
    verdict = gatekeeper(FakeEcr(ScanFindings("COMPLETE", "", counts))).scan(
        make_rule(scan={"max_severity": "MEDIUM"}), PUSH
    )

    assert (verdict.passed, verdict.hold, verdict.final, verdict.gate) == (False, False, True, "scan")
    assert verdict.findings == counts
    assert verdict.reason == "2 CRITICAL, 5 HIGH findings; the rule allows up to MEDIUM"


@pytest.mark.parametrize("status", ["IN_PROGRESS", "PENDING", "NOT_FOUND"])
def test_gatekeeper_scan_not_complete_within_wait_holds(status: str) -> None:
    verdict = gatekeeper(FakeEcr(ScanFindings(status)), minutes_after_push=29).scan(
        make_rule(scan={"max_severity": "HIGH"}), PUSH
    )

    assert (verdict.passed, verdict.hold, verdict.final, verdict.gate) == (False, True, False, "scan")
    assert verdict.reason == f"waiting for the scan of {PUSH.digest[:19]} ({status}), up to 1 min more"


def test_gatekeeper_scan_not_complete_past_wait_final_skipped() -> None:
    verdict = gatekeeper(FakeEcr(ScanFindings("IN_PROGRESS")), minutes_after_push=30).scan(
        make_rule(scan={"max_severity": "HIGH"}), PUSH
    )

    assert (verdict.passed, verdict.final, verdict.status, verdict.reason) == (
        False,
        True,
        Status.SKIPPED,
        "scan not complete",
    )


def test_gatekeeper_retryable_ecr_error_holds_then_errors_past_wait() -> None:
    throttled = AwsError("DescribeImageScanFindings", "ThrottlingException", "slow down")
    rule = make_rule(scan={"max_severity": "HIGH"})

    held = gatekeeper(FakeEcr(throttled), minutes_after_push=1).scan(rule, PUSH)
    ended = gatekeeper(FakeEcr(throttled), minutes_after_push=31).scan(rule, PUSH)

    assert (held.hold, held.final) == (True, False)
    assert (ended.final, ended.status, ended.error_code) == (True, Status.ERROR, "ThrottlingException")


def test_gatekeeper_signature_before_scan_an_unsigned_push_asks_no_scan() -> None:
    ecr = FakeEcr(ScanFindings("COMPLETE", "", {"CRITICAL": 1}))
    rule = make_rule(scan={"max_severity": "HIGH"}, signature={})

    verdict = gatekeeper(ecr).check(rule, PUSH.digest, push=PUSH)

    assert (verdict.gate, verdict.hold) == ("signature", True)
    assert [asked[0] for asked in ecr.asked] == ["signing"]


def test_gatekeeper_signature_one_trusted_complete_among_others_passes() -> None:
    signing = [SigningStatus(OTHER, "FAILED", "X", "y"), SigningStatus(TRUSTED, "COMPLETE")]

    assert gatekeeper(FakeEcr(signing=signing)).signature(make_rule(signature={}), PUSH).passed is True


def test_gatekeeper_signature_untrusted_complete_while_trusted_in_progress_waits() -> None:
    signing = [SigningStatus(OTHER, "COMPLETE"), SigningStatus(TRUSTED, "IN_PROGRESS")]

    verdict = gatekeeper(FakeEcr(signing=signing)).signature(make_rule(signature={}), PUSH)

    assert (verdict.hold, verdict.gate) == (True, "signature")


def test_gatekeeper_signature_not_required_asks_nothing() -> None:
    ecr = FakeEcr()

    assert gatekeeper(ecr).check(make_rule(signature={"required": False}), PUSH.digest, push=PUSH).passed is True
    assert ecr.asked == []


def test_gatekeeper_check_without_push_skips_image_gates() -> None:
    ecr = FakeEcr()

    assert gatekeeper(ecr).check(make_rule(scan={"max_severity": "NONE"}), PUSH.digest).passed is True
    assert ecr.asked == []


def test_gatekeeper_without_image_checks_closes_image_gates_never_passes_them() -> None:
    gates = Gatekeeper(FakeStore(), clock=lambda: NOW)

    verdict = gates.check(make_rule(scan={"max_severity": "CRITICAL"}), PUSH.digest, push=PUSH)

    assert (verdict.passed, verdict.final, verdict.status, verdict.gate) == (False, True, Status.ERROR, "scan")
