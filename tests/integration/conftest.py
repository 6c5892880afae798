"""Integration fixtures: the real handlers against moto, resources built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from sandbox.stack import LambdaContext, World, apply_environment


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        w = World()
        stack = w.deploy_stack()
        for key, value in stack.environment().items():
            monkeypatch.setenv(key, value)
        yield w


@pytest.fixture
def deploy(world: World) -> Any:
    """Invoke the real deploy handler with an event, as Lambda would."""
    from slipway.handlers import deploy as handler

    def invoke(event: dict[str, Any]) -> Any:
        return handler.handler(event, LambdaContext())

    return invoke


__all__ = ["apply_environment"]
