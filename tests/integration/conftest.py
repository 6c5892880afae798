"""Integration fixtures: the real handlers against moto, resources built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from sandbox.faults import Faults
from sandbox.stack import LambdaContext, World


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A moto account with the Slipway stack (table, topic, subscriber, routing rule)."""
    with mock_aws():
        w = World()
        stack = w.deploy_stack()
        for key, value in stack.environment().items():
            monkeypatch.setenv(key, value)
        yield w


@pytest.fixture
def faults(world: World) -> Faults:
    """Every Slipway client goes through this hook: it counts calls and injects faults."""
    from slipway import app

    hook = Faults()
    app.use(app.App(session=hook.session()))
    return hook


@pytest.fixture
def deploy(faults: Faults) -> Any:
    """Invoke the real deploy handler with an event, as Lambda would."""
    from slipway.handlers import deploy as handler

    def invoke(event: dict[str, Any]) -> Any:
        return handler.handler(event, LambdaContext())

    return invoke


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry logic but skip its sleeps, so retry tests stay fast."""
    import botocore.retries.standard as standard

    monkeypatch.setattr(standard.RetryPolicy, "compute_retry_delay", lambda self, context: 0)
