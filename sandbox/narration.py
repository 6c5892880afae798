"""How the demo tells its story: sections, lines, the messages a subscriber got, and `slipway` runs.

Each step checks what it shows with ``expect``: a step that does not do what Slipway
promises stops the demo with ``DemoFailed``, saying which.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox.stack import ACCOUNT, REGION

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/"


class DemoFailed(Exception):
    """A step of the demo did not do what Slipway promises."""


def expect(condition: object, problem: str) -> None:
    if not condition:
        raise DemoFailed(problem)


def section(number: int, title: str) -> None:
    print(f"\n== {number}. {title} ".ljust(76, "="))


def say(text: str = "", level: int = 1) -> None:
    print("  " * level + text if text else "")


def revision(arn: str | None) -> str:
    """``web:2`` from a task definition ARN."""
    return arn.rsplit("/", 1)[-1] if arn else "-"


def short_digest(digest: str) -> str:
    return digest[:19] + "..." if digest.startswith("sha256:") else digest


def short_image(image: str) -> str:
    """An image without this account's registry, its digest cut short."""
    name = image.removeprefix(REGISTRY)
    if "@" in name:
        repository, digest = name.split("@", 1)
        return f"{repository}@{short_digest(digest)}"
    return name


def show_messages(notes: list[dict[str, Any]]) -> None:
    """What a subscriber of the SNS topic received: subject, status attribute and key fields."""
    say(f"SNS -> subscriber queue: {len(notes)} message(s)")
    for note in notes:
        message = note["message"]
        say(note["subject"], 2)
        say(f"status={note['attributes'].get('status')}  " + ", ".join(key_fields(message)), 3)
        if message["status"] == "DEPLOYING":
            say(f"ECS deployment {message.get('deployment_id')}", 3)
        if message["status"] in ("FAILED", "PROGRESS"):
            say(f"reason: {message.get('reason')}", 3)
        stopped = message.get("stopped_reasons") or []
        if stopped:
            example = stopped[0].split(": ", 1)[-1]  # without "task <id>: "
            say(f"{len(stopped)} stopped task(s), e.g. {example[:64]}...", 3)


def key_fields(message: dict[str, Any]) -> list[str]:
    fields = [f"launch type {message['launch_type']}"] if message.get("launch_type") else []
    status = message["status"]
    if status == "DEPLOYING":
        fields.append(
            f"{revision(message.get('previous_task_definition'))} -> {revision(message.get('task_definition'))}"
        )
    elif status == "SUCCEEDED":
        fields.append(f"runs {revision(message.get('task_definition'))}")
    elif status == "ROLLED_BACK":
        fields.append(f"rolled_back_to {revision(message.get('rolled_back_to'))}")
    elif status == "PROGRESS":
        fields.append(f"stage {message.get('stage')}")
    if message.get("strategy") not in (None, "rolling"):
        fields.append(f"strategy {message['strategy']}")
    fields.append(f"rule {message.get('rule')}")
    return fields


def slipway_command() -> list[str]:
    """The installed ``slipway`` console script beside this Python, or its entry point."""
    script = Path(sys.executable).with_name("slipway")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from slipway.cli import run; run()"]


def slipway(*args: str) -> str:
    """Run ``slipway ARGS`` in its own process, as a user would; print and return its output."""
    say()
    say(f"$ slipway {' '.join(args)}")
    done = subprocess.run(
        [*slipway_command(), *args], env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False
    )
    for line in done.stdout.rstrip().splitlines():
        say(line, 2)
    expect(done.returncode == 0, f"`slipway {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout
