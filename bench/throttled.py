"""Throttled: pushes rolled out through ECS's token buckets, with Lambda's timeouts, retries and hand-ons.

Each scenario starts from an empty account: the Slipway stack from template.yaml, its
fleet (or fleets) and rules, built with the benchmark's own bookkeeping requests (which
the server neither counts, delays nor throttles). Then a few execution environments
(``bench.environment``, a process each) are started and warmed with one invocation
each, the account is left idle for a moment, and the server's buckets are put in front
of moto, full, with 20 ms per request. The push events are delivered (several at the
same moment to different environments), and Lambda (``bench.lambda_runtime``) runs
them and the work queue's messages until nothing is left to run or retry.

What happened is read from the server's record (``bench.throttle``), not by asking ECS,
which would take tokens: the time from the delivery to the last successful
UpdateService onto a revision with the pushed image, compared with the least time the
buckets allow; DEPLOYING messages per service; and per invocation what it did.

ECS's buckets are per account and Region, and so are the server's. A push whose
services are in several places (``PushSpec.places``: other accounts, reached through
their target role, as Slipway reaches them) can go no faster than its busiest place's
buckets allow, and, paced per place, need go no slower: its limit is the largest of the
places' own. Its time is also compared with the places taken one after another (the sum
of their limits).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeVar

from bench import fleet as fleets
from bench import timeline
from bench.lambda_runtime import Invocation, LambdaService
from bench.server import BOOKKEEPING_HEADER, MotoServer
from sandbox import template as tpl
from sandbox.stack import ACCOUNT, REGION, World
from sandbox.throttling import ECS_BUCKETS

LATENCY_SECONDS = 0.020  # every request, every service
# Lambda retries an asynchronous invocation about 1 and then 2 minutes after it fails, and
# a failed work-queue message comes back after the queue's 720 s visibility timeout. The
# runs shorten both (nothing here waits that long on purpose; a retry is printed).
ASYNC_DELAYS = (1.0, 2.0)
RETRY_VISIBILITY = 2
IDLE_SECONDS = 1.0  # between the warm-ups and the push: the environments' own buckets refill
SETTLE_FACTOR, SETTLE_EXTRA = 2.0, 30.0  # a scenario is given up after 2 x its limit + 30 s

W = TypeVar("W", bound=World)
Place = tuple[str, str]  # (account, Region)
HOME: Place = (ACCOUNT, REGION)  # Slipway's own: the stack, the registry, the rules
# Three target accounts, two Regions: each its own buckets.
TARGET_PLACES: tuple[Place, ...] = (
    ("222233334444", "eu-west-1"),
    ("333344445555", "eu-west-2"),
    ("444455556666", "eu-west-1"),
)


def place_name(place: Place) -> str:
    """``ACCOUNT:REGION``, as the server's record names a place."""
    return f"{place[0]}:{place[1]}"


