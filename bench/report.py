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
    found.extend(throttled_targets(results.get("throttled")))
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


def throttled_targets(throttled: dict[str, Any] | None) -> list[Target]:
    """Per throttled scenario: every service rolled out, the time against the buckets' limit, its own checks."""
    if not throttled:
        return [Target("throttled", "pushes through ECS's token buckets (five scenarios)", "not run", None)]
    found = []
    for run in throttled["scenarios"]:
        name, n = f"throttled {run['scenario']}", run["services"]
        rolled = sum(p["rolled_out"] for p in run["pushes"])
        found.append(
            Target(f"{name}: rolled out", f"all {n} services on the new revision", f"{rolled} of {n}", rolled == n)
        )
        ratio = run["ratio"]
        measured = (
            f"{ratio:.2f}x ({run['seconds']:.1f} s vs {run['limit_seconds']:.1f} s)"
            if ratio is not None
            else "never finished"
        )
        limit = f"<= {run['max_ratio']:.2f}x the buckets' limit ({run['limit_seconds']:.0f} s)"
        if len(run.get("places", {})) > 1:
            limit = (
                f"<= {run['max_ratio']:.2f}x the per-account limit ({run['limit_seconds']:.0f} s; "
                f"one account after another {run['sequential_seconds']:.0f} s)"
            )
            if run["ratio_to_sequential"] is not None:
                measured += f"; {run['ratio_to_sequential']:.2f}x one after another"
        found.append(Target(f"{name}: time", limit, measured, ratio is not None and ratio <= run["max_ratio"]))
        found.extend(_check(run, check) for check in run["checks"])
    return found


def _check(run: dict[str, Any], check: str) -> Target:
    name, pushes = f"throttled {run['scenario']}", run["pushes"]
    if check == "one_deploying_each":
        once = sum(p["deploying_once"] for p in pushes)
        sent = sum(p["deploying"] for p in pushes)
        measured = f"{once} of {run['services']} services had exactly one ({sent} sent)"
        return Target(f"{name}: DEPLOYING", "exactly one DEPLOYING per service", measured, once == run["services"])
    if check == "none_twice":
        twice = sum(p["updated_twice"] + p["deploying_twice"] for p in pushes)
        updated = sum(p["updated_twice"] for p in pushes)
        announced = sum(p["deploying_twice"] for p in pushes)
        measured = f"{updated} updated twice, {announced} announced twice"
        return Target(f"{name}: none twice", "no service updated or announced twice", measured, twice == 0)
    if check == "none_lost":
        lost = sum(1 for p in pushes if p["lost"])
        measured = f"{lost} lost, {run['dead_letters']} in the DLQ"
        return Target(f"{name}: nothing lost", "every push rolled out or in the DLQ", measured, lost == 0)
    if check == "each_place":
        return _each_place(run)
    finished = [p for p in pushes if p["rolled_out"] == p["services"]]
    times = ", ".join(f"{p['finished_after']:.1f} s" if p["finished_after"] else "never" for p in pushes)
    measured = f"{len(finished)} of {len(pushes)} finished ({times})"
    return Target(f"{name}: none starves", "every push finishes", measured, len(finished) == len(pushes))


def _each_place(run: dict[str, Any]) -> Target:
    """Every place done within the scenario's ratio of its own limit: none waited for another's buckets."""
    name, most = f"throttled {run['scenario']}", run["max_ratio"]
    within, parts = 0, []
    for place, share in run["places"].items():
        done, limit = share["finished_after"], share["limit_seconds"]
        ratio = done / limit if done is not None and limit else None
        within += ratio is not None and ratio <= most
        parts.append(f"{place} {done:.1f} s" if done is not None else f"{place} never")
    requirement = f"each account done within {most:.2f}x its own limit"
    measured = f"{within} of {len(run['places'])}: " + ", ".join(parts)
    return Target(f"{name}: side by side", requirement, measured, within == len(run["places"]))


def throttled_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        rolled = sum(p["rolled_out"] for p in run["pushes"])
        lost = sum(1 for p in run["pushes"] if p["lost"])
        throttled = run["throttled"]
        others = sum(n for a, n in throttled.items() if a not in ("RegisterTaskDefinition", "UpdateService"))
        rows.append(
            [
                run["scenario"],
                str(run["services"]),
                str(run["registrations_needed"]),
                f"{rolled}/{run['services']}",
                f"{run['seconds']:.1f}" if run["seconds"] is not None else "-",
                f"{run['limit_seconds']:.1f}",
                f"{run['ratio']:.2f}x" if run["ratio"] is not None else "-",
                _sequential(run),
                f"<= {run['max_ratio']:.2f}x",
                str(run["invocations"]),
                str(sum(p["deploying"] for p in run["pushes"])),
                str(lost),
                f"{throttled.get('RegisterTaskDefinition', 0)}/{throttled.get('UpdateService', 0)}/{others}",
            ]
        )
    headers = ["scenario", "services", "revisions", "rolled out", "time s", "limit s", "vs limit"]
    headers += ["vs one place after another", "target", "invocations", "DEPLOYING", "lost", "throttled R/U/other"]
    return table(headers, rows, right=frozenset(range(1, 13)) - {8})


