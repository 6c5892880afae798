"""What one ECR push does: match rules, roll out each target, report every outcome.

The deploy function's whole domain, read top to bottom in ``deploy``:

1. rules -> ``Admission``: which targets the push may reach now (gates, holds, refusals);
2. ``PushOrder``: a push older than the newest one admitted under a rule goes no further;
3. ``Pipeline``: read -> decide -> group -> claim -> register -> update -> record, paced;
4. what did not fit in this invocation's time is handed on (``handon``) to a later one,
   which comes back through ``carry_on``;
5. the outcomes are published and counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from slipway.admission import Admission, invalid_rule
from slipway.attempt import Assignment
from slipway.errors import AwsError
from slipway.gates import WAVE, Gatekeeper
from slipway.handon import MAX_TRIES, Continuation, continuations
from slipway.model import RECONCILE, Hold, Push, Status
from slipway.outcome import Outcome
from slipway.pipeline import Passage, Pipeline
from slipway.places import Place, Reach
from slipway.ports import Ecs, Notifier, RuleSource, Store, Superseder, WorkQueue
from slipway.preview import PlanLine, Preview
from slipway.pushes import EVENT, PushMark, PushOrder
from slipway.report import PushReport, Reporter
from slipway.rollout import KnownRevision
from slipway.rules import Rule, Target
from slipway.scheduled import ScheduledAssignment, ScheduledMover, shared_revisions

logger = Logger(child=True)

Count = Callable[[str, int], None]


@dataclass(frozen=True)
class Superseded:
    """An assignment a newer push of its rule overtook before its turn."""

    assignment: Assignment
    by: str

    def outcome(self) -> Outcome:
        rule = self.assignment.rule
        return Outcome(
            Status.SKIPPED,
            f"superseded before its turn: {self.by} was pushed since for rule {rule.name}",
            rule=rule.name,
            parameter=rule.parameter,
            target=self.assignment.target,
        )


class Deployer:
    """Turns one push into rollouts: the deploy function's whole domain."""

    def __init__(
        self,
        ecs: Ecs,
        rules: RuleSource,
        store: Store,
        notifier: Notifier,
        *,
        queue: WorkQueue | None = None,
        max_concurrency: int = 16,
        reach: Reach | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        count: Count = lambda name, value: None,
        sleep: Callable[[float], None] = time.sleep,
        tracker: Superseder | None = None,
        gates: Gatekeeper | None = None,
        hook_role: str | None = None,
        scheduled: ScheduledMover | None = None,
        known_revision: KnownRevision | None = None,
    ) -> None:
        self._rules = rules
        self._scheduled = scheduled
        self._store = store
        self._queue = queue
        self._clock = clock
        self._count = count
        self._order = PushOrder(store)
        self._reporter = Reporter(notifier, store, tracker, clock, count)
        self.admission = Admission(store, gates, reach or Reach(Place("", "")), clock)
        self.pipeline = Pipeline(
            ecs,
            store,
            notifier,
            clock=clock,
            sleep=sleep,
            workers=max_concurrency,
            hook_role=hook_role,
            known_revision=known_revision,
        )
        self._preview = Preview(rules, self.admission, self.pipeline.reader, scheduled)

    # -- a push from its event (or the reconcile) ---------------------------------------
    def deploy(self, push: Push) -> PushReport:
        """Roll a push out to every target of every rule it matches, and report each outcome."""
        report = PushReport(push)
        self._count("PushesReceived", 1)
        if not push.tag:
            logger.info("push without a tag matches no rule", extra={"digest": push.digest})
            self._count("PushesUnmatched", 1)
            return report
        ruleset = self._rules.load(push.repository)
        if any(rule.match(push.tag).matched for rule in ruleset.rules) and self._received_already(push, report):
            return report
        report.outcomes.extend(invalid_rule(problem) for problem in ruleset.invalid)
        selection = self.admission.select(push, ruleset.rules)
        report.outcomes.extend(selection.outcomes)
        report.matched_rules, report.unmatched_rules = selection.matched_rules, selection.unmatched_rules
        if not report.matched_rules and not ruleset.invalid:
            logger.info("no rule matched the push", extra={"unmatched": report.unmatched_rules})
            self._count("PushesUnmatched", 1)
            self._reporter.remember(report)
            return report
        for rule in {a.rule.name: a.rule for a in selection.assignments}.values():
            self._order.admit(push, rule)  # the newest push of the rule, for targets still to come
        self._roll_out(push, selection.assignments, report, hops=1)
        self._move_scheduled(push, selection.scheduled, report, hops=1)
        self._reporter.finish(push, report)
        self._reporter.remember(report)
        return report

    def _move_scheduled(
        self, push: Push, scheduled: Sequence[ScheduledAssignment], report: PushReport, hops: int
    ) -> None:
        """Move the push's scheduled tasks, after its services: they share the revisions the services registered.

        A failure worth retrying (throttling, time running out) is handed on like a service's.
        """
        if not scheduled:
            return
        if self._scheduled is None:
            report.outcomes.extend(
                Outcome(Status.ERROR, "scheduled tasks are not set up", rule=a.rule.name, scheduled=a.target)
                for a in scheduled
            )
            return
        shared = shared_revisions(push, report.outcomes)
        waiting: list[ScheduledAssignment] = []
        for assignment in scheduled:
            outcomes = self._scheduled.move(push, [assignment], shared)
            retry = next((o for o in outcomes if o.retryable), None)
            if retry is None or self._queue is None:
                report.outcomes.extend(outcomes)
                continue
            tries = assignment.tries + 1
            if tries >= MAX_TRIES:
                report.outcomes.extend(
                    replace(o, retryable=False, reason=_gave_up(tries, o)) if o.retryable else o for o in outcomes
                )
                continue
            report.outcomes.extend(o for o in outcomes if not o.retryable)  # an events rule's targets that did move
            report.handed_on.extend(o for o in outcomes if o.retryable)
            waiting.append(replace(assignment, tries=tries, last_error=retry.reason))
        if waiting:
            self._hand_on(push, [], report, hops, 0.0, waiting)

    def _received_already(self, push: Push, report: PushReport) -> bool:
        """Whether the other path (the event, or the reconcile) received this push first and deployed it."""
        assert push.tag is not None
        source = RECONCILE if push.initiated_by == RECONCILE else EVENT
        mark = PushMark(push.repository, push.digest, push.tag, push.event_id, source, push.time, self._clock())
        first = self._order.receive(mark)
        if first is None:
            return False
        logger.info("push received already", extra={"by": first.source, "event_id": first.event_id})
        self._count("PushesReceivedAlready", 1)
        report.received_already = first.source
        return True

    # -- a push's targets handed on by an earlier invocation -------------------------------
    def carry_on(self, continuation: Continuation) -> PushReport:
        """Go on with the targets an earlier invocation handed on, under the rules as they are now."""
        push = continuation.push.push()
        report = PushReport(push)
        rules = {rule.name: rule for rule in self._rules.load(push.repository).rules}
        assignments: list[Assignment] = []
        let_go: list[tuple[str, str]] = []  # tried targets whose rule let them go: their claims are given back
        for handed in continuation.targets:
            target = Target(cluster=handed.cluster, service=handed.service, container=handed.container)
            rule = rules.get(handed.rule)
            current = self._still_wanted(push, rule, target)
            if isinstance(current, Outcome):
                report.outcomes.append(current)
                let_go.extend([(handed.rule, target.key)] if handed.tries else [])
                continue
            assert rule is not None
            report.matched_rules = sorted({*report.matched_rules, rule.name})
            assignment = Assignment(rule, current, handed.tries, handed.announced, handed.last_error)
            assignments.append(assignment)
        self.pipeline.claims.drop(push, let_go)
        logger.info("carrying on", extra={"targets": len(assignments), "hop": continuation.hops + 1})
        assignments = self._newest(push, assignments, report)
        self._roll_out(push, assignments, report, hops=continuation.hops + 1)
        scheduled = self._still_scheduled(push, rules, continuation, report)
        self._move_scheduled(push, scheduled, report, hops=continuation.hops + 1)
        self._reporter.finish(push, report)
        return report

    def _still_scheduled(
        self, push: Push, rules: dict[str, Rule], continuation: Continuation, report: PushReport
    ) -> list[ScheduledAssignment]:
        """The handed-on scheduled tasks their rules still take this push to; SKIPPED for the others."""
        kept: list[ScheduledAssignment] = []
        for handed in continuation.scheduled:
            rule = rules.get(handed.rule)
            target = next((t for t in rule.spec.scheduled if t.key == handed.target), None) if rule else None
            if rule is None or target is None or not rule.spec.enabled or not rule.match(push.tag or "").matched:
                why = "was deleted" if rule is None else "no longer takes this push to this scheduled task"
                report.outcomes.append(Outcome(Status.SKIPPED, f"rule {handed.rule} {why}", rule=handed.rule))
                continue
            report.matched_rules = sorted({*report.matched_rules, rule.name})
            kept.append(ScheduledAssignment(rule, target, handed.tries, handed.last_error))
        return kept

    def _still_wanted(self, push: Push, rule: Rule | None, target: Target) -> Target | Outcome:
        """The rule's target as the rule says now, or why the handed-on target is dropped."""
        name = rule.name if rule else None
        wanted = next((t for t in rule.spec.targets if t.key == target.key), None) if rule else None
        if rule is None or wanted is None or not rule.spec.enabled or not rule.match(push.tag or "").matched:
            why = "was deleted" if rule is None else "no longer takes this push to this target"
            logger.info("handed-on target dropped", extra={"rule": name, "target": target.key})
            return Outcome(Status.SKIPPED, f"rule {name or '?'} {why}", rule=name, target=target)
        return self.admission.refuse(push, rule, wanted) or wanted

    # -- the common path -----------------------------------------------------------------
    def _newest(self, push: Push, assignments: list[Assignment], report: PushReport) -> list[Assignment]:
        """The waiting assignments of rules whose newest push this still is; SKIPPED for those a newer push overtook.

        Only targets still to come are dropped: what a push already deployed is the
        newer push's to supersede, and the downgrade check guards every service.
        """
        newer: dict[str, str | None] = {}
        for rule in {a.rule.name: a.rule for a in assignments}.values():
            latest = self._order.superseded_by(push, rule)
            newer[rule.name] = f"{rule.repository}:{latest.tag or latest.digest[:19]}" if latest else None
        kept, dropped = [], []
        for assignment in assignments:
            by = newer[assignment.rule.name]
            if by is None:
                kept.append(assignment)
            else:
                dropped.append(assignment)
                report.outcomes.append(Superseded(assignment, by).outcome())
        self.pipeline.claims.drop(push, [(a.rule.name, a.key) for a in dropped if a.tries])
        return kept

    def _still_newest(self, push: Push) -> Callable[[Assignment], Outcome | None]:
        """Asked before each chunk after the first: has a newer push of the assignment's rule come since?"""
        asked: dict[str, tuple[float, Outcome | None]] = {}  # by rule, for a second

        def still(assignment: Assignment) -> Outcome | None:
            rule = assignment.rule
            seen = asked.get(rule.name)
            if seen is None or time.monotonic() - seen[0] > 1.0:
                latest = self._order.superseded_by(push, rule)
                by = f"{rule.repository}:{latest.tag or latest.digest[:19]}" if latest else None
                seen = (time.monotonic(), Superseded(assignment, by).outcome() if by else None)
                asked[rule.name] = seen
            return replace(seen[1], target=assignment.target) if seen[1] else None

        return still

    def _roll_out(self, push: Push, assignments: Sequence[Assignment], report: PushReport, hops: int) -> None:
        """Run the pipeline, and hand on what it could not finish in this invocation."""
        if not assignments:
            return
        passage = self.pipeline.run(push, assignments, still=self._still_newest(push))
        report.notification_failures.extend(passage.notification_failures)
        waiting = self._waiting(assignments, passage, report)
        if waiting:
            # Nothing could start in this invocation: the next one waits for the tokens to come.
            self._hand_on(push, waiting, report, hops, 0.0 if passage.progressed else passage.next_turn)

    def _waiting(self, assignments: Sequence[Assignment], passage: Passage, report: PushReport) -> list[Assignment]:
        """Record the passage's outcomes; the assignments to hand on (untried, or failed for now)."""
        waiting: list[Assignment] = []
        for assignment, outcome in zip(assignments, passage.outcomes, strict=True):
            if outcome is None:
                waiting.append(assignment)
            elif outcome.retryable and self._queue is not None:
                tries = assignment.tries + 1
                if tries >= MAX_TRIES:
                    report.outcomes.append(replace(outcome, retryable=False, reason=_gave_up(tries, outcome)))
                    continue
                announced = outcome.rollout_id if outcome.rollout_id in passage.announced else assignment.announced
                waiting.append(replace(assignment, tries=tries, announced=announced, last_error=outcome.reason))
                report.handed_on.append(outcome)
            else:
                report.outcomes.append(outcome)
        return waiting

    def _hand_on(
        self,
        push: Push,
        waiting: list[Assignment],
        report: PushReport,
        hops: int,
        delay: float,
        scheduled: Sequence[ScheduledAssignment] = (),
    ) -> None:
        if self._queue is None:
            logger.warning("targets left for a retry: no work queue to hand them on", extra={"count": len(waiting)})
            report.hand_on_failure = f"{len(waiting)} target(s) not reached in this invocation"
            return
        try:
            self._queue.hand_on(continuations(push, waiting, hops, self._clock(), max(0.0, delay), scheduled))
        except AwsError as error:
            logger.error("targets could not be handed on", extra={"count": len(waiting), "error": str(error)})
            report.hand_on_failure = f"{len(waiting)} target(s) not handed on: {error}"
            report.outcomes.extend(report.handed_on)  # they stay this invocation's to finish
            report.handed_on = []
            return
        report.waiting += len(waiting) + len(scheduled)
        self._count("TargetsHandedOn", len(waiting) + len(scheduled))
        logger.info(
            "targets handed on to a later invocation", extra={"count": len(waiting) + len(scheduled), "hop": hops}
        )

    # -- a dry run ------------------------------------------------------------------------
    def preview(self, push: Push) -> list[PlanLine]:
        """Per rule and target, what this push would do and why; reads only, writes nothing."""
        return self._preview.lines(push)

    # -- holds: pushes waiting for a gate to open ----------------------------------------
    def release_due(self, repository: str | None = None) -> list[Outcome]:
        """Roll out every held push whose gate has opened (called on outcomes and by the sweep).

        A released target handed on to a later invocation is not in flight yet, so it does not
        count against its rule's wave: the rule's other wave holds wait for the next release.
        """
        outcomes: list[Outcome] = []
        handed_on: set[tuple[str, str]] = set()  # (repository, rule)
        for hold in self._store.holds(repository):
            rule = (hold.repository, hold.rule)
            if hold.gate == WAVE and rule in handed_on:
                continue
            report = self._release(hold)
            if report is None:
                continue
            outcomes.extend(report.outcomes + report.handed_on)
            if report.handed_on or report.waiting:
                handed_on.add(rule)
        return outcomes

    def release(self, hold: Hold, approved_by: str | None = None) -> list[Outcome]:
        """Roll a held push out if its rule still wants it and every gate is open now."""
        report = self._release(hold, approved_by)
        return report.outcomes + report.handed_on if report else []

    def _release(self, hold: Hold, approved_by: str | None = None) -> PushReport | None:
        """The release's report; None when the hold was dropped or is still gated."""
        rule = next((r for r in self._rules.load(hold.repository).rules if r.name == hold.rule), None)
        wanted = Target(cluster=hold.cluster, service=hold.service).key
        target = next((t for t in rule.spec.targets if t.key == wanted), None) if rule else None
        push = replace(hold.push(), approved_by=approved_by or hold.approved_by)
        if rule is None or target is None or not rule.spec.enabled or not rule.match(push.tag or "").matched:
            logger.info("hold dropped: its rule no longer takes the push", extra={"hold": hold.hold_id})
            self._store.delete_hold(hold)
            return None
        blocked: list[Outcome] = []
        approver = approved_by or hold.approved_by
        admitted = self.admission.admit(push, rule, [target], blocked, approver, hold_again=False)
        closed = [outcome for outcome in blocked if outcome.gate_closed]
        if not admitted and not closed:
            return None  # still gated: the hold stays as it is, and nothing new is said
        if not self._store.delete_hold(hold):
            # another invocation (the track function, the sweep, a scan event) released it first, or a newer push
            logger.info("hold released elsewhere", extra={"hold": hold.hold_id})
            return None
        report = PushReport(push, matched_rules=[rule.name], outcomes=closed)
        if closed:
            logger.info("hold ended: its gate closed", extra={"hold": hold.hold_id, "reason": closed[0].reason})
        self._roll_out(push, admitted, report, hops=1)
        if admitted and rule.spec.scheduled and hold.gate != WAVE and self._last_hold(hold):
            # the gate that held the push held its scheduled tasks too: they follow with its last service
            scheduled = self.admission.admit_scheduled(push, rule, report.outcomes, approver)
            self._move_scheduled(push, scheduled, report, hops=1)
        self._reporter.finish(push, report)
        return report

    def _last_hold(self, hold: Hold) -> bool:
        """Whether no other target of the hold's push and rule is still held."""
        return not any(
            (other.event_id, other.rule) == (hold.event_id, hold.rule) for other in self._store.holds(hold.repository)
        )


def _gave_up(tries: int, outcome: Outcome) -> str:
    return f"gave up after {tries} invocations could not finish it; the last: {outcome.reason}"
