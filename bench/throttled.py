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
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench import fleet as fleets
from bench import timeline
from bench.lambda_runtime import Invocation, LambdaService
from bench.server import BOOKKEEPING_HEADER, MotoServer
from sandbox import template as tpl
from sandbox.stack import World
from sandbox.throttling import ECS_BUCKETS

LATENCY_SECONDS = 0.020  # every request, every service
# Lambda retries an asynchronous invocation about 1 and then 2 minutes after it fails, and
# a failed work-queue message comes back after the queue's 720 s visibility timeout. The
# runs shorten both (nothing here waits that long on purpose; a retry is printed).
ASYNC_DELAYS = (1.0, 2.0)
RETRY_VISIBILITY = 2
IDLE_SECONDS = 1.0  # between the warm-ups and the push: the environments' own buckets refill
SETTLE_FACTOR, SETTLE_EXTRA = 2.0, 30.0  # a scenario is given up after 2 x its limit + 30 s


@dataclass(frozen=True)
class PushSpec:
    """One push of a scenario: its repository and the fleet its rules select."""

    repository: str
    prefix: str
    services: int
    per_revision: int  # services on each family's one revision


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
        return sum(-(-p.services // p.per_revision) for p in self.pushes)

    @property
    def updates(self) -> int:
        return sum(p.services for p in self.pushes)

    def limit(self) -> float:
        """The least time ECS's buckets (refills scaled) allow for the registrations and updates."""
        register_burst, register_rate = ECS_BUCKETS[timeline.REGISTER]
        update_burst, update_rate = ECS_BUCKETS[timeline.UPDATE]
        return max(
            0.0,
            (self.registrations - register_burst) / (register_rate * self.scale),
            (self.updates - update_burst) / (update_rate * self.scale),
        )


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
)


def scaled_quotas(scale: int) -> str:
    """``SLIPWAY_ECS_QUOTAS`` for an account whose refill rates are raised ``scale`` times (empty: the defaults)."""
    if scale == 1:
        return ""
    return ",".join(f"{action}:{burst}:{rate * scale:g}" for action, (burst, rate) in ECS_BUCKETS.items())


def bookkeeping_world() -> World:
    """A World whose every request carries the bookkeeping header: uncounted, undelayed, unthrottled."""
    world = World()

    def mark(request: Any, **_: Any) -> None:
        request.headers[BOOKKEEPING_HEADER] = "1"

    for name in ("ecs", "ecr", "ssm", "sns", "sqs", "events", "dynamodb", "iam"):
        getattr(world, name).meta.events.register("before-send", mark)
    return world


@dataclass
class Setup:
    """A scenario's account, fleets and Lambda, before the push."""

    world: World
    built: list[fleets.Fleet]  # one fleet per push
    service: LambdaService


def _set_up(server: MotoServer, scenario: Scenario) -> Setup:
    server.unthrottle()
    server.set_latency({})
    server.reset()
    world = bookkeeping_world()
    stack = world.deploy_stack()
    # moto delivers SNS to SQS inside PublishBatch, scanning the queue each time; the
    # messages are read from the server's record instead (see fanout.fresh_account).
    for subscription in world.sns.list_subscriptions_by_topic(TopicArn=stack.topic_arn)["Subscriptions"]:
        world.sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    built = [fleets.plan_fleet(p.services, p.prefix, p.repository, p.per_revision) for p in scenario.pushes]
    for fleet in built:
        fleets.build(world, fleet)
    for i in range(scenario.environments):
        fleets.build(world, fleets.plan_fleet(1, f"warm{i}", f"warm-up-{i}"))
    environ = {**server.environment(), **stack.environment(), "SLIPWAY_ECS_QUOTAS": scaled_quotas(scenario.scale)}
    timeout_ms = int(tpl.function_timeout("DeployFunction") * 1000 / scenario.scale)
    service = LambdaService(world, environ, timeout_ms, ASYNC_DELAYS, RETRY_VISIBILITY)
    return Setup(world, built, service)


def run(server: MotoServer, scenario: Scenario) -> dict[str, Any]:
    """One scenario from an empty account: the measured push(es), and what the record says of them."""
    setup = _set_up(server, scenario)
    world, service = setup.world, setup.service
    try:
        service.warm(scenario.environments, lambda i: world.push_event(f"warm-up-{i}", fleets.new_digest(), "1.0.1"))
        service.poll()
        digests = [fleets.new_digest() for _ in setup.built]
        events = [world.push_event(f.repository, d, fleets.NEW_TAG) for f, d in zip(setup.built, digests, strict=True)]
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
    world, service = setup.world, setup.service
    invocations = sorted(service.invocations, key=lambda i: i.started)
    delivered = min((i.started for i in invocations), default=record["started"])
    dead = _dead_letters(world)
    pushes = [
        _push_results(world, record, fleet, digest, event["id"], delivered, dead)
        for fleet, digest, event in zip(setup.built, digests, events, strict=True)
    ]
    finished = [p["finished_after"] for p in pushes if p["finished_after"] is not None]
    seconds = max(finished) if finished and all(p["rolled_out"] == p["services"] for p in pushes) else None
    registrations, updates = scenario.registrations, scenario.updates
    limit = timeline.limit_seconds(record, registrations, updates)  # the same, from the buckets the server had
    end = delivered + (max(finished) if finished else 0.0)
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "scale": scenario.scale,
        "timeout_seconds": service.timeout_ms / 1000,
        "quotas_env": scaled_quotas(scenario.scale),
        "max_ratio": scenario.max_ratio,
        "checks": list(scenario.checks),
        "settled": settled,
        "services": updates,
        "registrations_needed": registrations,
        "limit_seconds": limit,
        "seconds": seconds,
        "ratio": seconds / limit if seconds is not None and limit else None,
        "pushes": pushes,
        "invocations": len(invocations),
        "cold_starts": sum(1 for i in invocations if i.cold),
        "environments": service.environments,
        "failed_invocations": sum(1 for i in invocations if i.failed),
        "dead_letters": len(dead),
        "throttled": record["throttled"],
        "taken": record["taken"],
        "buckets": _bucket_use(
            record,
            {timeline.REGISTER: registrations, timeline.UPDATE: updates},
            (delivered, end),
            [(i.started, i.ended) for i in invocations],
        ),
        "timeline": _timeline(record, invocations, delivered),
        "record": _compact(record, delivered),
    }


