"""What ECR says of an image before Slipway rolls it out: scan findings and managed-signing status.

moto answers DescribeImageScanFindings with one static result and has no
DescribeImageSigningStatus. This bridge answers both per (repository, digest) with what a
test or the demo set, through botocore's ``before-send`` event (as ``sandbox.faults`` does),
so the product's adapter, its retries and its error handling run as against AWS. It also
builds the scan events ECR and Amazon Inspector send, from AWS's samples in ``events/``.

Nothing set for a digest: no scan yet (ScanNotFoundException, as ECR answers when scan on
push is off or the scan has not started) and no signing status (an empty list).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from sandbox.stack import ACCOUNT, REGION

EVENTS = Path(__file__).resolve().parent.parent / "events"
TRUSTED_PROFILE = f"arn:aws:signer:{REGION}:{ACCOUNT}:/signing-profiles/slipway_release"
OTHER_PROFILE = f"arn:aws:signer:{REGION}:{ACCOUNT}:/signing-profiles/someone_else"
_OPERATIONS = {"DescribeImageScanFindings", "DescribeImageSigningStatus"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _answer(status: int, body: dict[str, Any], code: str | None = None) -> AWSResponse:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if code:
        headers["x-amzn-query-error"] = f"{code};Sender"
    return AWSResponse("https://image-checks.invalid", status, headers, _Raw(json.dumps(body).encode()))


@dataclass
class Scan:
    """One digest's scan as ECR would report it."""

    status: str = "COMPLETE"
    counts: dict[str, int] = field(default_factory=dict)
    description: str = ""
    enhanced: bool = False  # answer with enhancedFindings (one per finding) and no findingSeverityCounts


@dataclass
class Signing:
    profile: str
    status: str = "COMPLETE"
    failure_code: str | None = None
    failure_reason: str | None = None


class ImageChecks:
    """A botocore hook answering ECR's scan findings and signing status from what was set."""

    def __init__(self) -> None:
        self._scans: dict[tuple[str, str], Scan] = {}
        self._signings: dict[tuple[str, str], list[Signing]] = {}
        self._lock = threading.Lock()
        self.asked: list[tuple[str, str, str, str]] = []  # (operation, registryId, Region, repository) of each call

    # -- what a test sets ------------------------------------------------------------------
    def scan(
        self,
        repository: str,
        digest: str,
        status: str = "COMPLETE",
        counts: dict[str, int] | None = None,
        description: str = "",
        enhanced: bool = False,
    ) -> None:
        """The digest's scan: its status and, once complete, the counts per severity (only those found)."""
        found = {severity: n for severity, n in (counts or {}).items() if n > 0}
        with self._lock:
            self._scans[(repository, digest)] = Scan(status, found, description, enhanced)

    def sign(
        self,
        repository: str,
        digest: str,
        profile: str = TRUSTED_PROFILE,
        status: str = "COMPLETE",
        failure_code: str | None = None,
        failure_reason: str | None = None,
    ) -> None:
        """One signing profile's status for the digest (a second profile adds a second status)."""
        with self._lock:
            kept = [s for s in self._signings.get((repository, digest), []) if s.profile != profile]
            self._signings[(repository, digest)] = [*kept, Signing(profile, status, failure_code, failure_reason)]

    # -- the events ECR and Inspector send -------------------------------------------------
    def scan_event(
        self, repository: str, digest: str, account: str = ACCOUNT, region: str = REGION, tags: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``ECR Image Scan`` (basic scanning) for the digest's scan as set: AWS's sample with this image's values."""
        event = self._sample("ecr-image-scan.json", account, region)
        scan = self._scans.get((repository, digest), Scan())
        event["resources"] = [f"arn:aws:ecr:{region}:{account}:repository/{repository}"]
        event["detail"].update(
            {
                "scan-status": scan.status,
                "repository-name": repository,
                "finding-severity-counts": dict(scan.counts),
                "image-digest": digest,
                "image-tags": list(tags),
            }
        )
        return event

    def inspector_event(
        self, repository: str, digest: str, account: str = ACCOUNT, region: str = REGION, tags: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``Inspector2 Scan`` (enhanced scanning): ``repository-name`` is the repository's ARN."""
        event = self._sample("inspector2-scan.json", account, region)
        scan = self._scans.get((repository, digest), Scan())
        arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
        event["resources"] = [arn]
        counts = dict(scan.counts)
        event["detail"].update(
            {
                "repository-name": arn,
                "finding-severity-counts": {**counts, "TOTAL": sum(counts.values())},
                "image-digest": digest,
                "image-tags": list(tags),
            }
        )
        return event

    @staticmethod
    def _sample(name: str, account: str, region: str) -> dict[str, Any]:
        event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / name).read_text()))
        event.update(
            {
                "id": str(uuid.uuid4()),
                "account": account,
                "region": region,
                "time": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
            }
        )
        return event

    # -- the hook --------------------------------------------------------------------------
    def before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        if service != "ecr" or operation not in _OPERATIONS:
            return None
        body = json.loads(request.body or b"{}")
        repository = str(body.get("repositoryName", ""))
        digest = str((body.get("imageId") or {}).get("imageDigest", ""))
        identity = {
            "registryId": str(body.get("registryId") or ACCOUNT),
            "repositoryName": repository,
            "imageId": {"imageDigest": digest},
        }
        region = str(request.url).split("://", 1)[-1].split(".")[2] if "amazonaws.com" in str(request.url) else ""
        request.url = "https://image-checks.invalid/"  # moto's in-process handler must not answer it too
        with self._lock:
            self.asked.append((operation, identity["registryId"], region, repository))
            if operation == "DescribeImageSigningStatus":
                signings = list(self._signings.get((repository, digest), []))
                return _answer(200, {**identity, "signingStatuses": [_signing(s) for s in signings]})
            scan = self._scans.get((repository, digest))
        if scan is None:
            message = f"Image scan does not exist for the image with '{{imageDigest:'{digest}'}}' in the repository with name '{repository}' in the registry with id '{identity['registryId']}'"
            return _answer(400, {"__type": "ScanNotFoundException", "message": message}, "ScanNotFoundException")
        return _answer(200, {**identity, **_findings(scan)})


def _signing(signing: Signing) -> dict[str, Any]:
    entry: dict[str, Any] = {"signingProfileArn": signing.profile, "status": signing.status}
    if signing.status == "FAILED":
        entry.update(
            {"failureCode": signing.failure_code or "SigningFailed", "failureReason": signing.failure_reason or ""}
        )
    return entry


def _findings(scan: Scan) -> dict[str, Any]:
    status = {"status": scan.status, "description": scan.description or f"The scan is {scan.status}."}
    if scan.status not in ("COMPLETE", "ACTIVE"):
        return {"imageScanStatus": status}
    now = datetime.now(UTC).timestamp()
    findings: dict[str, Any] = {"imageScanCompletedAt": now, "vulnerabilitySourceUpdatedAt": now}
    if scan.enhanced:
        findings["enhancedFindings"] = [
            {"severity": severity, "status": "ACTIVE", "type": "PACKAGE_VULNERABILITY", "title": f"CVE-{severity}-{n}"}
            for severity, count in scan.counts.items()
            for n in range(count)
        ]
    else:
        findings["findingSeverityCounts"] = dict(scan.counts)
        findings["findings"] = []
    return {"imageScanStatus": status, "imageScanFindings": findings}
