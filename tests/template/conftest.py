"""Template-test fixtures: the SAM CLI as a subprocess, and EventBridge's pattern matching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
# Fields TestEventPattern rejects an event without: what EventBridge puts on every event.
ENVELOPE = ("id", "account", "source", "time", "region", "resources", "detail-type")

SamRunner = Callable[..., subprocess.CompletedProcess[str]]
PatternMatcher = Callable[[dict[str, Any], dict[str, Any]], bool]


@pytest.fixture(scope="session")
def sam() -> SamRunner:
    """Run ``sam <args>`` from the project root: fake credentials, no telemetry, no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_CLI_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        SAM_CLI_TELEMETRY="0",
        SAM_CLI_DISABLE_VERSION_CHECK="1",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "samcli", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def eventbridge_matches() -> PatternMatcher:
    """EventBridge's verdict on an event pattern and an event, as moto implements it.

    Asks moto's TestEventPattern first; moto 5.2 answers it with an empty body, so the
    verdict then comes from ``moto.events.models.EventPattern``, the matcher moto's own
    PutEvents routes with (loading it validates the pattern, as PutRule does).
    """

    def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
        missing = [field for field in ENVELOPE if field not in event]
        if missing:
            raise ValueError(f"not an EventBridge event, TestEventPattern would reject it: no {missing}")
        with mock_aws():
            client = boto3.client("events", region_name=REGION)
            response = client.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))
        if "Result" in response:
            return bool(response["Result"])
        return EventPattern.load(json.dumps(pattern)).matches_event(event)

    return matches