def _sequential(run: dict[str, Any]) -> str:
    """The time over the places' limits one after another ("-" for a scenario in one place)."""
    if len(run.get("places", {})) <= 1:
        return "-"
    ratio = run["ratio_to_sequential"]
    return f"{ratio:.2f}x of {run['sequential_seconds']:.0f} s" if ratio is not None else "-"


def throttled_notes(run: dict[str, Any]) -> list[str]:
    """A scenario's setup, its buckets' use and its invocations, one line each."""
    lines = [f"\n{run['scenario']}: {run['title']}"]
    if run["scale"] != 1:
        lines.append(
            f"  refill rates x{run['scale']} and the function's timeout {run['timeout_seconds']:g} s instead of "
            f"{run['timeout_seconds'] * run['scale']:g} s (both scaled by {run['scale']}); "
            f"SLIPWAY_ECS_QUOTAS={run['quotas_env']}"
        )
    if not run["settled"]:
        lines.append("  did not settle: invocations or work-queue messages were still pending when it was given up")
    if len(run.get("places", {})) > 1:
        lines.extend(_places_notes(run))
    else:
        lines.extend(_bucket_lines(run["buckets"], "  "))
    for push in run["pushes"]:
        finished = _after(push["finished_after"])
        lines.append(
            f"  push {push['repository']}: {push['rolled_out']}/{push['services']} rolled out, last update after "
            f"{finished}; DEPLOYING {push['deploying']} ({push['deploying_twice']} services twice); "
            f"updated twice {push['updated_twice']}; in the DLQ {push['in_dead_letters']}"
        )
    lines.append(
        f"  {run['invocations']} invocations in {run['environments']} environments ({run['cold_starts']} cold), "
        f"{run['failed_invocations']} failed:"
    )
    lines.extend("    " + _invocation_line(row) for row in run["timeline"])
    return lines


def _after(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "never"


def _places_notes(run: dict[str, Any]) -> list[str]:
    """A scenario in several places: the per-place limit, the sequential one, and each place's share."""
    lines = [
        f"  each account and Region its own buckets: limit {run['limit_seconds']:.1f} s (the busiest place's), "
        f"the places one after another {run['sequential_seconds']:.1f} s, all of it in one place's buckets "
        f"{run['one_place_seconds']:.1f} s; last DEPLOYING accepted after {_after(run['last_deploying_after'])}"
    ]
    for place, share in run["places"].items():
        throttled = ", ".join(f"{a} {n}" for a, n in sorted(share["throttled"].items())) or "none"
        lines.append(
            f"  {place}: {share['registrations_needed']} registrations, {share['updates_needed']} updates, limit "
            f"{share['limit_seconds']:.1f} s; first registration after {_after(share['first_registration_after'])}, "
            f"last update {_after(share['finished_after'])}, last DEPLOYING {_after(share['last_deploying_after'])}; "
            f"throttled {throttled}"
        )
        lines.extend(_bucket_lines(share["buckets"], "    "))
    return lines


def _bucket_lines(buckets: dict[str, Any], indent: str) -> list[str]:
    """One line per write action: calls needed, rate beyond the burst, refill lost (for the action that binds)."""
    lines = []
    binding = max(buckets, key=lambda action: buckets[action]["bound_seconds"])
    for action, use in buckets.items():
        achieved = f"{use['achieved_rate']:.2f}/s beyond the burst" if use["achieved_rate"] else "all within the burst"
        line = (
            f"{indent}{action}: {use['needed']} needed, ({use['needed']} - {use['burst']}) / {use['rate']:g} = "
            f"{use['bound_seconds']:.1f} s; {achieved}"
        )
        if action == binding:
            phases = use["unused_by_phase"]
            line += (
                f"; {use['unused_tokens']:.1f} tokens came while the bucket was full "
                f"(= {use['unused_seconds']:.1f} s of refill lost; this action sets the limit): "
                f"{phases['before_first_call']:.1f} before the first call, {phases['between_invocations']:.1f} "
                f"while no invocation ran, {phases['during_invocations']:.1f} during invocations"
            )
        lines.append(line)
    return lines


def _invocation_line(row: dict[str, Any]) -> str:
    throttled = ", ".join(f"{a} {n}" for a, n in sorted(row["throttled"].items())) or "none"
    line = (
        f"{row['id']} {row['source']}#{row['attempt']} {row['environment']}{' (cold)' if row['cold'] else ''}: "
        f"{row['start']:6.1f} -> {row['end']:6.1f} s; registered {row['registered']}, updated {row['updated']}, "
        f"DEPLOYING {row['deploying']}, handed on {row['handed_on']}; throttled {throttled}"
    )
    if row["batch_item_failures"]:
        line += f"; batch item failures {row['batch_item_failures']}"
    return line + (f"; error {row['error']}" if row["error"] else "")


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
