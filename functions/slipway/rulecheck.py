"""Rules are checked the moment they change: the same validation as the deploy function,
plus what only the live account can tell (clusters, services, containers, sibling rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.notifications import Notification
from slipway.places import Reach, partition_of
from slipway.ports import RuleReader, RuleSet, ServiceReader
from slipway.rules import Rule, RuleInvalid, Target, parse_rule, split_parameter
from slipway.scheduled import ScheduleReach
from slipway.strategy import unfit_service

logger = Logger(child=True)

RULE_INVALID, RULE_ACCEPTED, RULE_DELETED = "RULE_INVALID", "RULE_ACCEPTED", "RULE_DELETED"


@dataclass(frozen=True)
class RuleVersion:
    """A rule parameter as Parameter Store has it now."""

    name: str
    value: str
    version: int | None
    modified_by: str | None
    modified_at: datetime | None


def live_problems(
    rule: Rule, ecs: ServiceReader, siblings: RuleSet, reach: Reach, scheduled: ScheduleReach | None = None
) -> list[str]:
    """What makes a well-formed rule wrong or dangerous where it deploys, each as ``path: problem``.

    A schedule or events rule is checked against AllowedSchedules and AllowedEventRules only
    (``scheduled``): the rule check function reads no schedule.
    """
    problems: list[str] = []
    for index, target in enumerate(rule.spec.entries):
        path = f"targets[{index}]"
        if not isinstance(target, Target):
            refused = scheduled.refusal(target) if scheduled else None
            if refused:
                problems.append(f"{path}: {refused[1]}")
            continue
        refusal = reach.refusal(target.cluster_name, target.at(reach.home), partition_of(target.cluster))
        if refusal:
            problems.append(f"{path}.cluster: {refusal.reason}")
            continue
        problems.extend(_service_problems(path, rule, target, ecs))
    problems.extend(_sibling_problems(rule, siblings))
    return problems


def _service_problems(path: str, rule: Rule, target: Any, ecs: ServiceReader) -> list[str]:
    try:
        lookup = ecs.describe_services(target.cluster, [target.service])
    except AwsError as error:
        if error.code == "ClusterNotFoundException":
            return [f'{path}.cluster: no cluster "{target.cluster_name}"']
        return [f"{path}: cannot check ({error.code}: {error.message})"]
    service = lookup.found.get(target.service)
    if service is None or service.status != "ACTIVE":
        state = f" ({service.status})" if service else ""
        return [f'{path}.service: no service "{target.service}" in cluster "{target.cluster_name}"{state}']
    if service.deployment_controller != "ECS":
        return [
            f"{path}.service: {target.key} uses the {service.deployment_controller} deployment controller, which Slipway cannot roll out"
        ]
    unfit = unfit_service(service, rule)
    if unfit is not None:
        return [f"{path}.service: strategy {rule.spec.strategy}: {unfit}"]
    if target.container:
        taskdef = ecs.describe_task_definition(service.task_definition)
        names = [str(c.get("name")) for c in taskdef.containers]
        if target.container not in names:
            revision = service.task_definition.rsplit("/", 1)[-1]
            return [
                f'{path}.container: no container "{target.container}" in task definition {revision} (has: {", ".join(names)})'
            ]
    return []


def _sibling_problems(rule: Rule, siblings: RuleSet) -> list[str]:
    problems: list[str] = []
    others = {r.name: r for r in siblings.rules if r.name != rule.name}
    source = rule.spec.promote_from
    if source == rule.name:
        problems.append(f'promote_from: a rule cannot promote from itself ("{source}")')
    elif source and source not in others and source not in {p.parameter.rsplit("/", 1)[-1] for p in siblings.invalid}:
        known = ", ".join(sorted(others)) or "none"
        problems.append(f'promote_from: no rule "{source}" in repository {rule.repository} (rules: {known})')
    mine = {t.key for t in rule.spec.targets}
    for other in others.values():
        shared = sorted(mine & {t.key for t in other.spec.targets})
        if shared and other.spec.enabled and rule.spec.enabled and _tags_overlap(rule, other):
            problems.append(
                f'targets: {", ".join(shared)} also deployed by rule "{other.name}" for the same tags; '
                "two rules would fight over the service"
            )
    return problems


def _tags_overlap(a: Rule, b: Rule) -> bool:
    # Conservative: only rules that take any tag, or list a common pattern, surely overlap.
    if a.spec.tags is None or b.spec.tags is None:
        return a.spec.semver is None and b.spec.semver is None
    return bool(set(a.spec.tags) & set(b.spec.tags))


class RuleChecker:
    """Checks a rule parameter after a Create or Update, and reports deletions."""

    def __init__(
        self,
        reader: RuleReader,
        ecs: ServiceReader,
        notifier: Any,
        rules_path: str,
        reach: Reach,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        scheduled: ScheduleReach | None = None,
    ) -> None:
        self._scheduled = scheduled
        self._reader = reader
        self._ecs = ecs
        self._notifier = notifier
        self._rules_path = rules_path
        self._reach = reach
        self._clock = clock

    def on_change(self, name: str, operation: str) -> Notification | None:
        """Check one change event; publish and return the notification, or None if not a rule."""
        try:
            repository, rule_name = split_parameter(self._rules_path, name)
        except ValueError:
            logger.info("parameter outside the rules path", extra={"parameter": name})
            return None
        if operation == "Delete":
            return self._publish(
                Notification(
                    status=RULE_DELETED,
                    repository=repository,
                    rule=rule_name,
                    parameter=name,
                    reason=f"rule {name} was deleted; its targets get no more rollouts from it",
                    time=self._clock(),
                )
            )
        current = self._reader.read(name)
        if current is None:
            return None  # deleted again before we could read it: the Delete event reports it
        problems = self.problems(repository, rule_name, current)
        status = RULE_INVALID if problems else RULE_ACCEPTED
        reason = "; ".join(problems) if problems else "rule is valid and every target exists"
        return self._publish(
            Notification(
                status=status,
                repository=repository,
                rule=rule_name,
                parameter=name,
                reason=reason,
                time=self._clock(),
                version=current.version,
                modified_by=current.modified_by,
                modified_at=current.modified_at,
                problems=problems,
            )
        )

    def problems(self, repository: str, rule_name: str, current: RuleVersion) -> list[str]:
        try:
            rule = parse_rule(repository, rule_name, current.name, current.value, current.version, self._reach.home)
        except RuleInvalid as invalid:
            return list(invalid.problems)
        siblings = self._reader.load(repository, fresh=True)
        return live_problems(rule, self._ecs, siblings, self._reach, self._scheduled)

    def _publish(self, notice: Notification) -> Notification:
        log = logger.warning if notice.status == RULE_INVALID else logger.info
        log("rule checked", extra={"status": notice.status, "parameter": notice.parameter, "reason": notice.reason})
        failures = self._notifier.publish([notice])
        if failures:
            raise AwsError("PublishBatch", "NotificationFailed", "; ".join(failures))
        return notice
