"""One push through ECS, in one invocation: read -> decide -> group -> claim -> register -> update -> record.

Targets go through in chunks (one DescribeServices per ten services, one BatchGetItem and
one claims transaction per chunk). Each chunk's targets are decided by the claim state
machine and grouped by the revision they will run; a group registers its revision once,
then each of its services is updated on the worker pool, and the recorder announces and
records them as they finish.

Pacing is part of the plan, not only of the calls: before a group is taken, the ECS
port forecasts when its RegisterTaskDefinition and UpdateService tokens will come. A
group that would not start before the invocation's work deadline is not claimed: it
waits, with every target after it in its account and Region, and the Deployer hands the
waiting targets on to a later invocation. The reader stays a little ahead of the workers
(LOOKAHEAD), so services are read shortly before they are updated, not minutes before.

ECS's buckets are per account and Region, and so is everything here that waits for them:
targets are taken in turn from each place, and each place has its own queue and crews,
so that a push to fifty services in each of three accounts runs the three side by side.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slipway import budget
from slipway.attempt import Assignment, Attempt, Deploy
from slipway.claims import Busy, Claims, Decision, Fresh, Reannounce, Settle
from slipway.errors import AwsError
from slipway.model import Push
from slipway.outcome import Outcome
from slipway.places import Place
from slipway.ports import Ecs, Notifier, PipelineStore
from slipway.reading import TargetReader
from slipway.recorder import Recording
from slipway.records import Record
from slipway.revisions import RevisionGroup, group
from slipway.rollout import KnownRevision, Roller
from slipway.workers import Crews

Still = Callable[[Assignment], Outcome | None]  # an assignment still wanted: None, else why not

CHUNK = 100  # targets read, decided and claimed together: one BatchGetItem, one transaction
# When a hundred DescribeTaskDefinition calls would not go at once, the first chunk is small,
# so that the first registration starts while the rest are still being read.
FIRST_CHUNK = 20
LOOKAHEAD = 32  # registrations waiting for a worker before the next chunk is read
START_MARGIN = 0.25  # seconds a group needs after its tokens come: the calls themselves
REGISTRARS = 8  # threads that register revisions (and claim alone): at ECS's pace they mostly wait for tokens


@dataclass
class Passage:
    """What one invocation did for a push's assignments."""

    outcomes: list[Outcome | None]  # aligned with the assignments; None: never tried (it waits)
    announced: set[str] = field(default_factory=set)
    notification_failures: list[str] = field(default_factory=list)
    next_turn: float = 0.0  # how much later than this invocation's deadline the first waiting group's tokens come

    @property
    def progressed(self) -> bool:
        """Whether anything was tried (a waiting target counts only once its turn came)."""
        return any(outcome is not None for outcome in self.outcomes)


class Pipeline:
    """Rolls a push out to its assignments, as far as this invocation's time allows."""

    def __init__(
        self,
        ecs: Ecs,
        store: PipelineStore,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        workers: int = 16,
        hook_role: str | None = None,
        known_revision: KnownRevision | None = None,
    ) -> None:
        self.ecs = ecs
        self._workers = workers
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self.reader = TargetReader(ecs, store, workers)
        self.claims = Claims(store, self.reader, clock, sleep, hook_role=hook_role)
        self.roller = Roller(ecs, self.claims, known_revision)

    def recording(self, push: Push) -> Recording:
        """Where one push's rollouts are announced and recorded in this invocation."""
        return Recording(push, self._store, self._notifier, self._clock)

    def run(self, push: Push, assignments: Sequence[Assignment], still: Still | None = None) -> Passage:
        """Roll ``push`` out to ``assignments``; what was done, and what waits for a later invocation.

        ``still`` is asked before every chunk after the first (each may start minutes later):
        an assignment it answers with an Outcome is not rolled out (a newer push overtook it).
        """
        with Crews(self._workers) as crews, Crews(REGISTRARS) as registrars:
            return _Passage(self, push, assignments, crews, registrars, still).run()

    def run_attempts(self, push: Push, attempts: Sequence[Attempt]) -> Passage:
        """The same for attempts read already (a rollback; tests that hand the pipeline what it read)."""
        with Crews(self._workers) as crews, Crews(REGISTRARS) as registrars:
            assignments = [a.assignment for a in attempts]
            return _Passage(self, push, assignments, crews, registrars).run(list(attempts))


