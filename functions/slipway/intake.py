"""From an EventBridge event to a Push, or a precise reason why not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from slipway.artifacts import artifact_kind
from slipway.events import EcrImageActionEvent, EcrReplicationActionEvent
from slipway.model import Push
from slipway.notifications import Notification
from slipway.places import ACCOUNT, Place


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


def push_from_event(
    event: EcrImageActionEvent | EcrReplicationActionEvent, home: Place, registries: tuple[str, ...]
) -> Push:
    """The Push an ECR Image Action (or Replication Action) event describes, if Slipway should act on it.

    A replication is a push in its destination registry (the event's account and Region):
    ECR emits no Image Action there, and the services of that Region pull the replica.
    """
    detail = event.detail
    replicated = isinstance(event, EcrReplicationActionEvent)
    expected = "REPLICATE" if replicated else "PUSH"
    if detail.action_type != expected or detail.result != "SUCCESS":
        raise PushRejected(_not_a_push(detail.action_type, detail.result, event), ignored=True)
    # Before the registry check: an artifact is never deployed, so a replicated signature
    # is no error to report.
    artifact = artifact_kind(detail.manifest_media_type, detail.artifact_media_type, detail.image_tag)
    if artifact:
        label = f"{detail.repository_name}:{detail.image_tag}" if detail.image_tag else detail.repository_name
        raise PushRejected(
            f"{label} is a {artifact}, not a container image: Slipway deploys images only",
            ignored=True,
            artifact=artifact,
        )
    if not registry_allowed(event.account, event.region, home, registries):
        what = "replication into" if replicated else "push from"
        raise PushRejected(
            f"{what} account {event.account} in {event.region} is not from a registry this stack deploys "
            f"(its own, {home.account} in {home.region}, and AllowedRegistries: {', '.join(registries) or 'none'}); "
            "add the account and Region to the AllowedRegistries parameter to deploy such pushes"
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


def registry_allowed(account: str, region: str, home: Place, registries: tuple[str, ...]) -> bool:
    """Whether a push from ``account`` in ``region`` is one to deploy: each is home's or listed."""
    accounts = {home.account, *(r for r in registries if ACCOUNT.match(r))}
    regions = {home.region, *(r for r in registries if not ACCOUNT.match(r))}
    return (not home.account or account in accounts) and (not home.region or region in regions)


def _not_a_push(action: str, result: str, event: EcrImageActionEvent | EcrReplicationActionEvent) -> str:
    if isinstance(event, EcrReplicationActionEvent):
        detail = event.detail
        origin = f" from {detail.source_account} in {detail.source_region}" if detail.source_account else ""
        return f"ECR replication of {detail.repository_name}{origin} with result {result} is not a push to deploy"
    return f"ECR {action} with result {result} is not a push to deploy"


def parse_push_event(event: dict[str, Any]) -> EcrImageActionEvent | EcrReplicationActionEvent:
    """The typed model of an ECR push or replication event (pydantic's ValidationError if it is neither)."""
    if event.get("detail-type") == "ECR Replication Action":
        return EcrReplicationActionEvent.model_validate(event)
    return EcrImageActionEvent.model_validate(event)


def rejection_notice(event: Any, problem: Exception) -> Notification:
    """A notification for an event that cannot be deployed (status ERROR or IGNORED)."""
    event = event if isinstance(event, dict) else {}
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    is_ecr_push = (
        event.get("source") == "aws.ecr"
        and detail.get("action-type", "PUSH") in ("PUSH", "REPLICATE")
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
        account=_text(event.get("account")),
        region=_text(event.get("region")),
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
