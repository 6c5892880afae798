"""What one ECR push does: match rules, roll out each target, report every outcome."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.fanout import PushRollout, Ready
from slipway.gates import PASS, WAVE, Verdict
from slipway.model import Hold, Push, Service, ServiceState, Status, TaskDefinition
from slipway.notifications import Notification
from slipway.ports import Ecs, Notifier, RuleSource, ServiceLookup, Store
from slipway.rollout import Outcome, TargetRollout, error_outcome, plan, rollout_id
from slipway.rules import Rule, RuleInvalid, Target
from slipway.workers import parallel_map

logger = Logger(child=True)

Count = Callable[[str, int], None]


@dataclass
class PushReport:
    """Everything one push led to, for the handler's result, logs and metrics."""

    push: Push
    outcomes: list[Outcome] = field(default_factory=list)
    matched_rules: list[str] = field(default_factory=list)
    unmatched_rules: dict[str, str] = field(default_factory=dict)
    notification_failures: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def retryable(self) -> list[Outcome]:
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
                    "target": o.target.key if o.target else None,
                    "reason": o.reason,
                    "task_definition": o.task_definition,
                    "rollout_id": o.rollout_id,
                    "held": o.held,
                }
                for o in self.outcomes
            ],
            "notification_failures": self.notification_failures,
        }


