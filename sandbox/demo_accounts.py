"""The demo's hub and spokes: one push to Slipway's registry rolls out in two other accounts.

Slipway's stack runs in the registry account (123456789012, eu-west-1). A rule names
``web`` services in a staging account (222233334444, eu-west-1) and a production account
(333344445555, eu-west-2) by cluster ARN; Slipway reaches each through the role
``slipway-target`` there. ECS's deployment events are emitted in each target account and
forwarded by its EventBridge rule to Slipway's bus, where the track function reports the
outcome, naming the account and Region.

The deploy and track handlers are the real ones. moto plays each account by the
credentials sts:AssumeRole returns for it; ``sandbox.accounts`` plays the forwarding rules
and ``sandbox.deployments`` ECS moving each account's deployments on.

``HubAndSpokes`` is the demo's last section (``sandbox.demo``); the stack's environment must
include ``ENVIRONMENT`` before the handlers load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from sandbox import accounts
from sandbox.accounts import AccountWorld
from sandbox.deployments import Deployments
from sandbox.narration import expect, revision, say, section, short_digest
from sandbox.stack import World

# Its own repository: the rules of the demo's earlier sections are cached by repository for 30 s.
REPOSITORY, TAG, SERVICE = "storefront", "2.0.0", "web"
STAGING = ("222233334444", "eu-west-1", "staging")  # account, Region, cluster
PRODUCTION = ("333344445555", "eu-west-2", "prod")
TARGETS = (STAGING, PRODUCTION)
# The stack parameters that let Slipway reach them: TargetAccounts and AllowedClusters.
ENVIRONMENT = {
    "SLIPWAY_TARGET_ACCOUNTS": ",".join(account for account, _, _ in TARGETS),
    "SLIPWAY_ALLOWED_CLUSTERS": ",".join(["*", *(f"arn:aws:ecs:*:{account}:cluster/*" for account, _, _ in TARGETS)]),
}
RULE_SPEC: dict[str, Any] = {
    "targets": [
        {"cluster": f"arn:aws:ecs:{region}:{account}:cluster/{cluster}", "service": SERVICE}
        for account, region, cluster in TARGETS
    ],
    "tags": ["2.*"],
}
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class HubAndSpokes:
    """One section of the demo: a push deployed and tracked in two other accounts."""

    def __init__(self, world: World, deploy: Handler, track: Handler, number: int = 9) -> None:
        self.world = world
        self._deploy, self._track = deploy, track
        self.number = number
        self.spokes: dict[str, AccountWorld] = {}

    def run(self) -> None:
        for name, value in ENVIRONMENT.items():
            expect(os.environ.get(name) == value, f"{name} is not {value!r}: set it before loading the handlers")
        section(self.number, "Hub and spokes: a push in the registry account, rollouts in two others")
        self.accounts()
        digest = self.push()
        deploying = self.deploy(digest)
        self.complete(deploying)

    def accounts(self) -> None:
        say(f"Slipway's account {self.world.account} ({self.world.region}): the stack and ECR repository {REPOSITORY}")
        say(f"TargetAccounts    {ENVIRONMENT['SLIPWAY_TARGET_ACCOUNTS']}")
        say(f"AllowedClusters   {ENVIRONMENT['SLIPWAY_ALLOWED_CLUSTERS']}")
        old = self.world.image_uri(REPOSITORY, "1.9.0")
        for account, region, cluster in TARGETS:
            spoke = self.spokes[account] = self.world.account_world(account, region)
            role = spoke.create_target_role()
            spoke.forward_events()
            spoke.cluster(cluster)
            container = {"name": "app", "image": old, "portMappings": [{"containerPort": 8080}]}
            definition = spoke.task_definition(SERVICE, [container], networkMode="bridge")
            spoke.service(cluster, SERVICE, definition, launchType="EC2")
            say(f"account {account} ({region})", 1)
            say(f"{cluster}/{SERVICE} runs {revision(definition)}, image {REPOSITORY}:1.9.0 from Slipway's registry", 2)
            say(f"{role} trusts Slipway's function roles", 2)
            say("EventBridge rules forward ECS's events to Slipway's bus", 2)
        parameter = self.world.put_rule(REPOSITORY, "everywhere", RULE_SPEC)
        say(f"Parameter Store   {parameter}:")
        for target in RULE_SPEC["targets"]:
            say(json.dumps(target), 10)

    def push(self) -> str:
        world = self.world
        try:
            world.create_repository(REPOSITORY)
        except world.ecr.exceptions.RepositoryAlreadyExistsException:
            pass  # the demo's earlier sections made it
        world.push_image(REPOSITORY, "1.9.0")
        digest = world.push_image(REPOSITORY, TAG)
        say()
        say(f"ECR PutImage      {REPOSITORY}:{TAG} in {world.account}, digest {short_digest(digest)}")
        return digest

    def deploy(self, digest: str) -> dict[str, dict[str, Any]]:
        """The push routed to the deploy function; each target's DEPLOYING message, by account."""
        world = self.world
        delivered = world.route(world.push_event(REPOSITORY, digest, TAG))
        expect(len(delivered) == 1, f"EventBridge delivered {len(delivered)} events for the push of {REPOSITORY}:{TAG}")
        result = self._deploy(delivered[0])
        say(f"deploy function   rules matched: {', '.join(result.get('matched_rules') or []) or 'none'}")
        pinned = f"{world.account}.dkr.ecr.{world.region}.amazonaws.com/{REPOSITORY}@{digest}"
        for account, _, cluster in TARGETS:
            image = self.spokes[account].images(cluster, SERVICE).get("app")
            expect(image == pinned, f"{cluster}/{SERVICE} in {account} runs {image}, not {pinned}")
            say(f"{account} {cluster}/{SERVICE} now runs {REPOSITORY}@{short_digest(digest)}", 2)
        deploying = self.outcomes("DEPLOYING")
        return deploying

    def complete(self, deploying: dict[str, dict[str, Any]]) -> None:
        say()
        say("ECS completes each deployment; each account forwards the event to Slipway's bus:")
        for account, region, cluster in TARGETS:
            event = Deployments(account, region).complete(cluster, SERVICE, deploying[account]["deployment_id"])
            forwarded = accounts.forwarded(self.world, event)
            expect(len(forwarded) == 1, f"Slipway's bus delivered {len(forwarded)} of {account}'s deployment events")
            expect(forwarded[0]["account"] == account, f"the forwarded event names {forwarded[0]['account']}")
            result = self._track(forwarded[0])
            say(f"{account} {region} {cluster}/{SERVICE}  COMPLETED -> track function -> {result.get('status')}", 2)
        self.outcomes("SUCCEEDED")

    def outcomes(self, status: str) -> dict[str, dict[str, Any]]:
        """The subscriber's messages, printed; the ``status`` one of each target, by account."""
        notes = self.world.notifications()
        say(f"SNS -> subscriber queue: {len(notes)} message(s)")
        found: dict[str, dict[str, Any]] = {}
        for note in notes:
            message = note["message"]
            where = f"{message.get('account')} {message.get('region')}"
            say(f"{message['status']:<10} {where}  {message.get('cluster')}/{message.get('service')}", 2)
            if message["status"] == status:
                found[str(message.get("account"))] = message
        for account, region, cluster in TARGETS:
            message = found.get(account, {})
            expect(message, f"no {status} message for {cluster}/{SERVICE} in {account}")
            expect(message.get("region") == region, f"the {status} message for {account} names {message.get('region')}")
        return found
