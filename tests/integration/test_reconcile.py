"""The reconcile against moto: ECR holds a push whose event never came; it is deployed once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.faults import Faults
from sandbox.stack import LambdaContext, World
from tests.integration.test_deploy import fargate_web


@pytest.fixture
def web(world: World) -> World:
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    time.sleep(1.1)  # moto stamps imagePushedAt in whole seconds: push after the revision's registration
    return world


@pytest.fixture
def real_time_app(world: World) -> Faults:
    """The App on the real clock: the reconcile compares ECR's push times with Slipway's."""
    from slipway import app

    faults = Faults()
    app.use(app.App(session=faults.session()))
    return faults


@pytest.fixture
def reconcile(real_time_app: Faults) -> Callable[[], dict[str, Any]]:
    from slipway.handlers import reconcile as handler

    return lambda: handler.handler({"source": "aws.scheduler"}, LambdaContext(function_name="slipway-reconcile"))


@pytest.fixture
def deploy(real_time_app: Faults) -> Callable[[dict[str, Any]], Any]:
    from slipway.handlers import deploy as handler

    return lambda event: handler.handler(event, LambdaContext())


def test_reconcile_finds_a_push_whose_event_never_came_and_deploys_it(
    web: World, reconcile: Callable[[], dict[str, Any]]
) -> None:
    assert reconcile()["found"] == []  # the first look notes the time
    digest = web.push_image("web", "1.1.0")  # ECR has it; its event is lost

    result = reconcile()

    assert [f["image"] for f in result["found"]] == ["web:1.1.0"]
    assert web.images("prod", "web")["app"].endswith("@" + digest)
    [note] = web.notifications()
    assert note["message"]["status"] == "DEPLOYING" and note["message"]["initiated_by"] == "reconcile"
    assert reconcile()["found"] == [], "the next look finds nothing new"
    assert web.notifications() == []


def test_reconcile_then_the_late_event_deploys_nothing_more(
    web: World, reconcile: Callable[[], dict[str, Any]], deploy: Callable[[dict[str, Any]], Any]
) -> None:
    reconcile()
    digest = web.push_image("web", "1.1.0")
    reconcile()
    web.notifications()

    result = deploy(web.push_event("web", digest, "1.1.0"))  # ECR's event, late

    assert result["received_already"] == "reconcile"
    assert web.notifications() == []
    revisions = web.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    assert len(revisions) == 2


def test_reconcile_after_the_event_deploys_nothing(
    web: World, reconcile: Callable[[], dict[str, Any]], deploy: Callable[[dict[str, Any]], Any]
) -> None:
    reconcile()
    digest = web.push_image("web", "1.1.0")
    deploy(web.push_event("web", digest, "1.1.0"))
    web.notifications()

    assert reconcile()["found"] == []
    assert web.notifications() == []
