"""Cold start: how long importing each handler module takes in a fresh process, next to ``import boto3``.

Each import runs in a new interpreter, several times, interleaved; the median counts.
Bytecode is compiled once beforehand into a private cache (``PYTHONPYCACHEPREFIX``), so
no run pays for compiling. The environment is the deployed functions': Lambda's
variables (so the Tracer is active and patches botocore, as with ``Tracing: Active``)
and the template's Powertools settings.

Only what the Lambda package ships can be imported: a finder refuses the top-level
modules of distributions outside the dependency closure of ``functions/requirements.txt``
(this venv also holds moto, SAM CLI, awscrt, pyOpenSSL ..., which botocore would pick
up if present and which Lambda does not have). The same runs in the full dev venv are
reported beside, for reference.

Import time is not all of a cold start: what a handler defers to its first invocation
is paid there (and, unlike module-level work, is not covered by provisioned
concurrency or SnapStart, nor done during Lambda's init phase). So the deploy handler
is also run in a fresh process against the server: its import, its first invocation
and a warm one, each a push to one target (``first_invocation``; this module is the
child there: ``python -m bench.coldstart``).
"""

from __future__ import annotations

import json
import os
import pkgutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from typing import Any

from bench import FUNCTIONS, FUNCTIONS_PATH, lambda_package

BASELINE = "boto3"

# What a deployed handler needs by its first response; one its import leaves out is paid then.
HEAVY = ("boto3", "pydantic", "aws_lambda_powertools.utilities.parser", "aws_xray_sdk")

# Runs in the fresh interpreter: refuse modules outside the package, then time one import.
_CHILD = """
import json, sys, time
from bench.lambda_package import refuse_from_environment
refuse_from_environment()
started = time.perf_counter()
__import__(sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "loaded": {m: m in sys.modules for m in sys.argv[2].split(",")}}))
"""


def handler_modules() -> list[str]:
    """Every module of ``slipway.handlers`` (each one a Lambda entry point)."""
    import slipway.handlers

    found = pkgutil.iter_modules(slipway.handlers.__path__)
    return sorted(f"slipway.handlers.{m.name}" for m in found if not m.name.startswith("_"))


def lambda_environment(cache: str, refused: list[str], base: dict[str, str] | None = None) -> dict[str, str]:
    """The deployed functions' environment; bytecode cached in ``cache``; ``refused`` not importable."""
    unwanted = ("PYTHONDONTWRITEBYTECODE", "POWERTOOLS_TRACE_DISABLED")
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in unwanted}
    env.update(
        PYTHONPATH=FUNCTIONS_PATH,
        PYTHONPYCACHEPREFIX=cache,
        **{lambda_package.ENV: ",".join(refused)},
        LAMBDA_TASK_ROOT=str(FUNCTIONS),
        AWS_LAMBDA_FUNCTION_NAME="slipway-deploy",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.13",
        AWS_REGION=os.environ.get("AWS_REGION", "eu-west-1"),
        POWERTOOLS_SERVICE_NAME="slipway",
        POWERTOOLS_METRICS_NAMESPACE="Slipway",
        POWERTOOLS_LOG_LEVEL="INFO",
    )
    return env


def _import(module: str, env: dict[str, str]) -> dict[str, Any]:
    """Seconds the import took, and which of HEAVY it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, module, ",".join(HEAVY)],
        env=env,
        cwd=tempfile.gettempdir(),  # nothing of the repository's root on sys.path
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def import_breakdown(module: str, env: dict[str, str]) -> dict[str, float]:
    """Milliseconds of ``-X importtime`` self time per top-level package (one run)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _CHILD, module, ",".join(HEAVY)],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        if not parts[0].strip().isdigit():
            continue  # the header line
        totals[parts[2].strip().partition(".")[0]] += int(parts[0]) / 1000
    return dict(totals)


def _least_breakdown(module: str, env: dict[str, str], runs: int) -> dict[str, float]:
    """Per package, the least self time over ``runs`` runs (single runs are noisy)."""
    least: dict[str, float] = {}
    for _ in range(runs):
        for package, ms in import_breakdown(module, env).items():
            least[package] = min(ms, least.get(package, ms))
    return least


