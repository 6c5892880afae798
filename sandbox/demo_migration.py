"""The demo's migrations: a rule's pre-deploy task runs before any of its targets is updated.

A rule sends orders:* to prod/orders and prod/orders-worker, with a pre-deploy task: the
new image's ``app`` container runs ``./manage migrate`` as a one-off ECS task. The first
release's migration exits 0 and both services roll out; the second's exits 3: both
targets end FAILED with the exit code, the task and its log stream, and neither service
is touched.

moto starts the task and leaves it RUNNING; the sandbox ends it (``sandbox.task_runs``)
and delivers the ``ECS Task State Change`` event ECS would send. The deploy and track
handlers and the ``slipway`` command are the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.narration import expect, revision, say, section, show_messages, slipway
from sandbox.stack import World
from sandbox.task_runs import TaskRuns, held_tasks

CLUSTER, REPOSITORY = "prod", "orders"
SERVICES = ("orders", "orders-worker")
MIGRATE = {"container": "app", "command": ["./manage", "migrate"]}
RULE_SPEC: dict[str, Any] = {
    "targets": [{"cluster": CLUSTER, "service": s} for s in SERVICES],
    "tags": ["1.*"],
    "pre_deploy": MIGRATE,
}
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Migrations:
    """Section 11 of the demo."""

    def __init__(self, world: World, deploy: Handler, track: Handler, network: dict[str, Any], number: int) -> None:
        self.world = world
        self.tasks = TaskRuns(world.account, world.region)
        self._deploy, self._track = deploy, track
        self._network = network
        self._number = number

    def run(self) -> None:
        section(self._number, "A migration before the rollout: exit 0 rolls out, exit 3 stops it")
        with held_tasks():
            self.services()
            self.release("1.1.0", exit_code=0)
            before = {s: self.world.describe_service(CLUSTER, s)["taskDefinition"] for s in SERVICES}
            self.release("1.2.0", exit_code=3)
            after = {s: self.world.describe_service(CLUSTER, s)["taskDefinition"] for s in SERVICES}
            expect(before == after, f"a failed migration changed the services: {before} -> {after}")
            say()
            say("Neither service was touched: " + ", ".join(f"{s} runs {revision(after[s])}" for s in SERVICES))
            slipway("explain", REPOSITORY)

    def services(self) -> None:
        world = self.world
        world.create_repository(REPOSITORY)
        world.push_image(REPOSITORY, "1.0.0")
        logs = {"awslogs-group": "/ecs/orders", "awslogs-region": world.region, "awslogs-stream-prefix": "orders"}
        for name in SERVICES:
            container = {
                "name": "app",
                "image": world.image_uri(REPOSITORY, "1.0.0"),
                "logConfiguration": {"logDriver": "awslogs", "options": logs},
            }
            definition = world.task_definition(
                name, [container], networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512"
            )
            world.service(CLUSTER, name, definition, launchType="FARGATE", networkConfiguration=self._network)
        world.put_rule(REPOSITORY, "prod", RULE_SPEC)
        say(f"rule orders/prod: {', '.join(f'{CLUSTER}/{s}' for s in SERVICES)}, pre_deploy {MIGRATE}")

    def release(self, tag: str, exit_code: int) -> None:
        world = self.world
        say()
        digest = world.push_image(REPOSITORY, tag)
        delivered = world.route(world.push_event(REPOSITORY, digest, tag))
        expect(len(delivered) == 1, f"EventBridge delivered {len(delivered)} events for the push of orders:{tag}")
        self._deploy(delivered[0])
        started = self.tasks.started()
        expect(started, f"no pre-deploy task started for orders:{tag}")
        task = started[-1]
        say(f"push orders:{tag} -> deploy function: RunTask {revision(task.task_definition_arn)} (./manage migrate)")
        notes = world.notifications()
        show_messages(notes)
        held = [n["message"].get("held") for n in notes]
        expect(held == ["pre_deploy"] * len(SERVICES), f"the targets of orders:{tag} were not held: {held}")
        say(f"held=pre_deploy: {notes[0]['message']['reason']}", 3)
        say()
        say(f"The migration exits {exit_code} -> ECS Task State Change -> the track function:")
        events = world.route(self.tasks.exit(task.task_arn, exit_code))
        expect(len(events) == 1, f"EventBridge delivered {len(events)} task state changes")
        self._track(events[0])
        notes = world.notifications()
        show_messages(notes)
        statuses = sorted(n["message"]["status"] for n in notes)
        wanted = ["DEPLOYING"] * len(SERVICES) if exit_code == 0 else ["FAILED"] * len(SERVICES)
        expect(statuses == wanted, f"after the migration exited {exit_code}: {statuses}, not {wanted}")
        if exit_code:
            message = notes[0]["message"]
            expect(
                message.get("exit_code") == exit_code, f"the FAILED message says exit code {message.get('exit_code')}"
            )
            say(f"exit_code={message['exit_code']}  log_stream={message.get('log_stream')}", 3)
