"""Handing a push's remaining targets on to a later invocation.

An invocation that runs short of time puts the targets it did not finish into a
Continuation: the push, and per target its rule, service and how often it was tried.
The continuation goes to Slipway's work queue (SQS), whose messages invoke the deploy
function again; that invocation carries on with them through the same pipeline, the
claims making sure nothing is done twice. A continuation names rules and targets, not
what they said: the next invocation reads the rules again, so an edit or a deletion
in the meantime is honoured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slipway.attempt import Assignment
from slipway.model import Push
from slipway.scheduled import ScheduledAssignment

KIND = "slipway.continuation"
# One message holds every waiting target while it fits: a push is carried on by one chain
# of invocations, whose pacer then has the account's buckets to itself. Only a push with
# more waiting targets than MESSAGE_BYTES hold (some thousands) is carried on by several.
MESSAGE_BYTES = 200_000  # of JSON, well inside SQS's 256 KiB
ERROR_CHARS = 200  # of a target's last error kept in the message
MAX_TRIES = 10  # invocations that may hand one target on after trying it; then it is given up
MAX_DELAY_SECONDS = 900  # SQS's longest message delay


class HandedTarget(BaseModel):
    """One target still to be rolled out."""

    model_config = ConfigDict(frozen=True)

    rule: str
    cluster: str
    service: str
    container: str | None = None
    tries: int = Field(default=0, ge=0)
    announced: str | None = None
    last_error: str | None = None


class HandedScheduled(BaseModel):
    """One scheduled task (a schedule or an events rule, by its key) still to be moved."""

    model_config = ConfigDict(frozen=True)

    rule: str
    target: str  # schedule:GROUP/NAME or events-rule:[BUS/]NAME
    tries: int = Field(default=0, ge=0)
    last_error: str | None = None


class HandedPush(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    account: str
    region: str
    repository: str
    digest: str
    tag: str | None
    time: datetime
    initiated_by: str | None = None
    approved_by: str | None = None

    @classmethod
    def of(cls, push: Push) -> HandedPush:
        return cls(**{name: getattr(push, name) for name in cls.model_fields})

    def push(self) -> Push:
        return Push(**self.model_dump())


class Continuation(BaseModel):
    """A push's targets handed on to a later invocation (the body of a work-queue message)."""

    model_config = ConfigDict(frozen=True)

    kind: str = KIND
    version: int = 1
    push: HandedPush
    targets: list[HandedTarget] = Field(default_factory=list)
    scheduled: list[HandedScheduled] = Field(default_factory=list)
    hops: int = Field(default=1, ge=1)  # invocations of this push so far
    handed_on_at: datetime
    # An invocation that could start nothing (ECS's tokens come later than its deadline) hands
    # on with a delay until they come, rather than waking the next invocation to do nothing.
    delay_seconds: int = Field(default=0, ge=0, le=MAX_DELAY_SECONDS, exclude=True)

    @model_validator(mode="after")
    def _carries_something(self) -> Continuation:
        if not self.targets and not self.scheduled:
            raise ValueError("a continuation carries at least one target")
        return self

    def body(self) -> str:
        return self.model_dump_json(exclude_none=True)


def continuations(
    push: Push,
    waiting: Sequence[Assignment],
    hops: int,
    now: datetime,
    delay: float = 0.0,
    scheduled: Sequence[ScheduledAssignment] = (),
) -> list[Continuation]:
    """The continuations for ``waiting``, as few messages as MESSAGE_BYTES allow, delivered after ``delay``;
    the scheduled tasks still to move go with the first (they are few: a rule's own list)."""
    delay_seconds = min(MAX_DELAY_SECONDS, math.ceil(delay))
    parts: list[list[HandedTarget]] = [[]]
    size = 0
    for assignment in waiting:
        handed = HandedTarget(
            rule=assignment.rule.name,
            cluster=assignment.target.cluster,
            service=assignment.target.service,
            container=assignment.target.container,
            tries=assignment.tries,
            announced=assignment.announced,
            last_error=(assignment.last_error or "")[:ERROR_CHARS] or None,
        )
        length = len(handed.model_dump_json(exclude_none=True)) + 1
        if parts[-1] and size + length > MESSAGE_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(handed)
        size += length
    tasks = [
        HandedScheduled(
            rule=a.rule.name, target=a.target.key, tries=a.tries, last_error=(a.last_error or "")[:ERROR_CHARS] or None
        )
        for a in scheduled
    ]
    filled = [part for part in parts if part]
    if tasks and not filled:
        filled = [[]]  # scheduled tasks alone
    pushed = HandedPush.of(push)
    return [
        Continuation(
            push=pushed,
            targets=part,
            scheduled=tasks if index == 0 else [],
            hops=hops,
            handed_on_at=now,
            delay_seconds=delay_seconds,
        )
        for index, part in enumerate(filled)
    ]
