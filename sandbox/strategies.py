"""ECS's native deployment strategies in moto: BLUE_GREEN, CANARY and LINEAR, stage by stage.

moto stores ``deploymentConfiguration`` but implements no service deployments. ``install``
(run by ``bridge.install_ecs_deployments``) gives moto's ECS service deployments as ECS
keeps them (``sandbox/service_deployment_wiring.py``) and the APIs that read and act on
them (``sandbox/service_deployment_api.py``). ``Strategies`` is the clockwork ECS runs
and moto lacks: it takes a deployment through its strategy's stages
(``sandbox/strategy_plans.py``), runs its lifecycle hooks and its alarms, and returns the
EventBridge events ECS would send, as EventBridge delivers them. The product sees only
the ECS API and those events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox import bridge
from sandbox.deployment_lifecycle import Lifecycle, hook_event
from sandbox.service_deployment_wiring import install
from sandbox.service_deployments import AWAITING, Book, HookRun, ServiceDeployment, book, hook_timeout, new_hook_id
from sandbox.service_revisions import show

__all__ = ["Strategies", "hook_event", "install"]

STARTED = frozenset({"PENDING", "IN_PROGRESS"})
MOVING = STARTED | {"ROLLBACK_IN_PROGRESS"}


class Strategies:
    """Drives one moto account's BLUE_GREEN, CANARY and LINEAR service deployments.

    Each method acts on the service's current service deployment (the one DescribeServices
    names in ``currentServiceDeployment``) and returns the events ECS would deliver. Time is
    the sandbox clock's: ``elapse`` moves it on, and ``advance`` past a bake (a canary's or
    linear step's bake, BAKE_TIME) moves it to the bake's end, as if ECS had waited it out,
    so the next stage's ``updatedAt`` is the baking stage's plus its minutes.
    """

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region
        self._lifecycle = Lifecycle(account, region)

    @property
    def _book(self) -> Book:
        return book(bridge.ecs_backend(self.account, self.region))

    @property
    def now(self) -> datetime:
        """The sandbox's time, which stamps service deployments, hooks and events."""
        return self._book.clock.now()

    @now.setter
    def now(self, moment: datetime) -> None:
        self._book.clock.reach(moment)  # forward only

    def elapse(self, minutes: float) -> datetime:
        """Move the sandbox clock on; returns the new time."""
        return self._book.clock.elapse(minutes)

    def current(self, cluster: str, service: str) -> ServiceDeployment:
        """The service's current service deployment, as the sandbox keeps it."""
        moto_service = bridge.ecs_backend(self.account, self.region)._get_service(cluster, service)
        arn = getattr(moto_service, "current_service_deployment", None)
        if arn is None:
            raise ValueError(f"{cluster}/{service} has no service deployment")
        return self._book.deployments[arn]

    def advance(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """The next step of the strategy's documented order; a pause awaiting action holds it.

        PENDING starts at the first stage; after CLEAN_UP comes SUCCESSFUL (with
        SERVICE_DEPLOYMENT_COMPLETED); a rollback under way ends ROLLBACK_SUCCESSFUL.
        """
        record = self.current(cluster, service)
        if record.status == "ROLLBACK_IN_PROGRESS":
            return self._lifecycle.finish_rollback(record)
        if record.status not in STARTED:
            raise ValueError(f"service deployment {record.arn} is {record.status}: there is nothing to advance")
        if not record.plan:
            raise ValueError(
                f"{record.arn} has no stages ({record.strategy}, or the service's first deployment): "
                "Deployments.complete, fail and roll_back move it"
            )
        if record.awaiting():
            return []
        clock = self._book.clock
        if record.status == "PENDING":
            record.status, record.started_at = "IN_PROGRESS", clock.now()
            return self._enter(record, 0)
        baked = record.plan[record.position].bake_minutes
        if baked and record.entered_at is not None:
            clock.reach(record.entered_at + timedelta(minutes=baked))  # ECS waits the bake out
        if record.position + 1 == len(record.plan):
            return self._lifecycle.succeed(record)
        return self._enter(record, record.position + 1)

    def settle(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """Advance until the deployment ends or a pause awaits action; all the events on the way."""
        record = self.current(cluster, service)
        events: list[dict[str, Any]] = []
        while record.status in MOVING and not record.awaiting():
            events += self.advance(cluster, service)
        return events

    def fire_alarm(self, cluster: str, service: str, alarm_name: str) -> list[dict[str, Any]]:
        """A deployment alarm goes to ALARM while the deployment runs: ECS fails it and, with the
        alarms' ``rollback``, rolls back (ROLLBACK_IN_PROGRESS at once, ROLLBACK_SUCCESSFUL at the
        next ``advance``); without, it is STOPPED. An alarm ECS does not watch changes nothing."""
        record = self.current(cluster, service)
        alarms = record.configuration.get("alarms") or {}
        if record.status not in STARTED or not alarms.get("enable") or alarm_name not in alarms.get("alarmNames", []):
            return []
        record.triggered_alarms.append(alarm_name)
        reason = f"ECS deployment alarms: alarm {alarm_name} is in ALARM state."
        return self._lifecycle.fail(record, reason, rollback=bool(alarms.get("rollback")))

    def fail_hook(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """The next AWS_LAMBDA hook the deployment runs returns FAILED (ECS then rolls back); no events yet."""
        self.current(cluster, service).fail_next_lambda = True
        return []

    def expire_hooks(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """Pauses past their ``expiresAt`` time out (TIMED_OUT) and take their timeout action:
        CONTINUE lets the next ``advance`` go on, ROLLBACK rolls back."""
        record = self.current(cluster, service)
        now = self._book.clock.now()
        for hook in record.awaiting():
            if hook.expires_at <= now:
                hook.status, record.updated_at = "TIMED_OUT", now
                if hook.timeout_action == "ROLLBACK":
                    reason = f"ECS deployment lifecycle hook: hook {hook.hook_id} timed out."
                    return self._lifecycle.roll_back(record, reason)
        return []

    def fail_rollback(
        self, cluster: str, service: str, reason: str = "tasks of the source service revision failed to start."
    ) -> list[dict[str, Any]]:
        """The rollback under way fails: ROLLBACK_FAILED."""
        return self._lifecycle.fail_rollback(self.current(cluster, service), f"ECS deployment rollback: {reason}")

    def api_events(self) -> list[dict[str, Any]]:
        """The events ECS sent because of ContinueServiceDeployment and StopServiceDeployment calls
        since last asked (an API call has no way to hand them back)."""
        outbox = self._book.outbox
        events, outbox[:] = list(outbox), []
        return events

    def _enter(self, record: ServiceDeployment, index: int) -> list[dict[str, Any]]:
        step = record.plan[index]
        now = self._book.clock.now()
        record.position, record.entered_at, record.updated_at = index, now, now
        record.stage = step.stage or record.stage
        if step.production is not None:
            record.set_traffic(step.production, step.test or 0.0)
        if step.scale_up:
            record.tasks[record.target.arn] = [record.desired, record.desired, 0]
        if step.clean_up:
            for source in record.sources:
                record.tasks[source.arn] = [0, 0, 0]
        record.hooks = []
        events = self._run_hooks(record, step.hook_stage) if step.hook_stage else []
        show(self._lifecycle.service(record), record)
        return events

    def _run_hooks(self, record: ServiceDeployment, stage: str) -> list[dict[str, Any]]:
        """The stage's Lambda hooks succeed (unless one was set to fail), then its pause hooks await action."""
        now = self._book.clock.now()
        configured = [h for h in record.configuration.get("lifecycleHooks") or [] if stage in h["lifecycleStages"]]
        for hook in sorted(configured, key=lambda h: h.get("targetType") == "PAUSE"):
            kind = hook.get("targetType") or "AWS_LAMBDA"
            timeout, action = hook_timeout(hook)
            run = HookRun(new_hook_id(kind), kind, AWAITING if kind == "PAUSE" else "SUCCEEDED", now + timeout, action)
            run.target_arn = hook.get("hookTargetArn") if kind == "AWS_LAMBDA" else None
            record.hooks.append(run)
            if kind == "AWS_LAMBDA" and record.fail_next_lambda:
                record.fail_next_lambda, run.status = False, "FAILED"
                reason = f"ECS deployment lifecycle hook: hook {run.target_arn} failed at {stage}."
                return self._lifecycle.roll_back(record, reason)
        return [self._awaiting_event(record, run, stage) for run in record.awaiting()]

    def _awaiting_event(self, record: ServiceDeployment, run: HookRun, stage: str) -> dict[str, Any]:
        event = hook_event(
            record.service_arn,
            record.deployment_id,
            record.arn,
            run.hook_id,
            stage,
            account=self.account,
            region=self.region,
        )
        return self._lifecycle.stamped(event)
