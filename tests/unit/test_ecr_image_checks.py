"""The ECR adapter of the image gates against botocore's Stubber: the requests it makes, the answers it reads."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from slipway.aws.calls import Caller
from slipway.aws.ecr import EcrImageChecks
from slipway.errors import AwsError
from tests.unit.fakes import digest

IMAGE = {"imageDigest": digest("a")}
ASKED = {"registryId": "444455556666", "repositoryName": "web", "imageId": IMAGE}


@pytest.fixture
def stubbed() -> tuple[EcrImageChecks, Stubber, list[str | None]]:
    ecr = boto3.session.Session(region_name="eu-west-1").client("ecr")
    stubber = Stubber(ecr)
    regions: list[str | None] = []

    def regional(region: str | None) -> tuple[Any, Caller]:
        regions.append(region)
        return ecr, Caller("ecr", "eu-west-1")

    stubber.activate()
    return EcrImageChecks(regional), stubber, regions


def test_scan_findings_counts_ecr_gives_are_read_without_zeros(stubbed: Any) -> None:
    checks, stubber, regions = stubbed
    stubber.add_response(
        "describe_image_scan_findings",
        {
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {"findingSeverityCounts": {"CRITICAL": 2, "HIGH": 0, "UNDEFINED": 1}},
        },
        {**ASKED, "maxResults": 1000},
    )

    found = checks.scan_findings("444455556666", "web", digest("a"), region="eu-west-2")

    assert (found.status, found.counts) == ("COMPLETE", {"CRITICAL": 2, "UNDEFINED": 1})
    assert regions == ["eu-west-2"]
    stubber.assert_no_pending_responses()


def test_scan_findings_enhanced_without_counts_counts_every_page(stubbed: Any) -> None:
    # ECR pages enhanced findings 100 at a time whatever maxResults says (boto/boto3#3449)
    checks, stubber, _ = stubbed
    page = {
        "imageScanStatus": {"status": "ACTIVE"},
        "imageScanFindings": {"enhancedFindings": [{"severity": "HIGH"}] * 2},
    }
    stubber.add_response("describe_image_scan_findings", {**page, "nextToken": "t1"}, {**ASKED, "maxResults": 1000})
    last = {
        "imageScanStatus": {"status": "ACTIVE"},
        "imageScanFindings": {"enhancedFindings": [{"severity": "CRITICAL"}]},
    }
    stubber.add_response("describe_image_scan_findings", last, {**ASKED, "maxResults": 1000, "nextToken": "t1"})

    found = checks.scan_findings("444455556666", "web", digest("a"))

    assert (found.status, found.counts) == ("ACTIVE", {"HIGH": 2, "CRITICAL": 1})


def test_scan_findings_scan_not_found_is_no_scan_yet(stubbed: Any) -> None:
    checks, stubber, _ = stubbed
    stubber.add_client_error("describe_image_scan_findings", "ScanNotFoundException", "no scan of the image")

    found = checks.scan_findings("444455556666", "web", digest("a"))

    assert (found.status, found.counts) == ("NOT_FOUND", {})


def test_scan_findings_other_error_raised_with_its_code(stubbed: Any) -> None:
    checks, stubber, _ = stubbed
    stubber.add_client_error("describe_image_scan_findings", "RepositoryNotFoundException", "no web")

    with pytest.raises(AwsError) as raised:
        checks.scan_findings("444455556666", "web", digest("a"))

    assert (raised.value.operation, raised.value.code) == ("DescribeImageScanFindings", "RepositoryNotFoundException")


def test_signing_status_each_profile_read(stubbed: Any) -> None:
    checks, stubber, _ = stubbed
    profile = "arn:aws:signer:eu-west-1:444455556666:/signing-profiles/release"
    answer = {
        "signingStatuses": [
            {"signingProfileArn": profile, "status": "COMPLETE"},
            {"signingProfileArn": profile + "2", "status": "FAILED", "failureCode": "X", "failureReason": "why"},
        ]
    }
    stubber.add_response("describe_image_signing_status", answer, ASKED)

    statuses = checks.signing_status("444455556666", "web", digest("a"))

    assert [(s.profile_arn, s.status, s.failure_code, s.failure_reason) for s in statuses] == [
        (profile, "COMPLETE", None, None),
        (profile + "2", "FAILED", "X", "why"),
    ]
