"""From an EventBridge event to a Push, or a precise reason why not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from slipway.artifacts import artifact_kind
from slipway.events import EcrImageActionEvent
from slipway.model import Push
from slipway.notifications import Notification


class PushRejected(ValueError):
    """An ECR event Slipway will not deploy; ``ignored`` events are not errors.

    ``artifact`` says what a push that is not a container image holds (a signature, an
    SBOM, a Helm chart, ...); such pushes are ignored.
    """

    def __init__(self, reason: str, *, ignored: bool = False, artifact: str | None = None) -> None:
        self.reason = reason
        self.ignored = ignored
        self.artifact = artifact
        super().__init__(reason)


def push_from_event(event: EcrImageActionEvent, own_account: str, own_region: str, allow_foreign: bool) -> Push:
    """The Push an ECR Image Action event describes, if Slipway should act on it."""
    detail = event.detail
    if detail.action_type != "PUSH" or detail.result != "SUCCESS":
        raise PushRejected(
            f"ECR {detail.action_type} with result {detail.result} is not a push to deploy", ignored=True
        )
    # Before the account check: an artifact is never deployed, so a replicated signature
    # is no error to report.
    artifact = artifact_kind(detail.manifest_media_type, detail.artifact_media_type, detail.image_tag)
    if artifact:
        label = f"{detail.repository_name}:{detail.image_tag}" if detail.image_tag else detail.repository_name
        raise PushRejected(
            f"{label} is a {artifact}, not a container image: Slipway deploys images only",
            ignored=True,
            artifact=artifact,
        )
    foreign = (own_account and event.account != own_account) or (own_region and event.region != own_region)
    if foreign and not allow_foreign:
        raise PushRejected(
            f"push from account {event.account} in {event.region} is not from this stack's account "
            f"{own_account} in {own_region}; set the AllowForeignPushes parameter to deploy such pushes"
        )
    return Push(
        event_id=event.id,
        account=event.account,
        region=event.region,
        repository=detail.repository_name,
        digest=detail.image_digest,
        tag=detail.image_tag,
        time=event.time,
    )


def rejection_notice(event: Any, problem: Exception) -> Notification:
    """A notification for an event that cannot be deployed (status ERROR or IGNORED)."""
    event = event if isinstance(event, dict) else {}
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    is_ecr_push = (
        event.get("source") == "aws.ecr"
        and detail.get("action-type", "PUSH") == "PUSH"
        and detail.get("result", "SUCCESS") == "SUCCESS"
    )
    if isinstance(problem, PushRejected):
        status, reason = ("IGNORED" if problem.ignored else "ERROR"), problem.reason
    elif isinstance(problem, ValidationError) and is_ecr_push:
        status, reason = "ERROR", "malformed ECR push event: " + describe_validation(problem)
    elif event.get("source") == "aws.ecr" and isinstance(problem, ValidationError):
        status = "IGNORED"
        reason = f"ECR {detail.get('action-type')} with result {detail.get('result')} is not a push to deploy"
    else:
        status = "IGNORED"
        reason = f"not an ECR push event (source {event.get('source')!r}, detail-type {event.get('detail-type')!r})"
    return Notification(
        status=status,
        repository=_text(detail.get("repository-name")),
        tag=_text(detail.get("image-tag")),
        digest=_text(detail.get("image-digest")),
        reason=reason,
        error_code="InvalidEvent" if status == "ERROR" else None,
        event_id=_text(event.get("id")),
        time=datetime.now(UTC),
    )


def describe_validation(error: ValidationError) -> str:
    """``field: problem`` for each error, in the event's own key names."""
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        parts.append(f"{path}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def _text(value: Any) -> str | None:
    return value[:256] if isinstance(value, str) and value else None
