"""Integration fixtures: the real handlers against moto, resources built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from sandbox.accounts import AccountWorld
from sandbox.deployments import Deployments
from sandbox.faults import Faults
from sandbox.image_checks import ImageChecks
from sandbox.runtime import Runtime
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


class Clock:
    """A clock tests move forward instead of sleeping.

    It starts a day back, so what it stamps sorts before anything stamped with the
    real time (the CLI, run in-process, uses the real clock).
    """

    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(days=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def faults(world: World, clock: Clock) -> Faults:
    """Every Slipway client goes through this hook: it counts calls and injects faults."""
    from slipway import app

    hook = Faults()
    app.use(app.App(session=hook.session(), clock=clock))
    return hook


@pytest.fixture
def images(faults: Faults) -> ImageChecks:
    """ECR's scan findings and signing status of each digest, as the test sets them (moto has neither)."""
    return faults.images


@pytest.fixture
def deploy(faults: Faults) -> Any:
    """Invoke the real deploy handler with an event, as Lambda would."""
    from slipway.handlers import deploy as handler

    def invoke(event: dict[str, Any]) -> Any:
        return handler.handler(event, LambdaContext())

    return invoke


@pytest.fixture
def track(faults: Faults) -> Any:
    """Invoke the real track handler with an ECS deployment event."""
    from slipway.handlers import track as handler

    return lambda event: handler.handler(event, LambdaContext(function_name="slipway-track"))


@pytest.fixture
def sweep(faults: Faults) -> Any:
    """Invoke the real sweep handler, as its schedule would."""
    from slipway.handlers import sweep as handler

    scheduled = {
        "version": "0",
        "id": "sweep",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "detail": {},
    }
    return lambda: handler.handler(scheduled, LambdaContext(function_name="slipway-sweep"))


@pytest.fixture
def ecs_life(world: World) -> Deployments:
    """Moves moto's ECS deployments as ECS would, returning the events it would send."""
    return Deployments(world.account, world.region)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retry logic but skip its sleeps (Slipway's and botocore's), so retry tests stay fast."""
    import botocore.retries.standard as standard

    from slipway.aws import calls

    monkeypatch.setattr(standard.RetryPolicy, "compute_retry_delay", lambda self, context: 0)
    monkeypatch.setattr(calls, "backoff_delay", lambda attempt, throttled: 0.001)


@pytest.fixture
def runtime(world: World, faults: Faults) -> Runtime:
    """The deploy handler run as Lambda runs it: deadlines, retries, and the work queue as an event source."""
    from slipway.handlers import deploy as handler

    return Runtime(world, handler.handler)


# -- other accounts and Regions: Slipway's account is the hub, these the targets it reaches --
STAGING_ACCOUNT, STAGING_REGION = "222233334444", "eu-west-1"
PRODUCTION_ACCOUNT, PRODUCTION_REGION = "333344445555", "eu-west-2"


@pytest.fixture
def target_accounts(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """Slipway may deploy to the staging and production accounts' clusters.

    Request it (or ``staging``, ``production``) before ``faults``, ``deploy`` or ``track``:
    Slipway reads its settings when its App is made.
    """
    accounts = (STAGING_ACCOUNT, PRODUCTION_ACCOUNT)
    clusters = ["*", *(f"arn:aws:ecs:*:{account}:cluster/*" for account in accounts)]
    monkeypatch.setenv("SLIPWAY_TARGET_ACCOUNTS", ",".join(accounts))
    monkeypatch.setenv("SLIPWAY_ALLOWED_CLUSTERS", ",".join(clusters))
    return accounts


def target_account(world: World, account: str, region: str) -> AccountWorld:
    """An account Slipway reaches: its target role, and its events forwarded to Slipway's bus."""
    target = world.account_world(account, region)
    target.create_target_role()
    target.forward_events()
    return target


@pytest.fixture
def staging(world: World, target_accounts: tuple[str, ...]) -> AccountWorld:
    """Account 222233334444 in eu-west-1, a target of Slipway's."""
    return target_account(world, STAGING_ACCOUNT, STAGING_REGION)


@pytest.fixture
def production(world: World, target_accounts: tuple[str, ...]) -> AccountWorld:
    """Account 333344445555 in eu-west-2, a target of Slipway's."""
    return target_account(world, PRODUCTION_ACCOUNT, PRODUCTION_REGION)
