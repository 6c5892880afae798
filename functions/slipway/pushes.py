"""The order of pushes: which push of a rule is the newest, and whether a push was received already.

- ``RuleLatest`` is the newest push admitted under a rule. A push that is not the newest
  by the time its turn comes (it waited for ECS's pace, or was handed on to a later
  invocation) is never rolled out: a newer one for the same rule and services exists.
  Newer means a higher semantic version when both tags are versions (unless the rule
  allows downgrades), else pushed later.
- ``PushMark`` says a push of a digest under a tag was received, by its ECR event or by
  the reconcile that found it in ECR without one. Whichever comes first deploys it; the
  other finds the mark and does nothing, so a late event and the reconcile never deploy
  one push twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from slipway.model import RECONCILE, Push
from slipway.ports import PushStore
from slipway.rules import Rule
from slipway.versions import parse_version

logger = Logger(child=True)

EVENT = "event"  # a push received by its ECR event; RECONCILE (model): found by the reconcile
SAME_PUSH = timedelta(minutes=15)  # an event's time and ECR's imagePushedAt for one push differ by seconds
RECEIVED_SKEW = timedelta(minutes=1)
WRITE_ATTEMPTS = 4


@dataclass(frozen=True)
class RuleLatest:
    """The newest push admitted under a rule."""

    repository: str
    rule: str
    event_id: str
    tag: str | None
    digest: str
    pushed_at: datetime


@dataclass(frozen=True)
class PushMark:
    """A push of ``digest`` as ``tag``, received by its event or by the reconcile."""

    repository: str
    digest: str
    tag: str
    event_id: str
    source: str  # EVENT or RECONCILE
    pushed_at: datetime
    received_at: datetime


def newer(push: Push, latest: RuleLatest, by_version: bool) -> bool:
    """Whether ``push`` is at least as new as ``latest`` (ties: the push seen later wins)."""
    if push.event_id == latest.event_id:
        return True
    if by_version and push.tag and latest.tag:
        mine, theirs = parse_version(push.tag), parse_version(latest.tag)
        if mine is not None and theirs is not None and mine.compare(theirs) != 0:
            return mine.compare(theirs) > 0
    return push.time >= latest.pushed_at


def covered(mark: PushMark, existing: PushMark) -> bool:
    """Whether ``existing`` means the push ``mark`` describes was received already by the other path."""
    if existing.event_id == mark.event_id:
        # The same event again is Lambda's retry of a failed invocation: it goes on. The
        # reconcile looks at recent images more than once: what it found once is done.
        return mark.source == RECONCILE
    if mark.source == EVENT:
        # A reconciled push whose event comes late; an earlier event of the same digest
        # and tag is a push of its own (the tag was moved away and back).
        return existing.source == RECONCILE and abs(existing.pushed_at - mark.pushed_at) <= SAME_PUSH
    return existing.received_at >= mark.pushed_at - RECEIVED_SKEW


class PushOrder:
    """Keeps the newest push per rule and the marks of received pushes."""

    def __init__(self, store: PushStore) -> None:
        self._store = store

    def admit(self, push: Push, rule: Rule) -> RuleLatest | None:
        """Record ``push`` as the newest of ``rule``; the newer push instead, if one was admitted."""
        mine = RuleLatest(rule.repository, rule.name, push.event_id, push.tag, push.digest, push.time)
        expected: RuleLatest | None = None
        for _ in range(WRITE_ATTEMPTS):
            stored = self._store.put_latest(mine, expected)
            if stored is None:
                return None
            if not newer(push, stored, not rule.spec.allow_downgrade):
                return stored
            expected = stored  # older than this push: replace it, unless it changes again meanwhile
        logger.warning("newest push of a rule kept changing; going on", extra={"rule": rule.name})
        return None

    def superseded_by(self, push: Push, rule: Rule) -> RuleLatest | None:
        """The newer push admitted under ``rule`` since ``push`` was, if there is one."""
        latest = self._store.get_latest(rule.repository, rule.name)
        if latest is None or latest.event_id == push.event_id:
            return None
        return None if newer(push, latest, not rule.spec.allow_downgrade) else latest

    def receive(self, mark: PushMark) -> PushMark | None:
        """Record that ``mark``'s push was received; the mark of the path that received it first, if another did."""
        expected: PushMark | None = None
        for _ in range(WRITE_ATTEMPTS):
            stored = self._store.put_mark(mark, expected)
            if stored is None:
                return None
            if covered(mark, stored):
                return stored
            expected = stored
        logger.warning("push mark kept changing; going on", extra={"digest": mark.digest})
        return None
