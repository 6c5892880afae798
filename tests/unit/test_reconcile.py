"""The reconcile: tagged pushes ECR has and Slipway never received are deployed, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from slipway.deploy import Deployer
from slipway.model import Status
from slipway.ports import ImageRecord
from slipway.reconcile import Reconciler, reconcile_event_id
from tests.unit.fakes import ACCOUNT, NOW, REGION, REGISTRY, DeployerWorld, digest, make_push

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


class FakeRegistry:
    """ECR's DescribeImages over a list of images."""

    def __init__(self) -> None:
        self.images: list[ImageRecord] = []
        self.asked: list[tuple[str, datetime]] = []

    def push(self, tag: str, image_digest: str, minutes: float, artifact: str | None = OCI_CONFIG) -> ImageRecord:
        image = ImageRecord("web", image_digest, (tag,), NOW + timedelta(minutes=minutes), OCI_MANIFEST, artifact)
        self.images.append(image)
        return image

    def tagged_images(self, repository: str, since: datetime) -> list[ImageRecord]:
        self.asked.append((repository, since))
        found = [i for i in self.images if i.repository == repository and i.pushed_at > since]
        return sorted(found, key=lambda i: i.pushed_at, reverse=True)


class World(DeployerWorld):
    def __init__(self) -> None:
        super().__init__()
        self.registry = FakeRegistry()
        self.now = NOW
        self.rules.put("main", {"targets": [{"cluster": "prod", "service": "web"}]})

    def deployer(self, **kwargs: object) -> Deployer:
        kwargs.setdefault("sleep", lambda seconds: None)
        return Deployer(self.ecs, self.rules, self.store, self.notifier, clock=lambda: self.now, **kwargs)  # type: ignore[arg-type]

    def reconciler(self) -> Reconciler:
        deployer = self.deployer()
        return Reconciler(self.rules, self.registry, self.store, deployer, lambda: self.now, timedelta(hours=1))

    def reconcile(self, minutes_later: float = 5) -> list[str]:
        self.now += timedelta(minutes=minutes_later)
        report = self.reconciler().run(ACCOUNT, REGION)
        return [r.push.label for r in report.found]


@pytest.fixture
def world() -> World:
    world = World()
    world.reconcile()  # the first look only notes the time
    return world


def test_reconcile_first_look_deploys_nothing_older() -> None:
    world = World()
    world.registry.push("1.5.0", digest("b"), minutes=-10)

    assert world.reconcile() == []
    assert world.store.reconciled["web"] == world.now
    assert world.ecs.count("UpdateService") == 0


def test_reconcile_deploys_a_push_whose_event_never_came(world: World) -> None:
    image = world.registry.push("1.5.0", digest("b"), minutes=6)

    assert world.reconcile() == ["web:1.5.0"]

    [note] = world.notifier.published
    assert (note.status, note.initiated_by, note.event_id) == (
        "DEPLOYING",
        "reconcile",
        reconcile_event_id(image, "1.5.0"),
    )
    assert world.ecs.service("prod", "web").task_definition != world.web
    assert note.image == f"{REGISTRY}/web@{digest('b')}"


def test_reconcile_then_the_late_event_deploys_once(world: World) -> None:
    world.registry.push("1.5.0", digest("b"), minutes=6)
    world.reconcile()

    late = world.deployer().deploy(make_push("1.5.0", digest("b"), event_id="evt-late"))

    assert late.received_already == "reconcile"
    assert late.outcomes == []
    assert [n.status for n in world.notifier.published] == ["DEPLOYING"]
    assert world.ecs.count("UpdateService") == 1


def test_reconcile_after_the_event_deploys_nothing(world: World) -> None:
    world.registry.push("1.5.0", digest("b"), minutes=6)
    world.now = NOW + timedelta(minutes=6, seconds=2)  # the event comes seconds after the push
    world.deployer().deploy(make_push("1.5.0", digest("b"), event_id="evt-1"))

    assert world.reconcile() == []
    assert world.ecs.count("UpdateService") == 1
    assert [n.status for n in world.notifier.published] == ["DEPLOYING"]


def test_reconcile_again_finds_nothing_new(world: World) -> None:
    world.registry.push("1.5.0", digest("b"), minutes=6)
    world.reconcile()

    assert world.reconcile() == []
    assert world.ecs.count("UpdateService") == 1


def test_reconcile_never_deploys_an_older_image_than_the_service_runs(world: World) -> None:
    # GIVEN the service runs a revision registered after the missed image was pushed
    world.registry.push("latest", digest("b"), minutes=6)
    running = world.ecs.task_definitions[world.web]
    world.ecs.task_definitions[world.web] = type(running)(
        running.arn, {**running.body, "registeredAt": NOW + timedelta(minutes=7)}, running.tags
    )
    world.rules.put("main", {"targets": [{"cluster": "prod", "service": "web"}], "tags": ["latest"]})

    world.reconcile()

    [note] = world.notifier.published
    assert note.status == "SKIPPED" and "the reconcile never deploys an older image" in (note.reason or "")
    assert world.ecs.count("UpdateService") == 0


def test_reconcile_ignores_artifacts_under_matching_tags(world: World) -> None:
    world.registry.push("1.5.0", digest("d"), minutes=6, artifact="application/vnd.cncf.notary.signature")

    report = world.reconciler().run(ACCOUNT, REGION)

    assert report.found == [] and report.artifacts == 1
    assert world.ecs.count("UpdateService") == 0


def test_reconcile_looks_a_little_before_the_last_look_but_never_past_the_lookback(world: World) -> None:
    world.reconcile(minutes_later=5)
    world.reconcile(minutes_later=180)

    (_, second), (_, third) = world.registry.asked[-2:]
    assert second == NOW + timedelta(minutes=5) - timedelta(minutes=10)
    assert third == world.now - timedelta(hours=1)


def test_reconcile_out_of_time_leaves_repositories_for_the_next_look(world: World) -> None:
    from slipway import budget
    from slipway.budget import Budget

    with budget.running(Budget(deadline=0.0, clock=lambda: 1.0)):
        report = world.reconciler().run(ACCOUNT, REGION)

    assert report.left_for_later == ["web"]
    assert report.repositories == 0


def test_reconcile_outcomes_say_initiated_by_reconcile(world: World) -> None:
    world.registry.push("1.5.0", digest("b"), minutes=6)
    world.reconcile()

    [rollout] = world.store.rollouts
    assert rollout.initiated_by == "reconcile" and rollout.status == Status.DEPLOYING.value
