"""The demo's scan gate: a push held until its scan finishes, and one refused for its findings.

A rule gives prod/scanned a scan gate allowing findings up to HIGH. The first push's scan is
still running: the push is held (gate ``scan``) and rolls out when ECR's ``ECR Image Scan``
event arrives. The second push's scan finds CRITICAL vulnerabilities: SKIPPED at once, the
counts in the reason and in ``findings``, the service untouched.

moto has no scan results: ``sandbox.image_checks`` answers DescribeImageScanFindings and
builds ECR's event from AWS's sample; the deploy handler is the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from sandbox.image_checks import ImageChecks
from sandbox.narration import expect, revision, say, section, short_digest, show_messages
from sandbox.stack import World

CLUSTER, SERVICE, REPOSITORY = "prod", "scanned", "scanned"
RULE_SPEC: dict[str, Any] = {
    "targets": [{"cluster": CLUSTER, "service": SERVICE}],
    "scan": {"max_severity": "HIGH", "wait_minutes": 30},
}
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def install(images: ImageChecks) -> None:
    """The functions' clients answered by the image checks bridge (its hook on their session)."""
    from slipway import app

    session = boto3.session.Session()
    session.events.register_first("before-send", images.before_send)
    app.use(app.App(session=session))


class ScanGate:
    """Section 11 of the demo."""

    def __init__(self, world: World, deploy: Handler, number: int = 11) -> None:
        self.world = world
        self.images = ImageChecks()
        self._deploy = deploy
        self.number = number

    def run(self) -> None:
        install(self.images)
        section(self.number, "The scan gate: held for its scan, then refused for CRITICAL findings")
        self.scanned_service()
        self.held_then_released()
        self.refused()

    def scanned_service(self) -> None:
        world = self.world
        world.create_repository(REPOSITORY)
        world.push_image(REPOSITORY, "1.0.0")
        container = {"name": "app", "image": world.image_uri(REPOSITORY, "1.0.0")}
        td = world.task_definition(SERVICE, [container], networkMode="bridge", requiresCompatibilities=["EC2"])
        world.service(CLUSTER, SERVICE, td, launchType="EC2")
        world.put_rule(REPOSITORY, "prod", RULE_SPEC)
        say(f'Rule {REPOSITORY}/prod -> {CLUSTER}/{SERVICE}: "scan": {RULE_SPEC["scan"]}')

    def push(self, tag: str) -> tuple[dict[str, Any], str]:
        digest = self.world.push_image(REPOSITORY, tag)
        [event] = self.world.route(self.world.push_event(REPOSITORY, digest, tag))
        return event, digest

    def held_then_released(self) -> None:
        event, digest = self.push("1.1.0")
        self.images.scan(REPOSITORY, digest, status="IN_PROGRESS")
        say()
        say(f"Push {REPOSITORY}:1.1.0 ({short_digest(digest)}); ECR is still scanning it:")
        self._deploy(event)
        [held] = self.messages()
        expect(held.get("held") == "scan", f"the push was not held for its scan: {held}")
        say()
        say("The scan finishes (1 HIGH, 3 LOW: within the rule) and ECR sends its ECR Image Scan event:")
        self.images.scan(REPOSITORY, digest, counts={"HIGH": 1, "LOW": 3})
        [scanned] = self.world.route(self.images.scan_event(REPOSITORY, digest, tags=("1.1.0",)))
        result = self._deploy(scanned)
        expect(result.get("status") == "RELEASED", f"the scan event released nothing: {result}")
        [deploying] = self.messages()
        expect(deploying["status"] == "DEPLOYING", f"the released push is {deploying['status']}, not DEPLOYING")
        running = self.world.describe_service(CLUSTER, SERVICE)["taskDefinition"]
        say(f"{CLUSTER}/{SERVICE} now runs {revision(running)}", 2)

    def refused(self) -> None:
        event, digest = self.push("1.2.0")
        self.images.scan(REPOSITORY, digest, counts={"CRITICAL": 2, "HIGH": 5, "MEDIUM": 1})
        before = self.world.describe_service(CLUSTER, SERVICE)["taskDefinition"]
        say()
        say(f"Push {REPOSITORY}:1.2.0 ({short_digest(digest)}); its scan found 2 CRITICAL, 5 HIGH, 1 MEDIUM:")
        self._deploy(event)
        [skipped] = self.messages()
        expect(skipped["status"] == "SKIPPED" and not skipped.get("held"), f"not SKIPPED for good: {skipped}")
        expected = "2 CRITICAL findings; the rule allows up to HIGH"
        expect(skipped["reason"] == expected, f"the reason is {skipped['reason']!r}, not {expected!r}")
        say(f"findings: {skipped['findings']}", 3)
        after = self.world.describe_service(CLUSTER, SERVICE)["taskDefinition"]
        expect(after == before, "the service was changed by a push the scan gate refused")
        say(f"{CLUSTER}/{SERVICE} still runs {revision(after)}", 2)

    def messages(self) -> list[dict[str, Any]]:
        notes = self.world.notifications()
        show_messages(notes)
        for note in notes:
            if note["message"]["status"] == "SKIPPED":
                say(f"reason: {note['message']['reason']}", 3)
        return [n["message"] for n in notes]
