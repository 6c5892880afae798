"""Service deployments and revisions in the shapes of botocore's model for ECS.

``describe`` is a ServiceDeployment (DescribeServiceDeployments), ``brief`` a
ServiceDeploymentBrief (ListServiceDeployments), ``revision_body`` a ServiceRevision
(DescribeServiceRevisions). Keys left out are the ones ECS leaves out; timestamps stay
datetimes, which moto's serializer sends as epoch numbers.

The monitors (``deploymentCircuitBreaker``, ``alarms``) read as in AWS's example
(AWS CLI reference, ``describe-service-deployments``): ``{"status": "DISABLED"}`` when off,
else MONITORING while the deployment runs, TRIGGERED once they failed it and
MONITORING_COMPLETE after; the circuit breaker with its failure count and threshold.
"""

from __future__ import annotations

from typing import Any

from sandbox.service_deployments import HookRun, Revision, ServiceDeployment, breaker_threshold


def summary(record: ServiceDeployment, revision: Revision) -> dict[str, Any]:
    requested, running, pending = record.tasks.get(revision.arn, [0, 0, 0])
    body: dict[str, Any] = {
        "arn": revision.arn,
        "requestedTaskCount": requested,
        "runningTaskCount": running,
        "pendingTaskCount": pending,
    }
    if record.traffic is not None:
        production, test = record.traffic.get(revision.arn, [0.0, 0.0])
        body["requestedTestTrafficWeight"] = test
        body["requestedProductionTrafficWeight"] = production
    return body


def _monitor(enabled: bool, triggered: bool, finished: bool) -> str:
    if not enabled:
        return "DISABLED"
    return "TRIGGERED" if triggered else "MONITORING_COMPLETE" if finished else "MONITORING"


def describe(record: ServiceDeployment) -> dict[str, Any]:
    """The ServiceDeployment shape DescribeServiceDeployments returns."""
    config = record.configuration
    finished = not record.in_flight
    body: dict[str, Any] = {
        "serviceDeploymentArn": record.arn,
        "serviceArn": record.service_arn,
        "clusterArn": record.cluster_arn,
        "createdAt": record.created_at,
        "startedAt": record.started_at,
        "finishedAt": record.finished_at,
        "stoppedAt": record.stopped_at,
        "updatedAt": record.updated_at,
        "sourceServiceRevisions": [summary(record, s) for s in record.sources],
        "targetServiceRevision": summary(record, record.target),
        "status": record.status,
        "statusReason": record.status_reason,
        "lifecycleStage": record.stage,
        "lifecycleHookDetails": [_hook_detail(h) for h in record.hooks] or None,
        "deploymentConfiguration": config,
        "rollback": record.rollback,
    }
    breaker = config.get("deploymentCircuitBreaker") or {}
    status = _monitor(bool(breaker.get("enable")), record.breaker_triggered, finished)
    body["deploymentCircuitBreaker"] = (
        {"status": status}
        if status == "DISABLED"
        else {"status": status, "failureCount": record.failed_tasks, "threshold": breaker_threshold(record.desired)}
    )
    alarms = config.get("alarms") or {}
    status = _monitor(bool(alarms.get("enable")), bool(record.triggered_alarms), finished)
    body["alarms"] = (
        {"status": status}
        if status == "DISABLED"
        else {
            "status": status,
            "alarmNames": list(alarms.get("alarmNames") or []),
            "triggeredAlarmNames": list(record.triggered_alarms),
        }
    )
    return present(body)


def _hook_detail(hook: HookRun) -> dict[str, Any]:
    detail = {
        "hookId": hook.hook_id,
        "targetType": hook.target_type,
        "targetArn": hook.target_arn,
        "status": hook.status,
        "expiresAt": hook.expires_at,
        "timeoutAction": hook.timeout_action,
    }
    return present(detail)


def brief(record: ServiceDeployment) -> dict[str, Any]:
    """The ServiceDeploymentBrief shape ListServiceDeployments returns."""
    body = {
        "serviceDeploymentArn": record.arn,
        "serviceArn": record.service_arn,
        "clusterArn": record.cluster_arn,
        "startedAt": record.started_at,
        "createdAt": record.created_at,
        "finishedAt": record.finished_at,
        "targetServiceRevisionArn": record.target.arn,
        "status": record.status,
        "statusReason": record.status_reason,
    }
    return present(body)


def revision_body(revision: Revision) -> dict[str, Any]:
    """The ServiceRevision shape DescribeServiceRevisions returns."""
    body = {
        "serviceRevisionArn": revision.arn,
        "serviceArn": revision.service_arn,
        "clusterArn": revision.cluster_arn,
        "taskDefinition": revision.task_definition,
        **revision.settings,
        "guardDutyEnabled": False,
        "serviceConnectConfiguration": {"enabled": False},
        "createdAt": revision.created_at,
    }
    return {key: value for key, value in body.items() if value not in (None, [])}


def present(body: dict[str, Any]) -> dict[str, Any]:
    """A shape without the members that have no value: ECS leaves them out of its answers."""
    return {key: value for key, value in body.items() if value is not None}
