"""``python -m bench [--quick] [--only SECTION ...] [--scenario NAME ...] [--strict]``: run, print the tables,
write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

SECTIONS = ("fanout", "whatif", "parameters", "coldstart", "memory", "burst", "throttled")
REPEATS, REPEAT_UP_TO = 3, 10  # small fan-outs take milliseconds: the median of 3 runs counts
# The size a target is judged on: Slipway and the raw loop run this many times each, in
# turn (so a slow spell of the machine falls on both), and the medians count.
JUDGED_SIZE, JUDGED_REPEATS = 100, 7
FIRST_INVOCATION_RUNS = 3

# The what-if runs' model of AWS round trips, in seconds per request by service. These are
# assumptions (typical in-region figures), not measurements; no target is judged on them.
AWS_LIKE_LATENCY = {"ecs": 0.050, "ssm": 0.025, "sns": 0.025, "dynamodb": 0.008, "*": 0.020}


@dataclass(frozen=True)
class Plan:
    """How big each measurement is: the full run, or ``--quick``."""

    sizes: tuple[int, ...]
    ecs_deploy_sample: dict[int, int]  # N -> services ecs-deploy is timed on (the rest extrapolated)
    whatif_size: int | None
    whatif_ecs_deploy_sample: int
    rules_few: int
    rules_many: int
    coldstart_runs: int
    memory_targets: int
    burst_pushes: int
    throttled: tuple[str, ...]  # the throttled scenarios run (bench.throttled.SCENARIOS by name)
    burst_workers: int = 20  # the deploy function's reserved concurrency (template.yaml)
    notes: list[str] = field(default_factory=list)


FULL = Plan(
    sizes=(1, 10, 100, 500),
    ecs_deploy_sample={1: 1, 10: 10, 100: 100, 500: 50},
    whatif_size=100,
    whatif_ecs_deploy_sample=10,
    rules_few=10,
    rules_many=1000,
    coldstart_runs=11,
    memory_targets=500,
    burst_pushes=200,
    throttled=("distinct", "shared", "large", "concurrent", "accounts"),
)
QUICK = Plan(
    sizes=(1, 10, 100),
    ecs_deploy_sample={1: 1, 10: 10, 100: 20},
    whatif_size=None,
    whatif_ecs_deploy_sample=5,
    rules_few=10,
    rules_many=200,
    coldstart_runs=3,
    memory_targets=500,
    burst_pushes=50,
    throttled=("shared",),
    notes=[
        "--quick: N=500 and the what-if are left out, ecs-deploy at N=100 is timed on 20 services; "
        "of the throttled scenarios only 'shared' runs"
    ],
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run (about 2 minutes)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=FULL.throttled,
        help="run only this throttled scenario (repeatable; implies --only throttled unless --only is given)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.scenario:
        chosen = tuple(s for s in FULL.throttled if s in args.scenario)
        plan = dataclasses.replace(plan, throttled=chosen, notes=[*plan.notes, f"throttled: {', '.join(chosen)} only"])
    sections = tuple(args.only or (("throttled",) if args.scenario else SECTIONS))

    from bench.variants import FUNCTION_ENVIRONMENT

    os.environ.update(FUNCTION_ENVIRONMENT)  # before anything imports Powertools
    # One App serves every thread of the burst, so one Metrics flushes what another added.
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    from bench import report

    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "plan": plan.__dict__, "machine": report.machine()}
    load_at_start = os.getloadavg()[0]
    results.update(run(plan, sections))
    results["seconds"] = time.perf_counter() - started
    # Another busy process on this 2-core machine slows every variant, not all alike.
    results["load_average_1min"] = {"start": load_at_start, "end": os.getloadavg()[0]}

    print_results(results)
    found = report.targets(results)
    print("\nTargets")
    print(report.targets_table(found))
    path = report.write(results, args.quick)
    print(f"\nResults (JSON): {path}")
    print(f"Took {results['seconds']:.0f} s.")
    return 1 if args.strict and any(t.passed is False for t in found) else 0


def run(plan: Plan, sections: tuple[str, ...]) -> dict[str, Any]:
    from bench.report import say
    from bench.server import MotoServer
    from sandbox.stack import World

    server = MotoServer()
    say(f"moto server on {server.start()} (its own process, pid {server.pid})")
    # "own process": the runs before the server left the benchmark's process have no such key.
    results: dict[str, Any] = {"endpoint": server.endpoint, "server": "own process"}
    try:
        world = World()
        if "fanout" in sections:
            results["fanout"] = fanout(server, world, plan.sizes, plan.ecs_deploy_sample)
        if "whatif" in sections and plan.whatif_size:
            server.set_latency(AWS_LIKE_LATENCY)
            try:
                sample = {plan.whatif_size: plan.whatif_ecs_deploy_sample}
                results["whatif"] = {
                    "latency_seconds": AWS_LIKE_LATENCY,
                    "runs": fanout(server, world, (plan.whatif_size,), sample),
                }
            finally:
                server.set_latency({})
        if "parameters" in sections:
            from bench import parameters

            say(f"parameters: a push beside {plan.rules_few} and {plan.rules_many} unrelated rules")
            results["parameters"] = parameters.measure(server, world, plan.rules_few, plan.rules_many)
        if "coldstart" in sections:
            from bench import coldstart

            say(f"cold start: import of each handler module, {plan.coldstart_runs} fresh processes each")
            results["coldstart"] = coldstart.measure(plan.coldstart_runs)
            say("cold start: the deploy handler's import, first and warm invocation in a fresh process")
            results["coldstart"]["first_invocation"] = coldstart.first_invocation(server, world, FIRST_INVOCATION_RUNS)
        if "memory" in sections:
            from bench import memory

            say(f"memory: the deploy handler in its own process, {plan.memory_targets} targets")
            results["memory"] = memory.measure(server, world, plan.memory_targets)
        if "burst" in sections:
            from bench import burst

            say(f"burst: {plan.burst_pushes} pushes, {plan.burst_workers} at a time")
            results["burst"] = burst.measure(server, world, plan.burst_pushes, plan.burst_workers)
        if "throttled" in sections:
            results["throttled"] = throttled(server, plan.throttled)
    finally:
        server.stop()
    return results


def throttled(server: Any, names: tuple[str, ...]) -> dict[str, Any]:
    from bench import throttled as runs
    from bench.report import say

    scenarios = []
    for scenario in (s for s in runs.SCENARIOS if s.name in names):
        say(f"throttled: {scenario.name}, {scenario.title}")
        started = time.perf_counter()
        result = runs.run(server, scenario)
        result["wall_seconds"] = time.perf_counter() - started
        scenarios.append(result)
    return {
        "latency_seconds": runs.LATENCY_SECONDS,
        "async_retry_delays_seconds": runs.ASYNC_DELAYS,
        "retry_visibility_seconds": runs.RETRY_VISIBILITY,
        "scenarios": scenarios,
    }


def _repeats(variant: str, size: int, latency: Any) -> int:
    if size <= REPEAT_UP_TO:
        return REPEATS
    if size == JUDGED_SIZE and not latency and variant != "ecs-deploy":
        return JUDGED_REPEATS
    return 1


def fanout(server: Any, world: Any, sizes: tuple[int, ...], samples: dict[int, int]) -> list[dict[str, Any]]:
    from bench.fanout import VARIANTS, Fanout
    from bench.report import say

    runner = Fanout(server, world)
    runs = []
    for size in sizes:
        variants = list(VARIANTS)
        if runner.ecs is None:
            say("ecs-deploy is not installed (pip install ecs-deploy): its runs are left out")
            variants.remove("ecs-deploy")
        repeats = {v: _repeats(v, size, server.latency) for v in variants}
        tries: dict[str, list[Any]] = {v: [] for v in variants}
        latency = " (AWS-like latency)" if server.latency else ""
        for round_ in range(max(repeats.values())):
            for variant in variants:
                if round_ < repeats[variant]:
                    times = f", run {round_ + 1} of {repeats[variant]}" if repeats[variant] > 1 else ""
                    say(f"fan-out{latency}: N={size} {variant}{times}")
                    tries[variant].append(runner.run(variant, size, samples.get(size)))
        for variant in variants:
            done = sorted(tries[variant], key=lambda r: r.seconds)
            median = done[len(done) // 2].as_dict()
            median["repeat_seconds"] = [t.seconds for t in tries[variant]]
            runs.append(median)
    return runs


def print_results(results: dict[str, Any]) -> None:
    from bench import report

    meta = results["machine"]
    print(
        f"\nSlipway benchmarks ({'quick' if results['quick'] else 'full'}): moto {meta['versions']['moto']} "
        f"server on 127.0.0.1 in its own process; {meta['nproc']} x {meta['cpu_model']}; Python {meta['python']}; "
        f"commit {meta['git']['commit']}{' + uncommitted changes' if meta['git']['uncommitted_files'] else ''}"
    )
    for note in results["plan"]["notes"]:
        print(note)
    load = results["load_average_1min"]["start"]
    if load > 0.5 * (meta["nproc"] or 1):
        print(f"warning: something else kept the machine busy (1-min load average {load:.1f} at the start)")
    if results.get("fanout"):
        print("\nFan-out: one push, rules covering N services (moto, no added latency)")
        print(report.fanout_table(results["fanout"]))
        _fanout_notes(results["fanout"])
    if results.get("whatif"):
        latency = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in results["whatif"]["latency_seconds"].items())
        print(f"\nWhat-if, no target judged on it: the same with an AWS-like round trip per call ({latency})")
        print(report.fanout_table(results["whatif"]["runs"]))
    _print_parameters(results.get("parameters"))
    _print_coldstart(results.get("coldstart"))
    _print_memory(results.get("memory"))
    _print_burst(results.get("burst"))
    _print_throttled(results.get("throttled"))


def _fanout_notes(runs: list[dict[str, Any]]) -> None:
    from bench.report import ecs_fit

    if any(r["extrapolated"] for r in runs):
        print("~ extrapolated: ecs-deploy timed on the 'measured' services, spread over the fleet, and scaled to N")
    fit = ecs_fit(runs)
    if fit:
        print(f"Slipway ECS calls = {fit[0]:.2f} x N + {fit[1]:.1f} (least squares over N)")
    slipway = [r for r in runs if r["variant"] == "slipway"]
    if slipway:
        largest = max(slipway, key=lambda r: r["size"])
        calls = ", ".join(f"{op} {n}" for op, n in sorted(largest["calls"].items(), key=lambda kv: -kv[1]))
        print(f"Slipway's calls at N={largest['size']}: {calls}")
    for run in runs:
        if run["size"] > REPEAT_UP_TO and len(run.get("repeat_seconds", ())) > 1:
            seconds = " ".join(f"{s:.2f}" for s in run["repeat_seconds"])
            print(f"N={run['size']} {run['variant']}: {seconds} s in the order run, the median counts")
            print(
                f"N={run['size']} {run['variant']}: the server spent {run['server_cpu_seconds']:.2f} s of CPU on its calls (median run)"
            )
        for note in run["notes"]:
            print(f"note ({run['variant']}, N={run['size']}): {note}")


def _print_parameters(parameters: dict[str, Any] | None) -> None:
    if not parameters:
        return
    print("\nParameter Store: one push from a cold App, beside unrelated rules of other repositories")
    rows = [
        [str(v["unrelated_rules"]), str(v["ssm_calls"]), str(v["all_calls"]), ",".join(v["outcomes"])]
        for v in parameters.values()
        if isinstance(v, dict)
    ]
    from bench.report import table

    print(table(["unrelated rules", "SSM calls", "all calls", "outcome"], rows, right=frozenset({0, 1, 2})))


def _print_coldstart(coldstart: dict[str, Any] | None) -> None:
    if not coldstart:
        return
    from bench.report import table

    lambda_package, dev = coldstart["lambda_package"], coldstart["dev_venv"]
    print(f"\nCold start: import in a fresh process, median of {coldstart['runs']}, Lambda environment (tracing on)")
    rows = []
    for module in coldstart["modules"]:
        ratio = lambda_package["ratio_to_boto3"].get(module)
        dev_ratio = dev["ratio_to_boto3"].get(module)
        rows.append(
            [
                module,
                f"{1000 * lambda_package['median_seconds'][module]:.0f}",
                f"{ratio:.2f}x" if ratio else "1.00x",
                f"{1000 * dev['median_seconds'][module]:.0f}",
                f"{dev_ratio:.2f}x" if dev_ratio else "1.00x",
            ]
        )
    headers = ["module", "ms (Lambda pkg)", "vs boto3", "ms (dev venv)", "vs boto3 (dev venv)"]
    print(table(headers, rows, right=frozenset({1, 2, 3, 4})))
    print("Lambda pkg: only what functions/requirements.txt pulls in is importable (no awscrt, pyOpenSSL ...).")
    print("Import self time beyond boto3's, by package (least of 3 runs of -X importtime, ms):")
    for module, packages in coldstart["self_ms_beyond_boto3_by_package"].items():
        print(f"  {module}: " + ", ".join(f"{p} {ms:.0f}" for p, ms in packages.items()))
    deferring = {m: d for m, d in lambda_package.get("deferred", {}).items() if d}
    for module, names in deferring.items():
        print(f"  {module} does not import {', '.join(names)}: its first invocation does (see below)")
    first = coldstart.get("first_invocation")
    if first:
        boto3_ms = 1000 * lambda_package["median_seconds"]["boto3"]
        print(
            f"Deploy handler in a fresh process (Lambda pkg, X-Ray on), a push to 1 target, median of {first['runs']}: "
            f"import {first['import_ms']:.0f} ms, first invocation {first['first_invocation_ms']:.0f} ms, "
            f"warm invocation {first['warm_invocation_ms']:.0f} ms; cold start beyond a warm invocation "
            f"{first['cold_extra_ms']:.0f} ms = {first['cold_extra_ms'] / boto3_ms:.1f}x import boto3 (not a target)"
        )


def _print_memory(memory: dict[str, Any] | None) -> None:
    if not memory:
        return
    print(f"\nMemory: the deploy handler in a fresh process, one push to {memory['targets']} targets")
    print(
        f"interpreter {memory['rss_at_start_mb']:.0f} MB -> after imports {memory['peak_after_imports_mb']:.0f} MB "
        f"-> peak {memory['peak_mb']:.0f} MB (VmHWM); handler's share {memory['delta_mb']:.0f} MB, "
        f"of which the invocation {memory['invocation_delta_mb']:.0f} MB; outcomes {memory['outcomes']}"
    )


def _print_burst(burst: dict[str, Any] | None) -> None:
    if not burst:
        return
    print(f"\nBurst: {burst['pushes']} pushes for {burst['pushes']} repositories, {burst['workers']} at a time")
    print(
        f"{burst['seconds']:.1f} s ({burst['pushes_per_second']:.1f} pushes/s); handled first time "
        f"{burst['handled_first_attempt']}, after a retry {burst['handled_after_retry']}, to the DLQ "
        f"{burst['dead_letter']}; notifications {burst['notifications']} {burst['notifications_by_status']} for "
        f"{burst['repositories_notified']} repositories; lost {len(burst['lost'])}; services moved "
        f"{burst['services_moved']}/{burst['pushes']}"
    )
    if burst["exceptions_by_type"]:
        print(f"exceptions: {burst['exceptions_by_type']}; e.g. {burst['exception_samples'][:2]}")


def _print_throttled(throttled: dict[str, Any] | None) -> None:
    if not throttled:
        return
    from bench import report

    delays = " and ".join(f"{d:g} s" for d in throttled["async_retry_delays_seconds"])
    print(
        "\nThrottled: ECS's token buckets in front of moto (burst, refill/s: RegisterTaskDefinition and "
        "DeregisterTaskDefinition 20, 1; Create/Update/DeleteService 50, 5; Describe/ListServices 100, 20; "
        "Describe/ListTaskDefinitions 50, 20; Describe/ListTasks 100, 20; Describe/ListServiceDeployments 50, 20), "
        f"{1000 * throttled['latency_seconds']:.0f} ms per request. Each invocation in an execution environment "
        f"of its own (a process); async retries after {delays} (Lambda: about 1 and 2 min), a failed work-queue "
        f"message visible again after {throttled['retry_visibility_seconds']} s (the queue: 720 s)."
    )
    print("time: from the push's delivery to the last UpdateService onto the new revision; limit: max over")
    print("RegisterTaskDefinition and UpdateService of (calls needed - burst) / refill rate, per account and")
    print("Region (each has its own buckets), the busiest place's; one place after another: the places' limits summed")
    print(report.throttled_table(throttled["scenarios"]))
    for run in throttled["scenarios"]:
        for line in report.throttled_notes(run):
            print(line)


if __name__ == "__main__":
    sys.exit(main())