def notification(push: Push, outcome: Outcome, now: datetime) -> Notification:
    """The message subscribers get for one target's outcome."""
    service = outcome.service
    target = outcome.target
    return Notification(
        status=outcome.status.value,
        repository=push.repository,
        tag=push.tag,
        digest=push.digest,
        image=push.image,
        cluster=service.cluster_name if service else (target.cluster_name if target else None),
        service=service.name if service else (target.service if target else None),
        launch_type=outcome.launch_type,
        rule=outcome.rule,
        parameter=outcome.parameter,
        task_definition=outcome.task_definition,
        previous_task_definition=outcome.previous_task_definition,
        deployment_id=outcome.deployment_id,
        rollout_id=outcome.rollout_id,
        reason=outcome.reason,
        error_code=outcome.error_code,
        event_id=push.event_id,
        initiated_by=push.initiated_by,
        approved_by=push.approved_by,
        held=outcome.held,
        time=now,
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
        max_concurrency: int = 16,
        allowed_clusters: tuple[str, ...] = ("*",),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        count: Count = lambda name, value: None,
        sleep: Callable[[float], None] | None = None,
        tracker: Any = None,
        gates: Any = None,
    ) -> None:
        self._ecs = ecs
        self._rules = rules
        self._store = store
        self._notifier = notifier
        self._workers = max_concurrency
        self._allowed = allowed_clusters
        self._clock = clock
        self._count = count
        self._tracker = tracker
        self._gates = gates
        extra = {"sleep": sleep} if sleep else {}
        self._rollout = TargetRollout(ecs, store, clock=clock, refresh=self._refresh, **extra)
        self._push_rollout = PushRollout(self._rollout, store, max_concurrency)

    def deploy(self, push: Push) -> PushReport:
        """Roll a push out to every target of every rule it matches, and report each outcome."""
        report = PushReport(push)
        self._count("PushesReceived", 1)
        if not push.tag:
            logger.info("push without a tag matches no rule", extra={"digest": push.digest})
            self._count("PushesUnmatched", 1)
            return report
        ruleset = self._rules.load(push.repository)
        report.outcomes.extend(self._invalid(problem) for problem in ruleset.invalid)
        selected = self._select(push, ruleset.rules, report)
        if not report.matched_rules and not ruleset.invalid:
            logger.info("no rule matched the push", extra={"unmatched": report.unmatched_rules})
            self._count("PushesUnmatched", 1)
            self._remember(report)
            return report
        report.outcomes.extend(self._roll_out(push, selected))
        self._report(push, report)
        self._supersede(push, report)
        self._remember(report)
        return report

    def _remember(self, report: PushReport) -> None:
        """Keep what the push matched and why, for ``slipway explain``."""
        record = {**report.summary(), "event_id": report.push.event_id, "time": self._clock().isoformat()}
        try:
            self._store.put_push(report.push.repository, record)
        except AwsError as error:
            logger.warning("push record not kept", extra={"error": str(error)})

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

    def _select(self, push: Push, rules: list[Rule], report: PushReport) -> list[tuple[Rule, Target]]:
        assert push.tag is not None
        selected: list[tuple[Rule, Target]] = []
        for rule in rules:
            match = rule.match(push.tag)
            if not match.matched:
                report.unmatched_rules[rule.name] = match.reason
                continue
            report.matched_rules.append(rule.name)
            if not rule.spec.enabled:
                report.outcomes.extend(
                    Outcome(Status.SKIPPED, "rule is disabled", rule=rule.name, parameter=rule.parameter, target=t)
                    for t in rule.spec.targets
                )
                continue
            selected.extend(self._admit(push, rule, rule.spec.targets, report.outcomes))
        logger.info("rules matched", extra={"matched": report.matched_rules, "targets": len(selected)})
        return selected

    def _admit(
        self,
        push: Push,
        rule: Rule,
        targets: Iterable[Target],
        outcomes: list[Outcome],
        approved_by: str | None = None,
        hold_again: bool = True,
    ) -> list[tuple[Rule, Target]]:
        """The targets of a rule that may roll out now; the others get a SKIPPED outcome (and a hold)."""
        admitted: list[tuple[Rule, Target]] = []
        verdict = self._gates.check(rule, push.digest, approved_by) if self._gates else PASS
        slots = self._gates.wave_slots(rule) if self._gates and verdict.passed else None
        for target in targets:
            refusal = self._refuse(push, rule, target)
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
                admitted.append((rule, target))
            else:
                outcomes.append(self._held(push, rule, target, stop, approved_by, hold_again))
        return admitted

    def _held(
        self, push: Push, rule: Rule, target: Target, verdict: Verdict, approved_by: str | None, persist: bool = True
    ) -> Outcome:
        hold_id = rollout_id(push.event_id, rule.name, target.key)
        if verdict.hold and persist:
            now = self._clock()
            self._store.put_hold(
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
            Status.SKIPPED,
            verdict.reason,
            rule=rule.name,
            parameter=rule.parameter,
            target=target,
            rollout_id=hold_id,
            held=verdict.gate if verdict.hold else None,
        )

    # -- a dry run: what a push would do, changing nothing ----------------------------
    def preview(self, push: Push) -> list[PlanLine]:
        """Per rule and target, what this push would do and why; reads only, writes nothing."""
        lines: list[PlanLine] = []
        if not push.tag:
            return [PlanLine(None, None, "skip", "a push without a tag matches no rule")]
        ruleset = self._rules.load(push.repository)
        for problem in ruleset.invalid:
            lines.append(
                PlanLine(
                    problem.parameter.rsplit("/", 1)[-1], None, "error", "invalid rule: " + "; ".join(problem.problems)
                )
            )
        for rule in ruleset.rules:
            match = rule.match(push.tag)
            if not match.matched:
                lines.append(PlanLine(rule.name, None, "skip", match.reason))
                continue
            if not rule.spec.enabled:
                lines.extend(PlanLine(rule.name, t.key, "skip", "rule is disabled") for t in rule.spec.targets)
                continue
            stopped: list[Outcome] = []
            admitted = self._admit(push, rule, rule.spec.targets, stopped, hold_again=False)
            lines.extend(PlanLine(o.rule, o.target.key if o.target else None, _action(o), o.reason) for o in stopped)
            lines.extend(self._preview_targets(push, admitted))
        return lines

    def _preview_targets(self, push: Push, admitted: list[tuple[Rule, Target]]) -> list[PlanLine]:
        services = self._describe_services([t for _, t in admitted])
        taskdefs = self._describe_task_definitions(
            {s.task_definition for s in services.values() if isinstance(s, Service)}
        )
        states = self._states(services)
        lines = []
        for rule, target in admitted:
            found = services[(target.cluster_name, target.service)]
            if isinstance(found, AwsError):
                what = "no such service" if found.code == "MISSING" else found.code
                lines.append(PlanLine(rule.name, target.key, "error", f"{what}: {found.message}"))
                continue
            taskdef = taskdefs[found.task_definition]
            if isinstance(taskdef, AwsError):
                lines.append(PlanLine(rule.name, target.key, "error", f"{taskdef.code}: {taskdef.message}"))
                continue
            state = self._store.get_state(found.key) if states is None else states.get(found.key)
            decision = plan(push, rule, target, found, taskdef, state)
            if isinstance(decision, Outcome):
                lines.append(PlanLine(rule.name, target.key, _action(decision), decision.reason))
                continue
            before = {str(c.get("name")): str(c.get("image")) for c in taskdef.containers}
            changes = ", ".join(f"{name}: {before[name]} -> {push.image}" for name in decision.containers)
            detail = f"would deploy on {found.launch_type}: {changes} (new revision of {taskdef.family}, now {found.task_definition.rsplit('/', 1)[-1]})"
            lines.append(PlanLine(rule.name, target.key, "deploy", detail))
        return lines

    # -- holds: pushes waiting for a gate to open ----------------------------------
    def release_due(self, repository: str | None = None) -> list[Outcome]:
        """Roll out every held push whose gate has opened (called on outcomes and by the sweep)."""
        outcomes: list[Outcome] = []
        for hold in self._store.holds(repository):
            outcomes.extend(self.release(hold))
        return outcomes

    def release(self, hold: Hold, approved_by: str | None = None) -> list[Outcome]:
        """Roll a held push out if its rule still wants it and every gate is open now."""
        rule = next((r for r in self._rules.load(hold.repository).rules if r.name == hold.rule), None)
        wanted = Target(cluster=hold.cluster, service=hold.service).key
        target = next((t for t in rule.spec.targets if t.key == wanted), None) if rule else None
        push = replace(hold.push(), approved_by=approved_by or hold.approved_by)
        if rule is None or target is None or not rule.spec.enabled or not rule.match(push.tag or "").matched:
            logger.info("hold dropped: its rule no longer takes the push", extra={"hold": hold.hold_id})
            self._store.delete_hold(hold)
            return []
        blocked: list[Outcome] = []
        admitted = self._admit(push, rule, [target], blocked, approved_by or hold.approved_by, hold_again=False)
        if not admitted:
            return []  # still gated: the hold stays as it is, and nothing new is said
        self._store.delete_hold(hold)
        report = PushReport(push, matched_rules=[rule.name])
        report.outcomes.extend(self._roll_out(push, admitted))
        self._report(push, report)
        self._supersede(push, report)
        return report.outcomes

    def _refuse(self, push: Push, rule: Rule, target: Target) -> Outcome | None:
        base: dict[str, Any] = {"rule": rule.name, "parameter": rule.parameter, "target": target}
        if target.elsewhere(push.account, push.region):
            account, region = target.cluster_account, target.cluster_region
            return Outcome(
                Status.ERROR,
                f"cluster {target.cluster} is in {account}/{region}, not in this stack's {push.account}/{push.region}",
                error_code="ForeignCluster",
                **base,
            )
        if not target.allowed_by(self._allowed):
            return Outcome(
                Status.ERROR,
                f'cluster "{target.cluster_name}" is not in AllowedClusters ({", ".join(self._allowed)})',
                error_code="ClusterNotAllowed",
                **base,
            )
        return None

    def _invalid(self, problem: RuleInvalid) -> Outcome:
        name = problem.parameter.rsplit("/", 1)[-1]
        logger.error("invalid rule", extra={"parameter": problem.parameter, "problems": problem.problems})
        return Outcome(
            Status.ERROR,
            f"invalid rule {problem.parameter}: " + "; ".join(problem.problems),
            rule=name,
            parameter=problem.parameter,
            error_code="InvalidRule",
        )

    def _roll_out(self, push: Push, selected: list[tuple[Rule, Target]]) -> list[Outcome]:
        services = self._describe_services([t for _, t in selected])
        with ThreadPoolExecutor(max_workers=1) as background:  # the claims are read while ECS is
            reading = background.submit(self._states, services)
            taskdefs = self._describe_task_definitions(
                {s.task_definition for s in services.values() if isinstance(s, Service)}
            )
            states = reading.result()

        outcomes: dict[int, Outcome] = {}
        ready: list[tuple[int, Ready]] = []
        for index, (rule, target) in enumerate(selected):
            found = services[(target.cluster_name, target.service)]
            if isinstance(found, AwsError):
                outcomes[index] = _error(rule, target, None, found)
            elif found.status != "ACTIVE":
                error = AwsError(
                    "DescribeServices", "ServiceNotActiveException", f"service {found.key} is {found.status}"
                )
                outcomes[index] = _error(rule, target, found, error)
            elif isinstance(taskdef := taskdefs[found.task_definition], AwsError):
                outcomes[index] = _error(rule, target, found, taskdef)
            else:
                ready.append((index, Ready(rule, target, found, taskdef)))
        rolled = self._push_rollout.run(push, [item for _, item in ready], states)
        outcomes.update(zip((index for index, _ in ready), rolled, strict=True))
        return [outcomes[index] for index in range(len(selected))]

    def _states(self, services: dict[tuple[str, str], Service | AwsError]) -> dict[str, ServiceState] | None:
        """Slipway's state of every service found, in one read per 100; None lets each target read its own."""
        keys = [s.key for s in services.values() if isinstance(s, Service)]
        if len(keys) <= 1:
            return None
        try:
            return self._store.get_states(keys)
        except AwsError as error:
            logger.warning("batch read of service states failed, reading per target", extra={"error": str(error)})
            return None

    def _describe_services(self, targets: list[Target]) -> dict[tuple[str, str], Service | AwsError]:
        # One cluster may be named by name in one target and by ARN in another: group by name.
        by_cluster: dict[str, list[str]] = defaultdict(list)
        identifier: dict[str, str] = {}
        for target in targets:
            by_cluster[target.cluster_name].append(target.service)
            identifier.setdefault(target.cluster_name, target.cluster)

        def lookup(cluster: str) -> tuple[str, ServiceLookup | AwsError]:
            try:
                return cluster, self._ecs.describe_services(identifier[cluster], by_cluster[cluster])
            except AwsError as error:
                return cluster, error

        found: dict[tuple[str, str], Service | AwsError] = {}
        for cluster, result in parallel_map(lookup, list(by_cluster), self._workers):
            for name in by_cluster[cluster]:
                if isinstance(result, AwsError):
                    found[(cluster, name)] = result
                else:
                    found[(cluster, name)] = result.found.get(name) or result.missing[name]
        return found

    def _describe_task_definitions(self, arns: set[str]) -> dict[str, TaskDefinition | AwsError]:
        def describe(arn: str) -> tuple[str, TaskDefinition | AwsError]:
            try:
                return arn, self._ecs.describe_task_definition(arn)
            except AwsError as error:
                return arn, error

        return dict(parallel_map(describe, sorted(arns), self._workers))

    def _refresh(self, target: Target) -> tuple[Service, TaskDefinition]:
        lookup = self._ecs.describe_services(target.cluster, [target.service])
        if target.service not in lookup.found:
            raise lookup.missing[target.service]
        service = lookup.found[target.service]
        return service, self._ecs.describe_task_definition(service.task_definition)

    def _report(self, push: Push, report: PushReport) -> None:
        now = self._clock()
        messages = [notification(push, o, now) for o in report.outcomes if not o.retryable and not o.quiet]
        with ThreadPoolExecutor(max_workers=1) as background:  # publish while the outcomes are logged
            publishing = background.submit(self._notifier.publish, messages)
            self._log(report)
            report.notification_failures = publishing.result()
        if report.notification_failures:
            logger.error("notifications not published", extra={"failures": report.notification_failures})
            self._count("NotificationFailures", len(report.notification_failures))

    def _log(self, report: PushReport) -> None:
        for outcome in report.outcomes:
            extra = {"status": outcome.status.value, "rule": outcome.rule, "reason": outcome.reason}
            extra["target"] = outcome.target.key if outcome.target else None
            if outcome.status is Status.ERROR:
                logger.error(
                    "target failed", extra={**extra, "error_code": outcome.error_code, "retryable": outcome.retryable}
                )
            else:
                logger.info("target outcome", extra=extra)
        self._count("TargetsDeployed", report.count(Status.DEPLOYING))
        self._count("TargetsSkipped", report.count(Status.SKIPPED))
        self._count("TargetsErrored", report.count(Status.ERROR))


@dataclass(frozen=True)
class PlanLine:
    """One line of ``slipway plan``: a rule, a target, what would happen and why."""

    rule: str | None
    target: str | None
    action: str  # deploy, skip, hold or error
    detail: str

    def sentence(self) -> str:
        """The line as a release manager reads it: "would deploy ...", "would skip: ...", "error: ..."."""
        if self.action == "deploy":
            return self.detail
        if self.action == "error":
            return f"error: {self.detail}"
        verb = "would hold" if self.action == "hold" else "would skip"
        return f"{verb}: {self.detail}"


def _action(outcome: Outcome) -> str:
    if outcome.status is Status.ERROR:
        return "error"
    return "hold" if outcome.held else "skip"


def _error(rule: Rule, target: Target, service: Service | None, error: AwsError) -> Outcome:
    return error_outcome(rule, target, service, error)
