"""Guard rails a rule sets before a push may roll out: freezes, promotion, approval, signature, scan,
the pre-deploy task, waves.

A push that does not pass a gate is SKIPPED with the reason and, where the gate can
open by itself (promotion, a freeze with ``deploy_after_freeze``, approval, a scan or
signing still to finish, the rule's pre-deploy task, a wave slot), held: the hold is
released by the track function, the sweep or
``slipway approve``, through the same rollout path as a push.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cronsim import CronSim

from slipway.model import Push, Status
from slipway.ports import GateQueries
from slipway.rules import WEEKDAYS, FreezeWindow, Rule

if TYPE_CHECKING:
    from slipway.image_gates import ImageGates
    from slipway.predeploy import Mode, PreDeployTasks

FREEZE, PROMOTION, APPROVAL, WAVE = "freeze", "promotion", "approval", "wave"


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def window_end(window: FreezeWindow, now: datetime) -> datetime | None:
    """When the window that ``now`` falls in ends, or None if ``now`` is outside it."""
    zone = ZoneInfo(window.timezone)
    local = now.astimezone(zone)
    if window.start is not None and window.end is not None:
        start, end = _local(window.start, zone), _local(window.end, zone)
        return end if start <= now < end else None
    if window.cron is not None and window.duration_minutes is not None:
        # The latest opening at or before now (CronSim in reverse steps back from now).
        opened = next(iter(CronSim(window.cron, local.replace(tzinfo=None) + timedelta(seconds=1), reverse=True)))
        closes = opened.replace(tzinfo=zone) + timedelta(minutes=window.duration_minutes)
        return closes if opened.replace(tzinfo=zone) <= local < closes else None
    return _weekly_end(window, local)


def _weekly_end(window: FreezeWindow, local: datetime) -> datetime | None:
    assert window.days is not None and window.from_ is not None and window.to is not None
    days = {WEEKDAYS.index(d) for d in window.days}
    start = tuple(int(x) for x in window.from_.split(":"))
    stop = tuple(int(x) for x in window.to.split(":"))
    now_hm = (local.hour, local.minute)
    today = local.weekday()
    at = lambda base, hm: base.replace(hour=hm[0], minute=hm[1], second=0, microsecond=0)  # noqa: E731
    if start < stop:
        return at(local, stop) if today in days and start <= now_hm < stop else None
    # Past midnight: opens on a listed day at `from`, closes the next day at `to`.
    if today in days and now_hm >= start:
        return at(local + timedelta(days=1), stop)
    if (today - 1) % 7 in days and now_hm < stop:
        return at(local, stop)
    return None


def frozen_until(windows: list[FreezeWindow] | None, now: datetime) -> datetime | None:
    """The end of the freeze ``now`` falls in, following back-to-back windows; None if not frozen."""
    until: datetime | None = None
    moment = now
    for _ in range(20):  # adjoining windows chain; a bound keeps a cycle from looping
        ends = [end for end in (window_end(w, moment) for w in windows or []) if end is not None]
        if not ends:
            return until
        until = max(ends)
        moment = until
    return until


@dataclass(frozen=True)
class Verdict:
    """Whether a push may roll out now under a rule; if not, why, and whether to hold it.

    A ``final`` verdict closes the gate for good (a wait that ran out, a check that failed):
    a push held at it ends there, with ``status`` and the reason, instead of waiting on.
    """

    passed: bool
    reason: str = ""
    gate: str | None = None
    hold: bool = False
    not_before: datetime | None = None
    final: bool = False
    status: Status = Status.SKIPPED
    findings: dict[str, int] | None = None  # the scan's counts per severity, as ECR gave them
    error_code: str | None = None  # the AWS error of a check that could not be made
    # a pre-deploy task's end: what subscribers are told of it
    exit_code: int | None = None
    task_arn: str | None = None
    stopped_reason: str | None = None
    log_stream: str | None = None


PASS = Verdict(True)


def _unchecked(gate: str) -> Verdict:
    """An image gate with nothing to ask ECR through: closed, never passed unchecked."""
    return Verdict(False, f"the {gate} gate cannot be checked here", gate, final=True, status=Status.ERROR)


class Gatekeeper:
    """Evaluates a rule's gates for one push at one moment."""

    def __init__(
        self,
        queries: GateQueries,
        clock: object = None,
        images: ImageGates | None = None,
        tasks: PreDeployTasks | None = None,
    ) -> None:
        self._queries = queries
        self._clock = clock or (lambda: datetime.now(UTC))
        self._images = images
        self._tasks = tasks

    def now(self) -> datetime:
        return self._clock()  # type: ignore[operator, no-any-return]

    def freeze(self, rule: Rule) -> Verdict:
        until = frozen_until(rule.spec.freeze, self.now())
        if until is None:
            return PASS
        when = until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        then = "; it rolls out when the window ends" if rule.spec.deploy_after_freeze else ""
        return Verdict(False, f"frozen until {when}{then}", FREEZE, rule.spec.deploy_after_freeze, until)

    def promotion(self, rule: Rule, digest: str) -> Verdict:
        source = rule.spec.promote_from
        if not source:
            return PASS
        records = self._queries.digest_rollouts(rule.repository, digest, source)
        if not records:
            return Verdict(False, f'waiting for {digest[:19]} to succeed under rule "{source}" first', PROMOTION, True)
        unfinished = [r for r in records if r.status != "SUCCEEDED"]
        if unfinished:
            states = ", ".join(sorted({r.status for r in unfinished}))
            return Verdict(False, f'{digest[:19]} has not succeeded under rule "{source}" ({states})', PROMOTION, True)
        succeeded = max(r.finished_at for r in records if r.finished_at is not None)
        soaked = succeeded + timedelta(minutes=rule.spec.soak_minutes or 0)
        if soaked > self.now():
            left = math.ceil((soaked - self.now()).total_seconds() / 60)
            reason = f'soaking: succeeded under "{source}" at {succeeded:%H:%M} UTC, {left} min of {rule.spec.soak_minutes} to go'
            return Verdict(False, reason, PROMOTION, True, soaked)
        return PASS

    def approval(self, rule: Rule, approved_by: str | None) -> Verdict:
        # A non-rolling rule's approval is a pause inside ECS's deployment, not a hold before it.
        if not rule.spec.holds_for_approval or approved_by:
            return PASS
        return Verdict(False, "waiting for approval (slipway approve ROLLOUT_ID)", APPROVAL, True)

    def signature(self, rule: Rule, push: Push) -> Verdict:
        """The pushed digest signed by ECR managed signing, with a trusted profile (rule key ``signature``)."""
        if rule.spec.signature is None or not rule.spec.signature.required:
            return PASS
        if self._images is None:
            return _unchecked("signature")
        return self._images.signature(rule.spec.signature, push, self.now())

    def scan(self, rule: Rule, push: Push) -> Verdict:
        """The pushed digest's scan findings no worse than the rule allows (rule key ``scan``)."""
        if rule.spec.scan is None:
            return PASS
        if self._images is None:
            return _unchecked("scan")
        return self._images.scan(rule.spec.scan, push, self.now())

    def pre_deploy(self, push: Push, rule: Rule, mode: Mode) -> Verdict:
        """The rule's pre-deploy task: passed once it exited 0 for this digest (started here if ``mode`` lets it)."""
        if rule.spec.pre_deploy is None or self._tasks is None:
            return PASS
        return self._tasks.verdict(push, rule, mode)

    def wave_slots(self, rule: Rule) -> int | None:
        """How many more of the rule's targets may start now (None: no limit)."""
        if rule.spec.max_parallel is None:
            return None
        return max(0, rule.spec.max_parallel - self._queries.in_flight(rule.repository, rule.name))

    def check(self, rule: Rule, digest: str, approved_by: str | None = None, push: Push | None = None) -> Verdict:
        """Freeze, promotion, approval, then (for a push) signature and scan: the first gate that stops it.

        The image gates come last: they ask ECR, and a push another gate stops needs no call.
        Signature before scan: an image nobody trusts is refused whatever its findings.
        """
        for verdict in (self.freeze(rule), self.promotion(rule, digest), self.approval(rule, approved_by)):
            if not verdict.passed:
                return verdict
        if push is not None:
            for image_gate in (self.signature, self.scan):
                verdict = image_gate(rule, push)
                if not verdict.passed:
                    return verdict
        return PASS
