"""`make demo`: Slipway end to end on a local moto server; no AWS account, no Docker.

An image pushed to ECR rolls out to an EC2 and a Fargate service; ECS's deployment
events become SUCCEEDED and ROLLED_BACK messages; the ``slipway`` command shows a
service's history and rolls it back. Then a canary (``sandbox.demo_canary``): 5 %,
bake, a pause approved with ``slipway approve``, production, SUCCEEDED; and a second
release whose alarm fires during the bake, ROLLED_BACK. Then the scan gate
(``sandbox.demo_scan``): a push held for its scan and released by ECR's scan event, and one
SKIPPED for its CRITICAL findings; a rule's pre-deploy task (``sandbox.demo_migration``): a
migration that exits 0 lets two services roll out, one that exits 3 fails them both,
untouched. Last, ``slipway status prod/web`` and one failure as the chat channel shows it.
The real deploy and track handlers and the real
``slipway`` command run; AWS is moto, served on 127.0.0.1 from this process so the
bridges in ``sandbox.bridge`` apply to it. What moto does not do is played by the
sandbox: ECR's push event (``World.push_event``) and ECS moving its deployments on
(``sandbox.deployments``).

Exits 1, saying which step, if anything the demo expects did not happen.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from sandbox import demo_accounts as accounts_demo
from sandbox.demo_canary import CanaryReleases
from sandbox.demo_migration import Migrations
from sandbox.demo_scan import ScanGate
from sandbox.deployments import Deployments, StoppedTask
from sandbox.narration import (
    REGISTRY,
    DemoFailed,
    expect,
    revision,
    say,
    section,
    short_digest,
    short_image,
    show_messages,
    slipway,
)
from sandbox.stack import REGION, LambdaContext, World

CLUSTER = "prod"
REPOSITORY = "web"
RULE = "prod"
FARGATE, EC2 = "web", "web-ec2"  # the two services
SERVICES = {FARGATE: "FARGATE", EC2: "EC2"}  # service -> the launch type it runs on
RULE_SPEC: dict[str, Any] = {"targets": [{"cluster": CLUSTER, "service": s} for s in SERVICES], "tags": ["1.*"]}
PULL_ERROR = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}"

# The functions' Powertools settings for a terminal: warnings and errors only, no EMF
# metric blobs on stdout, no X-Ray. The Logger reads its level when first imported.
QUIET_FUNCTIONS = {
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Slipway",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}
# Whatever could send a call somewhere other than the local server.
ELSEWHERE = {
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "SLIPWAY_STACK",
}


# -- the local AWS ----------------------------------------------------------------
@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port), in this process; yields its endpoint."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def local_aws(endpoint: str) -> Iterator[None]:
    """Every AWS client of this process and its children goes to ``endpoint`` with fake credentials.

    The environment is restored afterwards.
    """
    saved = dict(os.environ)
    for name in [n for n in os.environ if n in ELSEWHERE or n.startswith("AWS_ENDPOINT_URL_")]:
        del os.environ[name]
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fake credentials
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **QUIET_FUNCTIONS,
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Functions:
    """The real deploy and track handlers, invoked as Lambda invokes them."""

    deploy_handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    track_handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    sweep_handler: Callable[[dict[str, Any], Any], dict[str, Any]]

    @classmethod
    def load(cls) -> Functions:
        """Import the handlers once the stack's environment is set: Powertools and Slipway read it."""
        from slipway import app
        from slipway.handlers import deploy, sweep, track
        from slipway.telemetry import logger

        logger.setLevel(logging.WARNING)  # even if something imported the handlers earlier
        app.reset()
        return cls(deploy.handler, track.handler, sweep.handler)

    def deploy(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.deploy_handler(event, LambdaContext())

    def track(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.track_handler(event, LambdaContext(function_name="slipway-track"))

    def sweep(self) -> dict[str, Any]:
        """The sweep, as its schedule invokes it."""
        scheduled = {"version": "0", "id": "sweep", "detail-type": "Scheduled Event", "source": "aws.scheduler"}
        return self.sweep_handler({**scheduled, "detail": {}}, LambdaContext(function_name="slipway-sweep"))


def default_network(world: World) -> dict[str, Any]:
    """An awsvpc network configuration: two default subnets and the default security group."""
    ec2 = boto3.session.Session(region_name=world.region).client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return {
        "awsvpcConfiguration": {
            "subnets": [s["SubnetId"] for s in subnets[:2]],
            "securityGroups": [groups[0]["GroupId"]],
            "assignPublicIp": "DISABLED",
        }
    }


# -- the story ------------------------------------------------------------------------
class Demo:
    """Each method is one section of the output; each checks what it shows."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ecs = Deployments(world.account, world.region)
        self.functions: Functions | None = None

    def run(self) -> None:
        self.stack()
        self.functions = Functions.load()
        self.services()
        good = self.push_and_deploy(3, "1.1.0", "a good release")
        self.complete(good)
        broken = self.push_and_deploy(5, "1.2.0", "a broken release")
        self.circuit_breaker(broken, back_to={s: m["task_definition"] for s, m in good.items()})
        self.rollback_by_command(good[FARGATE]["previous_task_definition"])
        handlers = self.handlers
        CanaryReleases(self.world, handlers.deploy, handlers.track, handlers.sweep).run()
        accounts_demo.HubAndSpokes(self.world, handlers.deploy, handlers.track, number=9).run()
        ScanGate(self.world, handlers.deploy, number=10).run()
        Migrations(self.world, handlers.deploy, handlers.track, default_network(self.world), number=11).run()
        self.fleet_and_chat()

    # 12 --------------------------------------------------------------------------
    def fleet_and_chat(self) -> None:
        """The release manager's first look, and one failure as the chat channel shows it (the demo ends here)."""
        section(12, "What runs where, and a failure as the team's chat channel shows it")
        out = slipway("status", "prod/web")
        expect("prod/web" in out and "SUCCEEDED" in out, f"`slipway status prod/web` does not show prod/web:\n{out}")
        stack = self.world.stack
        assert stack is not None
        expect(stack.chat_subscriber_url, "the stack has no chat topic (ChatNotifications)")
        chat = [n["message"] for n in self.world.notifications(stack.chat_subscriber_url)]
        failed = next((m for m in chat if m["metadata"]["eventType"] == "ROLLED_BACK"), None)
        expect(failed, f"no ROLLED_BACK among the {len(chat)} chat message(s)")
        assert failed is not None
        say()
        say(f"ChatTopic -> chat channel: {len(chat)} message(s) so far, one thread per rollout; one of them:")
        say(failed["content"]["title"], 2)
        for line in failed["content"]["description"].splitlines():
            say(line, 2)
        for step in failed["content"].get("nextSteps") or []:
            say(f"next: {step}", 2)

    @property
    def handlers(self) -> Functions:
        assert self.functions is not None
        return self.functions

    # 1 ---------------------------------------------------------------------------
    def stack(self) -> None:
        section(1, "The Slipway stack, built from template.yaml")
        stack = self.world.deploy_stack()
        os.environ.update({**stack.environment(), **accounts_demo.ENVIRONMENT})
        say(f"DynamoDB table    {stack.table} (rollout history, idempotency records)")
        say(f"SNS topic         {stack.topic_arn.rsplit(':', 1)[-1]}, subscribed by SQS queue slipway-subscriber")
        say("EventBridge rule  slipway-ecr-push -> deploy function, pattern:")
        pattern = json.loads(self.world.events.describe_rule(Name="slipway-ecr-push")["EventPattern"])
        for key, value in pattern.items():
            say(f"{key:<12} {json.dumps(value)}", 10)
        say("functions' env    (Globals in template.yaml)")
        for key, value in sorted(stack.environment().items()):
            if key.startswith("SLIPWAY_"):
                say(f"{key}={value}", 10)

    # 2 ---------------------------------------------------------------------------
    def services(self) -> None:
        section(2, "An ECR repository, two ECS services and a deployment rule")
        world = self.world
        world.create_repository(REPOSITORY)
        world.push_image(REPOSITORY, "1.0.0")
        world.cluster(CLUSTER)
        image = world.image_uri(REPOSITORY, "1.0.0")
        container = {"name": "app", "image": image, "portMappings": [{"containerPort": 8080}]}
        ec2 = world.task_definition(EC2, [dict(container)], networkMode="bridge", requiresCompatibilities=["EC2"])
        world.service(CLUSTER, EC2, ec2, launchType="EC2")
        fargate = world.task_definition(
            FARGATE,
            [dict(container)],
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
        )
        world.service(CLUSTER, FARGATE, fargate, launchType="FARGATE", networkConfiguration=default_network(world))
        say(f"ECR repository    {REPOSITORY} (registry {REGISTRY.rstrip('/')})")
        say(f"ECS cluster       {CLUSTER}, services:")
        say(f"{CLUSTER}/{FARGATE:<8} Fargate, awsvpc network  runs {revision(fargate)}, image {short_image(image)}", 10)
        say(f"{CLUSTER}/{EC2:<8} EC2, bridge network      runs {revision(ec2)}, image {short_image(image)}", 10)
        parameter = world.put_rule(REPOSITORY, RULE, RULE_SPEC)
        say(f"Parameter Store   {parameter}: a push of web tagged 1.* goes to both")
        say('{"targets": [', 10)
        for target in RULE_SPEC["targets"]:
            say(f"  {json.dumps(target)},", 10)
        say(f'], "tags": {json.dumps(RULE_SPEC["tags"])}}}', 10)

    # 3 and 5 ---------------------------------------------------------------------
    def push_and_deploy(self, number: int, tag: str, what: str) -> dict[str, dict[str, Any]]:
        """Push ``tag``, route ECR's event, run the deploy function; the DEPLOYING messages by service."""
        section(number, f"Push web:{tag} ({what}) -> the deploy function")
        world = self.world
        before = {s: world.describe_service(CLUSTER, s)["taskDefinition"] for s in SERVICES}
        digest = world.push_image(REPOSITORY, tag)
        say(f"ECR PutImage      web:{tag}, digest {short_digest(digest)}")
        delivered = world.route(world.push_event(REPOSITORY, digest, tag))
        expect(len(delivered) == 1, f"EventBridge delivered {len(delivered)} events for the push of web:{tag}, not 1")
        say("EventBridge       ECR's 'ECR Image Action' event matched slipway-ecr-push")
        result = self.handlers.deploy(delivered[0])
        expect(RULE in result.get("matched_rules", []), f"rule {RULE!r} did not match the push of web:{tag}: {result}")
        say(f"deploy function   rule matched: {', '.join(result['matched_rules'])}")
        for service, launch_type in SERVICES.items():
            self.show_rollout(service, launch_type, before[service], digest)
        say()
        notes = world.notifications()
        show_messages(notes)
        deploying = {n["message"]["service"]: n["message"] for n in notes if n["message"]["status"] == "DEPLOYING"}
        for service, launch_type in SERVICES.items():
            reported = deploying.get(service, {}).get("launch_type")
            expect(service in deploying, f"no DEPLOYING message for {CLUSTER}/{service} after the push of web:{tag}")
            expect(reported == launch_type, f"{CLUSTER}/{service} was reported on {reported}, not {launch_type}")
        return deploying

    def show_rollout(self, service: str, launch_type: str, before: str, digest: str) -> None:
        """One service's old and new revision and image; it must now run the pushed image, pinned by digest."""
        world = self.world
        after = world.describe_service(CLUSTER, service)["taskDefinition"]
        old = world.ecs.describe_task_definition(taskDefinition=before)["taskDefinition"]["containerDefinitions"][0]
        new = world.images(CLUSTER, service)["app"]
        say(f"{CLUSTER}/{service} ({launch_type})", 2)
        say(f"task definition  {revision(before)} -> {revision(after)}", 3)
        say(f"image            {short_image(old['image'])} -> {short_image(new)}", 3)
        expect(after != before, f"{CLUSTER}/{service} ({launch_type}) still runs {revision(before)}: no rollout")
        expect(
            new == world.image_uri(REPOSITORY, digest),
            f"{CLUSTER}/{service} ({launch_type}) runs {new}, not the pushed image pinned by its digest {digest}",
        )

    # 4 ---------------------------------------------------------------------------
    def complete(self, deploying: dict[str, dict[str, Any]]) -> None:
        section(4, "ECS completes both deployments -> the track function")
        for service, message in deploying.items():
            result = self.handlers.track(self.ecs.complete(CLUSTER, service, message["deployment_id"]))
            say(f"{CLUSTER + '/' + service:<13} SERVICE_DEPLOYMENT_COMPLETED -> {result['status']}")
        say()
        notes = self.world.notifications()
        show_messages(notes)
        succeeded = {n["message"]["service"] for n in notes if n["message"]["status"] == "SUCCEEDED"}
        for service in SERVICES:
            expect(service in succeeded, f"no SUCCEEDED message for {CLUSTER}/{service} after its deployment completed")

    # 5 (continued) -----------------------------------------------------------------
    def circuit_breaker(self, deploying: dict[str, dict[str, Any]], back_to: dict[str, str]) -> None:
        say()
        say("ECS cannot pull web:1.2.0: the tasks stop, the circuit breaker fails the")
        say("deployment and rolls it back. ECS's events go to the track function:")
        stopped = StoppedTask(
            reason=PULL_ERROR.format(image=self.world.image_uri(REPOSITORY, "1.2.0")),
            stop_code="TaskFailedToStart",
            container_reason="CannotPullContainerError: ref not found",
        )
        for service, message in deploying.items():
            failed_id = message["deployment_id"]
            failed = self.ecs.fail(CLUSTER, service, failed_id, stopped=[stopped, stopped])
            started, rollback_id = self.ecs.roll_back(CLUSTER, service, failed_id)
            completed = self.ecs.complete(CLUSTER, service, rollback_id)
            events = (("FAILED", failed), ("rollback IN_PROGRESS", started), ("rollback COMPLETED", completed))
            for label, event in events:
                say(f"{CLUSTER + '/' + service:<13} {label:<21} -> {self.handlers.track(event)['status']}", 2)
        say()
        notes = self.world.notifications()
        show_messages(notes)
        for service in SERVICES:
            self.check_rolled_back(
                service, [n["message"] for n in notes if n["message"]["service"] == service], back_to[service]
            )
        say()
        say("The broken rollout ended ROLLED_BACK on both services, never SUCCEEDED:")
        say(f"{CLUSTER}/{FARGATE} and {CLUSTER}/{EC2} run their web:1.1.0 revisions again.")

    def check_rolled_back(self, service: str, messages: list[dict[str, Any]], back_to: str) -> None:
        statuses = [m["status"] for m in messages]
        expect("SUCCEEDED" not in statuses, f"the broken rollout to {CLUSTER}/{service} was reported SUCCEEDED")
        expect("ROLLED_BACK" in statuses, f"no ROLLED_BACK for the broken rollout to {CLUSTER}/{service}: {statuses}")
        rolled_back = next(m for m in messages if m["status"] == "ROLLED_BACK")
        expect(
            rolled_back.get("rolled_back_to") == back_to,
            f"{CLUSTER}/{service} was reported rolled back to {rolled_back.get('rolled_back_to')}, not {back_to}",
        )
        expect(
            any("CannotPullContainerError" in r for r in rolled_back.get("stopped_reasons") or []),
            f"the ROLLED_BACK message for {CLUSTER}/{service} does not say why its tasks stopped",
        )
        running = self.world.describe_service(CLUSTER, service)["taskDefinition"]
        expect(running == back_to, f"{CLUSTER}/{service} runs {revision(running)}, not {revision(back_to)}")

    # 6 ---------------------------------------------------------------------------
    def rollback_by_command(self, before_slipway: str) -> None:
        section(6, "On-call rolls prod/web back with the slipway command")
        say("web:1.1.0 has a bug no health check catches. On-call looks at the history")
        say("and rolls prod/web back to its previous successful revision (here the one")
        say("it ran before Slipway's first rollout). The command runs in its own process.")
        key = f"{CLUSTER}/{FARGATE}"
        history = slipway("history", key)
        expect(len(history.splitlines()) == 3, f"`slipway history {key}` should list 2 rollouts:\n{history}")
        output = slipway("rollback", key)
        say()
        notes = self.world.notifications()
        show_messages(notes)
        deploying: dict[str, Any] = next((n["message"] for n in notes if n["message"]["status"] == "DEPLOYING"), {})
        expect(deploying.get("rule") == "rollback", f"`slipway rollback {key}` sent no DEPLOYING message")
        expect(deploying.get("deployment_id", "?") in output, f"`slipway rollback {key}` did not name its deployment")
        expect(
            deploying.get("task_definition") == before_slipway,
            f"`slipway rollback {key}` went to {deploying.get('task_definition')}, not {before_slipway}",
        )
        say()
        result = self.handlers.track(self.ecs.complete(CLUSTER, FARGATE, deploying["deployment_id"]))
        say(f"ECS completes the rollback's deployment -> track function -> {result['status']}")
        show_messages(self.world.notifications())
        history = slipway("history", key)
        newest = history.splitlines()[1].split() if len(history.splitlines()) > 1 else []
        expect(
            "SUCCEEDED" in newest and "rollback" in newest,
            f"`slipway history {key}` does not show the rollback SUCCEEDED first:\n{history}",
        )


def main() -> int:
    """Run the demo; 0 when every step did what it should, 1 (and why, on stderr) otherwise."""
    started = time.monotonic()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    print("Slipway demo: an ECR push rolls out to ECS, is tracked to an outcome, and can be rolled back.")
    print("Real: the deploy and track Lambda handlers and the `slipway` command.")
    print("Played by the sandbox: ECR's push event and ECS's deployment progress (moto has neither).")
    try:
        with moto_server() as endpoint, local_aws(endpoint):
            print(f"AWS: moto at {endpoint}, in this process. No AWS account, no Docker.")
            Demo(World()).run()
    except DemoFailed as problem:
        print(f"\nDEMO FAILED: {problem}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - any error is a failed demo; say so after the traceback
        traceback.print_exc()
        print("\nDEMO FAILED: an unexpected error (above) stopped it.", file=sys.stderr)
        return 1
    print(f"\nDone in {time.monotonic() - started:.1f}s: every step did what Slipway promises.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
