"""The benchmark's tables, its targets (PASS/FAIL) and the JSON it leaves in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import ROOT

RESULTS = ROOT / "bench" / "results"
DISTRIBUTIONS = ("moto", "boto3", "botocore", "aws-lambda-powertools", "pydantic", "ecs-deploy")


@dataclass
class Target:
    """One target of the issue, and whether this run met it (None: not measured in this run)."""

    name: str
    requirement: str
    measured: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "FAIL")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {d: version(d) for d in DISTRIBUTIONS},
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout

    changed = [line[3:] for line in run("status", "--porcelain").splitlines() if line.strip()]
    return {"commit": run("rev-parse", "--short", "HEAD").strip(), "uncommitted_files": changed}


def table(headers: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """Columns separated by two spaces, left-aligned except the ``right`` ones (numbers)."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = zip(cells, widths, strict=True)
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(padded)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)])


def fanout_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for run in runs:
        by_size.setdefault(run["size"], {})[run["variant"]] = run
    for size in sorted(by_size):
        slipway = by_size[size].get("slipway")
        for variant, run in by_size[size].items():
            seconds = run["estimated_seconds"]
            ratio = f"{seconds / slipway['seconds']:.1f}x" if slipway and variant != "slipway" else "-"
            measured = str(run["measured"]) if not run["extrapolated"] else f"{run['measured']} of {size}"
            rows.append(
                [
                    str(size) if variant == next(iter(by_size[size])) else "",
                    variant,
                    f"{'~' if run['extrapolated'] else ''}{seconds:.2f}",
                    f"{1000 * run['seconds'] / run['measured']:.1f}",
                    measured,
                    f"{run['ecs_calls_per_target']:.2f}",
                    f"{run['aws_calls_per_target']:.2f}",
                    str(run["ssm_calls_per_push"]) if variant == "slipway" else "-",
                    f"{run['moved']}/{run['measured']}",
                    ratio,
                ]
            )
    headers = ["N", "variant", "wall s", "ms/target", "measured", "ECS/target", "AWS/target", "SSM/push"]
    return table([*headers, "moved", "time vs Slipway"], rows, right=frozenset({0, 2, 3, 4, 5, 6, 7, 8, 9}))


def targets(results: dict[str, Any]) -> list[Target]:
    """The issue's targets, judged on this run's results."""
    found = [
        *_speed_targets(results.get("fanout") or []),
        _ecs_calls_target(results.get("fanout") or []),
        _ssm_target(results.get("parameters")),
    ]
    found.extend(_coldstart_targets(results.get("coldstart")))
    found.extend([_memory_target(results.get("memory")), _burst_target(results.get("burst"))])
    return found


def _at(runs: list[dict[str, Any]], size: int, variant: str) -> dict[str, Any] | None:
    return next((r for r in runs if r["size"] == size and r["variant"] == variant), None)


def _speed_targets(runs: list[dict[str, Any]]) -> list[Target]:
    slipway, cli, raw = (_at(runs, 100, v) for v in ("slipway", "ecs-deploy", "raw-loop"))
    if slipway is None:
        return [
            Target("fan-out vs ecs-deploy", "N=100: Slipway >= 20x faster than the ecs-deploy loop", "not run", None),
            Target("fan-out vs raw loop", "N=100: Slipway faster than the raw boto3 loop", "not run", None),
        ]
    found = []
    if cli:
        ratio = cli["estimated_seconds"] / slipway["seconds"]
        how = " (ecs-deploy extrapolated)" if cli["extrapolated"] else ""
        found.append(
            Target(
                "fan-out vs ecs-deploy",
                "N=100: Slipway >= 20x faster than the ecs-deploy loop",
                f"{ratio:.1f}x ({cli['estimated_seconds']:.1f} s vs {slipway['seconds']:.2f} s){how}",
                ratio >= 20,
            )
        )
    if raw:
        ratio = raw["seconds"] / slipway["seconds"]
        found.append(
            Target(
                "fan-out vs raw loop",
                "N=100: Slipway faster than the raw boto3 loop",
                f"{ratio:.2f}x ({raw['seconds']:.2f} s vs {slipway['seconds']:.2f} s)",
                ratio > 1,
            )
        )
    return found


