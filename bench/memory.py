"""Peak memory of the deploy handler rolling one push out to 500 targets, in its own process.

The parent builds the fleet on the moto server and starts a fresh interpreter that
imports only the handler (as Lambda does; only what the Lambda package ships is
importable, see ``bench.lambda_package``), invokes it once with the push, and reports
its resident set: at start, after the imports, and at its peak (``VmHWM``).
The child is this module: ``python -m bench.memory`` reads the event on stdin.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status, in MiB.

    ``VmHWM`` is the peak resident set of this process's own memory. ``ru_maxrss`` is
    not used: after fork and exec it still reports the parent's size (the bench process's)
    until the child outgrows it.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_mb() -> float:
    return _status_mb("VmHWM")


def _current_mb() -> float:
    return _status_mb("VmRSS")


class _Context:
    """The parts of a Lambda context the handler reads (sandbox.stack's would import cfn-lint)."""

    function_name = "slipway-deploy"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:slipway-deploy"
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/slipway-deploy"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def child() -> None:
    """Import the deploy handler, invoke it once with the event on stdin, print the memory used."""
    at_start = _peak_mb()
    from bench.lambda_package import refuse_from_environment

    refuse_from_environment()
    event = json.load(sys.stdin)
    from slipway.handlers.deploy import handler

    after_import = _peak_mb()
    before_invocation = _current_mb()
    with open(os.devnull, "w") as devnull:
        import logging

        for log_handler in logging.getLogger("slipway").handlers:
            if isinstance(log_handler, logging.StreamHandler):
                log_handler.setStream(devnull)
        with contextlib.redirect_stdout(devnull):
            result = handler(event, _Context())
    statuses = Counter(o["status"] for o in result.get("outcomes", []))
    report = {
        "rss_at_start_mb": at_start,
        "peak_after_imports_mb": after_import,
        "rss_before_invocation_mb": before_invocation,
        "peak_mb": _peak_mb(),
        "outcomes": dict(statuses),
    }
    print(json.dumps(report))


def measure(server: Any, world: Any, size: int) -> dict[str, Any]:
    """Build a fleet of ``size`` on a fresh account and run the child against it."""
    from bench import FUNCTIONS_PATH, ROOT, lambda_package
    from bench import fleet as fleets
    from bench.variants import FUNCTION_ENVIRONMENT, unthrottled_environment

    server.reset()
    stack = world.deploy_stack(chat_subscriber=False)
    fleet = fleets.plan_fleet(size, "mem", "memory")
    fleets.build(world, fleet)
    event = world.push_event(fleet.repository, fleets.new_digest(), fleets.NEW_TAG)
    env = {**server.environment(), **unthrottled_environment(stack), **FUNCTION_ENVIRONMENT}
    env["PYTHONPATH"] = FUNCTIONS_PATH
    env[lambda_package.ENV] = ",".join(lambda_package.outside())
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory"],
        input=json.dumps(event),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the memory probe failed: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["targets"] = size
    result["delta_mb"] = result["peak_mb"] - result["rss_at_start_mb"]
    result["invocation_delta_mb"] = result["peak_mb"] - result["peak_after_imports_mb"]
    return result


if __name__ == "__main__":
    child()
