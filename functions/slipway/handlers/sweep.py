"""Sweep function: on a schedule, report rollouts that never reached an outcome."""

from __future__ import annotations

from datetime import timedelta
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
    with running(Budget.of(context)):
        return _handle(event, context)


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from slipway.outcome import summarized

    timeout = timedelta(minutes=app().settings.deployment_timeout_minutes)
    reported = app().tracker.sweep(timeout)
    tasks = app().tasks.sweep()  # pre-deploy tasks that stopped unheard of, or ran out of time
    released = app().deployer.release_due()  # freezes that ended, soaks that are done, tasks that ended
    logger.info("sweep done", extra={"reported": reported, "tasks": len(tasks), "released": len(released)})
    return {
        "reported": [{"rollout_id": r, "status": s} for r, s in reported],
        "tasks": [{"task_arn": t.task_arn, "status": t.status} for t in tasks],
        "released": summarized(released),
    }