@dataclass(frozen=True)
class PushSpec:
    """One push of a scenario: its repository and the fleet(s) its rules select."""

    repository: str
    prefix: str
    services: int  # in each of its places
    per_revision: int  # services on each family's one revision
    places: tuple[Place, ...] = (HOME,)  # where its services are: a fleet in each, reached as Slipway reaches them

    def prefix_at(self, place: Place) -> str:
        """The fleet's prefix in ``place``: its services' and clusters' names differ from every other place's."""
        return self.prefix if len(self.places) == 1 else f"{self.prefix}{self.places.index(place)}"

    def registrations_per_place(self) -> int:
        return -(-self.services // self.per_revision)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    pushes: tuple[PushSpec, ...]
    max_ratio: float
    scale: int = 1  # refill rates and the function's timeout, both scaled by it
    environments: int = 3  # warm ones at the start; more are started (cold) when needed
    checks: tuple[str, ...] = ()  # further targets: "one_deploying_each", "none_twice", "none_lost", "each_finishes"

    @property
    def registrations(self) -> int:
        """Revisions to register: one per family, each family's services on its one revision."""
        return sum(n for n, _ in self.needed().values())

    @property
    def updates(self) -> int:
        return sum(n for _, n in self.needed().values())

    @property
    def places(self) -> list[Place]:
        """Where the scenario's services are, each place once."""
        return sorted({place for push in self.pushes for place in push.places})

    def needed(self) -> dict[Place, tuple[int, int]]:
        """Per place: the registrations and updates its buckets must allow."""
        found: dict[Place, tuple[int, int]] = {}
        for push in self.pushes:
            for place in push.places:
                registrations, updates = found.get(place, (0, 0))
                found[place] = (registrations + push.registrations_per_place(), updates + push.services)
        return found

    def limit(self) -> float:
        """The least time ECS's buckets (refills scaled) allow: the busiest place's, each place its own buckets."""
        return max(self.place_limit(*n) for n in self.needed().values())

    def place_limit(self, registrations: int, updates: int) -> float:
        """The least time one place's buckets (refills scaled) allow for its registrations and updates."""
        register_burst, register_rate = ECS_BUCKETS[timeline.REGISTER]
        update_burst, update_rate = ECS_BUCKETS[timeline.UPDATE]
        return max(
            0.0,
            (registrations - register_burst) / (register_rate * self.scale),
            (updates - update_burst) / (update_rate * self.scale),
        )

    def environment(self) -> dict[str, str]:
        """The stack parameters that let Slipway reach the scenario's other accounts (none: the defaults)."""
        accounts = sorted({account for account, _ in self.places if account != ACCOUNT})
        if not accounts:
            return {}
        return {
            "SLIPWAY_TARGET_ACCOUNTS": ",".join(accounts),
            "SLIPWAY_ALLOWED_CLUSTERS": ",".join(["*", *(f"arn:aws:ecs:*:{a}:cluster/*" for a in accounts)]),
        }


SCENARIOS = (
    Scenario(
        "distinct",
        "100 services, each its own task-definition family",
        (PushSpec("thr-distinct", "td", 100, 1),),
        1.10,
        checks=("one_deploying_each",),
    ),
    Scenario("shared", "100 services over 10 shared revisions", (PushSpec("thr-shared", "ts", 100, 10),), 1.25),
    Scenario(
        "large",
        "1,000 services, distinct families; refills and timeout scaled by 10",
        (PushSpec("thr-large", "tl", 1000, 1),),
        1.30,
        scale=10,
        checks=("none_twice", "none_lost"),
    ),
    Scenario(
        "concurrent",
        "two pushes at once (two repositories, 60 distinct services each)",
        (PushSpec("thr-left", "tx", 60, 1), PushSpec("thr-right", "ty", 60, 1)),
        1.25,
        environments=4,
        checks=("each_finishes",),
    ),
    Scenario(
        "accounts",
        "one push to 50 services in each of three other accounts (two Regions), each its own family",
        (PushSpec("thr-accounts", "ta", 50, 1, places=TARGET_PLACES),),
        1.30,
        checks=("one_deploying_each", "each_place"),
    ),
)


def scaled_quotas(scale: int) -> str:
    """``SLIPWAY_ECS_QUOTAS`` for an account whose refill rates are raised ``scale`` times (empty: the defaults)."""
    if scale == 1:
        return ""
    return ",".join(f"{action}:{burst}:{rate * scale:g}" for action, (burst, rate) in ECS_BUCKETS.items())


def bookkeeping_world() -> World:
    """A World whose every request carries the bookkeeping header: uncounted, undelayed, unthrottled."""
    return _bookkeeping(World())


def _bookkeeping(world: W) -> W:
    def mark(request: Any, **_: Any) -> None:
        request.headers[BOOKKEEPING_HEADER] = "1"

    for name in ("ecs", "ecr", "ssm", "sns", "sqs", "events", "dynamodb", "iam", "sts"):
        getattr(world, name).meta.events.register("before-send", mark)
    return world


@dataclass
class Setup:
    """A scenario's accounts, fleets and Lambda, before the push."""

    world: World  # Slipway's (the hub)
    worlds: dict[Place, World]  # every place's, the hub's at HOME
    built: list[tuple[fleets.Fleet, ...]]  # per push, a fleet in each of its places
    service: LambdaService

    def world_of(self, fleet: fleets.Fleet) -> World:
        return self.worlds[fleet.place or HOME]


def _set_up(server: MotoServer, scenario: Scenario) -> Setup:
    server.unthrottle()
    server.set_latency({})
    server.reset()
    world = bookkeeping_world()
    stack = world.deploy_stack(chat_subscriber=False)
    # moto delivers SNS to SQS inside PublishBatch, scanning the queue each time; the
    # messages are read from the server's record instead (see fanout.fresh_account).
    for subscription in world.sns.list_subscriptions_by_topic(TopicArn=stack.topic_arn)["Subscriptions"]:
        world.sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    worlds = {HOME: world}
    for place in scenario.places:
        if place != HOME:
            # Its clients act there with credentials from sts:AssumeRole (sandbox.accounts);
            # the role Slipway assumes is made as the target-account template makes it.
            away = _bookkeeping(world.account_world(*place))
            away.create_target_role()
            worlds[place] = away
    built = [
        tuple(
            fleets.plan_fleet(p.services, p.prefix_at(place), p.repository, p.per_revision, _away(place))
            for place in p.places
        )
        for p in scenario.pushes
    ]
    for fleet in (f for push in built for f in push):
        fleets.build(worlds[fleet.place or HOME], fleet, hub=world)
    # Each environment's warm-up push reaches every place of the scenario once, as a warm
    # environment of a stack with target accounts has (clients, the target roles assumed before).
    for i in range(scenario.environments):
        for k, place in enumerate(scenario.places):
            warm = fleets.plan_fleet(1, f"warm{i}{k}", f"warm-up-{i}", place=_away(place))
            fleets.build(worlds[place], warm, hub=world)
    environ = {
        **server.environment(),
        **stack.environment(),
        **scenario.environment(),
        "SLIPWAY_ECS_QUOTAS": scaled_quotas(scenario.scale),
    }
    timeout_ms = int(tpl.function_timeout("DeployFunction") * 1000 / scenario.scale)
    service = LambdaService(world, environ, timeout_ms, ASYNC_DELAYS, RETRY_VISIBILITY)
    return Setup(world, worlds, built, service)


def _away(place: Place) -> Place | None:
    """A fleet's place as ``bench.fleet`` takes it: None at home (its rules name clusters by name)."""
    return None if place == HOME else place


def run(server: MotoServer, scenario: Scenario) -> dict[str, Any]:
    """One scenario from an empty account: the measured push(es), and what the record says of them."""
    setup = _set_up(server, scenario)
    world, service = setup.world, setup.service
    try:
        service.warm(scenario.environments, lambda i: world.push_event(f"warm-up-{i}", fleets.new_digest(), "1.0.1"))
        service.poll()
        digests = [fleets.new_digest() for _ in setup.built]
        events = [
            world.push_event(push[0].repository, d, fleets.NEW_TAG)
            for push, d in zip(setup.built, digests, strict=True)
        ]
        time.sleep(IDLE_SECONDS)
        server.set_latency({"*": LATENCY_SECONDS})
        server.throttle(scenario.scale)
        at = threading.Barrier(len(events))
        for event in events:
            service.deliver(event, at)
        settled = service.wait_settled(SETTLE_FACTOR * scenario.limit() + SETTLE_EXTRA)
        record = server.throttle_record()
    finally:
        server.unthrottle()
        server.set_latency({})
        service.stop()
    return _results(scenario, setup, digests, events, record, settled)


def _results(
    scenario: Scenario,
    setup: Setup,
    digests: list[str],
    events: list[dict[str, Any]],
    record: dict[str, Any],
    settled: bool,
) -> dict[str, Any]:
    service = setup.service
    invocations = sorted(service.invocations, key=lambda i: i.started)
    delivered = min((i.started for i in invocations), default=record["started"])
    dead = _dead_letters(setup.world)
    pushes = [
        _push_results(setup, record, push, digest, event["id"], delivered, dead)
        for push, digest, event in zip(setup.built, digests, events, strict=True)
    ]
    finished = [p["finished_after"] for p in pushes if p["finished_after"] is not None]
    seconds = max(finished) if finished and all(p["rolled_out"] == p["services"] for p in pushes) else None
    end = delivered + (max(finished) if finished else 0.0)
    running = [(i.started, i.ended) for i in invocations]
    places = {
        place_name(place): _place_results(record, place, needed, digests, (delivered, end), running)
        for place, needed in scenario.needed().items()
    }
    limit = max(p["limit_seconds"] for p in places.values())  # the same as Scenario.limit, from the server's buckets
    sequential = sum(p["limit_seconds"] for p in places.values())
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "scale": scenario.scale,
        "timeout_seconds": service.timeout_ms / 1000,
        "quotas_env": scaled_quotas(scenario.scale),
        "max_ratio": scenario.max_ratio,
        "checks": list(scenario.checks),
        "settled": settled,
        "services": scenario.updates,
        "registrations_needed": scenario.registrations,
        "limit_seconds": limit,
        "seconds": seconds,
        "ratio": seconds / limit if seconds is not None and limit else None,
        # the places one after another, and all of the work in one place's buckets
        "sequential_seconds": sequential,
        "ratio_to_sequential": seconds / sequential if seconds is not None and sequential else None,
        "one_place_seconds": timeline.limit_seconds(record, scenario.registrations, scenario.updates),
        "last_deploying_after": max((p["last_deploying_after"] or 0.0 for p in pushes), default=None),
        "pushes": pushes,
        "places": places,
        "invocations": len(invocations),
        "cold_starts": sum(1 for i in invocations if i.cold),
        "environments": service.environments,
        "failed_invocations": sum(1 for i in invocations if i.failed),
        "dead_letters": len(dead),
        "throttled": record["throttled"],
        "taken": record["taken"],
        "buckets": next(iter(places.values()))["buckets"] if len(places) == 1 else None,
        "timeline": _timeline(record, invocations, delivered),
        "record": _compact(record, delivered),
    }