class _Passage:
    """The state of one push's passage through the pipeline (one invocation)."""

    def __init__(
        self,
        pipeline: Pipeline,
        push: Push,
        assignments: Sequence[Assignment],
        crews: Crews,
        registrars: Crews,
        still: Still | None = None,
    ) -> None:
        """``registrars`` run the groups (a registration each, waiting for its token) and the attempts that
        go alone; ``crews`` the updates, records and reannouncements, so that they never wait behind a
        registration's token. Both have one crew per place."""
        self.p = pipeline
        self.push = push
        self.assignments = list(assignments)
        self.order = _in_turn([a.target.place for a in self.assignments])
        self.places = {a.target.place for a in self.assignments}
        self.waiting: set[Place | None] = set()  # places whose next group waits for a later invocation
        self.crews = crews
        self.registrars = registrars
        self.still = still
        self.budget = budget.current()
        self.outcomes: list[Outcome | None] = [None] * len(self.assignments)
        self.index: dict[str, int] = {}  # rollout id -> assignment
        self.alone: list[tuple[int, Attempt]] = []
        self.recording = pipeline.recording(push)
        self._queued = threading.Condition()
        self.queued_registrations: Counter[Place | None] = Counter()
        self.queued_updates: Counter[Place | None] = Counter()
        self.next_turn = 0.0

    def run(self, read: list[Attempt | Outcome] | None = None) -> Passage:
        first = CHUNK if self.p.ecs.forecast("DescribeTaskDefinition", CHUNK) <= START_MARGIN else FIRST_CHUNK
        for start, stop in _chunks(len(self.assignments), first):
            self._wait_for_room()
            if self.budget.work_remaining() <= 0:
                break
            indices = self.order[start:stop]
            if start and self.still is not None:
                indices = self._still_wanted(indices)
            items = [read[i] for i in indices] if read is not None else self._read(indices)
            if not self._chunk(indices, items):
                break  # a group of every place had to wait: so does everything after them
        self._join()
        self.recording.flush()  # the attempts that go alone see the claims and records of the others
        self._alone()
        self._join()
        recorded = self.recording.finish()
        for rollout, outcome in recorded.outcomes.items():
            self.outcomes[self.index[rollout]] = outcome
        return Passage(self.outcomes, recorded.announced, recorded.failures, self.next_turn)

    # -- a chunk: read, decide, group, take what fits, claim, start --------------------
    def _still_wanted(self, indices: list[int]) -> list[int]:
        """The chunk's assignments still wanted; the others end with why not (a newer push overtook them)."""
        assert self.still is not None
        wanted, overtaken = [], []
        for i in indices:
            why = self.still(self.assignments[i])
            if why is None:
                wanted.append(i)
            else:
                self.outcomes[i] = why
                overtaken.append(self.assignments[i])
        self.p.claims.drop(self.push, [(a.rule.name, a.key) for a in overtaken if a.tries])
        return wanted

    def _read(self, indices: Sequence[int]) -> list[Attempt | Outcome]:
        return self.p.reader.read(self.push, [self.assignments[i] for i in indices])

    def _chunk(self, indices: Sequence[int], read: list[Attempt | Outcome]) -> bool:
        """Start a chunk's groups; False when every place has a group that had to wait (nothing after starts).

        A push to one service goes alone: its claim is one conditional write, not a transaction.
        """
        if len(read) == 1 and isinstance(read[0], Attempt):
            self.index[read[0].rollout_id] = indices[0]
            self.alone.append((indices[0], read[0]))
            return True
        fresh: dict[str, tuple[int, Fresh]] = {}
        resumed: list[tuple[int, Deploy]] = []
        for i, item in zip(indices, read, strict=True):
            if isinstance(item, Outcome):
                self.outcomes[i] = item
                continue
            self.index[item.rollout_id] = i
            decision = self.p.claims.decide(item)
            if isinstance(decision, Fresh) and item.key in fresh:
                self.alone.append((i, item))  # a second rule for the same service: after the first
            elif isinstance(decision, Fresh):
                fresh[item.key] = (i, decision)
            elif isinstance(decision, Deploy):
                resumed.append((i, decision))
            else:
                self._dispatch(i, decision)
        groups = group([f.deploy for _, f in fresh.values()] + [d for _, d in resumed])
        taken = self._take(groups)
        starting = {id(m) for g in taken for m in g.members}
        to_claim = [f for _, f in fresh.values() if id(f.deploy) in starting]
        claimed, lost = self.p.claims.claim_many(to_claim)
        self.alone.extend((fresh[a.key][0], a) for a in lost)
        ready = {id(d) for d in claimed} | {id(d) for _, d in resumed}
        for revision_group in taken:
            members = tuple(m for m in revision_group.members if id(m) in ready)
            if members:
                self._start(RevisionGroup(members, revision_group.revision))
        return self.waiting != self.places

    def _take(self, groups: list[RevisionGroup]) -> list[RevisionGroup]:
        """The groups whose ECS tokens come before the work deadline, in order; the rest wait.

        Per place: once one of a place's groups waits, every later group of that place waits too.
        """
        taken: list[RevisionGroup] = []
        for candidate in groups:
            place = candidate.place
            if place in self.waiting:
                continue
            registrations = self.queued_registrations[place] + (1 if candidate.registers else 0)
            updates = self.queued_updates[place] + len(candidate)
            ready_in = max(
                self.p.ecs.forecast("RegisterTaskDefinition", registrations, place) if candidate.registers else 0.0,
                self.p.ecs.forecast("UpdateService", updates, place),
            )
            left = self.budget.work_remaining()
            if ready_in + START_MARGIN > left:
                turn = ready_in + START_MARGIN - left
                self.next_turn = min(self.next_turn, turn) if self.waiting else turn
                self.waiting.add(place)
                continue
            with self._queued:
                self.queued_registrations[place] = registrations
                self.queued_updates[place] = updates
            taken.append(candidate)
        return taken

    def _wait_for_room(self) -> None:
        """Read the next chunk only once the workers of some place are close to needing it.

        Per place: one account's backlog of registrations does not keep the others' targets unread.
        """
        with self._queued:
            while self._no_room() and self.budget.work_remaining() > 0:
                self._queued.wait(timeout=0.5)

    def _no_room(self) -> bool:
        return min(self.queued_registrations[place] for place in self.places) > LOOKAHEAD

    # -- the work on the crews ------------------------------------------------------------
    def _join(self) -> None:
        self.registrars.join()  # their tasks start updates on the crews; the crews' start nothing on them
        self.crews.join()

    def _start(self, revision_group: RevisionGroup) -> None:
        self.registrars[revision_group.place].spawn(self._roll, revision_group)

    def _roll(self, revision_group: RevisionGroup) -> None:
        # Leave the queue as the call takes its token, so the forecast counts each once.
        place = revision_group.place
        self._dequeue(place, registrations=1 if revision_group.registers else 0)
        registered = self.p.roller.register(revision_group)
        if registered.revision is None:
            self._dequeue(place, updates=len(revision_group))
            for member, outcome in zip(revision_group.members, registered.outcomes, strict=True):
                self._end(member.attempt, outcome)
            return
        for member in revision_group.members:
            self.crews[place].spawn(self._update, member, registered.revision)

    def _update(self, deploy: Deploy, revision: str) -> None:
        self._dequeue(deploy.attempt.service.place, updates=1)
        result = self.p.roller.update(deploy, revision)
        self._settled(deploy.attempt, result)

    def _settled(self, attempt: Attempt, result: Record | Outcome) -> None:
        if isinstance(result, Outcome):
            self._end(attempt, result)
            return
        announced = attempt.assignment.announced == attempt.rollout_id
        self.recording.add(Record(result.outcome, result.history, result.state, result.expected_generation, announced))

    def _settle(self, settle: Settle) -> None:
        self._settled(settle.attempt, self.p.roller.settle(settle))

    def _dispatch(self, i: int, decision: Decision) -> None:
        """Act on a decision that needs no claim written: an outcome, a settle, a reannouncement."""
        if isinstance(decision, Outcome):
            self.outcomes[i] = decision
        elif isinstance(decision, Settle):
            self.crews[decision.attempt.service.place].spawn(self._settle, decision)
        elif isinstance(decision, Reannounce):
            self.crews[decision.attempt.service.place].spawn(
                self.recording.reannounce, decision.attempt, decision.state
            )
        elif isinstance(decision, Busy):
            self.alone.append((i, decision.attempt))
        elif isinstance(decision, Deploy):  # claimed by claim_alone, or an earlier attempt's
            deploy = decision
            place = deploy.attempt.service.place
            with self._queued:
                self.queued_registrations[place] += 1 if deploy.revision is None else 0
                self.queued_updates[place] += 1
            self._start(RevisionGroup((deploy,), deploy.revision))
        else:
            raise AssertionError(f"a {type(decision).__name__} is claimed before it is dispatched")

    def _end(self, attempt: Attempt, outcome: Outcome) -> None:
        self.outcomes[self.index[attempt.rollout_id]] = outcome

    def _dequeue(self, place: Place | None, registrations: int = 0, updates: int = 0) -> None:
        with self._queued:
            self.queued_registrations[place] -= registrations
            self.queued_updates[place] -= updates
            self._queued.notify_all()

    # -- services claimed one by one, after the groups -----------------------------------
    def _alone(self) -> None:
        """Attempts that lost their claim, found the service busy, or repeat a service: one by one."""

        def settle(i: int, attempt: Attempt) -> None:
            try:
                decision = self.p.claims.claim_alone(attempt)
            except AwsError as error:
                self.outcomes[i] = attempt.error(error)
                return
            self._dispatch(i, decision)

        for i, attempt in self.alone:
            self.registrars[attempt.service.place].spawn(settle, i, attempt)


def _in_turn(places: Sequence[Place | None]) -> list[int]:
    """The assignments' indices taking one of each place in turn, each place's in their own order."""
    by_place: dict[Place | None, list[int]] = defaultdict(list)
    for i, place in enumerate(places):
        by_place[place].append(i)
    if len(by_place) <= 1:
        return list(range(len(places)))
    turns = itertools.zip_longest(*by_place.values())
    return [i for turn in turns for i in turn if i is not None]


def _chunks(count: int, first: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk of ``count`` assignments: ``first`` of them, then CHUNK at a time."""
    bounds = [0, min(first, count)]
    while bounds[-1] < count:
        bounds.append(min(bounds[-1] + CHUNK, count))
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