def _compact(record: dict[str, Any], delivered: float) -> dict[str, Any]:
    """The server's record for the JSON, times in seconds after the delivery (for digging into a run)."""
    return {
        "requests": [(round(t - delivered, 4), action, outcome, i) for t, action, outcome, i in record["requests"]],
        "registrations": [(round(t - delivered, 4), arn, i) for t, arn, _, i in record["registrations"]],
        "updates": [(round(t - delivered, 4), service, revision, i) for t, service, revision, i in record["updates"]],
        "messages": [
            (round(t - delivered, 4), m.get("status"), f"{m.get('cluster')}/{m.get('service')}", i)
            for t, m, i in record["messages"]
        ],
        "hand_ons": [(round(t - delivered, 4), targets, i) for t, targets, i in record["hand_ons"]],
    }


def _push_results(
    world: World,
    record: dict[str, Any],
    fleet: fleets.Fleet,
    digest: str,
    event_id: str,
    delivered: float,
    dead: list[str],
) -> dict[str, Any]:
    from bench.fanout import moved

    updated = timeline.updates_to(record, timeline.pushed_revisions(record, digest))
    announced = timeline.deploying(record, fleet.repository, digest)
    names = [f"{s.cluster}/{s.name}" for s in fleet.services]
    rolled_out = moved(world, list(fleet.services), digest)
    last = max((max(times) for times in updated.values()), default=None)
    in_dead_letters = event_id in dead
    return {
        "repository": fleet.repository,
        "services": len(fleet.services),
        "families": len(fleet.families),
        "rolled_out": rolled_out,
        "updated_twice": sum(1 for times in updated.values() if len(times) > 1),
        "finished_after": None if last is None else last - delivered,
        "deploying": sum(announced.values()),
        "deploying_once": sum(1 for n in names if announced[n] == 1),
        "deploying_twice": sum(1 for n in names if announced[n] > 1),
        "in_dead_letters": in_dead_letters,
        "lost": rolled_out < len(fleet.services) and not in_dead_letters,
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
    record: dict[str, Any], needed: dict[str, int], window: tuple[float, float], running: list[tuple[float, float]]
) -> dict[str, Any]:
    """For the two write actions: the calls needed, the rate achieved beyond the burst, the tokens left unused."""
    start, end = window
    use = {}
    for action, calls in needed.items():
        q = timeline.quota(record, action)
        unused = timeline.unused_tokens(record, action, start, end)
        use[action] = {
            "needed": calls,
            "bound_seconds": max(0.0, (calls - q.burst) / q.rate),
            "burst": q.burst,
            "rate": q.rate,
            "achieved_rate": timeline.achieved_rate(record, action, start),
            "unused_tokens": unused,
            "unused_seconds": unused / q.rate,
            "unused_by_phase": timeline.unused_by_phase(record, action, start, end, running),
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
