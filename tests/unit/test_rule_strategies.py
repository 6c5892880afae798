"""Rule keys for ECS's own deployment strategies: strategy, bake, canary, linear, hooks, headless.

Every invalid rule is checked for the exact JSON path of its problem and what the message says;
the approval helpers and the approval gate follow the strategy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from slipway.cli import run
from slipway.gates import APPROVAL, Gatekeeper
from slipway.rules import (
    HOOK_STAGES,
    Canary,
    LambdaHook,
    Linear,
    PauseHook,
    RuleInvalid,
    RuleSpec,
    parse_rule,
)
from tests.unit.fakes import NOW, RULES_PATH, FakeStore, digest, make_rule

ROOT = Path(__file__).resolve().parents[2]
PARAMETER = f"{RULES_PATH}/web/main"
WEB = {"cluster": "prod", "service": "web"}
SMOKE = "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke-test"
PAUSE_ONLY_AT = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT")
PAUSE_ONLY_AT += ("PRE_PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")


def parse(rule: dict[str, Any]) -> RuleSpec:
    """The RuleSpec of a whole rule document, validated as the functions validate it."""
    return parse_rule("web", "main", PARAMETER, json.dumps(rule)).spec


def spec_of(**keys: Any) -> RuleSpec:
    """The RuleSpec of a rule with prod/web as its target and ``keys``."""
    return parse({"targets": [WEB], **keys})


def problems_of(**keys: Any) -> list[str]:
    with pytest.raises(RuleInvalid) as raised:
        spec_of(**keys)
    return raised.value.problems


def only_problem(**keys: Any) -> str:
    problems = problems_of(**keys)
    assert len(problems) == 1, problems
    return problems[0]


def lambda_hook(*stages: str, arn: str = SMOKE) -> dict[str, Any]:
    return {"stages": list(stages), "lambda": arn}


def pause_hook(*stages: str, **options: Any) -> dict[str, Any]:
    return {"stages": list(stages), "pause": True, **options}


# -- strategy -------------------------------------------------------------------------------


def test_rule_spec_without_strategy_is_rolling_with_nothing_of_the_others() -> None:
    spec = spec_of()

    assert spec.strategy == "rolling"
    assert spec.effective_bake_minutes is None
    assert spec.effective_canary is None
    assert spec.effective_linear is None
    assert spec.lifecycle_hooks == []
    assert spec.headless is False


@pytest.mark.parametrize("strategy", ["rolling", "blue_green", "canary", "linear"])
def test_rule_spec_each_strategy_is_valid(strategy: str) -> None:
    assert spec_of(strategy=strategy).strategy == strategy


def test_rule_spec_misspelt_strategy_is_unknown_with_suggestion() -> None:
    assert only_problem(strategy="bluegreen") == 'strategy: unknown strategy "bluegreen" (did you mean "blue_green"?)'


def test_rule_spec_unrelated_strategy_lists_the_strategies() -> None:
    assert only_problem(strategy="big_bang") == (
        'strategy: unknown strategy "big_bang" (one of rolling, blue_green, canary, linear)'
    )


@pytest.mark.parametrize("strategy", [1, True, None, ["canary"]])
def test_rule_spec_strategy_not_a_string_is_invalid(strategy: Any) -> None:
    problem = only_problem(strategy=strategy)

    assert problem.startswith("strategy: Input should be 'rolling', 'blue_green', 'canary' or 'linear'"), problem


def test_rule_spec_bad_strategy_is_reported_once_not_through_its_keys() -> None:
    # GIVEN keys that would be wrong with some strategies, and a strategy that is not one
    problems = problems_of(strategy="canery", canary={"percent": 5}, circuit_breaker={"enable": True})

    # THEN only the strategy is reported: the other keys cannot be judged against it
    assert problems == ['strategy: unknown strategy "canery" (did you mean "canary"?)']


# -- bake_minutes ---------------------------------------------------------------------------


def test_rule_spec_blue_green_without_bake_minutes_bakes_ten_minutes() -> None:
    spec = spec_of(strategy="blue_green")

    assert spec.bake_minutes is None
    assert spec.effective_bake_minutes == 10


@pytest.mark.parametrize(("strategy", "bake"), [("blue_green", 0), ("blue_green", 1440), ("canary", 3), ("linear", 30)])
def test_rule_spec_bake_minutes_set_is_the_effective_bake(strategy: str, bake: int) -> None:
    assert spec_of(strategy=strategy, bake_minutes=bake).effective_bake_minutes == bake


@pytest.mark.parametrize("strategy", ["canary", "linear"])
def test_rule_spec_canary_or_linear_without_bake_minutes_leaves_ecs_default(strategy: str) -> None:
    assert spec_of(strategy=strategy).effective_bake_minutes is None


def test_rule_spec_bake_minutes_with_rolling_is_invalid() -> None:
    assert only_problem(bake_minutes=5) == (
        'bake_minutes: bake_minutes is for strategy "blue_green", "canary" or "linear"; '
        'this rule\'s strategy is "rolling"'
    )


@pytest.mark.parametrize(("bake", "gist"), [(-1, "greater than or equal to 0"), (1441, "less than or equal to 1440")])
def test_rule_spec_bake_minutes_out_of_range_is_invalid(bake: int, gist: str) -> None:
    problem = only_problem(strategy="blue_green", bake_minutes=bake)

    assert problem.startswith("bake_minutes: ") and gist in problem, problem


@pytest.mark.parametrize("bake", [True, "10", 10.5])
def test_rule_spec_bake_minutes_not_an_integer_is_invalid(bake: Any) -> None:
    problem = only_problem(strategy="blue_green", bake_minutes=bake)

    assert problem.startswith("bake_minutes: Input should be a valid integer"), problem


# -- canary ---------------------------------------------------------------------------------


def test_rule_spec_canary_strategy_without_canary_key_gets_ecs_defaults() -> None:
    spec = spec_of(strategy="canary")

    assert spec.canary is None
    assert spec.effective_canary == Canary()
    assert (spec.effective_canary.percent, spec.effective_canary.bake_minutes) == (5.0, 10)


def test_rule_spec_canary_settings_are_kept() -> None:
    spec = spec_of(strategy="canary", canary={"percent": 12.5, "bake_minutes": 30})

    assert spec.effective_canary is not None
    assert (spec.effective_canary.percent, spec.effective_canary.bake_minutes) == (12.5, 30)


def test_rule_spec_canary_with_only_percent_bakes_the_default_ten_minutes() -> None:
    canary = spec_of(strategy="canary", canary={"percent": 1}).effective_canary

    assert canary is not None and canary.bake_minutes == 10


def test_rule_spec_canary_percent_json_integer_is_a_number() -> None:
    canary = spec_of(strategy="canary", canary={"percent": 5}).effective_canary

    assert canary is not None
    assert canary.percent == 5.0
    assert isinstance(canary.percent, float)


@pytest.mark.parametrize(("percent", "kept"), [(0.1, 0.1), (0.1 * 3, 0.3), (99.9, 99.9), (100, 100.0), (33.3, 33.3)])
def test_rule_spec_canary_percent_in_tenths_is_valid_and_rounded(percent: float, kept: float) -> None:
    canary = spec_of(strategy="canary", canary={"percent": percent}).effective_canary

    assert canary is not None and canary.percent == kept


@pytest.mark.parametrize("percent", [5.25, 0.15, 33.33, 99.99])
def test_rule_spec_canary_percent_not_in_tenths_is_invalid(percent: float) -> None:
    assert only_problem(strategy="canary", canary={"percent": percent}) == (
        f"canary.percent: {percent} is not a multiple of 0.1 (ECS takes percentages in tenths)"
    )


@pytest.mark.parametrize(
    ("percent", "gist"),
    [
        (0, "greater than or equal to 0.1"),
        (0.05, "greater than or equal to 0.1"),
        (100.1, "less than or equal to 100"),
        (True, "a valid number"),
        ("5", "a valid number"),
        (None, "a valid number"),
    ],
)
def test_rule_spec_canary_percent_out_of_range_or_not_a_number_is_invalid(percent: Any, gist: str) -> None:
    problem = only_problem(strategy="canary", canary={"percent": percent})

    assert problem.startswith("canary.percent: ") and gist in problem, problem


def test_rule_spec_canary_bake_minutes_out_of_range_is_invalid() -> None:
    problem = only_problem(strategy="canary", canary={"bake_minutes": 1441})

    assert problem == "canary.bake_minutes: Input should be less than or equal to 1440"


@pytest.mark.parametrize("strategy", ["rolling", "blue_green", "linear"])
def test_rule_spec_canary_key_with_another_strategy_names_both(strategy: str) -> None:
    assert only_problem(strategy=strategy, canary={"percent": 5}) == (
        f'canary: canary is for strategy "canary"; this rule\'s strategy is "{strategy}"'
    )


def test_rule_spec_canary_without_strategy_names_rolling() -> None:
    assert only_problem(canary={}) == 'canary: canary is for strategy "canary"; this rule\'s strategy is "rolling"'


def test_rule_spec_unknown_key_in_canary_suggests_the_known_one() -> None:
    assert only_problem(strategy="canary", canary={"percentage": 5}) == (
        'canary: unknown key "percentage" (did you mean "percent"?)'
    )


# -- linear ---------------------------------------------------------------------------------


def test_rule_spec_linear_strategy_without_linear_key_gets_ecs_defaults() -> None:
    spec = spec_of(strategy="linear")

    assert spec.linear is None
    assert spec.effective_linear == Linear()
    assert (spec.effective_linear.step_percent, spec.effective_linear.step_bake_minutes) == (10.0, 6)


def test_rule_spec_linear_settings_are_kept() -> None:
    rule = {"targets": [WEB], "strategy": "linear", "linear": {"step_percent": 20, "step_bake_minutes": 5}}

    linear = parse(rule).effective_linear

    assert linear is not None and (linear.step_percent, linear.step_bake_minutes) == (20.0, 5)


@pytest.mark.parametrize("step", [3, 3.0, 33.3, 100])
def test_rule_spec_linear_step_percent_from_three_in_tenths_is_valid(step: float) -> None:
    linear = spec_of(strategy="linear", linear={"step_percent": step}).effective_linear

    assert linear is not None and linear.step_percent == step


@pytest.mark.parametrize(("step", "gist"), [(2.9, "greater than or equal to 3"), (101, "less than or equal to 100")])
def test_rule_spec_linear_step_percent_out_of_range_is_invalid(step: float, gist: str) -> None:
    problem = only_problem(strategy="linear", linear={"step_percent": step})

    assert problem.startswith("linear.step_percent: ") and gist in problem, problem


def test_rule_spec_linear_step_percent_not_in_tenths_is_invalid() -> None:
    assert only_problem(strategy="linear", linear={"step_percent": 12.34}) == (
        "linear.step_percent: 12.34 is not a multiple of 0.1 (ECS takes percentages in tenths)"
    )


def test_rule_spec_linear_step_percent_boolean_is_invalid() -> None:
    problem = only_problem(strategy="linear", linear={"step_percent": False})

    assert problem == "linear.step_percent: Input should be a valid number"


def test_rule_spec_linear_step_bake_minutes_negative_is_invalid() -> None:
    problem = only_problem(strategy="linear", linear={"step_bake_minutes": -1})

    assert problem == "linear.step_bake_minutes: Input should be greater than or equal to 0"


@pytest.mark.parametrize("strategy", ["rolling", "blue_green", "canary"])
def test_rule_spec_linear_key_with_another_strategy_names_both(strategy: str) -> None:
    assert only_problem(strategy=strategy, linear={"step_percent": 20}) == (
        f'linear: linear is for strategy "linear"; this rule\'s strategy is "{strategy}"'
    )


# -- hooks ----------------------------------------------------------------------------------


def test_rule_spec_lambda_hook_is_kept_with_its_stages_and_function() -> None:
    hooks = spec_of(strategy="blue_green", hooks=[lambda_hook("POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT")]).hooks

    assert hooks is not None and len(hooks) == 1
    hook = hooks[0]
    assert isinstance(hook, LambdaHook)
    assert hook.stages == ["POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT"]
    assert hook.lambda_ == SMOKE


@pytest.mark.parametrize("stage", HOOK_STAGES)
def test_rule_spec_lambda_hook_at_every_stage_is_valid(stage: str) -> None:
    assert spec_of(strategy="canary", hooks=[lambda_hook(stage)]).lifecycle_hooks[0].stages == [stage]


@pytest.mark.parametrize(
    "arn",
    [
        f"{SMOKE}:live",
        f"{SMOKE}:7",
        f"{SMOKE}:$LATEST",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:check",
        "arn:aws:lambda:eu-west-1:123456789012:function:" + "f" * 64,
    ],
)
def test_rule_spec_lambda_hook_function_arn_forms_are_valid(arn: str) -> None:
    hook = spec_of(strategy="blue_green", hooks=[lambda_hook("PRE_SCALE_UP", arn=arn)]).lifecycle_hooks[0]

    assert isinstance(hook, LambdaHook) and hook.lambda_ == arn


@pytest.mark.parametrize(
    "arn",
    [
        "web-smoke-test",
        "arn:aws:lambda:eu-west-1:123456789012:web-smoke-test",
        "arn:aws:ecs:eu-west-1:123456789012:function:web-smoke-test",
        "arn:aws:lambda:eu-west-1:12345:function:web-smoke-test",
        "arn:aws:lambda:eu-west-1:123456789012:function:" + "f" * 65,
        f"{SMOKE}:live:again",
    ],
)
def test_rule_spec_lambda_hook_not_a_function_arn_is_invalid(arn: str) -> None:
    assert only_problem(strategy="blue_green", hooks=[lambda_hook("PRE_SCALE_UP", arn=arn)]) == (
        f"hooks[0].lambda: {arn!r} is not a Lambda function ARN "
        "(arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])"
    )


def test_rule_spec_pause_hook_defaults_to_ecs_timeout_and_rollback() -> None:
    hook = spec_of(strategy="blue_green", hooks=[pause_hook("POST_TEST_TRAFFIC_SHIFT")]).lifecycle_hooks[0]

    assert isinstance(hook, PauseHook)
    assert hook.stages == ["POST_TEST_TRAFFIC_SHIFT"]
    assert hook.timeout_minutes is None
    assert hook.on_timeout == "rollback"


def test_rule_spec_pause_hook_timeout_and_action_are_kept() -> None:
    rule = {
        "targets": [WEB],
        "strategy": "linear",
        "hooks": [{"stages": ["PRE_SCALE_UP"], "pause": True, "timeout_minutes": 120, "on_timeout": "continue"}],
    }

    hook = parse(rule).lifecycle_hooks[0]

    assert isinstance(hook, PauseHook)
    assert (hook.timeout_minutes, hook.on_timeout) == (120, "continue")


@pytest.mark.parametrize("stage", PAUSE_ONLY_AT)
def test_rule_spec_pause_hook_at_a_single_invocation_stage_is_valid(stage: str) -> None:
    assert spec_of(strategy="blue_green", hooks=[pause_hook(stage)]).lifecycle_hooks[0].stages == [stage]


@pytest.mark.parametrize(
    ("stage", "why"),
    [
        (
            "TEST_TRAFFIC_SHIFT",
            "ECS invokes it repeatedly while test traffic moves; pause at POST_TEST_TRAFFIC_SHIFT instead",
        ),
        (
            "PRODUCTION_TRAFFIC_SHIFT",
            "ECS invokes it repeatedly while production traffic moves; pause at PRE_PRODUCTION_TRAFFIC_SHIFT instead",
        ),
    ],
)
def test_rule_spec_pause_hook_at_a_lambda_only_stage_is_invalid_with_the_stage_to_use(stage: str, why: str) -> None:
    # GIVEN a pause hook whose second stage ECS does not allow for pauses
    hooks = [lambda_hook("PRE_SCALE_UP"), pause_hook("POST_SCALE_UP", stage)]

    # THEN the stage itself is named, with why and where to pause instead
    assert (
        only_problem(strategy="canary", hooks=hooks) == f"hooks[1].stages[1]: a pause hook cannot sit at {stage}: {why}"
    )


@pytest.mark.parametrize(
    ("timeout", "gist"), [(0, "greater than or equal to 1"), (20161, "less than or equal to 20160")]
)
def test_rule_spec_pause_hook_timeout_out_of_range_is_invalid(timeout: int, gist: str) -> None:
    problem = only_problem(strategy="blue_green", hooks=[pause_hook("PRE_SCALE_UP", timeout_minutes=timeout)])

    assert problem.startswith("hooks[0].timeout_minutes: ") and gist in problem, problem


@pytest.mark.parametrize("timeout", [1, 20160])
def test_rule_spec_pause_hook_timeout_at_its_bounds_is_valid(timeout: int) -> None:
    hook = spec_of(strategy="blue_green", hooks=[pause_hook("PRE_SCALE_UP", timeout_minutes=timeout)]).lifecycle_hooks

    assert isinstance(hook[0], PauseHook) and hook[0].timeout_minutes == timeout


def test_rule_spec_pause_hook_unknown_timeout_action_is_invalid() -> None:
    problem = only_problem(strategy="blue_green", hooks=[pause_hook("PRE_SCALE_UP", on_timeout="abort")])

    assert problem == "hooks[0].on_timeout: Input should be 'rollback' or 'continue'"


@pytest.mark.parametrize("pause", [False, "true", 1, None])
def test_rule_spec_pause_not_literally_true_is_invalid(pause: Any) -> None:
    problem = only_problem(strategy="blue_green", hooks=[{"stages": ["PRE_SCALE_UP"], "pause": pause}])

    assert problem == 'hooks[0].pause: must be true: a pause hook is {"stages": [...], "pause": true}'


def test_rule_spec_hook_with_neither_lambda_nor_pause_names_both_shapes() -> None:
    assert only_problem(strategy="blue_green", hooks=[{"stages": ["PRE_SCALE_UP"]}]) == (
        'hooks[0]: a hook is either {"stages", "lambda"} or {"stages", "pause": true, ...}'
    )


def test_rule_spec_hook_with_lambda_and_pause_is_invalid() -> None:
    hook = {"stages": ["PRE_SCALE_UP"], "lambda": SMOKE, "pause": True}

    assert only_problem(strategy="blue_green", hooks=[hook]) == (
        'hooks[0]: a hook is either {"stages", "lambda"} or {"stages", "pause": true, ...} (not both "lambda" and "pause")'
    )


def test_rule_spec_hook_with_misspelt_lambda_suggests_it() -> None:
    hooks = [lambda_hook("PRE_SCALE_UP"), {"stages": ["PRE_SCALE_UP"], "lamda": SMOKE}]

    assert only_problem(strategy="blue_green", hooks=hooks) == (
        'hooks[1]: a hook is either {"stages", "lambda"} or {"stages", "pause": true, ...} (did you mean "lambda"?)'
    )


@pytest.mark.parametrize("hook", ["PRE_SCALE_UP", SMOKE, ["PRE_SCALE_UP"], None])
def test_rule_spec_hook_not_an_object_is_invalid(hook: Any) -> None:
    problem = only_problem(strategy="blue_green", hooks=[hook])

    assert problem.startswith('hooks[0]: a hook is either {"stages", "lambda"}'), problem


def test_rule_spec_unknown_stage_names_it_with_suggestion() -> None:
    hooks = [lambda_hook("PRE_SCALE_UP"), lambda_hook("PRE_PRODUCTION_TRAFIC_SHIFT")]

    assert only_problem(strategy="blue_green", hooks=hooks) == (
        'hooks[1].stages[0]: unknown stage "PRE_PRODUCTION_TRAFIC_SHIFT" (did you mean "PRE_PRODUCTION_TRAFFIC_SHIFT"?)'
    )


def test_rule_spec_unknown_stage_in_pause_hook_names_it_with_suggestion() -> None:
    problem = only_problem(strategy="blue_green", hooks=[pause_hook("POST_SCALEUP")])

    assert problem == 'hooks[0].stages[0]: unknown stage "POST_SCALEUP" (did you mean "POST_SCALE_UP"?)'


def test_rule_spec_unrelated_stage_lists_the_stages() -> None:
    problem = only_problem(strategy="blue_green", hooks=[lambda_hook("whenever")])

    assert problem == f'hooks[0].stages[0]: unknown stage "whenever" (one of {", ".join(HOOK_STAGES)})'


def test_rule_spec_hook_stage_listed_twice_is_invalid() -> None:
    hooks = [pause_hook("PRE_SCALE_UP", "POST_SCALE_UP", "PRE_SCALE_UP")]

    assert only_problem(strategy="blue_green", hooks=hooks) == "hooks[0].stages: stage PRE_SCALE_UP is listed twice"


def test_rule_spec_hook_without_stages_is_required() -> None:
    assert only_problem(strategy="blue_green", hooks=[{"lambda": SMOKE}]) == "hooks[0].stages: required"


def test_rule_spec_hook_with_empty_stages_is_invalid() -> None:
    problem = only_problem(strategy="blue_green", hooks=[lambda_hook()])

    assert problem.startswith("hooks[0].stages: List should have at least 1 item"), problem


def test_rule_spec_pause_key_on_a_lambda_hook_is_unknown_with_the_known_keys() -> None:
    hook = {**lambda_hook("PRE_SCALE_UP"), "timeout_minutes": 5}

    assert only_problem(strategy="blue_green", hooks=[hook]) == (
        'hooks[0]: unknown key "timeout_minutes" (known keys: stages, lambda)'
    )


def test_rule_spec_misspelt_key_on_a_pause_hook_suggests_the_known_one() -> None:
    hook = pause_hook("PRE_SCALE_UP", on_timout="continue")

    assert only_problem(strategy="blue_green", hooks=[hook]) == (
        'hooks[0]: unknown key "on_timout" (did you mean "on_timeout"?)'
    )


def test_rule_spec_ten_hooks_are_valid_eleven_are_not() -> None:
    ten = [lambda_hook("POST_SCALE_UP", arn=f"{SMOKE}-{n}") for n in range(10)]

    assert len(spec_of(strategy="blue_green", hooks=ten).lifecycle_hooks) == 10
    problem = only_problem(strategy="blue_green", hooks=[*ten, lambda_hook("POST_SCALE_UP")])
    assert problem.startswith("hooks: List should have at most 10 items"), problem


def test_rule_spec_hooks_with_rolling_are_invalid() -> None:
    assert only_problem(hooks=[lambda_hook("PRE_SCALE_UP")]) == (
        'hooks: hooks is for strategy "blue_green", "canary" or "linear"; this rule\'s strategy is "rolling"'
    )


def test_rule_spec_unknown_key_beside_hooks_suggests_hooks() -> None:
    assert only_problem(strategy="blue_green", hook=[lambda_hook("PRE_SCALE_UP")]) == (
        '$: unknown key "hook" (did you mean "hooks"?)'
    )


# -- headless -------------------------------------------------------------------------------


def test_rule_spec_headless_blue_green_is_valid() -> None:
    spec = parse(
        {"targets": [{"cluster": "prod", "service": "queue-worker"}], "strategy": "blue_green", "headless": True}
    )

    assert spec.headless is True
    assert spec.effective_bake_minutes == 10


@pytest.mark.parametrize("strategy", ["canary", "linear"])
def test_rule_spec_headless_with_traffic_shifting_strategy_is_invalid(strategy: str) -> None:
    assert only_problem(strategy=strategy, headless=True) == (
        f'headless: headless is for strategy "blue_green" only: "{strategy}" shifts traffic, and without'
        " a load balancer or Service Connect there is no traffic to shift"
    )


def test_rule_spec_headless_with_rolling_is_invalid() -> None:
    problem = only_problem(headless=True)

    assert problem.startswith('headless: headless is for strategy "blue_green" only'), problem


def test_rule_spec_headless_false_with_canary_is_the_default_and_valid() -> None:
    assert spec_of(strategy="canary", headless=False).headless is False


def test_rule_spec_headless_not_a_boolean_is_invalid() -> None:
    assert only_problem(strategy="blue_green", headless="true") == "headless: Input should be a valid boolean"


# -- circuit breaker ------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["blue_green", "canary", "linear"])
def test_rule_spec_circuit_breaker_set_with_another_strategy_is_invalid(strategy: str) -> None:
    # GIVEN a rule that sets the circuit breaker, even to its default
    problem = only_problem(strategy=strategy, circuit_breaker={"enable": True, "rollback": True})

    # THEN it is reported at the key, saying what rolls back instead
    assert problem == (
        f'circuit_breaker: the circuit breaker is for rolling updates only; with strategy "{strategy}"'
        " ECS rolls back on alarms and hook failures"
    )


@pytest.mark.parametrize("strategy", ["blue_green", "canary", "linear"])
def test_rule_spec_circuit_breaker_not_set_with_another_strategy_is_valid(strategy: str) -> None:
    spec = spec_of(strategy=strategy)

    assert "circuit_breaker" not in spec.model_fields_set


def test_rule_spec_circuit_breaker_with_rolling_is_kept() -> None:
    spec = spec_of(strategy="rolling", circuit_breaker={"enable": True, "rollback": False})

    assert (spec.circuit_breaker.enable, spec.circuit_breaker.rollback) == (True, False)


def test_rule_spec_alarms_go_with_every_strategy() -> None:
    for strategy in ("rolling", "blue_green", "canary", "linear"):
        assert spec_of(strategy=strategy, alarms=["web-5xx"]).alarms == ["web-5xx"]


# -- approval -------------------------------------------------------------------------------


def test_rule_spec_rolling_approval_holds_the_push_and_adds_no_pause() -> None:
    spec = spec_of(approval=True)

    assert spec.holds_for_approval is True
    assert spec.pauses_for_approval is False
    assert spec.approval_pause is None


@pytest.mark.parametrize("strategy", ["blue_green", "canary", "linear"])
def test_rule_spec_non_rolling_approval_pauses_before_production_traffic(strategy: str) -> None:
    spec = spec_of(strategy=strategy, approval=True)

    assert spec.holds_for_approval is False
    assert spec.pauses_for_approval is True
    assert spec.approval_pause == PauseHook.model_validate({"stages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"], "pause": True})
    assert spec.approval_pause.on_timeout == "rollback"


def test_rule_spec_approval_with_a_pause_hook_adds_no_second_pause() -> None:
    spec = spec_of(strategy="canary", approval=True, hooks=[pause_hook("POST_TEST_TRAFFIC_SHIFT")])

    assert spec.pauses_for_approval is False
    assert spec.holds_for_approval is False
    assert spec.approval_pause is None


def test_rule_spec_approval_with_only_lambda_hooks_still_pauses() -> None:
    spec = spec_of(strategy="linear", approval=True, hooks=[lambda_hook("PRE_PRODUCTION_TRAFFIC_SHIFT")])

    assert spec.pauses_for_approval is True


@pytest.mark.parametrize("strategy", ["rolling", "blue_green", "canary", "linear"])
def test_rule_spec_without_approval_neither_holds_nor_pauses(strategy: str) -> None:
    spec = spec_of(strategy=strategy, hooks=[pause_hook("PRE_SCALE_UP")]) if strategy != "rolling" else spec_of()

    assert (spec.holds_for_approval, spec.pauses_for_approval, spec.approval_pause) == (False, False, None)


def test_gatekeeper_rolling_rule_with_approval_holds_the_push() -> None:
    gates = Gatekeeper(FakeStore(), clock=lambda: NOW)
    rule = make_rule(approval=True)

    verdict = gates.check(rule, digest("a"))

    assert (verdict.passed, verdict.gate, verdict.hold) == (False, APPROVAL, True)
    assert verdict.reason == "waiting for approval (slipway approve ROLLOUT_ID)"


def test_gatekeeper_rolling_rule_approved_passes() -> None:
    gates = Gatekeeper(FakeStore(), clock=lambda: NOW)

    assert gates.check(make_rule(approval=True), digest("a"), approved_by="alice").passed is True


@pytest.mark.parametrize("strategy", ["blue_green", "canary", "linear"])
def test_gatekeeper_non_rolling_rule_with_approval_does_not_hold_the_push(strategy: str) -> None:
    # GIVEN a rule whose approval is a pause in ECS's deployment, not a hold before it
    gates = Gatekeeper(FakeStore(), clock=lambda: NOW)
    rule = make_rule(strategy=strategy, approval=True)

    # WHEN the push is checked, not yet approved
    verdict = gates.check(rule, digest("a"))

    # THEN it passes the gates: ECS pauses the rollout instead
    assert verdict.passed is True
    assert gates.approval(rule, None).passed is True


# -- the JSON Schema, the README and the command --------------------------------------------


def _strategy_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### Strategies: blue/green, canary, linear")
    return text[start : text.index("\n### ", start + 1)]


def _readme_rules() -> list[dict[str, Any]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", _strategy_section(), re.S)]


def test_readme_strategy_examples_are_one_per_strategy_and_valid() -> None:
    rules = _readme_rules()

    specs = [RuleSpec.model_validate(rule) for rule in rules]
    assert [s.strategy for s in specs] == ["blue_green", "canary", "linear", "blue_green"]
    assert [s.headless for s in specs] == [False, False, False, True]
    canary = specs[1]
    assert canary.effective_canary == Canary.model_validate({"percent": 5, "bake_minutes": 10})
    assert canary.alarms and canary.pauses_for_approval
    assert specs[2].effective_linear == Linear.model_validate({"step_percent": 20, "step_bake_minutes": 5})
    assert isinstance(specs[0].lifecycle_hooks[0], LambdaHook) and specs[0].bake_minutes is not None


def test_rule_schema_accepts_strategy_rules_and_rejects_a_pause_at_a_traffic_shift() -> None:
    validator = jsonschema.Draft202012Validator(json.loads((ROOT / "schema" / "rule.schema.json").read_text()))
    paused = {"targets": [WEB], "strategy": "canary", "hooks": [pause_hook("PRODUCTION_TRAFFIC_SHIFT")]}
    full_pause = {"targets": [WEB], "strategy": "canary", "hooks": [pause_hook("PRE_SCALE_UP", timeout_minutes=5)]}
    full_pause["hooks"][0]["on_timeout"] = "continue"

    for rule in [*_readme_rules(), full_pause]:
        assert list(validator.iter_errors(rule)) == [], rule
    assert list(validator.iter_errors(paused)) != []
    assert list(validator.iter_errors({"targets": [WEB], "strategy": "canary", "canary": {"percnt": 5}})) != []


def test_cli_rules_validate_bad_hook_stage_exits_one_with_the_path(tmp_path: Path, capsys) -> None:
    # GIVEN a rule file whose hook names a stage ECS does not have
    rule = {"targets": [WEB], "strategy": "blue_green", "hooks": [lambda_hook("PRE_TRAFIC_SHIFT")]}
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(rule))

    # WHEN `slipway rules validate` checks it
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        run(["rules", "validate", str(path)])
    out = capsys.readouterr().out

    # THEN it exits 1 and prints the problem at its JSON path
    assert done.value.code == 1
    assert out.strip().startswith(f'{path}: hooks[0].stages[0]: unknown stage "PRE_TRAFIC_SHIFT" (did you mean'), out
