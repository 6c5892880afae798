"""DescribeServiceDeployments, ListServiceDeployments, ContinueServiceDeployment,
StopServiceDeployment and DescribeServiceRevisions, answered from the sandbox's service
deployments through moto's ECS response class (``HANDLERS`` are its new methods).

Errors are the ones botocore's model lists for each operation. Where ECS documents no
message or no choice between them, the sandbox's reading:
- a malformed ARN is an InvalidParameterException; a well-formed one ECS does not know is
  a ``failures`` entry (reason MISSING) when describing, ServiceDeploymentNotFoundException
  when continuing or stopping;
- ContinueServiceDeployment with an unknown hook, a hook not AWAITING_ACTION or a
  deployment not IN_PROGRESS is an InvalidParameterException (the model lists no
  ConflictException for it); StopServiceDeployment of a finished deployment, or ABORT of
  one rolling back, is a ConflictException;
- StopServiceDeployment without ``stopType`` rolls back (the only type ECS documents);
- ListServiceDeployments lists newest first, 20 to a page unless ``maxResults`` says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException

from sandbox.deployment_lifecycle import Lifecycle
from sandbox.service_deployment_shapes import brief, describe, revision_body
from sandbox.service_deployments import AWAITING, ROLLING_BACK, ServiceDeployment, book

DEPLOYMENT_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-deployment/[^/]+/[^/]+/[A-Za-z0-9_-]+$")
REVISION_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-revision/[^/]+/[^/]+/[0-9]+$")
STOP_REASON = "ECS deployment rollback: requested by StopServiceDeployment."
ABORT_REASON = "ECS deployment stopped: aborted by StopServiceDeployment."


class ServiceDeploymentNotFoundException(ECSException):
    def __init__(self, arn: str) -> None:
        super().__init__("ServiceDeploymentNotFoundException", f"The service deployment {arn} does not exist.")


class ConflictException(ECSException):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


def _arns(response: Any, name: str, pattern: re.Pattern[str]) -> list[str]:
    arns = list(response._get_param(name) or [])
    if not 1 <= len(arns) <= 20:
        raise InvalidParameterException(f"{name} must contain between 1 and 20 ARNs.")
    for arn in arns:
        if not pattern.match(arn):
            raise InvalidParameterException(f"Invalid identifier: {arn} is not a valid ARN for {name}.")
    return arns


def _record(response: Any, arn: str) -> ServiceDeployment:
    if not DEPLOYMENT_ARN.match(arn or ""):
        raise InvalidParameterException(f"Invalid identifier: {arn} is not a service deployment ARN.")
    record = book(response.ecs_backend).deployments.get(arn)
    if record is None:
        raise ServiceDeploymentNotFoundException(arn)
    return record


def _lifecycle(response: Any) -> Lifecycle:
    return Lifecycle(response.current_account, response.region)


def describe_service_deployments(self: Any) -> ActionResult:
    known = book(self.ecs_backend).deployments
    arns = _arns(self, "serviceDeploymentArns", DEPLOYMENT_ARN)
    return ActionResult(
        {
            "serviceDeployments": [describe(known[a]) for a in arns if a in known],
            "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in known],
        }
    )


def describe_service_revisions(self: Any) -> ActionResult:
    known = book(self.ecs_backend).revisions
    arns = _arns(self, "serviceRevisionArns", REVISION_ARN)
    return ActionResult(
        {
            "serviceRevisions": [revision_body(known[a]) for a in arns if a in known],
            "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in known],
        }
    )


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def list_service_deployments(self: Any) -> ActionResult:
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("service"))
    statuses = set(self._get_param("status") or [])
    created = self._get_param("createdAt") or {}
    after, before = _moment(created.get("after")), _moment(created.get("before"))
    limit = self._get_param("maxResults") or 20
    if not 1 <= int(limit) <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    found = [
        r
        for r in book(self.ecs_backend).of_service(service.arn)
        if (not statuses or r.status in statuses)
        and (after is None or r.created_at >= after)
        and (before is None or r.created_at <= before)
    ]
    token = self._get_param("nextToken")
    start = 0
    if token:
        start = next((i for i, r in enumerate(found) if r.arn == token), -1)
        if start < 0:
            raise InvalidParameterException("The nextToken is not valid.")
    page = found[start : start + int(limit)]
    result: dict[str, Any] = {"serviceDeployments": [brief(r) for r in page]}
    if start + int(limit) < len(found):
        result["nextToken"] = found[start + int(limit)].arn
    return ActionResult(result)


def continue_service_deployment(self: Any) -> ActionResult:
    arn = self._get_param("serviceDeploymentArn")
    record = _record(self, arn)
    hook_id = self._get_param("hookId")
    action = self._get_param("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise InvalidParameterException(f"action must be CONTINUE or ROLLBACK, not {action}.")
    hook = next((h for h in record.hooks if h.hook_id == hook_id), None)
    if hook is None:
        raise InvalidParameterException(f"The lifecycle hook {hook_id} does not exist in service deployment {arn}.")
    if record.status != "IN_PROGRESS":
        raise InvalidParameterException(f"The service deployment {arn} is {record.status}, not IN_PROGRESS.")
    if hook.status != AWAITING:
        raise InvalidParameterException(f"The lifecycle hook {hook_id} is {hook.status}, not {AWAITING}.")
    events = _lifecycle(self).act_on_hook(record, hook, action)
    book(self.ecs_backend).outbox.extend(events)
    return ActionResult({"serviceDeploymentArn": arn})


def stop_service_deployment(self: Any) -> ActionResult:
    arn = self._get_param("serviceDeploymentArn")
    record = _record(self, arn)
    stop_type = self._get_param("stopType") or "ROLLBACK"
    if stop_type not in ("ROLLBACK", "ABORT"):
        raise InvalidParameterException(f"stopType must be ROLLBACK or ABORT, not {stop_type}.")
    if not record.in_flight:
        raise ConflictException(f"The service deployment {arn} is {record.status} and can't be stopped.")
    lifecycle = _lifecycle(self)
    if stop_type == "ABORT":
        if record.status in ROLLING_BACK:
            raise ConflictException(f"The service deployment {arn} is {record.status} and can't be aborted.")
        lifecycle.halt(record, ABORT_REASON)
    elif record.status not in ROLLING_BACK and record.status != "STOP_REQUESTED":
        book(self.ecs_backend).outbox.extend(lifecycle.roll_back(record, STOP_REASON))
    return ActionResult({"serviceDeploymentArn": arn})


HANDLERS: dict[str, Callable[[Any], ActionResult]] = {
    "describe_service_deployments": describe_service_deployments,
    "list_service_deployments": list_service_deployments,
    "continue_service_deployment": continue_service_deployment,
    "stop_service_deployment": stop_service_deployment,
    "describe_service_revisions": describe_service_revisions,
}
