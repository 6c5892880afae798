"""Track function: ECS deployment and lifecycle hook state changes in, rollout outcomes and progress out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.app import app
from slipway.budget import Budget, running
from slipway.telemetry import count, logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with running(Budget.of(context)):
        return _handle(event, context)


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "ECS Hook State Change":
        return _hook(event)
    if event.get("detail-type") == "ECS Task State Change":
        return _task(event)
    return _deployment(event)


def _task(event: dict[str, Any]) -> dict[str, Any]:
    """A pre-deploy task stopped: record how, and release (or end) the holds waiting for it."""
    from aws_lambda_powertools.utilities.parser import ValidationError, parse

    from slipway.outcome import summarized
    from slipway.task_events import EcsTaskEvent
    from slipway.task_run import task_end

    try:
        parsed = parse(event=event, model=EcsTaskEvent)
    except ValidationError as error:
        count("InvalidEvents")
        logger.error("not an ECS task state change", extra={"problem": str(error)})
        return {"status": "REJECTED"}
    detail = parsed.detail
    logger.append_keys(task_arn=detail.task_arn, last_status=detail.last_status)
    run = app().store.task_run_by_arn(detail.task_arn)
    end = task_end(detail.task(), run.container) if run else None
    ended = app().tasks.stopped(end) if end else None
    if ended is None:
        return {"status": "NO_CHANGE", "task_arn": detail.task_arn}
    released = app().deployer.release_due(ended.repository)
    return {"status": ended.status, "task_arn": detail.task_arn, "released": summarized(released)}


def _hook(event: dict[str, Any]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.parser import ValidationError, parse

    from slipway.events import EcsHookEvent
    from slipway.tracking import key_of_arn

    try:
        parsed = parse(event=event, model=EcsHookEvent)
    except ValidationError as error:
        count("InvalidEvents")
        logger.error("not an ECS hook state change", extra={"problem": str(error)})
        return {"status": "REJECTED"}
    key = key_of_arn(parsed.service_arn, app().home)
    if not key:
        count("InvalidEvents")
        logger.error("ECS hook state change names no service", extra={"resources": parsed.resources})
        return {"status": "REJECTED"}
    logger.append_keys(service=key, event_name=parsed.detail.get("eventName"))
    return {"status": app().tracker.on_service(key) or "NO_CHANGE", "service": key}


def _deployment(event: dict[str, Any]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.parser import ValidationError, parse

    from slipway.events import EcsDeploymentEvent
    from slipway.outcome import summarized
    from slipway.tracking import DeploymentChange

    try:
        parsed = parse(event=event, model=EcsDeploymentEvent)
    except ValidationError as error:
        count("InvalidEvents")
        logger.error("not an ECS deployment state change", extra={"problem": str(error)})
        return {"status": "REJECTED"}
    change = DeploymentChange(
        service_arn=parsed.service_arn,
        deployment_id=parsed.detail.deployment_id,
        event_name=parsed.detail.event_name,
        reason=parsed.detail.reason or "",
        time=parsed.time,
        home=app().home,
    )
    logger.append_keys(deployment_id=change.deployment_id, service=change.service_key, event_name=change.event_name)
    sent = app().tracker.on_change(change)
    released: list[Any] = []
    if sent is not None:
        # An outcome may open gates: a promotion source succeeded, a wave slot freed up.
        rollout = app().store.rollout_by_deployment(change.deployment_id)
        repository = rollout[0].repository if rollout else None
        released = app().deployer.release_due(repository) if repository else []
    return {
        "status": sent or "NO_CHANGE",
        "deployment_id": change.deployment_id,
        "released": summarized(released),
    }