def _place_results(
    record: dict[str, Any],
    place: Place,
    needed: tuple[int, int],
    digests: list[str],
    window: tuple[float, float],
    running: list[tuple[float, float]],
) -> dict[str, Any]:
    """One place's share of a run: its limit, when its first registration and last update came, its buckets' use."""
    name = place_name(place)
    registrations, updates = needed
    start = window[0]
    revisions = set().union(*(timeline.pushed_revisions(record, d) for d in digests))
    moved = [
        t
        for t, _, revision, _ in record["updates"]
        if revision in revisions and timeline.place_of_arn(revision) == name
    ]
    first_registration = timeline.first_call(record, timeline.REGISTER, name)
    deploying = [t for t, m, _ in record["messages"] if m.get("status") == "DEPLOYING" and _message_place(m) == name]
    return {
        "registrations_needed": registrations,
        "updates_needed": updates,
        "limit_seconds": timeline.limit_seconds(record, registrations, updates),
        "first_registration_after": None if first_registration is None else first_registration - start,
        "finished_after": max(moved) - start if moved else None,
        "last_deploying_after": max(deploying) - start if deploying else None,
        "throttled": record.get("by_place", {}).get(name, {}).get("throttled", {}),
        "buckets": _bucket_use(
            record, {timeline.REGISTER: registrations, timeline.UPDATE: updates}, window, running, name
        ),
    }


