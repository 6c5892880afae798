"""Burst: many pushes for different repositories at once; none may be lost.

Each repository has one rule and one service. The pushes are handled concurrently by a
thread pool as wide as the deploy function's reserved concurrency, with Lambda's
asynchronous retry policy (two retries); what still fails would go to the dead-letter
queue. Every push must end in a notification on the subscriber queue or in the DLQ.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import fleet as fleets
from bench.variants import SlipwayDeploy, function_output_discarded

ATTEMPTS = 3  # Lambda's asynchronous invocation: the first try and two retries
CLUSTERS = 4


def _build(world: Any, pushes: int) -> list[fleets.FleetService]:
    for c in range(CLUSTERS):
        world.cluster(f"burst-c{c}", capacity_providers=["FARGATE", "FARGATE_SPOT"])
    services = []
    for i in range(pushes + 1):  # the last one is for the warm-up
        repository = f"burst-{i:03d}"
        kind = fleets.KINDS[i % len(fleets.KINDS)]
        service = fleets.FleetService(f"burst-c{i % CLUSTERS}", f"burst-svc-{i:03d}", kind, repository)
        definition = fleets.register(world, repository, service)
        world.service(service.cluster, service.name, definition, **fleets.placement(service))
        world.put_rule(repository, "prod", {"targets": [{"cluster": service.cluster, "service": service.name}]})
        services.append(service)
    return services


def measure(server: Any, world: Any, pushes: int, workers: int) -> dict[str, Any]:
    from bench.variants import unthrottled_environment

    server.reset()
    os.environ.update(unthrottled_environment(world.deploy_stack(chat_subscriber=False)))
    services = _build(world, pushes)
    deploy = SlipwayDeploy()
    deploy(world.push_event(f"burst-{pushes:03d}", fleets.new_digest(), fleets.NEW_TAG))  # builds the adapters
    world.notifications()
    events = [world.push_event(f"burst-{i:03d}", fleets.new_digest(), fleets.NEW_TAG) for i in range(pushes)]

    def handle(event: dict[str, Any]) -> tuple[str, int, list[str]]:
        errors: list[str] = []
        for attempt in range(1, ATTEMPTS + 1):
            try:
                deploy.handle(event)
                return "handled", attempt, errors
            except Exception as error:  # noqa: BLE001 - Lambda retries whatever the handler raises
                errors.append(f"{type(error).__name__}: {str(error)[:300]}")
        return "dead-letter", ATTEMPTS, errors

    before = server.calls()
    started = time.perf_counter()
    with function_output_discarded(), ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(handle, events))
    seconds = time.perf_counter() - started
    calls = server.calls() - before

    notes = world.notifications()
    by_repository: dict[str, list[str]] = {}
    for note in notes:
        message = note["message"]
        by_repository.setdefault(str(message.get("repository")), []).append(str(message.get("status")))
    repositories = [e["detail"]["repository-name"] for e in events]
    dead = {repo for repo, (fate, _, _) in zip(repositories, results, strict=True) if fate == "dead-letter"}
    lost = [repo for repo in repositories if repo not in by_repository and repo not in dead]
    errors = Counter(e.split(":", 1)[0] for _, _, errs in results for e in errs)
    return {
        "pushes": pushes,
        "workers": workers,
        "seconds": seconds,
        "pushes_per_second": pushes / seconds,
        "handled_first_attempt": sum(1 for fate, n, _ in results if fate == "handled" and n == 1),
        "handled_after_retry": sum(1 for fate, n, _ in results if fate == "handled" and n > 1),
        "dead_letter": len(dead),
        "exceptions_by_type": dict(errors),
        "exception_samples": sorted({e for _, _, errs in results for e in errs})[:5],
        "notifications": len(notes),
        "notifications_by_status": dict(Counter(s for statuses in by_repository.values() for s in statuses)),
        "repositories_notified": len(by_repository.keys() & set(repositories)),
        "repositories_notified_more_than_once": sorted(r for r, s in by_repository.items() if len(s) > 1)[:10],
        "lost": lost,
        "services_moved": _moved(world, services[:pushes], events),
        "aws_calls": sum(calls.values()),
    }


def _moved(world: Any, services: list[fleets.FleetService], events: list[dict[str, Any]]) -> int:
    from bench.fanout import moved

    return sum(moved(world, [s], e["detail"]["image-digest"]) for s, e in zip(services, events, strict=True))
