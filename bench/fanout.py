"""Fan-out: one push whose rules cover N services, rolled out three ways.

Every run starts from an empty moto account (moto's reset API), then builds the same
fleet and Slipway stack, so each variant does the same real work: N new revisions and
N UpdateService calls. Calls are counted at the server, with one meter for all three.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import fleet as fleets
from bench.server import MotoServer
from bench.variants import RawLoop, SlipwayDeploy, ecs_command, ecs_deploy, unthrottled_environment
from sandbox.stack import World

SLIPWAY = "slipway"
ECS_DEPLOY = "ecs-deploy"
RAW_LOOP = "raw-loop"
VARIANTS = (SLIPWAY, ECS_DEPLOY, RAW_LOOP)
WARM_UP_SERVICES = 20  # more than the deploy function's 16 workers, so every connection is open


@dataclass
class FanoutRun:
    """One variant's rollout of one push to ``size`` services (or to a sample of them)."""

    variant: str
    size: int
    measured: int  # services rolled out and timed; fewer than size when extrapolated
    seconds: float  # wall time of the measured services
    calls: dict[str, int]  # AWS calls the server answered while they were rolled out
    moved: int  # measured services found on the pushed image afterwards
    setup_seconds: float = 0.0
    server_cpu_seconds: float = 0.0  # the server threads' CPU time on those calls (excludes HTTP handling)
    notes: list[str] = field(default_factory=list)

    @property
    def extrapolated(self) -> bool:
        return self.measured < self.size

    @property
    def estimated_seconds(self) -> float:
        """Wall time for all ``size`` services (the measured time when nothing is extrapolated)."""
        return self.seconds * self.size / self.measured

    def count(self, prefix: str = "") -> int:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix))

    def per_target(self, prefix: str = "") -> float:
        return self.count(prefix) / self.measured

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            extrapolated=self.extrapolated,
            estimated_seconds=self.estimated_seconds,
            calls_ecs=self.count("ecs."),
            ecs_calls_per_target=self.per_target("ecs."),
            aws_calls_per_target=self.per_target(),
            ssm_calls_per_push=self.count("ssm."),
        )
        return data


