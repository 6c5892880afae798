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
"""

from __future__ import annotations

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

# Runs in the fresh interpreter: refuse modules outside the package, then time one import.
_CHILD = """
import sys, time
from bench.lambda_package import refuse_from_environment
refuse_from_environment()
started = time.perf_counter()
__import__(sys.argv[1])
print(time.perf_counter() - started)
"""


def handler_modules() -> list[str]:
    """Every module of ``slipway.handlers`` (each one a Lambda entry point)."""
    import slipway.handlers

    found = pkgutil.iter_modules(slipway.handlers.__path__)
    return sorted(f"slipway.handlers.{m.name}" for m in found if not m.name.startswith("_"))


def lambda_environment(cache: str, refused: list[str]) -> dict[str, str]:
    """The deployed functions' environment; bytecode cached in ``cache``; ``refused`` not importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "POWERTOOLS_TRACE_DISABLED")}
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


def _import_seconds(module: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, module],
        env=env,
        cwd=tempfile.gettempdir(),  # nothing of the repository's root on sys.path
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {done.stderr.strip()[-800:]}")
    return float(done.stdout.strip().splitlines()[-1])


def import_breakdown(module: str, env: dict[str, str]) -> dict[str, float]:
    """Milliseconds of ``-X importtime`` self time per top-level package (one run)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _CHILD, module],
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
            for module in modules:
                _import_seconds(module, env)  # compiles into the private cache; not timed
            samples: dict[str, list[float]] = {m: [] for m in modules}
            for _ in range(runs):
                for module in modules:  # interleaved, so a slow moment hits every module alike
                    samples[module].append(_import_seconds(module, env))
            medians = {m: statistics.median(s) for m, s in samples.items()}
            results[label] = {
                "median_seconds": medians,
                "samples": samples,
                "ratio_to_boto3": {m: medians[m] / medians[BASELINE] for m in modules if m != BASELINE},
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
