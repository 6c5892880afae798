"""Deploy function: an ECR push event in (or a continuation from the work queue), rollouts out.

Two event sources invoke it: EventBridge with ``ECR Image Action`` pushes (and the scan
events that release pushes the scan gate holds), and SQS with the continuations that
earlier invocations handed on when their time ran short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.app import app
from slipway.budget import Budget, running
from slipway.errors import RetryLater
from slipway.telemetry import count, logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from slipway.report import PushReport

# The idempotency, parser and event-model imports happen on the first invocation, inside
# the handler: the module itself stays as light as the runtime's own boto3 import allows.


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with running(Budget.of(context)):
        if isinstance(event.get("Records"), list):
            return carry_on(event, context)
        if event.get("detail-type") in ("ECR Image Scan", "Inspector2 Scan"):
            return scan_event(event)
        return push_event(event, context)


def push_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An ECR push, once per event id (Powertools idempotency: a redelivery returns the first result)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=app().settings.idempotency_hours * 3600)
    config.register_lambda_context(context)
    once = idempotent_function(data_keyword_argument="event", persistence_store=app().idempotency, config=config)(
        process
    )
    result: dict[str, Any] = once(event=event)
    return result


def process(event: dict[str, Any]) -> dict[str, Any]:
    """Parse the push (or replication), deploy it, and report; raise RetryLater for what a retry must finish."""
    from pydantic import ValidationError

    from slipway.intake import PushRejected, parse_push_event, push_from_event, rejection_notice

    settings = app().settings
    try:
        push = push_from_event(parse_push_event(event), app().home, settings.allowed_registries)
    except (ValidationError, PushRejected) as problem:
        count("ArtifactsIgnored" if isinstance(problem, PushRejected) and problem.artifact else "InvalidEvents")
        notice = rejection_notice(event, problem)
        logger.error("event rejected", extra={"problem": notice.reason, "event_id": event.get("id")})
        if notice.status == "ERROR":
            app().notifier.publish([notice])
        return {"status": "REJECTED", "reason": notice.reason}
    logger.append_keys(repository=push.repository, tag=push.tag, digest=push.digest)
    report = app().deployer.deploy(push)
    return _result(report)


def scan_event(event: dict[str, Any]) -> dict[str, Any]:
    """A scan finished (ECR basic or Inspector enhanced): check the repository's holds again."""
    from pydantic import ValidationError

    from slipway.intake import describe_validation
    from slipway.outcome import summarized
    from slipway.scan_events import parse_scan_event

    try:
        scanned = parse_scan_event(event)
    except ValidationError as problem:
        count("InvalidEvents")
        reason = f"malformed {event.get('detail-type')} event: {describe_validation(problem)}"
        logger.error("scan event rejected", extra={"problem": reason, "event_id": event.get("id")})
        return {"status": "REJECTED", "reason": reason}
    repository = scanned.detail.repository
    logger.append_keys(repository=repository, digest=scanned.detail.image_digest)
    logger.info("scan finished", extra={"scan_status": scanned.detail.scan_status, "source": scanned.source})
    released = app().deployer.release_due(repository)
    return {
        "status": "RELEASED" if released else "NO_CHANGE",
        "repository": repository,
        "released": summarized(released),
    }


def carry_on(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Continuations from the work queue; a message whose work must be retried is reported as failed."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    # A failed continuation goes back to the queue (and, after five receives, to the DLQ); the
    # invocation itself does not fail: with one message per batch it would change nothing.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(event=event, record_handler=_continuation, processor=processor, context=context)
    return dict(response)


def _continuation(record: SQSRecord) -> dict[str, Any]:
    from pydantic import ValidationError

    from slipway.handon import Continuation
    from slipway.intake import describe_validation

    try:
        continuation = Continuation.model_validate_json(record.body)
    except ValidationError as problem:
        count("InvalidEvents")
        reason = describe_validation(problem)
        logger.error("malformed continuation", extra={"message_id": record.message_id, "problem": reason})
        raise
    push = continuation.push
    logger.append_keys(repository=push.repository, tag=push.tag, digest=push.digest, event_id=push.event_id)
    return _result(app().deployer.carry_on(continuation))


def _result(report: PushReport) -> dict[str, Any]:
    if report.retryable or report.notification_failures or report.hand_on_failure:
        failures = [f"{o.target.key if o.target else o.rule}: {o.reason}" for o in report.retryable]
        failures += report.notification_failures + ([report.hand_on_failure] if report.hand_on_failure else [])
        raise RetryLater(failures)
    summary: dict[str, Any] = report.summary()
    return summary
