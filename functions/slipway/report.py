"""Everything one push led to in one invocation, and telling it: messages, logs, metrics, the explain record."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.model import Push, Status
from slipway.outcome import Outcome, notification
from slipway.ports import Notifier, PushStore, Superseder
from slipway.workers import submit

logger = Logger(child=True)


@dataclass
class PushReport:
    """Everything one push led to, for the handler's result, logs and metrics."""

    push: Push
    outcomes: list[Outcome] = field(default_factory=list)
    matched_rules: list[str] = field(default_factory=list)
    unmatched_rules: dict[str, str] = field(default_factory=dict)
    notification_failures: list[str] = field(default_factory=list)
    handed_on: list[Outcome] = field(default_factory=list)  # transient failures a later invocation carries on
    waiting: int = 0  # targets handed on to a later invocation, tried or not
    hand_on_failure: str | None = None
    received_already: str | None = None  # the path that received this push first (event or reconcile)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def retryable(self) -> list[Outcome]:
        """Transient failures no later invocation was handed: a retry of this one must finish them."""
        return [o for o in self.outcomes if o.retryable]

    def summary(self) -> dict[str, object]:
        return {
            "repository": self.push.repository,
            "tag": self.push.tag,
            "digest": self.push.digest,
            "matched_rules": self.matched_rules,
            "unmatched_rules": self.unmatched_rules,
            "outcomes": [
                {
                    "status": o.status.value,
                    "rule": o.rule,
                    "target": o.target_key,
                    "reason": o.reason,
                    "task_definition": o.task_definition,
                    "rollout_id": o.rollout_id,
                    "held": o.held,
                }
                for o in self.outcomes
            ],
            "handed_on": self.waiting,
            "received_already": self.received_already,
            "notification_failures": self.notification_failures,
        }


class Reporter:
    """Tells what a push led to: the messages the pipeline did not send, logs, metrics, ``slipway explain``."""

    def __init__(
        self,
        notifier: Notifier,
        pushes: PushStore,
        tracker: Superseder | None,
        clock: Callable[[], datetime],
        count: Callable[[str, int], None],
    ) -> None:
        self._notifier = notifier
        self._store = pushes
        self._tracker = tracker
        self._clock = clock
        self._count = count

    def finish(self, push: Push, report: PushReport) -> None:
        """Publish the outcomes the pipeline did not announce itself, count them, close superseded rollouts."""
        now = self._clock()
        messages = [
            notification(push, o, now) for o in report.outcomes if o.published and o.status is not Status.DEPLOYING
        ]
        with ThreadPoolExecutor(max_workers=1) as background:  # publish while the outcomes are logged
            publishing = submit(background, self._notifier.publish, messages)
            self.log(report)
            report.notification_failures.extend(publishing.result())
        if report.notification_failures:
            logger.error("notifications not published", extra={"failures": report.notification_failures})
            self._count("NotificationFailures", len(report.notification_failures))
        self._supersede(push, report)

    def _supersede(self, push: Push, report: PushReport) -> None:
        """Close the rollouts that this push's rollouts replaced before they finished."""
        if self._tracker is None:
            return
        for outcome in report.outcomes:
            if not outcome.supersedes:
                continue
            try:
                self._tracker.supersede(outcome.supersedes, f"replaced by rollout {outcome.rollout_id} of {push.label}")
            except AwsError as error:
                report.notification_failures.append(f"SUPERSEDED {outcome.supersedes}: {error}")

    def remember(self, report: PushReport) -> None:
        """Keep what the push matched and why, for ``slipway explain``."""
        record = {**report.summary(), "event_id": report.push.event_id, "time": self._clock().isoformat()}
        try:
            self._store.put_push(report.push.repository, record)
        except AwsError as error:
            logger.warning("push record not kept", extra={"error": str(error)})

    def log(self, report: PushReport) -> None:
        """Each outcome logged, and counted by status."""
        for outcome in report.outcomes:
            extra = {"status": outcome.status.value, "rule": outcome.rule, "reason": outcome.reason}
            extra["target"] = outcome.target_key
            if outcome.status is Status.ERROR:
                logger.error(
                    "target failed", extra={**extra, "error_code": outcome.error_code, "retryable": outcome.retryable}
                )
            else:
                logger.info("target outcome", extra=extra)
        self._count("TargetsDeployed", report.count(Status.DEPLOYING))
        self._count("TargetsSkipped", report.count(Status.SKIPPED))
        self._count("TargetsErrored", report.count(Status.ERROR))
        self._time_to_deploying(report)

    def _time_to_deploying(self, report: PushReport) -> None:
        """One PushToDeployingSeconds per DEPLOYING: from the image's push to the rollout's start."""
        seconds = max(0, int((self._clock() - report.push.time).total_seconds()))
        for _ in range(report.count(Status.DEPLOYING)):
            self._count("PushToDeployingSeconds", seconds)
