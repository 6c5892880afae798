"""Targets that can share one new revision, grouped so that it is registered once.

Services that run the same task-definition revision, and whose chosen containers change
to the same pushed image, get the same new revision: its body is the same copy of the
same source. ECS allows one RegisterTaskDefinition per second per account once the
burst of 20 is spent, so a cell-based fleet of a hundred services on ten revisions needs
ten registrations, not a hundred.

The revision's ``slipway:*`` tags name the push (repository, tag, digest, event id);
``slipway:rule`` lists every rule whose targets share it and ``slipway:rollout-id`` is
the first rollout's. Each service's own rollout is in its claim and history, and a retry
recognises the revision by the push's event id and digest (``plan.made_for``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slipway.attempt import Deploy
from slipway.places import Place
from slipway.plan import TAG_PREFIX, TAG_VALUE_LIMIT


@dataclass(frozen=True)
class RevisionGroup:
    """Services that will run one revision: an existing one, or one registered from the first plan."""

    members: tuple[Deploy, ...]
    revision: str | None = None  # known already (REGISTERED claims): nothing to register

    @property
    def registers(self) -> bool:
        return self.revision is None

    @property
    def body(self) -> dict[str, Any]:
        plan = self.members[0].plan
        assert plan is not None
        return plan.body

    @property
    def tags(self) -> tuple[tuple[str, str], ...]:
        plan = self.members[0].plan
        assert plan is not None
        rules = " ".join(sorted({m.attempt.rule.name for m in self.members}))
        return tuple((k, rules if k == TAG_PREFIX + "rule" else v) for k, v in plan.tags)

    @property
    def place(self) -> Place | None:
        """Where its services are (None: Slipway's own account and Region): a revision is registered there."""
        return self.members[0].attempt.service.place

    def __len__(self) -> int:
        return len(self.members)


def group(deploys: Iterable[Deploy]) -> list[RevisionGroup]:
    """The deploys grouped by the revision they will run, in the order their first member came."""
    registering: dict[tuple[str, tuple[str, ...], str], list[Deploy]] = {}
    existing: dict[str, list[Deploy]] = {}
    for deploy in deploys:
        if deploy.revision is not None:
            existing.setdefault(deploy.revision, []).append(deploy)
            continue
        assert deploy.plan is not None
        key = (deploy.attempt.service.task_definition, deploy.containers, deploy.attempt.push.image)
        registering.setdefault(key, []).append(deploy)
    groups = [RevisionGroup(tuple(members), revision) for revision, members in existing.items()]
    for members in registering.values():
        groups.extend(RevisionGroup(tuple(part)) for part in _within_tag_limit(members))
    return groups


def _within_tag_limit(members: Sequence[Deploy]) -> list[list[Deploy]]:
    """One group, or one per rule when the rules' names would not fit in one tag value."""
    rules = sorted({m.attempt.rule.name for m in members})
    if len(" ".join(rules)) <= TAG_VALUE_LIMIT:
        return [list(members)]
    return [[m for m in members if m.attempt.rule.name == rule] for rule in rules]
