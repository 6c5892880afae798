"""Deployment rules: their format, their validation and how a pushed tag is matched.

One rule is one Parameter Store parameter ``{rules_path}/{repository}/{rule}`` whose
value is a JSON object. Everything here is pure: no boto3, no I/O, so the deploy
function, the rule-change checker and the ``slipway`` CLI validate a rule with the
very same code.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from slipway.places import Place, cluster_allowed, of_arn, partition_of, service_key
from slipway.rule_gates import Scan, Signature
from slipway.rule_strategies import (
    _UNION_MEMBERS,
    APPROVAL_STAGE,
    DEFAULT_BLUE_GREEN_BAKE_MINUTES,
    HOOK_STAGES,
    STRATEGIES,
    Canary,
    Hook,
    LambdaHook,
    Linear,
    PauseHook,
    Strategy,
    _BakeMinutes,
    _known,
)
from slipway.rule_strategies import Strict as _Strict
from slipway.rule_tasks import PreDeploy
from slipway.scheduled_targets import TARGET_KINDS, EventsRuleTarget, ScheduledTarget, ScheduleTarget, target_kind
from slipway.versions import RangeError, VersionRange, parse_range, parse_version

MAX_RULE_BYTES = 8192  # Parameter Store's advanced-tier limit; standard is 4 KB.
_NAME = r"[A-Za-z0-9_-]{1,255}"
_CLUSTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster/(?P<name>" + _NAME + r")$"
)
_NAME_RE = re.compile(r"^" + _NAME + r"$")


class RuleInvalid(ValueError):
    """A rule that cannot be used; ``problems`` lists each one as ``path: message``."""

    def __init__(self, parameter: str, problems: list[str]) -> None:
        self.parameter = parameter
        self.problems = problems
        super().__init__(f"rule {parameter} is invalid: " + "; ".join(problems))


class Target(_Strict):
    """One ECS service a rule deploys to; ``container`` narrows which container changes.

    ``cluster`` is a name (a cluster of Slipway's own account and Region) or a cluster ARN
    (any account and Region). A rule validated with its stack's home (``context={"home":
    Place}``) keeps an ARN of the home as the bare name, so that a service has one key
    however a rule spells its cluster.
    """

    cluster: str = Field(min_length=1)
    service: str = Field(min_length=1)
    container: str | None = None

    @field_validator("cluster")
    @classmethod
    def _cluster_name_or_arn(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith("arn:"):
            match = _CLUSTER_ARN.match(value)
            if not match:
                raise ValueError(f"{value!r} is not an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)")
            home = (info.context or {}).get("home")
            if home is not None and Place(match.group("account"), match.group("region")) == home:
                return match.group("name")
        elif not _NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a cluster name (letters, digits, '-' and '_', up to 255)")
        return value

    @field_validator("service", "container")
    @classmethod
    def _ecs_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a valid name (letters, digits, '-' and '_', up to 255)")
        return value

    @property
    def cluster_name(self) -> str:
        match = _CLUSTER_ARN.match(self.cluster)
        return match.group("name") if match else self.cluster

    @property
    def place(self) -> Place | None:
        """The account and Region a cluster ARN names; None for a name (Slipway's own)."""
        return of_arn(self.cluster) if self.cluster.startswith("arn:") else None

    def at(self, home: Place) -> Place:
        """Where the service is: the ARN's account and Region, else home."""
        return self.place or home

    def allowed_by(self, patterns: tuple[str, ...], home: Place) -> bool:
        """True when one of the AllowedClusters entries (name globs at home, ARN globs anywhere) matches."""
        return cluster_allowed(self.cluster_name, self.at(home), home, patterns, partition_of(self.cluster))

    @property
    def key(self) -> str:
        """``cluster/service`` (``ACCOUNT:REGION:cluster/service`` elsewhere): how history refers to it."""
        return service_key(self.cluster_name, self.service, self.place)


AnyTarget = Annotated[
    Annotated[Target, Tag("service target")]
    | Annotated[ScheduleTarget, Tag("schedule target")]
    | Annotated[EventsRuleTarget, Tag("events-rule target")],
    Discriminator(
        target_kind,
        custom_error_type="target_kind",
        custom_error_message='a target names exactly one of "service", "schedule" or "events_rule"',
    ),
]


class CircuitBreaker(_Strict):
    """ECS's deployment circuit breaker, passed to UpdateService as given."""

    enable: bool = True
    rollback: bool = True


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class FreezeWindow(_Strict):
    """A time during which a rule does not deploy. Exactly one of three forms:

    - ``start`` and ``end``: one absolute window (ISO 8601; without an offset, in ``timezone``);
    - ``cron`` and ``duration_minutes``: a window opening at each cron time (5 fields);
    - ``days`` with ``from`` and ``to``: weekly, e.g. Friday 16:00 to 23:59 (``to`` before
      ``from`` runs past midnight).
    """

    start: datetime | None = Field(default=None, strict=False)
    end: datetime | None = Field(default=None, strict=False)
    cron: str | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(default=None, min_length=1)
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    timezone: str = "UTC"

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from cronsim import CronSim, CronSimError

            try:
                CronSim(value, datetime(2000, 1, 1))
            except CronSimError as error:
                raise ValueError(f"cron {value!r}: {error}") from None
        return value

    @field_validator("from_", "to")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> FreezeWindow:
        forms = {
            "start/end": (self.start, self.end),
            "cron/duration_minutes": (self.cron, self.duration_minutes),
            "days/from/to": (self.days, self.from_, self.to),
        }
        complete = [name for name, parts in forms.items() if all(p is not None for p in parts)]
        partial = [name for name, parts in forms.items() if any(p is not None for p in parts)]
        if len(partial) != 1 or len(complete) != 1:
            raise ValueError("a freeze window is exactly one of: start+end, cron+duration_minutes, days+from+to")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RuleSpec(_Strict):
    """The JSON value of a rule parameter. Unknown keys are errors, never ignored.

    ``strategy`` is ECS's deployment strategy; ``bake_minutes``, ``canary``, ``linear``,
    ``hooks`` and ``headless`` go with the strategies they name, ``circuit_breaker`` with
    rolling updates only. ``approval`` with a rolling update holds the push before
    UpdateService until ``slipway approve``; with any other strategy the push rolls out at
    once and ECS pauses it at PRE_PRODUCTION_TRAFFIC_SHIFT (a pause hook, unless ``hooks``
    has a pause hook already) until ``slipway approve`` continues it.
    """

    # Every target as the rule lists it: services, schedules and events rules (``targets`` and
    # ``scheduled`` give each kind on its own, in the rule's order).
    entries: Annotated[list[AnyTarget], Field(min_length=1, alias="targets")]
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=1)] | None = None
    semver: str | None = None
    enabled: bool = True
    allow_downgrade: bool = False
    # strategy comes before every key that depends on it: their validators read it from info.data
    strategy: Annotated[Strategy, _known("strategy", STRATEGIES)] = "rolling"
    bake_minutes: _BakeMinutes | None = None
    canary: Canary | None = None
    linear: Linear | None = None
    hooks: Annotated[list[Hook], Field(max_length=10)] | None = None
    headless: bool = False
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    alarms: Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]], Field(max_length=10)] | None = None
    promote_from: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    soak_minutes: int | None = Field(default=None, ge=0, le=30 * 24 * 60)
    freeze: list[FreezeWindow] | None = None
    deploy_after_freeze: bool = False
    max_parallel: int | None = Field(default=None, ge=1, le=500)
    approval: bool = False
    scan: Scan | None = None
    signature: Signature | None = None
    pre_deploy: PreDeploy | None = None

    @model_validator(mode="after")
    def _coherent(self) -> RuleSpec:
        if self.soak_minutes is not None and self.promote_from is None:
            raise ValueError("soak_minutes needs promote_from (the rule whose success soaks)")
        if self.deploy_after_freeze and not self.freeze:
            raise ValueError("deploy_after_freeze needs freeze windows")
        if self.pre_deploy is not None and not self.targets:
            raise ValueError("pre_deploy needs a service target (its task runs as the first service's tasks run)")
        return self

    # A validator of a key runs only when the rule sets that key; a bad strategy is reported once,
    # not again through each key that depends on it.
    @field_validator("bake_minutes", "hooks")
    @classmethod
    def _not_rolling(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("strategy") == "rolling":
            raise ValueError(
                f'{info.field_name} is for strategy "blue_green", "canary" or "linear"; this rule\'s strategy is "rolling"'
            )
        return value

    @field_validator("canary", "linear")
    @classmethod
    def _own_strategy(cls, value: Any, info: ValidationInfo) -> Any:
        strategy = info.data.get("strategy")
        if value is not None and strategy is not None and strategy != info.field_name:
            raise ValueError(
                f'{info.field_name} is for strategy "{info.field_name}"; this rule\'s strategy is "{strategy}"'
            )
        return value

    @field_validator("headless")
    @classmethod
    def _blue_green_only(cls, value: bool, info: ValidationInfo) -> bool:
        strategy = info.data.get("strategy")
        if value and strategy in ("canary", "linear"):
            raise ValueError(
                f'headless is for strategy "blue_green" only: "{strategy}" shifts traffic, and without'
                " a load balancer or Service Connect there is no traffic to shift"
            )
        if value and strategy == "rolling":
            raise ValueError('headless is for strategy "blue_green" only (a rolling update needs no load balancer)')
        return value

    @field_validator("circuit_breaker")
    @classmethod
    def _rolling_only(cls, value: CircuitBreaker, info: ValidationInfo) -> CircuitBreaker:
        strategy = info.data.get("strategy")
        if strategy is not None and strategy != "rolling":
            raise ValueError(
                f'the circuit breaker is for rolling updates only; with strategy "{strategy}"'
                " ECS rolls back on alarms and hook failures"
            )
        return value

    @property
    def effective_bake_minutes(self) -> int | None:
        """ECS's ``bakeTimeInMinutes``: required for blue/green (10 unless set); None leaves ECS's default."""
        if self.strategy == "blue_green":
            return DEFAULT_BLUE_GREEN_BAKE_MINUTES if self.bake_minutes is None else self.bake_minutes
        return None if self.strategy == "rolling" else self.bake_minutes

    @property
    def effective_canary(self) -> Canary | None:
        """The canary settings of a canary rule (ECS's defaults where the rule has none); else None."""
        return (self.canary or Canary()) if self.strategy == "canary" else None

    @property
    def effective_linear(self) -> Linear | None:
        """The linear settings of a linear rule (ECS's defaults where the rule has none); else None."""
        return (self.linear or Linear()) if self.strategy == "linear" else None

    @property
    def lifecycle_hooks(self) -> list[LambdaHook | PauseHook]:
        """The hooks the rule names, in its order (empty when it names none)."""
        return list(self.hooks or [])

    @property
    def pauses_for_approval(self) -> bool:
        """Approval of a non-rolling rule: ECS pauses at PRE_PRODUCTION_TRAFFIC_SHIFT (unless a pause hook exists)."""
        return (
            self.approval
            and self.strategy != "rolling"
            and not any(isinstance(hook, PauseHook) for hook in self.lifecycle_hooks)
        )

    @property
    def holds_for_approval(self) -> bool:
        """Approval of a rolling rule: the push is held before UpdateService until ``slipway approve``."""
        return self.approval and self.strategy == "rolling"

    @property
    def approval_pause(self) -> PauseHook | None:
        """The pause hook approval adds to a non-rolling rollout, or None (see ``pauses_for_approval``)."""
        if not self.pauses_for_approval:
            return None
        return PauseHook.model_validate({"stages": [APPROVAL_STAGE], "pause": True})

    @field_validator("semver")
    @classmethod
    def _semver_range(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_range(value)
            except RangeError as error:
                raise ValueError(str(error)) from None
        return value

    @property
    def targets(self) -> list[Target]:
        """The rule's ECS services (rolled out through ECS deployments)."""
        return [t for t in self.entries if isinstance(t, Target)]

    @property
    def scheduled(self) -> list[ScheduledTarget]:
        """The rule's scheduled tasks: EventBridge Scheduler schedules and EventBridge rules."""
        return [t for t in self.entries if not isinstance(t, Target)]

    @field_validator("entries")
    @classmethod
    def _distinct_targets(cls, value: list[AnyTarget]) -> list[AnyTarget]:
        seen: set[str] = set()
        for target in value:
            key = target.key  # one service, however the cluster is named (a home ARN reads as its name)
            if key in seen:
                raise ValueError(f"target {target.key} is listed twice")
            seen.add(key)
        return value


@dataclass(frozen=True)
class Match:
    """Whether a tag is selected by a rule, and in words why or why not."""

    matched: bool
    reason: str


@dataclass(frozen=True)
class Rule:
    """A validated rule, addressed by its repository and name."""

    repository: str
    name: str
    parameter: str
    spec: RuleSpec
    version: int | None = None

    @property
    def semver_range(self) -> VersionRange | None:
        return parse_range(self.spec.semver) if self.spec.semver else None

    def match(self, tag: str) -> Match:
        """Does a pushed tag select this rule? Globs first, then the semver range."""
        spec = self.spec
        if spec.tags is not None:
            hit = next((p for p in spec.tags if fnmatch.fnmatchcase(tag, p)), None)
            if hit is None:
                patterns = " or ".join(spec.tags)
                return Match(False, f"tag {tag} does not match {patterns}")
        version_range = self.semver_range
        if version_range is not None:
            version = parse_version(tag)
            if version is None:
                return Match(False, f"tag {tag!r} is not a semantic version (semver {spec.semver!r})")
            if not version_range.contains(version):
                return Match(False, f"version {version} is outside semver range {spec.semver!r}")
        return Match(True, "tag matches" if spec.tags or spec.semver else "rule takes any tag")


def rule_parameter(rules_path: str, repository: str, name: str) -> str:
    """The Parameter Store name of a rule."""
    return f"{rules_path.rstrip('/')}/{repository}/{name}"


def split_parameter(rules_path: str, parameter: str) -> tuple[str, str]:
    """``(repository, rule)`` from a rule's parameter name; ValueError outside ``rules_path``."""
    prefix = rules_path.rstrip("/") + "/"
    if not parameter.startswith(prefix):
        raise ValueError(f"{parameter} is not under {rules_path}")
    repository, _, name = parameter[len(prefix) :].rpartition("/")
    if not repository or not name:
        raise ValueError(f"{parameter} is not {prefix}REPOSITORY/RULE")
    return repository, name


def parse_rule(
    repository: str, name: str, parameter: str, value: str, version: int | None = None, home: Place | None = None
) -> Rule:
    """Validate a rule's raw value; raise RuleInvalid listing every problem found.

    ``home`` is the stack's account and Region: cluster ARNs naming it become names.
    """
    if len(value.encode()) > MAX_RULE_BYTES:
        raise RuleInvalid(parameter, [f"$: rule is {len(value.encode())} bytes, more than {MAX_RULE_BYTES}"])
    try:
        document = json.loads(value)
    except json.JSONDecodeError as error:
        problem = f"$: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        raise RuleInvalid(parameter, [problem]) from None
    return Rule(repository, name, parameter, validate_spec(parameter, document, home), version)


def validate_spec(parameter: str, document: Any, home: Place | None = None) -> RuleSpec:
    """The RuleSpec a decoded JSON document describes, or RuleInvalid with each problem."""
    if not isinstance(document, dict):
        raise RuleInvalid(parameter, [f"$: a rule is a JSON object, not {type(document).__name__}"])
    try:
        return RuleSpec.model_validate(document, context={"home": home})
    except ValidationError as error:
        raise RuleInvalid(parameter, [_describe(e, document) for e in error.errors()]) from None


def _real_location(loc: tuple[Any, ...], document: Any) -> list[Any]:
    """The error's location in the document's own keys, without pydantic's union-member tags."""
    location: list[Any] = []
    node = document
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            location.append(part)
            node = node[part]
        elif last or (isinstance(part, str) and not _is_union_tag(part)):
            location.append(part)  # a missing key is named where it is missing
            node = None
    return location


def _is_union_tag(part: str) -> bool:
    return (
        "[" in part
        or part in {"str", "int", "float", "bool", "list", "dict", "none", "datetime"}
        or part in _UNION_MEMBERS
        or part in _TARGETS
    )


def _describe(error: Any, document: dict[str, Any]) -> str:
    location = _real_location(tuple(error["loc"]), document)
    path = _json_path(location)
    if error["type"] == "extra_forbidden":
        key = str(location[-1])
        known = _known_keys(list(error["loc"])[:-1])
        suggestion = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f' (did you mean "{suggestion[0]}"?)' if suggestion else f" (known keys: {', '.join(known)})"
        parent = _json_path(location[:-1])
        return f'{parent}: unknown key "{key}"{hint}'
    if error["type"] == "missing":
        return f"{path}: required"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}"


def _known_keys(loc: list[Any]) -> list[str]:
    """The keys of the object at pydantic's ``loc``; a union member's tag names its model."""
    model: type[BaseModel] = RuleSpec
    for part in loc:
        if isinstance(part, int):
            continue
        if part in _UNION_MEMBERS or part in _TARGETS:
            model = {**_UNION_MEMBERS, **_TARGETS}[part]
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        if field is None and _is_union_tag(str(part)):
            continue
        inner = _model_of(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


_TARGETS: dict[str, type[BaseModel]] = {"service target": Target, **TARGET_KINDS}


def _json_path(location: list[Any]) -> str:
    path = "$" if not location else ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


SCHEMA_ID = "https://slipway.dev/schema/rule.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rule's value, for editors and ``slipway rules validate``'s readers."""
    schema = RuleSpec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Slipway deployment rule",
        "description": "The value of a Parameter Store parameter {RulesPath}/{repository}/{rule}.",
        **{k: v for k, v in schema.items() if k != "title"},
    }


# The strategy keys' models, for readers of the rule format (they live in rule_strategies).
__all__ = [
    "APPROVAL_STAGE",
    "HOOK_STAGES",
    "Canary",
    "CircuitBreaker",
    "EventsRuleTarget",
    "FreezeWindow",
    "LambdaHook",
    "Linear",
    "Match",
    "PauseHook",
    "Rule",
    "RuleInvalid",
    "RuleSpec",
    "Scan",
    "ScheduleTarget",
    "ScheduledTarget",
    "Signature",
    "Target",
    "json_schema",
    "parse_rule",
    "rule_parameter",
    "split_parameter",
    "validate_spec",
]
