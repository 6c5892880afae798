"""The rule keys of ECS's deployment strategies: ``strategy``, ``canary``, ``linear``, ``hooks``.

Pure models and validation, used by ``rules.RuleSpec``: where ECS allows each hook type,
percentages in tenths, the stages ECS names. ``Strict`` is the base of every rule model.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)


class Strict(BaseModel):
    # strict: JSON true/false only, never "false" or 0 read as a boolean
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- ECS's native deployment strategies --------------------------------------------------

Strategy = Literal["rolling", "blue_green", "canary", "linear"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
ROLLING = "rolling"  # the default: today's rolling update, not one of ECS's staged strategies


def strategy_name(strategy: str) -> str:
    """How people write a strategy: blue/green, canary, linear, rolling."""
    return "blue/green" if strategy == "blue_green" else strategy


DEFAULT_BLUE_GREEN_BAKE_MINUTES = 10  # ECS requires bakeTimeInMinutes for BLUE_GREEN
APPROVAL_STAGE = "PRE_PRODUCTION_TRAFFIC_SHIFT"  # where approval pauses a non-rolling rollout

# ECS's DeploymentLifecycleHookStage, in the order a deployment passes through them.
HookStage = Literal[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
]
HOOK_STAGES: tuple[str, ...] = get_args(HookStage)
# The stages a pause hook may sit at: ECS invokes them once per deployment.
PauseStage = Literal[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
]
_NOT_PAUSABLE = {
    "TEST_TRAFFIC_SHIFT": "ECS invokes it repeatedly while test traffic moves; pause at POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT": (
        "ECS invokes it repeatedly while production traffic moves; pause at PRE_PRODUCTION_TRAFFIC_SHIFT"
    ),
}
_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
)


def _did_you_mean(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else f" (one of {', '.join(choices)})"


def _known(kind: str, choices: tuple[str, ...]) -> BeforeValidator:
    """A before-validator: a string outside ``choices`` is named, with the closest one."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in choices:
            raise ValueError(f'unknown {kind} "{value}"{_did_you_mean(value, choices)}')
        return value

    return BeforeValidator(check)


def _pausable(value: Any) -> Any:
    if isinstance(value, str) and value in _NOT_PAUSABLE:
        raise ValueError(f"a pause hook cannot sit at {value}: {_NOT_PAUSABLE[value]} instead")
    return value


def _tenths(value: float) -> float:
    """A percentage ECS takes in tenths; float error (0.1 * 3) is forgiven, 5.25 is not."""
    if abs(round(value * 10) - value * 10) > 1e-9:
        raise ValueError(f"{value} is not a multiple of 0.1 (ECS takes percentages in tenths)")
    return round(value, 1)


# JSON integers are numbers too (5 as well as 5.0); booleans and strings are not (strict).
_Percent = Annotated[float, Field(allow_inf_nan=False), AfterValidator(_tenths)]
_BakeMinutes = Annotated[int, Field(ge=0, le=24 * 60)]


class Canary(Strict):
    """CANARY: shift ``percent`` (0.1 to 100, in tenths) of production traffic, wait ``bake_minutes``, shift the rest."""

    percent: _Percent = Field(default=5.0, ge=0.1, le=100)
    bake_minutes: _BakeMinutes = 10


class Linear(Strict):
    """LINEAR: shift ``step_percent`` (3 to 100, in tenths) of production traffic at a time, ``step_bake_minutes`` apart."""

    step_percent: _Percent = Field(default=10.0, ge=3, le=100)
    step_bake_minutes: _BakeMinutes = 6


def _distinct(stages: list[str]) -> list[str]:
    twice = next((stage for index, stage in enumerate(stages) if stage in stages[:index]), None)
    if twice is not None:
        raise ValueError(f"stage {twice} is listed twice")
    return stages


class LambdaHook(Strict):
    """A lifecycle hook: ECS invokes the Lambda function at each of ``stages``, at any stage."""

    stages: Annotated[
        list[Annotated[HookStage, _known("stage", HOOK_STAGES)]], Field(min_length=1), AfterValidator(_distinct)
    ]
    lambda_: str = Field(alias="lambda", json_schema_extra={"pattern": _LAMBDA_ARN.pattern})

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)

    @field_validator("lambda_")
    @classmethod
    def _function_arn(cls, value: str) -> str:
        if not _LAMBDA_ARN.match(value):
            raise ValueError(
                f"{value!r} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])"
            )
        return value


class PauseHook(Strict):
    """A lifecycle hook: ECS pauses the deployment at each of ``stages`` until it is continued.

    Not at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT, which ECS invokes again and again while
    traffic moves (botocore's model: those take Lambda hooks only). After ``timeout_minutes`` (None: ECS's default) ECS takes ``on_timeout``.
    """

    stages: Annotated[
        list[Annotated[PauseStage, _known("stage", HOOK_STAGES), BeforeValidator(_pausable)]],
        Field(min_length=1),
        AfterValidator(_distinct),
    ]
    pause: Literal[True]
    timeout_minutes: int | None = Field(default=None, ge=1, le=14 * 24 * 60)
    on_timeout: Literal["rollback", "continue"] = "rollback"

    @field_validator("pause", mode="before")
    @classmethod
    def _literally_true(cls, value: Any) -> Any:
        if value is not True:
            raise ValueError('must be true: a pause hook is {"stages": [...], "pause": true}')
        return value


_HOOK_SHAPES = '{"stages", "lambda"} or {"stages", "pause": true, ...}'


def _hook_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "LambdaHook" if "lambda" in value else "PauseHook" if "pause" in value else None
    return "LambdaHook" if isinstance(value, LambdaHook) else "PauseHook" if isinstance(value, PauseHook) else None


def _one_hook_kind(value: Any) -> Any:
    """A hook names exactly one of "lambda" and "pause"; say which shapes there are if not."""
    if isinstance(value, BaseModel) or (isinstance(value, dict) and ("lambda" in value) != ("pause" in value)):
        return value
    hint = ""
    if isinstance(value, dict):
        if "lambda" in value:
            hint = ' (not both "lambda" and "pause")'
        else:
            misspelt = [k for k in value if isinstance(k, str) and k != "stages"]
            close = [m for k in misspelt for m in difflib.get_close_matches(k, ("lambda", "pause"), n=1, cutoff=0.6)]
            hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise ValueError(f"a hook is either {_HOOK_SHAPES}{hint}")


Hook = Annotated[
    Annotated[LambdaHook, Tag("LambdaHook")] | Annotated[PauseHook, Tag("PauseHook")],
    Discriminator(_hook_kind),
    BeforeValidator(_one_hook_kind),
]
# Union members as pydantic tags them in an error's location (see _real_location).
_UNION_MEMBERS: dict[str, type[BaseModel]] = {"LambdaHook": LambdaHook, "PauseHook": PauseHook}