class Fanout:
    """Runs the variants against one moto server, each from a fresh account."""

    def __init__(self, server: MotoServer, world: World) -> None:
        self.server = server
        self.world = world
        self.ecs = ecs_command()

    def fresh_account(self) -> None:
        """An empty account with the Slipway stack, minus the subscriber queue's subscription.

        moto delivers SNS messages to SQS inside PublishBatch, and each delivery scans the
        whole queue (it computes the queue's message counts), so publishing slows as the
        queue fills. SNS delivers asynchronously: a publisher's cost does not depend on a
        subscriber's queue. The burst benchmark, which reads the queue, keeps it.
        """
        self.server.reset()
        stack = self.world.deploy_stack(chat_subscriber=False)
        os.environ.update(unthrottled_environment(stack))
        subscriptions = self.world.sns.list_subscriptions_by_topic(TopicArn=stack.topic_arn)["Subscriptions"]
        for subscription in subscriptions:
            self.world.sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])

    def run(self, variant: str, size: int, sample: int | None = None) -> FanoutRun:
        """Roll a push out to ``size`` services; ecs-deploy may time ``sample`` of them only."""
        started = time.perf_counter()
        self.fresh_account()
        repository = f"web-{size}"
        fleet = fleets.plan_fleet(size, "fleet", repository)
        fleets.build(self.world, fleet, rules=variant == SLIPWAY)
        digest = fleets.new_digest()
        image = self.world.image_uri(repository, digest)
        if variant == SLIPWAY:
            run = self._slipway(fleet, digest)
        elif variant == ECS_DEPLOY:
            run = self._ecs_deploy(fleet, image, sample or size)
        else:
            run = self._raw_loop(fleet, image)
        run.setup_seconds = time.perf_counter() - started - run.seconds
        return run

    def _measure(self, variant: str, fleet: fleets.Fleet, measured: list[fleets.FleetService], work: Any) -> FanoutRun:
        before, cpu_before = self.server.calls(), self.server.cpu()
        started = time.perf_counter()
        notes = work() or []
        seconds = time.perf_counter() - started
        calls = self.server.calls() - before
        cpu = sum(self.server.cpu().values()) - sum(cpu_before.values())
        return FanoutRun(
            variant, len(fleet.services), len(measured), seconds, dict(calls), 0, notes=notes, server_cpu_seconds=cpu
        )

    def _slipway(self, fleet: fleets.Fleet, digest: str) -> FanoutRun:
        warm = fleets.plan_fleet(WARM_UP_SERVICES, "warm", "warm-up")
        fleets.build(self.world, warm)
        deploy = SlipwayDeploy()
        deploy(self.world.push_event(warm.repository, fleets.new_digest(), fleets.NEW_TAG))
        event = self.world.push_event(fleet.repository, digest, fleets.NEW_TAG)
        services = list(fleet.services)
        deploy.faults.reset_counts()

        def work() -> list[str]:
            try:
                report = deploy(event)
            except Exception as error:  # noqa: BLE001 - reported beside the numbers, which then mean little
                return [f"the handler raised {type(error).__name__}: {str(error)[:300]}"]
            statuses = Counter(o["status"] for o in report["outcomes"])
            return [f"outcomes: {dict(statuses)}"] if set(statuses) != {"DEPLOYING"} else []

        run = self._measure(SLIPWAY, fleet, services, work)
        client = Counter(deploy.faults.calls)
        if client != Counter(run.calls):
            run.notes.append(f"client-side count differs from the server's: {dict(client)}")
        run.moved = moved(self.world, services, digest)
        return run

    def _ecs_deploy(self, fleet: fleets.Fleet, image: str, sample: int) -> FanoutRun:
        if self.ecs is None:
            raise RuntimeError("the ecs command is missing: pip install ecs-deploy")
        command = self.ecs
        step = max(1, len(fleet.services) // sample)
        services = list(fleet.services[::step])[:sample]
        environment = self.server.environment()

        def work() -> list[str]:
            failures = []
            for service in services:
                try:
                    ecs_deploy(command, service, image, environment)
                except RuntimeError as error:
                    failures.append(str(error))
            return [f"{len(failures)} ecs deploy runs failed, e.g. {failures[0]}"] if failures else []

        run = self._measure(ECS_DEPLOY, fleet, services, work)
        run.moved = moved(self.world, services, image.rsplit("@", 1)[1])
        if run.extrapolated:
            run.notes.append(f"measured on {len(services)} of {len(fleet.services)} services, time extrapolated")
        return run

    def _raw_loop(self, fleet: fleets.Fleet, image: str) -> FanoutRun:
        loop = RawLoop()
        services = list(fleet.services)
        run = self._measure(RAW_LOOP, fleet, services, lambda: loop(services, image))
        run.moved = moved(self.world, services, image.rsplit("@", 1)[1])
        return run


def moved(world: World, services: list[fleets.FleetService], digest: str) -> int:
    """How many services run a revision whose app container has the pushed image.

    Read with ECS calls like any client's (the server is another process), after the
    timed window, so they count toward no measurement.
    """
    by_cluster: dict[str, list[str]] = {}
    for service in services:
        by_cluster.setdefault(service.cluster, []).append(service.name)
    current: list[str] = []
    for cluster, names in by_cluster.items():
        for i in range(0, len(names), 10):  # DescribeServices takes 10 at a time
            described = world.ecs.describe_services(cluster=cluster, services=names[i : i + 10])
            if described.get("failures"):
                raise RuntimeError(f"DescribeServices in {cluster} failed: {described['failures'][:3]}")
            current.extend(s["taskDefinition"] for s in described["services"])
    count = 0
    definitions: dict[str, dict[str, Any]] = {}
    for arn in current:
        if arn not in definitions:
            definitions[arn] = dict(world.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])
        definition = definitions[arn]
        images = {c["name"]: c["image"] for c in definition["containerDefinitions"]}
        if definition["revision"] > 1 and images.get(fleets.CONTAINER, "").endswith("@" + digest):
            count += 1
    return count
