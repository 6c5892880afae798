"""The reconcile: pushes whose ECR event never came are found in ECR and deployed.

ECR delivers its EventBridge events on a best-effort basis. On a schedule, every
repository that has rules is compared with ECR's own record of what was pushed
(DescribeImages) since the last look, and each tagged push Slipway never received goes
through the same deploy path as an event, with ``initiated_by: reconcile``. The event
and the reconcile mark the push when they receive it (``pushes.PushMark``), so whichever
comes first deploys it and the other does nothing. The first look at a repository only
notes the time: pushes from before Slipway watched it are not deployed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from slipway import budget
from slipway.artifacts import artifact_kind
from slipway.errors import AwsError
from slipway.model import RECONCILE, Push
from slipway.ports import ImageRecord, PushDeployer, PushStore, Registry, RuleSource
from slipway.report import PushReport

logger = Logger(child=True)

OVERLAP = timedelta(minutes=10)  # look again a little before the last look: ECR's clock and ours
RECONCILE_NAMESPACE = uuid.UUID("0b5e8a51-7c2f-4d6e-9a3b-1f4c5d6e7a8b")


@dataclass
class ReconcileReport:
    """What one reconcile found."""

    repositories: int = 0
    found: list[PushReport] = field(default_factory=list)  # pushes deployed by the reconcile
    artifacts: int = 0
    failures: list[str] = field(default_factory=list)
    left_for_later: list[str] = field(default_factory=list)  # repositories not reached in time


def reconcile_event_id(image: ImageRecord, tag: str) -> str:
    """A stable id for the reconcile's push of one image under one tag (the same on every look)."""
    name = f"{image.repository}|{image.digest}|{tag}|{image.pushed_at.isoformat()}"
    return f"reconcile-{uuid.uuid5(RECONCILE_NAMESPACE, name)}"


class Reconciler:
    """Finds tagged pushes the deploy function never received, and deploys them."""

    def __init__(
        self,
        rules: RuleSource,
        registry: Registry,
        store: PushStore,
        deployer: PushDeployer,
        clock: Callable[[], datetime],
        lookback: timedelta = timedelta(hours=1),
        count: Callable[[str, int], None] = lambda name, value: None,
    ) -> None:
        self._rules = rules
        self._registry = registry
        self._store = store
        self._deployer = deployer
        self._clock = clock
        self._lookback = lookback
        self._count = count

    def run(self, account: str, region: str) -> ReconcileReport:
        """Look at every repository with rules, as far as this invocation's time allows."""
        report = ReconcileReport()
        repositories = self._rules.repositories()
        for position, repository in enumerate(repositories):
            if budget.current().work_remaining() <= 0:
                report.left_for_later = repositories[position:]
                logger.warning("reconcile ran out of time", extra={"left": len(report.left_for_later)})
                break
            try:
                self._repository(repository, account, region, report)
            except AwsError as error:
                logger.error("reconcile of a repository failed", extra={"repository": repository, "error": str(error)})
                report.failures.append(f"{repository}: {error}")
            report.repositories += 1
        self._count("ReconcileFound", len(report.found))
        return report

    def _repository(self, repository: str, account: str, region: str, report: ReconcileReport) -> None:
        now = self._clock()
        since = self._store.reconciled_until(repository)
        if since is None:
            logger.info("first reconcile of a repository: watching from now", extra={"repository": repository})
            self._store.put_reconciled_until(repository, now)
            return
        start = max(since - OVERLAP, now - self._lookback)
        for image in self._registry.tagged_images(repository, start):
            kind = artifact_kind(image.manifest_media_type, image.artifact_media_type, None)
            if kind is not None:
                report.artifacts += 1
                continue
            for tag in image.tags:
                if artifact_kind(image.manifest_media_type, image.artifact_media_type, tag) is not None:
                    report.artifacts += 1
                    continue
                push = Push(
                    event_id=reconcile_event_id(image, tag),
                    account=account,
                    region=region,
                    repository=repository,
                    digest=image.digest,
                    tag=tag,
                    time=image.pushed_at,
                    initiated_by=RECONCILE,
                )
                deployed = self._deployer.deploy(push)
                if deployed.matched_rules and deployed.received_already is None:
                    logger.info("reconcile found a push never received", extra={"image": push.label})
                    report.found.append(deployed)
        self._store.put_reconciled_until(repository, now)
