"""One push to many services at ECS's request limits: the buckets in front of moto, Lambda's invocations played.

ECS's buckets here are small (RegisterTaskDefinition: 2 tokens, 2 a second) and the
function's timeout short (6 s: 3.5 s of new work after the reserve), so that a push
needs several invocations within seconds of test time. The buckets' rate bounds what an
invocation can do, however fast the machine; the work time leaves a loaded one room
to reach ECS at all. Slipway is told the same quotas through its
EcsApiQuotas setting, as an operator would; ``sandbox.throttling`` plays the account's
buckets, answering as ECS answers once they are empty.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from sandbox.faults import Fault, Faults
from sandbox.runtime import Runtime
from sandbox.stack import World
from sandbox.throttling import ECS_BUCKETS, AccountBuckets, ThrottledAccount
from tests.integration.test_deploy import push

BUCKETS = {**ECS_BUCKETS, "RegisterTaskDefinition": (2, 2), "UpdateService": (5, 40)}
QUOTAS = "RegisterTaskDefinition:2:2,UpdateService:5:40"
TIMEOUT_MS = 6000


@pytest.fixture
def account(world: World, clock: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Faults, ThrottledAccount]:
    """Slipway's App on a session that goes through the account's buckets (and counts calls)."""
    from slipway import app

    monkeypatch.setenv("SLIPWAY_ECS_QUOTAS", QUOTAS)
    faults = Faults()
    throttle = ThrottledAccount(AccountBuckets(BUCKETS))
    session = throttle.install(faults.session())
    app.use(app.App(session=session, clock=clock))
    return faults, throttle


@pytest.fixture
def runtime(world: World, account: tuple[Faults, ThrottledAccount]) -> Runtime:
    from slipway.handlers import deploy as handler

    return Runtime(world, handler.handler, timeout_ms=TIMEOUT_MS)


def fleet(world: World, services: int, per_revision: int = 1, repository: str = "web") -> list[str]:
    """``services`` Fargate services in cluster prod, ``per_revision`` of them on each revision."""
    world.create_repository(repository)
    if "prod" not in {c.rsplit("/", 1)[-1] for c in world.ecs.list_clusters()["clusterArns"]}:
        world.cluster("prod")
    names = []
    for n in range(services):
        if n % per_revision == 0:
            image = world.image_uri(repository, "1.0.0")
            revision = world.task_definition(f"{repository}-{n}", [{"name": "app", "image": image}])
        name = f"{repository}-{n}"
        world.service("prod", name, revision, launchType="FARGATE", desiredCount=1)
        names.append(name)
    world.put_rule(repository, "prod", {"targets": [{"cluster": "prod", "service": s} for s in names]})
    return names


def images(world: World, names: list[str]) -> list[str]:
    return [world.images("prod", name)["app"] for name in names]


def deploying(world: World) -> Counter[str]:
    received = [n["message"] for n in world.notifications()]
    return Counter(m["service"] for m in received if m["status"] == "DEPLOYING")


def test_fanout_push_needing_three_invocations_reaches_every_service_once(world: World, runtime: Runtime) -> None:
    names = fleet(world, 24)
    event = push(world, "web", "1.1.0")

    invocations = runtime.run(event)

    digest = event["detail"]["image-digest"]
    assert all(image.endswith("@" + digest) for image in images(world, names))
    assert invocations >= 3, "the buckets allow about 9 registrations an invocation (2, then 2 a second)"
    assert deploying(world) == Counter(dict.fromkeys(names, 1)), "one DEPLOYING per service"
    assert runtime.dead_letters == []
    assert world.drain(world.stack.dead_letter_url) == []  # type: ignore[union-attr]
    assert all(i.error is None for i in runtime.invocations)


def test_fanout_services_on_shared_revisions_register_each_new_revision_once(
    world: World, runtime: Runtime, account: tuple[Faults, ThrottledAccount]
) -> None:
    _, throttle = account
    names = fleet(world, 12, per_revision=4)
    event = push(world, "web", "1.1.0")

    runtime.run(event)

    assert throttle.buckets.taken["RegisterTaskDefinition"] == 3
    assert throttle.buckets.taken["UpdateService"] == 12
    digest = event["detail"]["image-digest"]
    assert all(image.endswith("@" + digest) for image in images(world, names))
    running = Counter(world.describe_service("prod", name)["taskDefinition"] for name in names)
    assert sorted(running.values()) == [4, 4, 4]
    assert deploying(world) == Counter(dict.fromkeys(names, 1))


def test_fanout_invocation_that_dies_mid_push_loses_no_target_and_repeats_none(
    world: World, runtime: Runtime, account: tuple[Faults, ThrottledAccount]
) -> None:
    faults, _ = account
    names = fleet(world, 8)
    # GIVEN the execution environment dies as the fourth service is being updated
    died = Fault("Crash", exception=lambda: RuntimeError("the execution environment died"))
    faults.fail("ecs.UpdateService", died, after=3)
    runtime.timeout_ms = 20_000
    event = push(world, "web", "1.1.0")

    # WHEN Lambda retries the event (asynchronous invocations are retried twice)
    runtime.run(event)

    # THEN every service runs the push, each rolled out once, one DEPLOYING each
    assert isinstance(runtime.invocations[0].error, RuntimeError)
    digest = event["detail"]["image-digest"]
    assert all(image.endswith("@" + digest) for image in images(world, names))
    from slipway.app import app

    for name in names:
        service = world.describe_service("prod", name)
        assert sum(1 for d in service["deployments"] if d["taskDefinition"] == service["taskDefinition"]) == 1
        assert [r.status for r in app().store.history(f"prod/{name}")] == ["DEPLOYING"], name
    assert deploying(world) == Counter(dict.fromkeys(names, 1))
    # the revision registered for the service whose update died is left unused (its retry registered another)
    revisions = sum(len(world.ecs.list_task_definitions(familyPrefix=n)["taskDefinitionArns"]) for n in names)
    assert revisions == 2 * len(names) + 1


def test_fanout_newer_push_while_an_older_one_is_carried_on_never_rolls_out_the_older_tag_after_it(
    world: World, runtime: Runtime
) -> None:
    names = fleet(world, 16)
    older, newer = push(world, "web", "1.1.0"), push(world, "web", "1.2.0")

    # GIVEN the older push's first invocation ran and handed the rest on
    runtime.deliver(older)
    reached = {
        n
        for n, image in zip(names, images(world, names), strict=True)
        if image.endswith(older["detail"]["image-digest"])
    }
    assert 0 < len(reached) < len(names)
    # WHEN the newer push comes before the older one's continuations ran
    runtime.deliver(newer)
    runtime.carry_on()

    # THEN the older tag reached no service after the newer push: every service ends on the newer one
    assert all(image.endswith("@" + newer["detail"]["image-digest"]) for image in images(world, names))
    from slipway.app import app

    for name in names:
        rollouts = {r.tag: r.status for r in app().store.history(f"prod/{name}")}
        expected = {"1.1.0": "SUPERSEDED", "1.2.0": "DEPLOYING"} if name in reached else {"1.2.0": "DEPLOYING"}
        assert rollouts == expected, name


def test_fanout_two_concurrent_pushes_share_the_buckets_and_both_finish(world: World, runtime: Runtime) -> None:
    first, second = fleet(world, 10, repository="web"), fleet(world, 10, repository="api")
    events = [push(world, "web", "1.1.0"), push(world, "api", "1.1.0")]

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(runtime.deliver, events))
    runtime.carry_on()

    for names, event in ((first, events[0]), (second, events[1])):
        digest = event["detail"]["image-digest"]
        assert all(image.endswith("@" + digest) for image in images(world, names))
    assert sum(deploying(world).values()) == 20


def test_fanout_continuation_message_is_a_continuation_of_the_push(world: World, runtime: Runtime) -> None:
    fleet(world, 12)
    event = push(world, "web", "1.1.0")

    result = runtime.invoke(event)

    assert result["handed_on"] > 0
    # (sent with a delay when the invocation could start none: the tokens come later)
    messages = world.drain(world.stack.work_queue_url, wait_delayed=10.0)  # type: ignore[union-attr]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["kind"] for b in bodies] == ["slipway.continuation"]
    assert bodies[0]["push"]["event_id"] == event["id"]
    assert len(bodies[0]["targets"]) == result["handed_on"]


def test_fanout_work_queue_event_carries_the_push_on(world: World, runtime: Runtime) -> None:
    from tests.conftest import load_event
    from tests.integration.test_deploy import fargate_web

    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    event = load_event("sqs-continuation.json")

    result = runtime.invoke(event)

    assert result == {"batchItemFailures": []}
    assert world.images("prod", "web")["app"].endswith("@sha256:" + "a" * 64)
    [note] = world.notifications()
    assert (note["message"]["status"], note["message"]["event_id"]) == (
        "DEPLOYING",
        "4f5ec4d5-4de4-7aad-a046-56d5cfe1df0e",
    )


def test_fanout_malformed_work_queue_message_fails_its_item_and_nothing_else(world: World, runtime: Runtime) -> None:
    from tests.conftest import load_event

    event = load_event("sqs-continuation.json")
    event["Records"][0]["body"] = '{"kind": "slipway.continuation", "push": {}}'

    result = runtime.invoke(event)

    # it goes back to the queue, and after five receives to the dead-letter queue, kept for a look
    assert result == {"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]}
    assert world.notifications() == []
