"""The ``pre_deploy`` gate: a one-off task of the new revision that must exit 0 before a rule's targets update.

Once per push and rule (not per target) a run is claimed in the table for
(repository, rule, digest), a revision of the first target's task definition with the
pushed image is registered, and RunTask starts it with the rule's command. The rule's
targets are held (gate ``pre_deploy``) until the task stops: its state change event (the
track function) or DescribeTasks (the sweep) records how; exit code 0 lets the holds
roll out, anything else ends them FAILED. A run that succeeded is never run again for the
digest and rule; after a failure, a new push of the digest runs it again, a retry of the
same event does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.gates import PASS, Verdict
from slipway.model import Push, Status
from slipway.places import of_arn
from slipway.plan import (
    ROLLOUT_NAMESPACE,
    body_fingerprint,
    clone_with_image,
    merge_tags,
    push_tags,
    rollout_id,
    select_containers,
)
from slipway.ports import TaskRunner, TaskRunStore
from slipway.rule_tasks import PreDeploy
from slipway.rules import Rule
from slipway.task_run import FAILED, RUNNING, STARTING, SUCCEEDED, TaskEnd, TaskRequest, TaskRun, log_location

if TYPE_CHECKING:
    from slipway.revisions import RevisionGroup

logger = Logger(child=True)

PRE_DEPLOY = "pre_deploy"
STARTED_BY = "slipway-pre-deploy"  # RunTask's startedBy (up to 128 characters); the track rule matches it
Mode = Literal["preview", "admit", "release"]  # a dry run; a push being admitted; a hold re-checked


class PreDeployTasks:
    """Starts a rule's pre-deploy task once per digest, and says whether its targets may roll out."""

    def __init__(self, ecs: TaskRunner, runs: TaskRunStore, clock: Callable[[], datetime]) -> None:
        self._ecs = ecs
        self._runs = runs
        self._clock = clock

    # -- the gate ----------------------------------------------------------------------------
    def verdict(self, push: Push, rule: Rule, mode: Mode) -> Verdict:
        """PASS once the task exited 0 for this digest; a hold while it runs; FAILED when it failed."""
        spec = rule.spec.pre_deploy
        if spec is None:
            return PASS
        run = self._runs.task_run(push.repository, rule.name, push.digest)
        if run is not None and run.status == SUCCEEDED:
            return PASS
        if mode == "preview":
            return previewed(run, spec)
        if mode == "release" and run is not None and run.event_id == push.event_id:
            return self._rechecked(push, rule, spec, run)
        # admitted, or released from an earlier gate (a freeze, an approval, a scan) before its task ever ran
        return self._admitted(push, rule, spec, run)

    def _rechecked(self, push: Push, rule: Rule, spec: PreDeploy, run: TaskRun) -> Verdict:
        """A hold checked again: it waits for the task its push started (starting it again, with the same
        client token, when ECS could not take the RunTask for now), and never starts another."""
        if run.status == STARTING:
            return self._start(push, rule, spec, run)
        return failed(run) if run.status == FAILED else waiting(run, spec)

    def _admitted(self, push: Push, rule: Rule, spec: PreDeploy, run: TaskRun | None) -> Verdict:
        """A push admitted: it starts the task, unless one is running or this very push's failed."""
        ours = run is not None and run.event_id == push.event_id
        if run is None or (run.status == FAILED and not ours):
            return self._start(push, rule, spec, None)  # first, or a new push after a failure
        if run.status == FAILED:
            return failed(run)  # a retry of the push whose task failed
        if run.status == STARTING and ours:
            return self._start(push, rule, spec, run)  # RunTask again, with the same client token
        return waiting(run, spec)

    # -- starting it -------------------------------------------------------------------------
    def _start(self, push: Push, rule: Rule, spec: PreDeploy, claimed: TaskRun | None) -> Verdict:
        """Claim the run (or take up this push's own unconfirmed one), then RunTask, idempotent by client token."""
        first = rule.spec.targets[0]
        run = claimed
        if run is None:
            now = self._clock()
            run = TaskRun(
                repository=push.repository,
                rule=rule.name,
                digest=push.digest,
                event_id=push.event_id,
                status=STARTING,
                container=spec.container,
                cluster=spec.cluster or first.cluster,
                started_at=now,
                deadline=now + timedelta(minutes=spec.timeout_minutes),
                timeout_minutes=spec.timeout_minutes,
            )
            other = self._runs.claim_task_run(run)
            if other is not None:  # another invocation got there first: its run decides
                return (
                    PASS
                    if other.status == SUCCEEDED
                    else failed(other)
                    if other.status == FAILED
                    else waiting(other, spec)
                )
        try:
            started = self._launch(push, rule, spec, run)
        except AwsError as error:
            if error.retryable:  # throttled, 5xx, out of time: the run stays STARTING, its hold tries again
                logger.warning("pre-deploy task not started yet", extra={"run": run.key, "error": str(error)})
                return waiting(run, spec)
            self._runs.drop_task_run(run)
            return cannot_start(error)
        except ValueError as error:
            self._runs.drop_task_run(run)
            return cannot_start(error)
        if not self._runs.put_task_run(started, was=STARTING):
            logger.info("pre-deploy task run moved on meanwhile", extra={"run": run.key})
        logger.info("pre-deploy task started", extra={"run": run.key, "task": started.task_arn})
        return waiting(started, spec)

    def _launch(self, push: Push, rule: Rule, spec: PreDeploy, run: TaskRun) -> TaskRun:
        first = rule.spec.targets[0]
        launch = self._ecs.task_launch(first.cluster, first.service)
        taskdef = self._ecs.describe_task_definition(launch.task_definition)
        names = [str(c.get("name")) for c in taskdef.containers]
        if spec.container not in names:
            raise ValueError(
                f'pre_deploy container "{spec.container}" is not in task definition {taskdef.arn} (has: {", ".join(names)})'
            )
        body = clone_with_image(taskdef, select_containers(taskdef, first, push), push.image)
        tags = merge_tags(taskdef.tags, push_tags(push, rule, rollout_id(push.event_id, rule.name, PRE_DEPLOY)))
        revision = run.task_definition
        if revision is None:  # registered once: a RunTask tried again names the same revision (its client token)
            revision = self._ecs.register_task_definition(body, tags, launch.place)
            run = replace(run, task_definition=revision, body_fingerprint=body_fingerprint(body))
            self._runs.put_task_run(run, was=STARTING)
        if spec.network != "service":
            launch = replace(launch, network_configuration=spec.network.configuration())
        request = TaskRequest(
            task_definition=revision,
            container=spec.container,
            command=tuple(spec.command),
            launch=launch,
            started_by=STARTED_BY,
            group=f"slipway:{rule.name}"[:255],
            client_token=str(uuid.uuid5(ROLLOUT_NAMESPACE, f"{run.key}|{run.event_id}")),
            tags=tuple((k, v) for k, v in tags if k.startswith("slipway:")),
        )
        task_arn = self._ecs.run_task(run.cluster, request)
        group, stream = log_location(body, spec.container, task_arn)
        return replace(run, status=RUNNING, task_arn=task_arn, log_group=group, log_stream=stream)

    # -- the revision it ran, for the rollout ------------------------------------------------
    def revision_for(self, group: RevisionGroup) -> str | None:
        """The revision a succeeded pre-deploy task ran, when ``group`` would register the very same body
        (in the same account and Region): its services then run what the task ran, registered once."""
        wanted = body_fingerprint(group.body)
        for member in group.members:
            attempt = member.attempt
            if attempt.rule.spec.pre_deploy is None:
                continue
            run = self._runs.task_run(attempt.push.repository, attempt.rule.name, attempt.push.digest)
            if run is None or run.status != SUCCEEDED or run.task_definition is None:
                continue
            if run.body_fingerprint == wanted and of_arn(run.task_definition) == of_arn(attempt.service.arn):
                return run.task_definition
        return None

    # -- its end -----------------------------------------------------------------------------
    def stopped(self, end: TaskEnd) -> TaskRun | None:
        """Record how a pre-deploy task ended (its event); the run, or None when it is not one or told already."""
        run = self._runs.task_run_by_arn(end.task_arn)
        if run is None or not run.unfinished:
            return None
        return self._settle(run, run.ended(end, self._clock()))

    def sweep(self) -> list[TaskRun]:
        """Runs whose task stopped without an event reaching Slipway, or ran out of time (stopped here)."""
        settled: list[TaskRun] = []
        now = self._clock()
        for run in self._runs.task_runs():
            if not run.unfinished:
                continue
            try:
                ended = self._check(run, now)
            except AwsError as error:
                logger.warning("pre-deploy task not checked", extra={"run": run.key, "error": str(error)})
                continue
            if ended is not None and self._settle(run, ended) is not None:
                settled.append(ended)
        return settled

    def _check(self, run: TaskRun, now: datetime) -> TaskRun | None:
        from slipway.task_run import task_end

        task = self._ecs.describe_task(run.cluster, run.task_arn) if run.task_arn is not None else None
        end = task_end(task, run.container) if task else None
        if end is not None:
            return run.ended(end, now)
        if now < run.deadline:
            return None
        if task is not None and run.task_arn is not None:  # a task ECS no longer knows is not stopped: it fails
            self._ecs.stop_task(
                run.cluster, run.task_arn, f"Slipway: pre-deploy timed out after {run.timeout_minutes} min"
            )
        return run.timed_out(now)

    def _settle(self, run: TaskRun, ended: TaskRun) -> TaskRun | None:
        if not self._runs.put_task_run(ended, was=run.status):
            return None
        logger.info("pre-deploy task ended", extra={"run": run.key, "status": ended.status, "reason": ended.reason})
        return ended