def _message_place(message: dict[str, Any]) -> str:
    """The place a Slipway message names (the stack's own when it names none)."""
    return f"{message.get('account') or ACCOUNT}:{message.get('region') or REGION}"


def _compact(record: dict[str, Any], delivered: float) -> dict[str, Any]:
    """The server's record for the JSON, times in seconds after the delivery (for digging into a run)."""
    return {
        "requests": [
            (round(t - delivered, 4), action, outcome, i, place) for t, action, outcome, i, place in record["requests"]
        ],
        "registrations": [(round(t - delivered, 4), arn, i) for t, arn, _, i in record["registrations"]],
        "updates": [(round(t - delivered, 4), service, revision, i) for t, service, revision, i in record["updates"]],
        "messages": [
            (round(t - delivered, 4), m.get("status"), f"{m.get('cluster')}/{m.get('service')}", i)
            for t, m, i in record["messages"]
        ],
        "hand_ons": [(round(t - delivered, 4), targets, i) for t, targets, i in record["hand_ons"]],
    }


def _push_results(
    setup: Setup,
    record: dict[str, Any],
    push: tuple[fleets.Fleet, ...],
    digest: str,
    event_id: str,
    delivered: float,
    dead: list[str],
) -> dict[str, Any]:
    from bench.fanout import moved

    repository = push[0].repository
    updated = timeline.updates_to(record, timeline.pushed_revisions(record, digest))
    announced = timeline.deploying(record, repository, digest)
    names = [f"{s.cluster}/{s.name}" for fleet in push for s in fleet.services]
    rolled_out = sum(moved(setup.world_of(fleet), list(fleet.services), digest) for fleet in push)
    last = max((max(times) for times in updated.values()), default=None)
    deploying_times = [
        t
        for t, m, _ in record["messages"]
        if m.get("status") == "DEPLOYING" and m.get("repository") == repository and m.get("digest") == digest
    ]
    in_dead_letters = event_id in dead
    return {
        "repository": repository,
        "services": len(names),
        "families": sum(len(fleet.families) for fleet in push),
        "rolled_out": rolled_out,
        "updated_twice": sum(1 for times in updated.values() if len(times) > 1),
        "finished_after": None if last is None else last - delivered,
        "last_deploying_after": max(deploying_times) - delivered if deploying_times else None,
        "deploying": sum(announced.values()),
        "deploying_once": sum(1 for n in names if announced[n] == 1),
        "deploying_twice": sum(1 for n in names if announced[n] > 1),
        "in_dead_letters": in_dead_letters,
        "lost": rolled_out < len(names) and not in_dead_letters,
    }


