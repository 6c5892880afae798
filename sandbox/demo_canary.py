"""The demo's canary releases: ECS's own CANARY strategy, set by a rule, watched stage by stage.

A rule gives prod/api a canary: 5 % of production traffic, a 10-minute bake, the
deployment alarm api-5xx, and an approval. The first release pauses before production
traffic and again before the rest (ECS asks its PRE_PRODUCTION_TRAFFIC_SHIFT hooks before
every traffic step of a canary); `slipway approve` continues each pause, and it ends
SUCCEEDED. The second release's alarm fires while its canary bakes: ECS rolls it back,
and it ends ROLLED_BACK, never SUCCEEDED.

ECS's clockwork is the sandbox's (``sandbox.strategies``); the deploy, track and sweep
handlers and the `slipway` command are the real ones. ECS emits no event when traffic
shifts, so the sweep, on its schedule, is what reports those stages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.narration import expect, revision, say, section, show_messages, slipway
from sandbox.stack import World
from sandbox.strategies import Strategies

CLUSTER, SERVICE, REPOSITORY = "prod", "api", "api"
ALARM = "api-5xx"
TARGET_GROUP = "arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/api-{colour}/{suffix}"
LISTENER_RULE = "arn:aws:elasticloadbalancing:{region}:{account}:listener-rule/app/api/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
RULE_SPEC: dict[str, Any] = {
    "targets": [{"cluster": CLUSTER, "service": SERVICE}],
    "tags": ["2.*"],
    "strategy": "canary",
    "canary": {"percent": 5, "bake_minutes": 10},
    "alarms": [ALARM],
    "approval": True,
}
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class CanaryReleases:
    """Sections 7 and 8 of the demo."""

    def __init__(self, world: World, deploy: Handler, track: Handler, sweep: Callable[[], dict[str, Any]]) -> None:
        self.world = world
        self.ecs = Strategies(world.account, world.region)
        self._deploy, self._track, self._sweep = deploy, track, sweep

    def run(self) -> None:
        first = self.canary_release()
        self.alarm_during_bake(first)

    # 7 ---------------------------------------------------------------------------
    def canary_release(self) -> dict[str, Any]:
        section(7, "A canary release: 5 %, bake, approval, production, SUCCEEDED")
        self.api_service()
        deploying = self.push("2.0.0")
        say()
        say("ECS starts the canary and pauses before production traffic (the rule's approval):")
        self.deliver(self.ecs.settle(CLUSTER, SERVICE))
        self.expect_progress("waiting for approval")
        slipway("status", f"{CLUSTER}/{SERVICE}")
        self.approve(deploying["rollout_id"])
        say()
        say("ECS shifts 5 % of production traffic to the new revision and bakes for 10 minutes;")
        say("no event says so: the sweep, on its schedule, reads the service deployment:")
        self.advance()
        progress = self.expect_progress("5 % of production traffic shifted")
        expect(
            progress.get("traffic_percent") == 5.0, f"the canary's PROGRESS says {progress.get('traffic_percent')} %"
        )
        say()
        say("The bake ends; ECS pauses again before the rest of production traffic:")
        self.deliver(self.ecs.settle(CLUSTER, SERVICE))
        self.expect_progress("waiting for approval")
        self.approve(deploying["rollout_id"])
        self.advance()
        self.expect_progress("all production traffic shifted")
        say()
        say("ECS bakes, cleans up the old revision and reports the deployment SUCCESSFUL:")
        self.deliver(self.ecs.settle(CLUSTER, SERVICE))
        notes = self.world.notifications()
        show_messages(notes)
        statuses = [n["message"]["status"] for n in notes]
        expect("SUCCEEDED" in statuses, f"the canary of api:2.0.0 did not end SUCCEEDED: {statuses}")
        running = self.world.describe_service(CLUSTER, SERVICE)["taskDefinition"]
        expect(running == deploying["task_definition"], f"prod/api runs {revision(running)}, not the canary's revision")
        history = slipway("history", f"{CLUSTER}/{SERVICE}")
        expect(
            "SUCCEEDED" in history.splitlines()[1], f"`slipway history` does not show the canary SUCCEEDED:\n{history}"
        )
        return deploying

    # 8 ---------------------------------------------------------------------------
    def alarm_during_bake(self, first: dict[str, Any]) -> None:
        section(8, "A canary whose alarm fires during its bake: ROLLED_BACK, never SUCCEEDED")
        deploying = self.push("2.1.0")
        self.deliver(self.ecs.settle(CLUSTER, SERVICE))
        self.approve(deploying["rollout_id"])
        self.advance()
        self.expect_progress("5 % of production traffic shifted")
        say()
        say(f"CloudWatch alarm {ALARM} goes to ALARM while the canary bakes; ECS rolls back:")
        self.deliver(self.ecs.fire_alarm(CLUSTER, SERVICE, ALARM))
        self.deliver(self.ecs.settle(CLUSTER, SERVICE))
        self._sweep()
        notes = self.world.notifications()
        show_messages(notes)
        statuses = [n["message"]["status"] for n in notes]
        expect("SUCCEEDED" not in statuses, "the canary whose alarm fired was reported SUCCEEDED")
        rolled_back = next((n["message"] for n in notes if n["message"]["status"] == "ROLLED_BACK"), None)
        expect(rolled_back is not None, f"no ROLLED_BACK for the canary whose alarm fired: {statuses}")
        assert rolled_back is not None
        expect(ALARM in rolled_back["reason"], f"the ROLLED_BACK reason does not name {ALARM}: {rolled_back['reason']}")
        say(f"reason: {rolled_back['reason']}", 2)
        running = self.world.describe_service(CLUSTER, SERVICE)["taskDefinition"]
        expect(
            running == first["task_definition"],
            f"prod/api runs {revision(running)}, not the 2.0.0 revision it was rolled back to",
        )
        say()
        say(f"prod/api runs {revision(running)} (api:2.0.0) again.")

    # -- steps ------------------------------------------------------------------
    def api_service(self) -> None:
        world = self.world
        world.create_repository(REPOSITORY)
        world.push_image(REPOSITORY, "1.9.0")
        image = world.image_uri(REPOSITORY, "1.9.0")
        container = {"name": "app", "image": image, "portMappings": [{"containerPort": 8080}]}
        definition = world.task_definition(SERVICE, [container], networkMode="bridge", requiresCompatibilities=["EC2"])
        names = {"region": world.region, "account": world.account}
        balancer = {
            "targetGroupArn": TARGET_GROUP.format(colour="blue", suffix="0123456789abcdef", **names),
            "containerName": "app",
            "containerPort": 8080,
            "advancedConfiguration": {
                "alternateTargetGroupArn": TARGET_GROUP.format(colour="green", suffix="fedcba9876543210", **names),
                "productionListenerRule": LISTENER_RULE.format(**names),
                "roleArn": f"arn:aws:iam::{world.account}:role/ecsInfrastructureRoleForLoadBalancers",
            },
        }
        world.service(CLUSTER, SERVICE, definition, launchType="EC2", loadBalancers=[balancer])
        parameter = world.put_rule(REPOSITORY, "prod", RULE_SPEC)
        say(f"prod/{SERVICE} (EC2) behind an ALB whose target group has its alternate (blue/green)")
        say(f"Parameter Store   {parameter}:")
        for key in ("strategy", "canary", "alarms", "approval"):
            say(f'"{key}": {RULE_SPEC[key]!r}'.replace("'", '"').replace("True", "true"), 10)

    def push(self, tag: str) -> dict[str, Any]:
        world = self.world
        digest = world.push_image(REPOSITORY, tag)
        delivered = world.route(world.push_event(REPOSITORY, digest, tag))
        expect(len(delivered) == 1, f"EventBridge delivered {len(delivered)} events for the push of api:{tag}")
        self._deploy(delivered[0])
        say(f"push api:{tag} -> deploy function: UpdateService with strategy CANARY")
        notes = world.notifications()
        show_messages(notes)
        deploying = next((n["message"] for n in notes if n["message"]["status"] == "DEPLOYING"), None)
        expect(deploying is not None, f"no DEPLOYING for the canary of api:{tag}")
        assert deploying is not None
        expect(deploying.get("strategy") == "canary", f"api:{tag} was reported as strategy {deploying.get('strategy')}")
        return deploying

    def deliver(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._track(event)

    def advance(self) -> None:
        """ECS moves one step on; the sweep runs, as its schedule would."""
        self.ecs.advance(CLUSTER, SERVICE)
        self._sweep()

    def approve(self, rollout_id: str) -> None:
        slipway("approve", rollout_id)
        self.deliver(self.ecs.api_events())

    def expect_progress(self, words: str) -> dict[str, Any]:
        notes = self.world.notifications()
        show_messages(notes)
        progress = [n["message"] for n in notes if n["message"]["status"] == "PROGRESS"]
        match = next((m for m in progress if words in (m.get("reason") or "")), None)
        expect(match is not None, f"no PROGRESS message saying {words!r}: {[m.get('reason') for m in progress]}")
        assert match is not None
        return match
