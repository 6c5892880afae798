"""Reading what a push's targets stand on: their services, task definitions and claims.

One DescribeServices per ten services of a cluster, one DescribeTaskDefinition per
distinct revision, and one BatchGetItem per hundred claims (read while the task
definitions are described), whatever the number of rules and targets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger

from slipway.attempt import Assignment, Attempt
from slipway.errors import AwsError
from slipway.model import Push, Service, ServiceState, TaskDefinition
from slipway.outcome import Outcome, error_outcome
from slipway.places import Place
from slipway.plan import rollout_id
from slipway.ports import ClaimStore, Ecs
from slipway.rules import Target
from slipway.workers import parallel_map, submit

logger = Logger(child=True)

Found = dict[str, Service | AwsError]  # by target key: one cluster name can be in several accounts


class TargetReader:
    """Reads targets in bulk (``read``) or one again (``reread``, after a lost claim or a busy service)."""

    def __init__(self, ecs: Ecs, claims: ClaimStore, workers: int) -> None:
        self._ecs = ecs
        self._claims = claims
        self._workers = workers

    def read(self, push: Push, assignments: Sequence[Assignment]) -> list[Attempt | Outcome]:
        """One Attempt per assignment, in order, or the ERROR that ends it (no service, unreadable revision)."""
        services = self.services([a.target for a in assignments])
        found = [s for s in services.values() if isinstance(s, Service)]
        with ThreadPoolExecutor(max_workers=1) as background:  # the claims are read while ECS is
            reading = submit(background, self._states, found)
            taskdefs = self.task_definitions({s.task_definition for s in found})
            states = reading.result()
        read: list[Attempt | Outcome] = []
        for assignment in assignments:
            target = assignment.target
            service = services[target.key]
            if isinstance(service, AwsError):
                read.append(error_outcome(assignment.rule, target, None, service))
            elif service.status != "ACTIVE":
                inactive = AwsError(
                    "DescribeServices", "ServiceNotActiveException", f"service {service.key} is {service.status}"
                )
                read.append(error_outcome(assignment.rule, target, service, inactive))
            elif isinstance(taskdef := taskdefs[service.task_definition], AwsError):
                read.append(error_outcome(assignment.rule, target, service, taskdef))
            else:
                read.append(self._attempt(push, assignment, service, taskdef, states))
        return read

    def _attempt(
        self,
        push: Push,
        assignment: Assignment,
        service: Service,
        taskdef: TaskDefinition,
        states: dict[str, ServiceState] | None,
    ) -> Attempt | Outcome:
        try:
            state = states.get(service.key) if states is not None else self._claims.get_state(service.key)
        except AwsError as error:
            rollout = rollout_id(push.event_id, assignment.rule.name, service.key)
            return error_outcome(assignment.rule, assignment.target, service, error, rollout)
        return Attempt(push, assignment, service, taskdef, state)

    def reread(self, attempt: Attempt) -> Attempt:
        """The attempt with its service, task definition and state read again (AwsError if they are gone)."""
        target = attempt.target
        lookup = self._ecs.describe_services(target.cluster, [target.service])
        if target.service not in lookup.found:
            raise lookup.missing[target.service]
        service = lookup.found[target.service]
        taskdef = self._ecs.describe_task_definition(service.task_definition)
        return attempt.reread(service, taskdef, self._claims.get_state(service.key))

    def services(self, targets: Sequence[Target]) -> Found:
        """Every target's service (or why not), described per cluster in batches of ten.

        A cluster is its name and place: ``app`` of two accounts is two clusters.
        """
        by_cluster: dict[tuple[Place | None, str], list[Target]] = defaultdict(list)
        for target in targets:
            by_cluster[(target.place, target.cluster_name)].append(target)

        def lookup(cluster: tuple[Place | None, str]) -> Found:
            named = by_cluster[cluster]
            names = [t.service for t in named]
            try:
                result = self._ecs.describe_services(named[0].cluster, names)
            except AwsError as error:
                return {t.key: error for t in named}
            return {t.key: result.found.get(t.service) or result.missing[t.service] for t in named}

        found: Found = {}
        for part in parallel_map(lookup, list(by_cluster), self._workers):
            found.update(part)
        return found

    def task_definitions(self, arns: set[str]) -> dict[str, TaskDefinition | AwsError]:
        def describe(arn: str) -> tuple[str, TaskDefinition | AwsError]:
            try:
                return arn, self._ecs.describe_task_definition(arn)
            except AwsError as error:
                return arn, error

        return dict(parallel_map(describe, sorted(arns), self._workers))

    def _states(self, services: list[Service]) -> dict[str, ServiceState] | None:
        """Slipway's state of every service found, in one read per 100; None lets each target read its own."""
        keys = [s.key for s in services]
        if len(keys) <= 1:
            return None
        try:
            return self._claims.get_states(keys)
        except AwsError as error:
            logger.warning("batch read of service states failed, reading per target", extra={"error": str(error)})
            return None
