"""ECS's deployment strategies for a rule: what UpdateService carries, and what a service needs to run one.

The rule decides the strategy: a rolling rule (the default) sends no ``strategy`` to a
service that rolls already, and ``ROLLING`` to one configured otherwise.

Pure. ``unfit`` says, before anything is registered, why a service cannot run the
rule's strategy (the target then ends in ERROR with no new revision);
``configuration`` is the ``deploymentConfiguration`` UpdateService sends.

Lifecycle hooks: UpdateService replaces the service's ``lifecycleHooks`` when it names
them and leaves them as they are when it omits them. Slipway names them only when the
rule has hooks or its approval adds a pause, and then keeps each hook of the service
whose target the rule does not name (a Lambda function, or a pause at the same stages).
A pause Slipway added for ``approval`` is taken off again once the rule stops asking.
"""

from __future__ import annotations

import copy
from typing import Any

from slipway.model import Service
from slipway.rule_strategies import ROLLING, strategy_name
from slipway.rules import APPROVAL_STAGE, LambdaHook, PauseHook, Rule

ECS_STRATEGY = {"rolling": "ROLLING", "blue_green": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}
ECS_HOOK_TIMEOUT_MINUTES = 1440  # what ECS gives a pause with no timeoutInMinutes
SHIFTING = frozenset({"canary", "linear"})  # strategies that move traffic in steps: a load balancer or Service Connect


def unfit(service: Service, rule: Rule, hook_role: str | None) -> str | None:
    """Why ``service`` cannot run the rule's strategy (or the stack its hooks), or None when it can."""
    return unfit_service(service, rule) or _no_hook_role(rule, hook_role)


def unfit_service(service: Service, rule: Rule) -> str | None:
    """Why ``service`` cannot run the rule's strategy, or None when it can (the rule checker asks this too)."""
    spec = rule.spec
    if spec.strategy == ROLLING:
        return None
    name = strategy_name(spec.strategy)
    if service.launch_type == "EXTERNAL":
        return f"ECS runs {name} deployments on Fargate and EC2 capacity, not on the EXTERNAL launch type"
    if service.scheduling_strategy == "DAEMON":
        return f"ECS runs {name} deployments for REPLICA services only; {service.key} is a DAEMON service"
    traffic = service.traffic
    if traffic.load_balancers and traffic.advanced < traffic.load_balancers:
        return (
            f"{name} needs an advancedConfiguration (alternate target group and production listener rule) "
            f"on each of the service's load balancers: {traffic.advanced} of {traffic.load_balancers} have one"
        )
    if traffic.headless:
        if spec.strategy in SHIFTING:
            return (
                f"{name} shifts traffic, and {service.key} has neither a load balancer nor Service Connect "
                "to shift it through"
            )
        if not spec.headless:
            return (
                f"{service.key} has neither a load balancer nor Service Connect: ECS would run a headless "
                'blue/green deployment without moving traffic; set "headless": true in the rule to allow it'
            )
    return None


def _no_hook_role(rule: Rule, hook_role: str | None) -> str | None:
    if hook_role is None and any(isinstance(h, LambdaHook) for h in rule.spec.lifecycle_hooks):
        return (
            "the rule's Lambda hooks need the role ECS invokes them with: set the stack parameter LifecycleHookRoleArn"
        )
    return None


def configuration(service: Service, rule: Rule, hook_role: str | None) -> dict[str, Any]:
    """The service's deployment configuration with the rule's strategy, circuit breaker and alarms."""
    config = copy.deepcopy(service.deployment_configuration)
    spec = rule.spec
    for key in ("bakeTimeInMinutes", "canaryConfiguration", "linearConfiguration"):
        config.pop(key, None)
    if spec.strategy != ROLLING or config.get("strategy") not in (None, "ROLLING"):
        config["strategy"] = ECS_STRATEGY[spec.strategy]  # the rule decides, whatever the service had
    if spec.strategy == ROLLING:
        breaker = spec.circuit_breaker
        config["deploymentCircuitBreaker"] = {"enable": breaker.enable, "rollback": breaker.rollback}
    else:
        config["deploymentCircuitBreaker"] = {"enable": False, "rollback": False}  # rolling updates only
        bake = spec.effective_bake_minutes
        if bake is not None:
            config["bakeTimeInMinutes"] = bake
    canary = spec.effective_canary
    if canary is not None:
        config["canaryConfiguration"] = {
            "canaryPercent": canary.percent,
            "canaryBakeTimeInMinutes": canary.bake_minutes,
        }
    linear = spec.effective_linear
    if linear is not None:
        config["linearConfiguration"] = {
            "stepPercent": linear.step_percent,
            "stepBakeTimeInMinutes": linear.step_bake_minutes,
        }
    hooks = lifecycle_hooks(service, rule, hook_role)
    if hooks is not None:
        config["lifecycleHooks"] = hooks
    if spec.alarms:
        config["alarms"] = {"alarmNames": list(spec.alarms), "enable": True, "rollback": True}
    return config


def lifecycle_hooks(service: Service, rule: Rule, hook_role: str | None) -> list[dict[str, Any]] | None:
    """The ``lifecycleHooks`` to send: None leaves the service's as they are.

    The pause an earlier rollout added for ``approval`` goes when the rule no longer asks
    for approval; otherwise the service's hooks stay, but for those the rule replaces.
    """
    spec = rule.spec
    pause = spec.approval_pause
    ours = [_hook(h, hook_role) for h in [*spec.lifecycle_hooks, *([pause] if pause else [])]]
    theirs = list(service.deployment_configuration.get("lifecycleHooks") or [])
    stale = [h for h in theirs if pause is None and is_approval_pause(h)]
    if not ours and not stale:
        return None
    named = {_target(h) for h in ours}
    kept = [h for h in theirs if _target(h) not in named and h not in stale]
    return kept + ours


def is_approval_pause(hook: dict[str, Any]) -> bool:
    """Whether a service's hook is the pause Slipway adds for ``approval`` (as ECS describes it back)."""
    timeout = hook.get("timeoutConfiguration") or {}
    return (
        hook.get("targetType") == "PAUSE"
        and list(hook.get("lifecycleStages") or []) == [APPROVAL_STAGE]
        and timeout.get("action", "ROLLBACK") == "ROLLBACK"
        and timeout.get("timeoutInMinutes") in (None, ECS_HOOK_TIMEOUT_MINUTES)
    )


def _hook(hook: LambdaHook | PauseHook, hook_role: str | None) -> dict[str, Any]:
    if isinstance(hook, LambdaHook):
        entry: dict[str, Any] = {
            "targetType": "AWS_LAMBDA",
            "hookTargetArn": hook.lambda_,
            "lifecycleStages": list(hook.stages),
        }
        if hook_role:
            entry["roleArn"] = hook_role
        return entry
    pause: dict[str, Any] = {"targetType": "PAUSE", "lifecycleStages": list(hook.stages)}
    timeout: dict[str, Any] = {"action": hook.on_timeout.upper()}
    if hook.timeout_minutes is not None:
        timeout["timeoutInMinutes"] = hook.timeout_minutes
    pause["timeoutConfiguration"] = timeout
    return pause


def _target(hook: dict[str, Any]) -> tuple[str, str | None]:
    """What a hook acts through: its Lambda function, or a pause at its stages."""
    kind = str(hook.get("targetType") or "AWS_LAMBDA")
    if kind == "AWS_LAMBDA":
        return kind, hook.get("hookTargetArn")
    return kind, ",".join(sorted(hook.get("lifecycleStages") or []))
