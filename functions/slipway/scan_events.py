"""Typed models of the scan events that release pushes held by the scan gate.

Basic scanning: ECR's ``ECR Image Scan`` (``repository-name`` a name). Enhanced scanning:
Amazon Inspector's ``Inspector2 Scan`` (``repository-name`` the repository's ARN). Either
says only that a scan finished: the gate reads the findings from DescribeImageScanFindings,
so an event names the repository whose holds to check again, and nothing more is trusted.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.events import REPOSITORY, REPOSITORY_MAX, REPOSITORY_MIN

SCAN_DETAIL_TYPES = frozenset({"ECR Image Scan", "Inspector2 Scan"})
_REPOSITORY_ARN = re.compile(r"^arn:aws[a-z-]*:ecr:[a-z0-9-]+:\d{12}:repository/(?P<name>.+)$")


def _repository_name(value: str) -> str:
    if not REPOSITORY.fullmatch(value) or not REPOSITORY_MIN <= len(value) <= REPOSITORY_MAX:
        raise ValueError(f"{value!r} is not an ECR repository name")
    return value


class _ScanDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    scan_status: str = Field(alias="scan-status", min_length=1)
    image_digest: str | None = Field(default=None, alias="image-digest")
    image_tags: list[str] = Field(default_factory=list, alias="image-tags")
    # Only severities with findings are listed (Inspector adds a TOTAL).
    finding_severity_counts: dict[str, int] = Field(default_factory=dict, alias="finding-severity-counts")


class EcrImageScanDetail(_ScanDetail):
    """``detail`` of an ``ECR Image Scan`` event (basic scanning)."""

    repository_name: str = Field(alias="repository-name")

    @field_validator("repository_name")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _repository_name(value)

    @property
    def repository(self) -> str:
        return self.repository_name


class Inspector2ScanDetail(_ScanDetail):
    """``detail`` of an ``Inspector2 Scan`` event of an ECR image: ``repository-name`` is the repository ARN."""

    repository_name: str = Field(alias="repository-name")

    @field_validator("repository_name")
    @classmethod
    def _repository_arn(cls, value: str) -> str:
        match = _REPOSITORY_ARN.match(value)
        if not match:
            raise ValueError(f"{value!r} is not an ECR repository ARN (arn:aws:ecr:REGION:ACCOUNT:repository/NAME)")
        _repository_name(match.group("name"))
        return value

    @property
    def repository(self) -> str:
        match = _REPOSITORY_ARN.match(self.repository_name)
        assert match is not None  # validated above
        return match.group("name")


class EcrImageScanEvent(EventBridgeModel):
    """An ``ECR Image Scan`` event as EventBridge delivers it."""

    source: Literal["aws.ecr"]
    detail_type: Literal["ECR Image Scan"] = Field(alias="detail-type")
    detail: EcrImageScanDetail


class Inspector2ScanEvent(EventBridgeModel):
    """An ``Inspector2 Scan`` event (an initial scan completed) as EventBridge delivers it."""

    source: Literal["aws.inspector2"]
    detail_type: Literal["Inspector2 Scan"] = Field(alias="detail-type")
    detail: Inspector2ScanDetail


def parse_scan_event(event: dict[str, Any]) -> EcrImageScanEvent | Inspector2ScanEvent:
    """The typed model of a scan event (pydantic's ValidationError if it is malformed)."""
    if event.get("detail-type") == "Inspector2 Scan":
        return Inspector2ScanEvent.model_validate(event)
    return EcrImageScanEvent.model_validate(event)