def ecs_fit(runs: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Least-squares ECS calls = a * N + b over Slipway's runs (a: per target, b: per push)."""
    points = [(r["size"], r["calls_ecs"]) for r in runs if r["variant"] == "slipway"]
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return slope, mean_y - slope * mean_x


def _ecs_calls_target(runs: list[dict[str, Any]]) -> Target:
    requirement = "at most 4 ECS calls per target plus a constant per push"
    fit = ecs_fit(runs)
    if fit is None:
        return Target("ECS calls", requirement, "not run", None)
    slope, intercept = fit
    worst = max((r["ecs_calls_per_target"] for r in runs if r["variant"] == "slipway"), default=0.0)
    measured = f"{slope:.2f} per target + {intercept:.1f} per push (fit over N); worst N: {worst:.2f} per target"
    return Target("ECS calls", requirement, measured, slope <= 4.0)


def _ssm_target(parameters: dict[str, Any] | None) -> Target:
    requirement = "SSM calls per push independent of the number of rules"
    if not parameters:
        return Target("SSM calls", requirement, "not run", None)
    counts = [v for k, v in parameters.items() if isinstance(v, dict)]
    measured = ", ".join(f"{c['ssm_calls']} with {c['unrelated_rules']} unrelated rules" for c in counts)
    return Target("SSM calls", requirement, measured, bool(parameters["independent"]))


def _coldstart_targets(coldstart: dict[str, Any] | None) -> list[Target]:
    if not coldstart:
        return [Target("cold start", "handler import <= 1.6x import boto3", "not run", None)]
    ratios = coldstart["lambda_package"]["ratio_to_boto3"]
    deferred = coldstart["lambda_package"].get("deferred", {})
    found = []
    for module, ratio in ratios.items():
        measured = f"{ratio:.3f}x"
        if deferred.get(module):
            measured += f"; leaves {', '.join(deferred[module])} to the first invocation"
        found.append(
            Target(f"cold start {module.rsplit('.', 1)[-1]}", "import <= 1.6x import boto3", measured, ratio <= 1.6)
        )
    return found


def _memory_target(memory: dict[str, Any] | None) -> Target:
    requirement = "deploy handler at 500 targets < 128 MB"
    if not memory:
        return Target("memory", requirement, "not run", None)
    measured = (
        f"{memory['delta_mb']:.0f} MB over the bare interpreter (peak RSS {memory['peak_mb']:.0f} MB, "
        f"{memory['targets']} targets)"
    )
    return Target("memory", requirement, measured, memory["delta_mb"] < 128 and memory["targets"] >= 500)


def _burst_target(burst: dict[str, Any] | None) -> Target:
    requirement = "burst: every push ends in a notification or the DLQ"
    if not burst:
        return Target("burst", requirement, "not run", None)
    measured = (
        f"{burst['pushes']} pushes: {burst['repositories_notified']} notified, {burst['dead_letter']} to DLQ, "
        f"{len(burst['lost'])} lost"
    )
    return Target("burst", requirement, measured, not burst["lost"])


def targets_table(found: list[Target]) -> str:
    rows = [[t.verdict, t.name, t.requirement, t.measured] for t in found]
    return table(["", "target", "requirement", "measured"], rows)


def write(results: dict[str, Any], quick: bool) -> Path:
    """Write the results as JSON under bench/results/ (git-ignored); returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"bench-{stamp}{'-quick' if quick else ''}.json"
    results = {**results, "targets": [asdict(t) | {"verdict": t.verdict} for t in targets(results)]}
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def say(message: str) -> None:
    """Progress, on stderr: stdout carries the tables."""
    print(message, file=sys.stderr, flush=True)
