"""Parameter Store calls per push: do they stay the same however many rules other repositories have?

The deploy function reads one repository's rules with one ``GetParametersByPath`` walk of
that repository's own path (non-recursive), so rules elsewhere should cost nothing. The
benchmark pushes twice, each time from a cold App (nothing cached) and to a repository
with one rule and one service of its own: first beside ``few`` rules of other
repositories, then beside ``many``.
"""

from __future__ import annotations

import os
from typing import Any

from bench import fleet as fleets
from bench.variants import SlipwayDeploy


def _unrelated_rules(world: Any, start: int, stop: int) -> None:
    for i in range(start, stop):
        rule = {"targets": [{"cluster": "elsewhere", "service": f"svc-{i:04d}"}], "tags": ["*"]}
        world.put_rule(f"other-{i:04d}", "prod", rule)


def measure(server: Any, world: Any, few: int, many: int) -> dict[str, Any]:
    """SSM calls (and all calls) of one push beside ``few`` and then ``many`` unrelated rules."""
    from bench.variants import unthrottled_environment

    server.reset()
    os.environ.update(unthrottled_environment(world.deploy_stack(chat_subscriber=False)))
    probes = [fleets.plan_fleet(1, f"ssm{round_}", f"probe-{round_}") for round_ in (1, 2)]
    for probe in probes:
        fleets.build(world, probe)
    results: dict[str, Any] = {}
    present = 0
    for probe, count in zip(probes, (few, many), strict=True):
        _unrelated_rules(world, present, count)
        present = count
        deploy = SlipwayDeploy()  # a cold start: no rules cached
        before = server.calls()
        report = deploy(world.push_event(probe.repository, fleets.new_digest(), fleets.NEW_TAG))
        calls = server.calls() - before
        results[str(count)] = {
            "unrelated_rules": count,
            "ssm_calls": sum(n for op, n in calls.items() if op.startswith("ssm.")),
            "ssm_calls_client_side": sum(n for op, n in deploy.faults.calls.items() if op.startswith("ssm.")),
            "all_calls": sum(calls.values()),
            "outcomes": [o["status"] for o in report["outcomes"]],
        }
    results["independent"] = results[str(few)]["ssm_calls"] == results[str(many)]["ssm_calls"]
    return results
