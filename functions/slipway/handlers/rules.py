"""Rule-check function: a rule edited in Parameter Store is checked at once."""

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
    from aws_lambda_powertools.utilities.parser import ValidationError, parse

    from slipway.events import ParameterStoreChangeEvent
    from slipway.rulecheck import RuleChecker
    from slipway.scheduled import ScheduleReach

    try:
        parsed = parse(event=event, model=ParameterStoreChangeEvent)
    except ValidationError as error:
        count("InvalidEvents")
        logger.error("not a Parameter Store change", extra={"problem": str(error)})
        return {"status": "REJECTED"}
    settings = app().settings
    allowed = ScheduleReach(app().reach, settings.allowed_schedules, settings.allowed_event_rules)
    checker = RuleChecker(
        app().rules, app().ecs, app().notifier, settings.rules_path, app().reach, app().clock, scheduled=allowed
    )
    notice = checker.on_change(parsed.detail.name, parsed.detail.operation)
    if notice is not None:
        count(notice.status.title().replace("_", ""))
    return {"status": notice.status if notice else "IGNORED", "parameter": parsed.detail.name}
