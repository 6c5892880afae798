"""Shared fixtures: fake credentials everywhere, fresh Slipway state per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture(autouse=True)
def _aws_isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reaches real AWS: fake credentials, a fixed region, no endpoint override."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Slipway")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    from aws_lambda_powertools.utilities import parameters

    from slipway import app

    app.reset()
    parameters.clear_caches()
    yield
    app.reset()
    parameters.clear_caches()


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A real-shaped event from events/, with top-level fields overridden."""
    event = json.loads((EVENTS / name).read_text())
    event.update(overrides)
    return event
