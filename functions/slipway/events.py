"""Typed models of the EventBridge events Slipway consumes."""

from __future__ import annotations

import re
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, field_validator

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# ECR repository names exactly as ECR's API model has them (botocore's ecr 2015-09-21
# service-2.json, shape RepositoryName): length 2 to 256 and the pattern
# [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*, so components
# are joined by ".", "_", "__" or any run of "-" ("team__svc", "my--app"), never "..".
REPOSITORY_MIN, REPOSITORY_MAX = 2, 256
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
# Image tags as ECR allows them: its API model gives ImageTag a length of 1 to 300 and no
# pattern (botocore's ecr service-2.json, shape ImageTag), and the service refuses other
# characters with InvalidParameterException "must satisfy regular expression
# '[a-zA-Z0-9-_.]+'". Docker's reference grammar is narrower (a word character first, at
# most 128), so it would refuse tags ECR holds, such as ones pushed through PutImage.
TAG_MAX = 300
TAG = re.compile(rf"^[A-Za-z0-9_.-]{{1,{TAG_MAX}}}$")


class EcrImageActionDetail(BaseModel):
    """``detail`` of an ``ECR Image Action`` event (hyphenated keys aliased)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    action_type: str = Field(alias="action-type")
    result: str
    repository_name: str = Field(alias="repository-name", min_length=REPOSITORY_MIN, max_length=REPOSITORY_MAX)
    image_digest: str = Field(alias="image-digest")
    image_tag: str | None = Field(default=None, alias="image-tag")
    manifest_media_type: str | None = Field(default=None, alias="manifest-media-type")
    artifact_media_type: str | None = Field(default=None, alias="artifact-media-type")

    @field_validator("repository_name")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not REPOSITORY.fullmatch(value):
            raise ValueError(f"{value!r} is not an ECR repository name")
        return value

    @field_validator("image_digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST.fullmatch(value):
            raise ValueError(f"{value!r} is not a sha256 image digest (sha256: and 64 hex digits)")
        return value

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not TAG.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid image tag")
        return value


class EcrImageActionEvent(EventBridgeModel):
    """An ``ECR Image Action`` event as EventBridge delivers it."""

    source: Literal["aws.ecr"]
    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    detail: EcrImageActionDetail


class EcrReplicationActionDetail(EcrImageActionDetail):
    """``detail`` of an ``ECR Replication Action`` event: emitted in the destination registry."""

    source_account: str | None = Field(default=None, alias="source-account")
    source_region: str | None = Field(default=None, alias="source-region")


class EcrReplicationActionEvent(EventBridgeModel):
    """An ``ECR Replication Action`` event; ``account`` and ``region`` are the destination's."""

    source: Literal["aws.ecr"]
    detail_type: Literal["ECR Replication Action"] = Field(alias="detail-type")
    detail: EcrReplicationActionDetail


class EcsDeploymentDetail(BaseModel):
    """``detail`` of an ``ECS Deployment State Change`` event."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    event_type: str = Field(default="INFO", alias="eventType")
    event_name: str = Field(alias="eventName")
    deployment_id: str = Field(alias="deploymentId")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    reason: str | None = None


class EcsDeploymentEvent(EventBridgeModel):
    """An ``ECS Deployment State Change`` event; ``resources[0]`` is the service ARN."""

    source: Literal["aws.ecs"]
    detail_type: Literal["ECS Deployment State Change"] = Field(alias="detail-type")
    detail: EcsDeploymentDetail

    @property
    def service_arn(self) -> str:
        return self.resources[0] if self.resources else ""


class EcsHookEvent(EventBridgeModel):
    """An ``ECS Hook State Change`` event (a lifecycle hook waits for action, or moved on).

    AWS documents that ECS emits it (event name HOOK_AWAITING_ACTION for a pause hook)
    but not its detail; Slipway needs only the service, from ``resources`` (a service or
    service deployment ARN) or else ``detail.serviceDeploymentArn``, and reads everything
    else from DescribeServiceDeployments.
    """

    source: Literal["aws.ecs"]
    detail_type: Literal["ECS Hook State Change"] = Field(alias="detail-type")
    detail: dict[str, Any]

    @property
    def service_arn(self) -> str:
        """The ARN that names the service: a service's, else a service deployment's."""
        named = [*self.resources, str(self.detail.get("serviceDeploymentArn") or "")]
        return next((r for r in named if ":service/" in r), "") or next(
            (r for r in named if ":service-deployment/" in r), ""
        )


class ParameterStoreChangeDetail(BaseModel):
    """``detail`` of a ``Parameter Store Change`` event."""

    model_config = ConfigDict(frozen=True)

    operation: str
    name: str
    type: str | None = None
    description: str | None = None


class ParameterStoreChangeEvent(EventBridgeModel):
    """A ``Parameter Store Change`` event (Create, Update, Delete, LabelParameterVersion)."""

    source: Literal["aws.ssm"]
    detail_type: Literal["Parameter Store Change"] = Field(alias="detail-type")
    detail: ParameterStoreChangeDetail
