"""Which targets a push may reach now: rules matched, clusters allowed, gates open.

A matching rule's targets are admitted, refused (an account outside TargetAccounts, a
cluster outside AllowedClusters) or stopped by a gate (freeze, promotion,
approval, signature, scan, waves). A stopped target is SKIPPED with the reason and, where the gate can
open by itself, held until it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from slipway.attempt import Assignment
from slipway.gates import PASS, WAVE, Gatekeeper, Verdict
from slipway.model import Hold, Push, Status
from slipway.outcome import Outcome
from slipway.places import Reach, partition_of
from slipway.plan import rollout_id
from slipway.ports import HoldStore
from slipway.rules import Rule, RuleInvalid, Target
from slipway.scheduled import ScheduledAssignment

logger = Logger(child=True)


@dataclass
class Selection:
    """What the rules made of a push: the assignments to roll out, and every other outcome."""

    assignments: list[Assignment] = field(default_factory=list)
    scheduled: list[ScheduledAssignment] = field(default_factory=list)  # schedules and events rules to move
    outcomes: list[Outcome] = field(default_factory=list)
    matched_rules: list[str] = field(default_factory=list)
    unmatched_rules: dict[str, str] = field(default_factory=dict)


class Admission:
    """Matches rules, refuses clusters Slipway may not touch, and applies the gates."""

    def __init__(
        self,
        holds: HoldStore,
        gates: Gatekeeper | None,
        reach: Reach,
        clock: Callable[[], datetime],
    ) -> None:
        self._holds = holds
        self._gates = gates
        self._reach = reach
        self._clock = clock

    def select(self, push: Push, rules: Iterable[Rule]) -> Selection:
        """The assignments of every rule that selects the push's tag; SKIPPED and ERROR for the rest."""
        assert push.tag is not None
        selection = Selection()
        for rule in rules:
            match = rule.match(push.tag)
            if not match.matched:
                selection.unmatched_rules[rule.name] = match.reason
                continue
            selection.matched_rules.append(rule.name)
            if not rule.spec.enabled:
                selection.outcomes.extend(
                    Outcome(Status.SKIPPED, "rule is disabled", rule=rule.name, parameter=rule.parameter, target=t)
                    for t in rule.spec.targets
                )
                selection.outcomes.extend(
                    Outcome(Status.SKIPPED, "rule is disabled", rule=rule.name, parameter=rule.parameter, scheduled=t)
                    for t in rule.spec.scheduled
                )
                continue
            selection.assignments.extend(self.admit(push, rule, rule.spec.targets, selection.outcomes))
            selection.scheduled.extend(self.admit_scheduled(push, rule, selection.outcomes))
        logger.info("rules matched", extra={"matched": selection.matched_rules, "targets": len(selection.assignments)})
        return selection

    def admit(
        self,
        push: Push,
        rule: Rule,
        targets: Iterable[Target],
        outcomes: list[Outcome],
        approved_by: str | None = None,
        hold_again: bool = True,
        dry_run: bool = False,
    ) -> list[Assignment]:
        """The targets of a rule that may roll out now; the others get a SKIPPED outcome (and a hold).

        ``dry_run`` (a preview) starts no pre-deploy task; a release (``hold_again`` False) waits
        for the one its push started. Refusals come first: no task runs for targets Slipway may not touch.
        """
        admitted: list[Assignment] = []
        targets = list(targets)
        refusals = [self.refuse(push, rule, target) for target in targets]
        verdict = self._gates.check(rule, push.digest, approved_by, push) if self._gates else PASS
        if verdict.passed and self._gates and any(refusal is None for refusal in refusals):
            verdict = self._gates.pre_deploy(push, rule, "preview" if dry_run else "admit" if hold_again else "release")
        slots = self._gates.wave_slots(rule) if self._gates and verdict.passed else None
        for target, refusal in zip(targets, refusals, strict=True):
            if refusal:
                outcomes.append(refusal)
                continue
            stop = verdict
            if verdict.passed and slots is not None:
                if slots <= 0:
                    reason = f"queued: rule {rule.name} rolls out {rule.spec.max_parallel} target(s) at a time"
                    stop = Verdict(False, reason, WAVE, True)
                slots -= 1
            if stop.passed:
                admitted.append(Assignment(rule, target))
            else:
                outcomes.append(self._held(push, rule, target, stop, approved_by, hold_again))
        return admitted

    def admit_scheduled(
        self, push: Push, rule: Rule, outcomes: list[Outcome], approved_by: str | None = None
    ) -> list[ScheduledAssignment]:
        """The rule's scheduled tasks the push may move now. A closed gate stops them with its reason
        (SKIPPED, not held: they follow when the push's last held service of the rule is released)."""
        if not rule.spec.scheduled:
            return []
        verdict = self._gates.check(rule, push.digest, approved_by, push) if self._gates else PASS
        if verdict.passed and self._gates and rule.spec.pre_deploy is not None:
            # the rule's services started (or await) its task; a scheduled task moves only once it exited 0
            verdict = self._gates.pre_deploy(push, rule, "preview")
        if verdict.passed:
            return [ScheduledAssignment(rule, target) for target in rule.spec.scheduled]
        outcomes.extend(
            Outcome(
                verdict.status,
                verdict.reason,
                rule=rule.name,
                parameter=rule.parameter,
                scheduled=target,
                **_told(verdict),
            )
            for target in rule.spec.scheduled
        )
        return []

    def refuse(self, push: Push, rule: Rule, target: Target) -> Outcome | None:
        """ERROR for a target Slipway may not deploy to (account, Region or cluster not allowed); None when it may.

        Decided before any call: nothing is asked of an account Slipway may not reach.
        """
        refusal = self._reach.refusal(target.cluster_name, target.at(self._reach.home), partition_of(target.cluster))
        if refusal is None:
            return None
        return Outcome(
            Status.ERROR,
            refusal.reason,
            error_code=refusal.code,
            rule=rule.name,
            parameter=rule.parameter,
            target=target,
        )

    def _held(
        self, push: Push, rule: Rule, target: Target, verdict: Verdict, approved_by: str | None, persist: bool
    ) -> Outcome:
        hold_id = rollout_id(push.event_id, rule.name, target.key)
        if verdict.hold and persist:
            now = self._clock()
            self._holds.put_hold(
                Hold(
                    hold_id=hold_id,
                    repository=push.repository,
                    rule=rule.name,
                    cluster=target.cluster,
                    service=target.service,
                    container=target.container,
                    event_id=push.event_id,
                    account=push.account,
                    region=push.region,
                    digest=push.digest,
                    tag=push.tag,
                    pushed_at=push.time,
                    gate=verdict.gate or "",
                    reason=verdict.reason,
                    created_at=now,
                    not_before=verdict.not_before,
                    approved_by=approved_by,
                    approved_at=now if approved_by else None,
                )
            )
        return Outcome(
            verdict.status,
            verdict.reason,
            rule=rule.name,
            parameter=rule.parameter,
            target=target,
            rollout_id=hold_id,
            held=verdict.gate if verdict.hold else None,
            gate_closed=verdict.final,
            **_told(verdict),
        )


def _told(verdict: Verdict) -> dict[str, Any]:
    """What a gate that stopped a push tells its subscribers besides the reason: the AWS code, the scan's
    findings, the pre-deploy task's end."""
    return {
        "error_code": verdict.error_code,
        "findings": verdict.findings,
        "exit_code": verdict.exit_code,
        "task_arn": verdict.task_arn,
        "stopped_reason": verdict.stopped_reason,
        "log_stream": verdict.log_stream,
    }


def invalid_rule(problem: RuleInvalid) -> Outcome:
    """The ERROR of a rule that does not validate (its push goes on with the valid rules)."""
    name = problem.parameter.rsplit("/", 1)[-1]
    logger.error("invalid rule", extra={"parameter": problem.parameter, "problems": problem.problems})
    return Outcome(
        Status.ERROR,
        f"invalid rule {problem.parameter}: " + "; ".join(problem.problems),
        rule=name,
        parameter=problem.parameter,
        error_code="InvalidRule",
    )
