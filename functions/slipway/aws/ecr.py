"""ECR adapter: what a repository holds, for the reconcile of pushes whose events never came."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.ports import ImageRecord


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
