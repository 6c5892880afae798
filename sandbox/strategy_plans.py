"""The stages ECS takes a BLUE_GREEN, CANARY or LINEAR service deployment through, in order.

From the Amazon ECS Developer Guide (blue/green, canary and linear deployment workflows)
and the API reference's ``lifecycleStage`` values:

- every strategy: RECONCILE_SERVICE (only when more than one source revision is active),
  PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT (the green revision takes all
  test traffic), POST_TEST_TRAFFIC_SHIFT; then the production traffic shift, then
  POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME (``bakeTimeInMinutes``) and CLEAN_UP;
- BLUE_GREEN shifts production traffic once, 0 to 100 %;
- CANARY shifts ``canaryPercent`` and bakes ``canaryBakeTimeInMinutes``, then shifts the rest;
- LINEAR shifts ``stepPercent`` more each step and bakes ``stepBakeTimeInMinutes`` between
  steps ("not applied after reaching 100 percent").

PRE_PRODUCTION_TRAFFIC_SHIFT is a hook point, not a stage ECS reports: "for linear and
canary deployments, this stage is invoked before every traffic shift step". The plan has
it only where hooks are configured for it, and the deployment shows the stage it was at.
"""

from __future__ import annotations

from typing import Any

from sandbox.service_deployments import Step

PRE_PRODUCTION = "PRE_PRODUCTION_TRAFFIC_SHIFT"
PRODUCTION = "PRODUCTION_TRAFFIC_SHIFT"


def plan(configuration: dict[str, Any], sources: int) -> list[Step]:
    """The steps of a service deployment with this (resolved) configuration and number of sources."""
    strategy = configuration.get("strategy")
    if strategy not in ("BLUE_GREEN", "CANARY", "LINEAR"):
        return []
    hooked = {
        stage for hook in configuration.get("lifecycleHooks") or [] for stage in hook.get("lifecycleStages") or []
    }
    steps: list[Step] = []
    if sources > 1:
        steps.append(Step("RECONCILE_SERVICE", "RECONCILE_SERVICE", 0.0, 0.0))
    steps += [
        Step("PRE_SCALE_UP", "PRE_SCALE_UP", 0.0, 0.0),
        Step("SCALE_UP", None, 0.0, 0.0, scale_up=True),
        Step("POST_SCALE_UP", "POST_SCALE_UP", 0.0, 0.0),
        Step("TEST_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT", 0.0, 100.0),
        Step("POST_TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", 0.0, 100.0),
    ]
    for weight, bake in production_shifts(configuration):
        if PRE_PRODUCTION in hooked:
            steps.append(Step(None, PRE_PRODUCTION))
        steps.append(Step(PRODUCTION, PRODUCTION, weight, 100.0, bake_minutes=bake))
    steps += [
        Step("POST_PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", 100.0, 100.0),
        Step("BAKE_TIME", None, 100.0, 100.0, bake_minutes=int(configuration.get("bakeTimeInMinutes") or 0)),
        Step("CLEAN_UP", None, 100.0, 100.0, clean_up=True),
    ]
    return steps


def production_shifts(configuration: dict[str, Any]) -> list[tuple[float, int]]:
    """Each production traffic shift: the target's weight after it, and the bake that follows."""
    strategy = configuration.get("strategy")
    if strategy == "CANARY":
        canary = configuration["canaryConfiguration"]
        return [(float(canary["canaryPercent"]), int(canary["canaryBakeTimeInMinutes"])), (100.0, 0)]
    if strategy == "LINEAR":
        linear = configuration["linearConfiguration"]
        step, bake = float(linear["stepPercent"]), int(linear["stepBakeTimeInMinutes"])
        shifts: list[tuple[float, int]] = []
        weight = 0.0
        while weight < 100.0:
            weight = min(100.0, round(weight + step, 1))
            shifts.append((weight, bake if weight < 100.0 else 0))
        return shifts
    return [(100.0, 0)]


def invalid(configuration: dict[str, Any]) -> str | None:
    """Why ECS would refuse this (resolved) deployment configuration, or None.

    The limits are the API reference's (DeploymentConfiguration, DeploymentLifecycleHook,
    CanaryConfiguration, LinearConfiguration); the messages are the sandbox's.
    """
    strategy = configuration.get("strategy")
    if strategy == "BLUE_GREEN" and configuration.get("bakeTimeInMinutes") is None:
        return "bakeTimeInMinutes must be provided when the deployment strategy is BLUE_GREEN."
    bake = configuration.get("bakeTimeInMinutes")
    if bake is not None and not 0 <= int(bake) <= 1440:
        return "bakeTimeInMinutes must be between 0 and 1440."
    for hook in configuration.get("lifecycleHooks") or []:
        problem = _invalid_hook(hook)
        if problem:
            return problem
    ranges = {
        ("canaryConfiguration", "canaryPercent"): (0.1, 100.0),
        ("canaryConfiguration", "canaryBakeTimeInMinutes"): (0, 1440),
        ("linearConfiguration", "stepPercent"): (3.0, 100.0),
        ("linearConfiguration", "stepBakeTimeInMinutes"): (0, 1440),
    }
    for (section, key), (low, high) in ranges.items():
        value = (configuration.get(section) or {}).get(key)
        if value is not None and not low <= float(value) <= high:
            return f"{section}.{key} must be between {low:g} and {high:g}."
    return None


def _invalid_hook(hook: dict[str, Any]) -> str | None:
    kind = hook.get("targetType") or "AWS_LAMBDA"
    stages = set(hook.get("lifecycleStages") or [])
    if not stages:
        return "lifecycleStages must be provided for a deployment lifecycle hook."
    if kind == "PAUSE" and stages & {"TEST_TRAFFIC_SHIFT", PRODUCTION}:
        return "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages."
    if kind == "AWS_LAMBDA" and not hook.get("hookTargetArn"):
        return "hookTargetArn must be provided for an AWS_LAMBDA lifecycle hook."
    minutes = (hook.get("timeoutConfiguration") or {}).get("timeoutInMinutes")
    if minutes is not None and not 1 <= int(minutes) <= 20160:
        return "timeoutConfiguration.timeoutInMinutes must be between 1 and 20160."
    return None