def waiting(run: TaskRun | None, spec: PreDeploy) -> Verdict:
    if run is None:
        reason = f"waiting for the pre-deploy task ({spec.container}: {' '.join(spec.command)}) to run and exit 0"
    elif run.task_arn is None:
        reason = f"waiting for the pre-deploy task ({spec.container}) to start"
    else:
        reason = f"waiting for the pre-deploy task to exit 0 ({run.where})"
    return Verdict(False, reason, PRE_DEPLOY, True, task_arn=run.task_arn if run else None)


def previewed(run: TaskRun | None, spec: PreDeploy) -> Verdict:
    """What ``slipway plan`` says of a push that would wait for the task: held, and the task's state."""
    if run is not None and run.status == FAILED:
        why = f"the pre-deploy task runs again first: it failed for this digest ({run.reason})"
        return Verdict(False, why, PRE_DEPLOY, True, task_arn=run.task_arn)
    return waiting(run, spec)


def failed(run: TaskRun) -> Verdict:
    """The final verdict of a run that failed: every target of the push and rule ends FAILED with it."""
    return Verdict(
        False,
        run.reason or "pre-deploy task failed",
        PRE_DEPLOY,
        final=True,
        status=Status.FAILED,
        exit_code=run.exit_code,
        task_arn=run.task_arn,
        stopped_reason=run.stopped_reason,
        log_stream=run.log_stream,
    )


def cannot_start(error: AwsError | ValueError) -> Verdict:
    """ERROR for every target: the task could not start (an AWS error with its code, or no such container)."""
    if isinstance(error, AwsError):
        reason = f"pre-deploy task could not start: {error.operation} failed: {error.code}: {error.message}"
        code = error.code
    else:
        reason, code = f"pre-deploy task could not start: {error}", "ContainerNotFound"
    logger.error("pre-deploy task not started", extra={"reason": reason})
    return Verdict(False, reason, PRE_DEPLOY, final=True, status=Status.ERROR, error_code=code)
