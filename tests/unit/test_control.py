"""Looking at, approving and aborting a strategy rollout in flight (``slipway.control``), against fakes.

``FakeServiceDeployments`` keeps service deployments in the shape DescribeServiceDeployments
returns them and hands them over through the adapter's own parser (``to_service_deployment``),
so what the domain reads is what it would read from ECS. The CLI tests use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway.aws.ecs import to_service_deployment
from slipway.control import Control, summary
from slipway.errors import AwsError, SlipwayError
from slipway.model import Rollout, ServiceDeployment
from slipway.ports import ServiceLookup

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ACCOUNT_REGION = "eu-west-1:123456789012"
SERVICE_ARN = f"arn:aws:ecs:{ACCOUNT_REGION}:service/prod/web"
DEPLOYMENT_ARN = f"arn:aws:ecs:{ACCOUNT_REGION}:service-deployment/prod/web/ejGvqq2ilnbKT9qj0vLJe"
TARGET_REVISION = f"arn:aws:ecs:{ACCOUNT_REGION}:service-revision/prod/web/4980306466373577095"
SOURCE_REVISION = f"arn:aws:ecs:{ACCOUNT_REGION}:service-revision/prod/web/4980306466373570001"
HOOK_ID = "ecs-pause-Xq3J1m5yQ0dP7wWcR2kLbN9tHsA6fV8eU4iZoYgCxTr"
CANARY = {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 15}}
ONCALL = "arn:aws:sts::123456789012:assumed-role/oncall/ana"


# -- builders ---------------------------------------------------------------------


def make_rollout(rollout_id: str = "r-canary", strategy: str = "canary", **changes: Any) -> Rollout:
    """A rollout as history keeps it: prod/web, web:1.5.0, DEPLOYING."""
    values: dict[str, Any] = {
        "rollout_id": rollout_id,
        "key": "prod/web",
        "cluster": "prod",
        "service": "web",
        "service_arn": SERVICE_ARN,
        "repository": "web",
        "tag": "1.5.0",
        "digest": "sha256:" + "b" * 64,
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "b" * 64,
        "rule": "prod",
        "launch_type": "FARGATE",
        "task_definition": f"arn:aws:ecs:{ACCOUNT_REGION}:task-definition/web:8",
        "previous_task_definition": f"arn:aws:ecs:{ACCOUNT_REGION}:task-definition/web:7",
        "deployment_id": "ecs-svc/4980306466373577095",
        "status": "DEPLOYING",
        "reason": "UpdateService accepted the new revision",
        "started_at": T0,
        "event_id": "evt-1",
        "strategy": strategy,
        "service_deployment_arn": DEPLOYMENT_ARN if strategy != "rolling" else None,
    }
    values.update(changes)
    return Rollout(**values)


def pause_hook(status: str = "AWAITING_ACTION", expires_at: datetime = T0 + timedelta(hours=1)) -> dict[str, Any]:
    """A pause hook as DescribeServiceDeployments lists it."""
    return {
        "hookId": HOOK_ID,
        "targetType": "PAUSE",
        "status": status,
        "expiresAt": expires_at,
        "timeoutAction": "ROLLBACK",
    }


def raw_deployment(
    status: str = "IN_PROGRESS",
    stage: str = "PRE_PRODUCTION_TRAFFIC_SHIFT",
    production: float = 0.0,
    test: float = 100.0,
    hooks: Sequence[dict[str, Any]] = (),
    arn: str = DEPLOYMENT_ARN,
    created_at: datetime = T0,
) -> dict[str, Any]:
    """A canary's service deployment in DescribeServiceDeployments' shape."""
    return {
        "serviceDeploymentArn": arn,
        "serviceArn": SERVICE_ARN,
        "clusterArn": f"arn:aws:ecs:{ACCOUNT_REGION}:cluster/prod",
        "status": status,
        "lifecycleStage": stage,
        "targetServiceRevision": {
            "arn": TARGET_REVISION,
            "requestedProductionTrafficWeight": production,
            "requestedTestTrafficWeight": test,
        },
        "sourceServiceRevisions": [
            {"arn": SOURCE_REVISION, "requestedProductionTrafficWeight": 100.0 - production},
        ],
        "lifecycleHookDetails": list(hooks),
        "deploymentConfiguration": CANARY,
        "createdAt": created_at,
        "updatedAt": created_at + timedelta(minutes=2),
    }


def paused_canary() -> dict[str, Any]:
    return raw_deployment(hooks=[pause_hook()])


# -- fakes ------------------------------------------------------------------------


class FakeServiceDeployments:
    """ECS's service-deployment API in memory (the ``DeploymentControl`` port), recording every call.

    Like ECS: ContinueServiceDeployment takes only a hook awaiting action, StopServiceDeployment
    only a deployment in flight, and each moves the deployment on as ECS would.
    """

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def add(self, raw: dict[str, Any]) -> str:
        self.records[raw["serviceDeploymentArn"]] = raw
        return str(raw["serviceDeploymentArn"])

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == operation]

    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup:
        self.calls.append(("DescribeServices", {"cluster": cluster, "services": list(names)}))
        return ServiceLookup()

    def describe_tasks(
        self, cluster: str, deployment_id: str, task_definition: str, limit: int = 3
    ) -> list[dict[str, Any]]:
        self.calls.append(("ListTasks", {"cluster": cluster, "startedBy": deployment_id}))
        return []

    def describe_service_deployments(self, arns: Sequence[str]) -> list[ServiceDeployment]:
        self.calls.append(("DescribeServiceDeployments", {"serviceDeploymentArns": list(arns)}))
        return [to_service_deployment(self.records[arn]) for arn in arns if arn in self.records]

    def list_service_deployments(self, cluster: str, service: str, statuses: Sequence[str] = ()) -> list[str]:
        self.calls.append(("ListServiceDeployments", {"cluster": cluster, "service": service, "status": statuses}))
        mine = [
            raw
            for raw in self.records.values()
            if raw["serviceArn"].endswith(f":service/{cluster.rsplit('/', 1)[-1]}/{service}")  # a name or an ARN
            and (not statuses or raw["status"] in statuses)
        ]
        mine.sort(key=lambda raw: raw["createdAt"], reverse=True)
        return [raw["serviceDeploymentArn"] for raw in mine]

    def continue_service_deployment(self, arn: str, hook_id: str, action: str = "CONTINUE") -> None:
        self.calls.append(
            ("ContinueServiceDeployment", {"serviceDeploymentArn": arn, "hookId": hook_id, "action": action})
        )
        raw = self._found("ContinueServiceDeployment", arn)
        hook = next((h for h in raw["lifecycleHookDetails"] if h["hookId"] == hook_id), None)
        if hook is None or hook["status"] != "AWAITING_ACTION":
            raise AwsError("ContinueServiceDeployment", "InvalidParameterException", f"hook {hook_id} awaits no action")
        hook["status"] = "SUCCEEDED"
        if action == "ROLLBACK":
            raw["status"] = "ROLLBACK_REQUESTED"

    def stop_service_deployment(self, arn: str, stop_type: str = "ROLLBACK") -> None:
        self.calls.append(("StopServiceDeployment", {"serviceDeploymentArn": arn, "stopType": stop_type}))
        raw = self._found("StopServiceDeployment", arn)
        if raw["status"] not in ("PENDING", "IN_PROGRESS"):
            raise AwsError("StopServiceDeployment", "ConflictException", f"the deployment is {raw['status']}")
        raw["status"] = "ROLLBACK_REQUESTED" if stop_type == "ROLLBACK" else "STOP_REQUESTED"

    def _found(self, operation: str, arn: str) -> dict[str, Any]:
        if arn not in self.records:
            raise AwsError(operation, "ServiceDeploymentNotFoundException", f"no service deployment {arn}")
        return self.records[arn]


class FakeControlStore:
    """Rollout history in memory: what ``Control`` reads and writes (``ControlStore``)."""

    def __init__(self, *rollouts: Rollout) -> None:
        self.rollouts = {r.rollout_id: r for r in rollouts}

    def get_rollout(self, rollout_id: str) -> Rollout | None:
        return self.rollouts.get(rollout_id)

    def history(self, key: str, limit: int = 20) -> list[Rollout]:
        found = sorted((r for r in self.rollouts.values() if r.key == key), key=lambda r: r.started_at, reverse=True)
        return found[:limit]

    def annotate(self, rollout: Rollout, **changes: str | None) -> Rollout:
        if rollout.rollout_id not in self.rollouts:  # DynamoDB's attribute_exists(pk)
            raise AwsError("UpdateItem", "ConditionalCheckFailedException", "The conditional request failed")
        stored = replace(self.rollouts[rollout.rollout_id], **{k: v for k, v in changes.items() if v is not None})
        self.rollouts[rollout.rollout_id] = stored
        return stored


def control_of(
    *rollouts: Rollout, deployments: Sequence[dict[str, Any]] = ()
) -> tuple[Control, FakeServiceDeployments, FakeControlStore]:
    ecs, store = FakeServiceDeployments(), FakeControlStore(*rollouts)
    for raw in deployments:
        ecs.add(raw)
    return Control(ecs, store), ecs, store


# -- status -----------------------------------------------------------------------


def test_control_status_without_rollouts_names_the_service() -> None:
    control, _, _ = control_of()

    with pytest.raises(SlipwayError, match="no rollout of prod/web on record"):
        control.status("prod/web")


def test_control_status_of_a_canary_at_a_pause_shows_the_hook_and_the_approve_command() -> None:
    # GIVEN a canary whose deployment waits at the approval pause
    control, _, _ = control_of(make_rollout(), deployments=[paused_canary()])

    # WHEN on-call asks for the service's status
    status = control.status("prod/web")

    # THEN the deployment as ECS shows it now comes with it, and the next step is approve
    assert status.deployment is not None
    assert status.deployment.lifecycle_stage == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    assert [h.hook_id for h in status.waiting] == [HOOK_ID]
    assert status.next_command == "slipway approve r-canary"


def test_control_status_is_the_latest_rollout_of_the_service() -> None:
    older = make_rollout("r-old", status="SUCCEEDED", started_at=T0 - timedelta(days=1))
    control, _, _ = control_of(older, make_rollout(), deployments=[paused_canary()])

    assert control.status("prod/web").rollout.rollout_id == "r-canary"


def test_control_status_of_a_rolling_rollout_asks_ecs_nothing() -> None:
    control, ecs, _ = control_of(make_rollout("r-rolling", strategy="rolling"))

    status = control.status("prod/web")

    assert status.rollout.rollout_id == "r-rolling"
    assert status.deployment is None and status.next_command is None
    assert ecs.calls == []


def test_control_status_of_a_finished_strategy_rollout_asks_ecs_nothing() -> None:
    done = make_rollout(status="SUCCEEDED", finished_at=T0 + timedelta(minutes=30))
    control, ecs, _ = control_of(done, deployments=[raw_deployment("SUCCESSFUL", "CLEAN_UP", production=100.0)])

    assert control.status("prod/web").deployment is None
    assert ecs.calls == []


def test_control_status_without_a_known_deployment_arn_takes_the_service_deployment_in_flight() -> None:
    # GIVEN a rollout recorded before ECS named its service deployment, and an older one that ended
    ended = raw_deployment("SUCCESSFUL", arn=DEPLOYMENT_ARN + "old", created_at=T0 - timedelta(days=1))
    control, ecs, _ = control_of(make_rollout(service_deployment_arn=None), deployments=[ended, paused_canary()])

    status = control.status("prod/web")

    assert status.deployment is not None and status.deployment.arn == DEPLOYMENT_ARN
    assert ecs.calls_of("ListServiceDeployments") == [
        # the cluster by the ARN the service's names: it says which account and Region to ask
        {
            "cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
            "service": "web",
            "status": ["PENDING", "IN_PROGRESS"],
        }
    ]


# -- summary ----------------------------------------------------------------------


def test_summary_of_a_canary_at_a_pause_has_stage_weights_hook_expiry_and_next_command() -> None:
    control, _, _ = control_of(make_rollout(), deployments=[paused_canary()])

    data = summary(control.status("prod/web"))

    assert data["rollout_id"] == "r-canary" and data["image"] == "web:1.5.0" and data["strategy"] == "canary"
    deployment = data["service_deployment"]
    assert deployment["status"] == "IN_PROGRESS"
    assert deployment["lifecycle_stage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    assert (deployment["production_weight"], deployment["source_production_weight"]) == (0.0, 100.0)
    assert deployment["test_weight"] == 100.0
    assert deployment["hooks_waiting"] == [
        {
            "hook_id": HOOK_ID,
            "target_type": "PAUSE",
            "expires_at": T0 + timedelta(hours=1),
            "timeout_action": "ROLLBACK",
        }
    ]
    assert deployment["waits_until"] == T0 + timedelta(hours=1)
    assert deployment["bake_until"] is None
    assert "waiting for approval until 2026-12-02 10:00 UTC, then rollback" in deployment["progress"]
    assert data["next"] == "slipway approve r-canary"


def test_summary_of_a_canary_baking_has_the_bake_end() -> None:
    # GIVEN 10 % of production traffic shifted, with a 15-minute canary bake from the last update
    baking = raw_deployment(stage="PRODUCTION_TRAFFIC_SHIFT", production=10.0)
    control, _, _ = control_of(make_rollout(), deployments=[baking])

    deployment = summary(control.status("prod/web"))["service_deployment"]

    assert deployment["bake_until"] == T0 + timedelta(minutes=2 + 15)
    assert (deployment["production_weight"], deployment["source_production_weight"]) == (10.0, 90.0)
    assert deployment["hooks_waiting"] == []


def test_summary_of_a_rolling_rollout_has_its_deployment_and_no_service_deployment() -> None:
    finished = T0 + timedelta(minutes=3)
    rolling = make_rollout("r-rolling", strategy="rolling", status="SUCCEEDED", finished_at=finished, tag=None)
    control, _, _ = control_of(rolling)

    data = summary(control.status("prod/web"))

    assert data["image"] == "web@sha256:" + "b" * 64
    assert (data["status"], data["deployment_id"], data["finished_at"]) == (
        "SUCCEEDED",
        "ecs-svc/4980306466373577095",
        finished,
    )
    assert data["service_deployment"] is None and data["next"] is None


# -- approve ----------------------------------------------------------------------


def test_control_strategy_rollout_is_none_for_a_rolling_or_unknown_rollout() -> None:
    control, _, _ = control_of(make_rollout(), make_rollout("r-rolling", strategy="rolling"))

    assert control.strategy_rollout("r-canary") is not None
    assert control.strategy_rollout("r-rolling") is None
    assert control.strategy_rollout("r-nope") is None


def test_control_approve_continues_the_awaiting_hook_and_records_who() -> None:
    rollout = make_rollout()
    control, ecs, store = control_of(rollout, deployments=[paused_canary()])

    approval = control.approve(rollout, ONCALL)

    assert ecs.calls_of("ContinueServiceDeployment") == [
        {"serviceDeploymentArn": DEPLOYMENT_ARN, "hookId": HOOK_ID, "action": "CONTINUE"}
    ]
    assert (approval.stage, approval.hook.hook_id) == ("PRE_PRODUCTION_TRAFFIC_SHIFT", HOOK_ID)
    assert store.rollouts["r-canary"].approved_by == ONCALL


def test_control_approve_when_nothing_waits_names_the_stage_and_changes_nothing() -> None:
    rollout = make_rollout()
    shifting = raw_deployment(stage="PRODUCTION_TRAFFIC_SHIFT", production=10.0, hooks=[pause_hook("SUCCEEDED")])
    control, ecs, store = control_of(rollout, deployments=[shifting])

    with pytest.raises(SlipwayError) as raised:
        control.approve(rollout, ONCALL)

    assert str(raised.value) == (
        "rollout r-canary is not waiting for approval (its deployment is IN_PROGRESS at stage PRODUCTION_TRAFFIC_SHIFT)"
    )
    assert ecs.calls_of("ContinueServiceDeployment") == []
    assert store.rollouts["r-canary"].approved_by is None


def test_control_approve_of_a_finished_rollout_says_how_it_ended() -> None:
    rollout = make_rollout(status="ROLLED_BACK")
    control, ecs, _ = control_of(rollout, deployments=[paused_canary()])

    with pytest.raises(SlipwayError, match="cannot approve rollout r-canary: it ended ROLLED_BACK"):
        control.approve(rollout, ONCALL)
    assert ecs.calls == []


# -- abort ------------------------------------------------------------------------


def test_control_abort_rolls_the_deployment_back_and_records_who_and_why() -> None:
    rollout = make_rollout()
    control, ecs, store = control_of(rollout, deployments=[paused_canary()])

    deployment = control.abort(rollout, ONCALL, "p99 latency doubled")

    assert deployment.arn == DEPLOYMENT_ARN
    assert ecs.calls_of("StopServiceDeployment") == [{"serviceDeploymentArn": DEPLOYMENT_ARN, "stopType": "ROLLBACK"}]
    assert ecs.records[DEPLOYMENT_ARN]["status"] == "ROLLBACK_REQUESTED"
    stored = store.rollouts["r-canary"]
    assert (stored.aborted_by, stored.abort_reason) == (ONCALL, "p99 latency doubled")


def test_control_abort_of_a_deployment_rolling_back_already_is_refused() -> None:
    rollout = make_rollout()
    control, ecs, store = control_of(rollout, deployments=[raw_deployment("ROLLBACK_IN_PROGRESS")])

    with pytest.raises(SlipwayError, match="its deployment is ROLLBACK_IN_PROGRESS already"):
        control.abort(rollout, ONCALL, None)
    assert ecs.calls_of("StopServiceDeployment") == []
    assert store.rollouts["r-canary"].aborted_by is None


def test_control_abort_without_a_service_deployment_in_ecs_is_refused() -> None:
    rollout = make_rollout(service_deployment_arn=None)
    control, ecs, _ = control_of(rollout)

    with pytest.raises(SlipwayError, match="ECS shows no service deployment for it"):
        control.abort(rollout, ONCALL, None)
    assert ecs.calls_of("StopServiceDeployment") == []


def test_control_abortable_of_a_rolling_rollout_points_to_rollback() -> None:
    control, _, _ = control_of(make_rollout("r-rolling", strategy="rolling"))

    with pytest.raises(SlipwayError) as raised:
        control.abortable("r-rolling")

    assert "abort is for blue/green, canary and linear rollouts" in str(raised.value)
    assert "use slipway rollback prod/web" in str(raised.value)


def test_control_abortable_of_an_unknown_rollout_says_so() -> None:
    control, _, _ = control_of()

    with pytest.raises(SlipwayError, match="no rollout r-nope on record"):
        control.abortable("r-nope")
