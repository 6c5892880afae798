"""Reconcile function: on a schedule, deploy tagged pushes whose ECR event never came."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from slipway.app import app
from slipway.budget import Budget, running
from slipway.telemetry import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    arn = getattr(context, "invoked_function_arn", "") or ""
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    with running(Budget.of(context)):
        report = app().reconciler.run(account, os.environ.get("AWS_REGION", ""))
    logger.info(
        "reconcile done",
        extra={"repositories": report.repositories, "found": len(report.found), "failures": report.failures},
    )
    return {
        "repositories": report.repositories,
        "found": [{"image": r.push.label, "digest": r.push.digest, "outcomes": len(r.outcomes)} for r in report.found],
        "artifacts_ignored": report.artifacts,
        "failures": report.failures,
        "left_for_later": report.left_for_later,
    }
