"""ECR adapter: what a repository holds (the reconcile), and what ECR says of a pushed digest (the image gates)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.errors import AwsError
from slipway.ports import ImageRecord, ScanFindings, SigningStatus


class EcrRegistry:
    """DescribeImages of the repositories Slipway has rules for."""

    def __init__(self, ecr_client: Any = None, call: Caller | None = None) -> None:
        self._client = ecr_client or client("ecr")
        self._call = call or Caller("ecr", region_of(self._client))

    def tagged_images(self, repository: str, since: datetime) -> list[ImageRecord]:
        """The repository's tagged images pushed after ``since``, newest first.

        DescribeImages has no order and no time filter: every page is read (up to 1000
        images a page) and sorted here.
        """
        images: list[ImageRecord] = []
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            response = self._call(
                "DescribeImages",
                self._client.describe_images,
                repositoryName=repository,
                filter={"tagStatus": "TAGGED"},
                maxResults=1000,
                **extra,
            )
            for detail in response.get("imageDetails", []):
                pushed = _aware(detail.get("imagePushedAt"))
                if pushed is None or pushed <= since or not detail.get("imageTags"):
                    continue
                images.append(
                    ImageRecord(
                        repository=repository,
                        digest=str(detail["imageDigest"]),
                        tags=tuple(str(t) for t in detail["imageTags"]),
                        pushed_at=pushed,
                        manifest_media_type=detail.get("imageManifestMediaType"),
                        artifact_media_type=detail.get("artifactMediaType"),
                    )
                )
            token = response.get("nextToken")
            if not token:
                break
        return sorted(images, key=lambda image: image.pushed_at, reverse=True)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ECR's scan statuses that have findings to count: a basic scan done, an enhanced one monitoring.
SCANNED = frozenset({"COMPLETE", "ACTIVE"})
NOT_FOUND = "NOT_FOUND"  # no scan of the digest yet (ScanNotFoundException)

Regional = Callable[[str | None], tuple[Any, Caller]]


class EcrImageChecks:
    """DescribeImageScanFindings and DescribeImageSigningStatus of pushed digests, in any registry Slipway reads.

    ``regional`` gives the client and caller of a Region (None: Slipway's own): a push
    from an AllowedRegistries Region is read there, with its account as ``registryId``.
    """

    def __init__(self, regional: Regional) -> None:
        self._regional = regional
        self._clients: dict[str | None, tuple[Any, Caller]] = {}

    def _client(self, region: str | None) -> tuple[Any, Caller]:
        if region not in self._clients:
            self._clients[region] = self._regional(region)
        return self._clients[region]

    def scan_findings(self, registry_id: str, repository: str, digest: str, region: str | None = None) -> ScanFindings:
        """The digest's scan status and counts per severity, as ECR gives them.

        ECR returns ``findingSeverityCounts`` for basic and enhanced scanning alike; where it is
        missing, the enhanced findings are counted by severity, every page of them.
        """
        ecr, call = self._client(region)
        counts: dict[str, int] = {}
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            try:
                response = call(
                    "DescribeImageScanFindings",
                    ecr.describe_image_scan_findings,
                    registryId=registry_id,
                    repositoryName=repository,
                    imageId={"imageDigest": digest},
                    maxResults=1000,
                    **extra,
                )
            except AwsError as error:
                if error.code == "ScanNotFoundException":
                    return ScanFindings(NOT_FOUND, error.message)
                raise
            status = response.get("imageScanStatus") or {}
            findings = response.get("imageScanFindings") or {}
            if "findingSeverityCounts" in findings:
                counts = {str(k): int(v) for k, v in findings["findingSeverityCounts"].items() if int(v) > 0}
                token = None
            else:
                for finding in findings.get("enhancedFindings") or []:
                    severity = str(finding.get("severity") or "UNTRIAGED")
                    counts[severity] = counts.get(severity, 0) + 1
                token = response.get("nextToken")
            if not token:
                return ScanFindings(str(status.get("status") or ""), str(status.get("description") or ""), counts)

    def signing_status(
        self, registry_id: str, repository: str, digest: str, region: str | None = None
    ) -> list[SigningStatus]:
        """Each signing profile's status for the digest (one per signing rule it matched)."""
        ecr, call = self._client(region)
        response = call(
            "DescribeImageSigningStatus",
            ecr.describe_image_signing_status,
            registryId=registry_id,
            repositoryName=repository,
            imageId={"imageDigest": digest},
        )
        return [
            SigningStatus(
                profile_arn=str(entry.get("signingProfileArn") or ""),
                status=str(entry.get("status") or ""),
                failure_code=entry.get("failureCode"),
                failure_reason=entry.get("failureReason"),
            )
            for entry in response.get("signingStatuses") or []
        ]