def _dead_letters(world: World) -> list[str]:
    """The event ids of the pushes whose event or continuation is in the dead-letter queue."""
    assert world.stack is not None
    ids = []
    for message in world.drain(world.stack.dead_letter_url):
        body = json.loads(message["Body"])
        ids.append(str(body["push"]["event_id"]) if "push" in body else str(body.get("id")))
    return ids


def _bucket_use(
    record: dict[str, Any],
    needed: dict[str, int],
    window: tuple[float, float],
    running: list[tuple[float, float]],
    place: str,
) -> dict[str, Any]:
    """For one place's two write actions: the calls needed, the rate achieved beyond the burst, the tokens
    left unused."""
    start, end = window
    use = {}
    for action, calls in needed.items():
        q = timeline.quota(record, action)
        unused = timeline.unused_tokens(record, action, start, end, place)
        use[action] = {
            "needed": calls,
            "bound_seconds": max(0.0, (calls - q.burst) / q.rate),
            "burst": q.burst,
            "rate": q.rate,
            "achieved_rate": timeline.achieved_rate(record, action, start, place),
            "unused_tokens": unused,
            "unused_seconds": unused / q.rate,
            "unused_by_phase": timeline.unused_by_phase(record, action, start, end, running, place),
        }
    return use


def _timeline(record: dict[str, Any], invocations: list[Invocation], delivered: float) -> list[dict[str, Any]]:
    per = timeline.by_invocation(record)
    hand_ons: Counter[str] = Counter()
    for _, targets, invocation_id in record["hand_ons"]:
        hand_ons[invocation_id] += targets
    rows = []
    for invocation in invocations:
        did = per.get(invocation.id, {"ok": Counter(), "throttled": Counter(), "deploying": 0})
        result = invocation.result or {}
        rows.append(
            {
                "id": invocation.id,
                "source": invocation.source,
                "attempt": invocation.attempt,
                "push": invocation.push,
                "environment": invocation.environment,
                "cold": invocation.cold,
                "start": invocation.started - delivered,
                "end": invocation.ended - delivered,
                "registered": did["ok"].get(timeline.REGISTER, 0),
                "updated": did["ok"].get(timeline.UPDATE, 0),
                "throttled": dict(did["throttled"]),
                "deploying": did["deploying"],
                "handed_on": hand_ons.get(invocation.id, 0),
                "outcomes": dict(Counter(o["status"] for o in result.get("outcomes", []))),
                "batch_item_failures": len(result.get("batchItemFailures", []) or []),
                "error": invocation.error,
            }
        )
    return rows
