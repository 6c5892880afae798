"""``slipway rollback schedule:GROUP/NAME`` (or ``events-rule:NAME``): a scheduled task back to an earlier revision.

Like a service's rollback, the revision is the newest one history says succeeded other
than the one the task runs (or the one before the first move), or the one ``--to`` names;
the move is recorded and notified as any. There is no deployment to watch: it is SUCCEEDED
once the ECS target names the revision.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from slipway.errors import AwsError
from slipway.model import Push, Rollout, Status
from slipway.outcome import Outcome, notification
from slipway.places import of_arn
from slipway.ports import Ecs, FleetStore, Notifier
from slipway.rollback import ROLLBACK_RULE, RollbackRefused, choose
from slipway.scheduled import ScheduledMover
from slipway.scheduled_targets import ScheduledTarget, ScheduledTask, scheduled_key

ROLLED_BACK = "the scheduled task's ECS target runs the earlier revision from its next run (no deployment to watch)"


class ScheduledRollback:
    """Moves a schedule's or an events rule's ECS targets back, recorded and notified."""

    def __init__(
        self, mover: ScheduledMover, ecs: Ecs, store: FleetStore, notifier: Notifier, clock: Callable[[], datetime]
    ) -> None:
        self._mover = mover
        self._ecs = ecs
        self._store = store
        self._notifier = notifier
        self._clock = clock

    def run(self, key: str, to: str | None = None, initiated_by: str | None = None) -> list[Outcome]:
        """Roll every ECS target of the task the key names back; one SUCCEEDED outcome each."""
        target = scheduled_key(key)
        if target is None:
            raise RollbackRefused(f"{key!r} is not schedule:GROUP/NAME or events-rule:NAME")
        refused = self._mover.refusal(target)
        if refused is not None:
            raise RollbackRefused(refused[1])
        try:
            tasks = self._mover.read(target)
        except AwsError as error:
            raise RollbackRefused(str(error)) from None
        if not tasks:
            raise RollbackRefused(f"{key} has no ECS target")
        for task in tasks:
            refused = self._mover.refusal(target, task)
            if refused is not None:
                raise RollbackRefused(refused[1])
        history = self._store.history(target.key, limit=100)
        return [self._roll_back(target, task, history, to, initiated_by) for task in tasks]

    def _roll_back(
        self, target: ScheduledTarget, task: ScheduledTask, history: list[Rollout], to: str | None, who: str | None
    ) -> Outcome:
        mine = [r for r in history if r.service == task.label]
        try:
            current = self._ecs.describe_task_definition(task.task_definition).arn
            revision, source = choose(current, mine, to, task.label)
            revision = self._ecs.describe_task_definition(revision).arn
        except AwsError as error:
            raise RollbackRefused(f"{error.operation} failed: {error.code}: {error.message}") from None
        if revision == current:
            raise RollbackRefused(f"{task.label} already runs {current}")
        place = of_arn(task.arn)
        push = Push(
            event_id=f"rollback-{uuid.uuid4()}",
            account=place.account if place else "",
            region=place.region if place else "",
            repository=source.repository if source else (mine[0].repository if mine else ""),
            digest=source.digest if source else "",
            tag=source.tag if source else None,
            time=self._clock(),
            initiated_by=who,
        )
        try:
            self._mover.update_to(target, task, revision)
        except AwsError as error:
            raise RollbackRefused(f"{error.operation} failed: {error.code}: {error.message}") from None
        outcome = Outcome(
            Status.SUCCEEDED,
            ROLLED_BACK,
            rule=ROLLBACK_RULE,
            parameter=f"slipway rollback by {who or 'unknown'}",
            scheduled=target,
            task=task,
            task_definition=revision,
            previous_task_definition=current,
            rollout_id=str(uuid.uuid4()),
            strategy="rolling",
        )
        self._mover.record(push, outcome, task)
        failures = self._notifier.publish([notification(push, outcome, self._clock())])
        if failures:
            raise RollbackRefused("rolled back but its notification failed: " + "; ".join(failures))
        return outcome