def measure(runs: int, breakdown_runs: int = 3) -> dict[str, Any]:
    """Median import seconds per module and ratio to ``import boto3``, Lambda package and dev venv."""
    modules = [BASELINE, *handler_modules()]
    refused = lambda_package.outside()
    results: dict[str, Any] = {"runs": runs, "modules": modules, "refused_top_level_modules": len(refused)}
    with tempfile.TemporaryDirectory(prefix="slipway-bench-pyc-") as cache:
        for label, env in (
            ("lambda_package", lambda_environment(cache, refused)),
            ("dev_venv", lambda_environment(cache, [])),
        ):
            loaded = {module: _import(module, env)["loaded"] for module in modules}  # also compiles; not timed
            samples: dict[str, list[float]] = {m: [] for m in modules}
            for _ in range(runs):
                for module in modules:  # interleaved, so a slow moment hits every module alike
                    samples[module].append(_import(module, env)["seconds"])
            medians = {m: statistics.median(s) for m, s in samples.items()}
            results[label] = {
                "median_seconds": medians,
                "samples": samples,
                "ratio_to_boto3": {m: medians[m] / medians[BASELINE] for m in modules if m != BASELINE},
                "deferred": {m: [h for h, present in loaded[m].items() if not present] for m in modules[1:]},
            }
        env = lambda_environment(cache, refused)
        baseline = _least_breakdown(BASELINE, env, breakdown_runs)
        beyond: dict[str, dict[str, float]] = {}
        for module in modules[1:]:
            extra = {
                package: ms - baseline.get(package, 0.0)
                for package, ms in _least_breakdown(module, env, breakdown_runs).items()
            }
            top = sorted(((p, ms) for p, ms in extra.items() if ms >= 1.0), key=lambda kv: -kv[1])[:8]
            beyond[module] = {p: round(ms, 1) for p, ms in top}
        results["self_ms_beyond_boto3_by_package"] = beyond
    return results


def first_invocation(server: Any, world: Any, runs: int) -> dict[str, Any]:
    """Median import, first-invocation and warm-invocation milliseconds of the deploy handler."""
    from bench import fleet as fleets
    from bench.variants import unthrottled_environment

    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="slipway-bench-pyc-") as cache:
        env = lambda_environment(cache, lambda_package.outside(), base=server.environment())
        env.update(
            # X-Ray as in Lambda: a trace header, the daemon's UDP address (nobody listens; UDP does not care)
            _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
            AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
        )
        for run in range(runs + 1):  # the first run compiles the bytecode and is not counted
            server.reset()
            stack = world.deploy_stack(chat_subscriber=False)
            events = []
            for n in range(3):
                fleet = fleets.plan_fleet(1, f"cold{n}", f"cold-{n}")
                fleets.build(world, fleet)
                events.append(world.push_event(fleet.repository, fleets.new_digest(), fleets.NEW_TAG))
            done = subprocess.run(
                [sys.executable, "-m", "bench.coldstart"],
                input=json.dumps(events),
                env={**env, **unthrottled_environment(stack)},
                cwd=tempfile.gettempdir(),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"the first-invocation probe failed: {done.stderr.strip()[-1500:]}")
            if run:
                samples.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def median_ms(key: str) -> float:
        return 1000 * statistics.median(s[key] for s in samples)

    result = {
        "runs": runs,
        "samples": samples,
        "import_ms": median_ms("import"),
        "first_invocation_ms": median_ms("first"),
        "warm_invocation_ms": median_ms("warm"),
    }
    result["cold_extra_ms"] = result["import_ms"] + result["first_invocation_ms"] - result["warm_invocation_ms"]
    return result


def _first_invocation_child() -> None:
    """Import the deploy handler, then handle the pushes on stdin one by one; print the timings."""
    import contextlib
    import logging
    import time

    lambda_package.refuse_from_environment()
    events = json.load(sys.stdin)
    started = time.perf_counter()
    from slipway.handlers.deploy import handler

    imported = time.perf_counter() - started
    from bench.memory import _Context

    timings, statuses = [], []
    with open(os.devnull, "w") as devnull:
        for log_handler in logging.getLogger("slipway").handlers:
            if isinstance(log_handler, logging.StreamHandler):
                log_handler.setStream(devnull)
        with contextlib.redirect_stdout(devnull):
            for event in events:
                started = time.perf_counter()
                result = handler(event, _Context())
                timings.append(time.perf_counter() - started)
                statuses.extend(o["status"] for o in result.get("outcomes", []))
    print(json.dumps({"import": imported, "first": timings[0], "warm": min(timings[1:]), "outcomes": statuses}))


if __name__ == "__main__":
    _first_invocation_child()
