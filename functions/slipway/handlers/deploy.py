"""Deploy function: an ECR push event in, rollouts and notifications out."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from slipway.app import app
from slipway.errors import RetryLater
from slipway.telemetry import count, logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The idempotency, parser and event-model imports happen on the first invocation, inside
# the handler: the module itself stays as light as the runtime's own boto3 import allows.


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=app().settings.idempotency_hours * 3600)
    config.register_lambda_context(context)
    once = idempotent_function(data_keyword_argument="event", persistence_store=app().idempotency, config=config)(
        process
    )
    result: dict[str, Any] = once(
        event=event, own_account=_account_of(context), own_region=os.environ.get("AWS_REGION", "")
    )
    return result


def process(event: dict[str, Any], own_account: str, own_region: str) -> dict[str, Any]:
    """Parse the push, deploy it, and report; raise RetryLater for what a retry can finish."""
    from aws_lambda_powertools.utilities.parser import ValidationError, parse

    from slipway.events import EcrImageActionEvent
    from slipway.intake import PushRejected, push_from_event, rejection_notice

    try:
        parsed = parse(event=event, model=EcrImageActionEvent)
        push = push_from_event(parsed, own_account, own_region, app().settings.allow_foreign_pushes)
    except (ValidationError, PushRejected) as problem:
        count("ArtifactsIgnored" if isinstance(problem, PushRejected) and problem.artifact else "InvalidEvents")
        notice = rejection_notice(event, problem)
        logger.error("event rejected", extra={"problem": notice.reason, "event_id": event.get("id")})
        if notice.status == "ERROR":
            app().notifier.publish([notice])
        return {"status": "REJECTED", "reason": notice.reason}
    logger.append_keys(repository=push.repository, tag=push.tag, digest=push.digest)
    report = app().deployer.deploy(push)
    if report.retryable or report.notification_failures:
        failures = [f"{o.target.key if o.target else o.rule}: {o.reason}" for o in report.retryable]
        raise RetryLater(failures + report.notification_failures)
    summary: dict[str, Any] = report.summary()
    return summary


def _account_of(context: LambdaContext) -> str:
    arn = getattr(context, "invoked_function_arn", "") or ""
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""
