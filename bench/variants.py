"""Three ways to roll one pushed image out to services, as the fan-out benchmark compares them.

- Slipway: the real deploy handler, warm, in this process, every client counted by a
  ``sandbox.faults.Faults`` hook.
- ecs-deploy: fabfuel's ``ecs deploy CLUSTER SERVICE --image CONTAINER IMAGE --timeout -1``,
  one process per service, one after another, as a CI job runs it.
- raw loop: DescribeServices, DescribeTaskDefinition, RegisterTaskDefinition and
  UpdateService, one after another per service, with plain boto3.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.fleet import CONTAINER, FleetService
from sandbox.faults import Faults
from sandbox.stack import LambdaContext

# What the functions' environment sets (template.yaml Globals); tracing is off because no
# X-Ray daemon listens here.
FUNCTION_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "slipway",
    "POWERTOOLS_METRICS_NAMESPACE": "Slipway",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}

_devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

# Every section but the throttled one runs against a server with no ECS buckets. Slipway
# is told so, as an operator tells it of raised quotas (the EcsApiQuotas parameter):
# otherwise its own pacer holds it to ECS's documented rates against a server that has
# none (a push to 100 distinct revisions: 80 s at one registration a second), and those
# sections would measure the pacer instead of the work. The throttled section measures that.
UNBOUNDED = 1_000_000


def unthrottled_environment(stack: Any) -> dict[str, str]:
    """The functions' environment of ``stack`` for a server without ECS's buckets."""
    from slipway.aws.pacing import ECS_QUOTAS

    quotas = ",".join(f"{action}:{UNBOUNDED}:{UNBOUNDED}" for action in ECS_QUOTAS)
    return {**stack.environment(), "SLIPWAY_ECS_QUOTAS": quotas}


@contextlib.contextmanager
def function_output_discarded() -> Iterator[None]:
    """The functions' JSON logs and EMF metrics are written, as in Lambda, but not shown.

    Logging stays at INFO, so its cost is part of every measurement.
    """
    for handler in logging.getLogger("slipway").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_devnull)  # type: ignore[arg-type]
    with contextlib.redirect_stdout(_devnull):
        yield


class SlipwayDeploy:
    """The deploy function's handler with a fresh App (its clients counted by ``faults``)."""

    def __init__(self) -> None:
        from aws_lambda_powertools.utilities import parameters

        from slipway import app
        from slipway.handlers import deploy
        from slipway.settings import Settings, settings

        settings.cache_clear()
        parameters.clear_caches()
        self.faults = Faults()
        app.use(app.App(config=Settings.from_environ(), session=self.faults.session()))
        self._handler = deploy.handler

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with function_output_discarded():
            return self.handle(event)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke as Lambda would; the caller discards the output (threads: around the whole pool)."""
        return dict(self._handler(event, LambdaContext()))


def ecs_command() -> str | None:
    """The ``ecs`` command of PyPI's ecs-deploy, beside this Python or on PATH."""
    beside = Path(sys.executable).parent / "ecs"
    return str(beside) if beside.exists() else shutil.which("ecs")


def ecs_deploy(command: str, service: FleetService, image: str, environment: dict[str, str]) -> None:
    """One CI step: ``ecs deploy`` of one service, fire and forget (``--timeout -1``)."""
    argv = [command, "deploy", service.cluster, service.name, "--image", CONTAINER, image, "--timeout", "-1"]
    done = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ecs deploy {service.cluster} {service.name} failed: {done.stderr.strip()[-500:]}")


class RawLoop:
    """The least a script can do per service: four ECS calls, one after another."""

    def __init__(self) -> None:
        self.faults = Faults()
        self._ecs = self.faults.session().client("ecs")
        shape = self._ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape
        self._register_fields = frozenset(shape.members)

    def __call__(self, services: Sequence[FleetService], image: str) -> None:
        for service in services:
            described = self._ecs.describe_services(cluster=service.cluster, services=[service.name])
            current = described["services"][0]["taskDefinition"]
            body = self._ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
            request = {k: v for k, v in body.items() if k in self._register_fields}
            for container in request["containerDefinitions"]:
                if container["name"] == CONTAINER:
                    container["image"] = image
            registered = self._ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
            self._ecs.update_service(cluster=service.cluster, service=service.name, taskDefinition=registered)
