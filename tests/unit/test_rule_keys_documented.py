"""Every key of the rule format is in the published JSON Schema, the README and a test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from slipway.rules import (
    Canary,
    CircuitBreaker,
    EventsRuleTarget,
    FreezeWindow,
    LambdaHook,
    Linear,
    PauseHook,
    RuleSpec,
    ScheduleTarget,
    Target,
    json_schema,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schema" / "rule.schema.json"
README = ROOT / "README.md"
TESTS = ROOT / "tests"
MODELS: tuple[type[BaseModel], ...] = (
    RuleSpec,
    Target,
    CircuitBreaker,
    FreezeWindow,
    Canary,
    Linear,
    LambdaHook,
    PauseHook,
    ScheduleTarget,
    EventsRuleTarget,
)


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a rule's JSON uses for a model: aliases where set (``from``, not ``from_``)."""
    return [field.alias or name for name, field in model.model_fields.items()]


RULE_KEYS = [(model.__name__, key) for model in MODELS for key in keys_of(model)]
IDS = [f"{model}.{key}" for model, key in RULE_KEYS]


def schema_properties(model: str) -> dict[str, object]:
    schema = json.loads(SCHEMA.read_text())
    node = schema if model == "RuleSpec" else schema["$defs"][model]
    return dict(node["properties"])


def test_rule_keys_list_covers_every_model_field() -> None:
    # the parametrisation below cannot silently shrink: the rule format has these keys
    assert {key for _, key in RULE_KEYS} >= {
        "targets",
        "tags",
        "semver",
        "enabled",
        "allow_downgrade",
        "circuit_breaker",
        "alarms",
        "promote_from",
        "soak_minutes",
        "freeze",
        "deploy_after_freeze",
        "max_parallel",
        "approval",
        "cluster",
        "service",
        "container",
        "enable",
        "rollback",
        "start",
        "end",
        "cron",
        "duration_minutes",
        "days",
        "from",
        "to",
        "timezone",
        "strategy",
        "bake_minutes",
        "canary",
        "linear",
        "hooks",
        "headless",
        "percent",
        "step_percent",
        "step_bake_minutes",
        "stages",
        "lambda",
        "pause",
        "timeout_minutes",
        "on_timeout",
        "schedule",
        "events_rule",
        "event_bus",
        "target_id",
    }
    assert "from_" not in {key for _, key in RULE_KEYS}
    assert "lambda_" not in {key for _, key in RULE_KEYS}


def test_rule_schema_file_is_what_the_code_publishes() -> None:
    assert json.loads(SCHEMA.read_text()) == json_schema()


@pytest.mark.parametrize("model", [m.__name__ for m in MODELS])
def test_rule_schema_has_no_key_the_format_lacks_and_forbids_others(model: str) -> None:
    schema = json.loads(SCHEMA.read_text())
    node = schema if model == "RuleSpec" else schema["$defs"][model]
    model_class = next(m for m in MODELS if m.__name__ == model)

    assert set(node["properties"]) == set(keys_of(model_class))
    assert node.get("additionalProperties") is False


@pytest.mark.parametrize(("model", "key"), RULE_KEYS, ids=IDS)
def test_rule_key_is_in_json_schema(model: str, key: str) -> None:
    properties = schema_properties(model)

    assert key in properties, f"{model}.{key} is missing from {SCHEMA.relative_to(ROOT)}"
    assert properties[key], f"{model}.{key} has an empty schema"


@pytest.mark.parametrize(("model", "key"), RULE_KEYS, ids=IDS)
def test_rule_key_is_documented_in_readme(model: str, key: str) -> None:
    assert README.exists(), "README.md does not exist"
    text = README.read_text()

    # named as code: `key` or "key" (a table cell or a JSON example)
    assert re.search(rf'[`"]{re.escape(key)}[`"]', text), f"{model}.{key} is not in README.md"


def _test_sources() -> dict[Path, str]:
    me = Path(__file__).resolve()
    return {path: path.read_text() for path in sorted(TESTS.rglob("*.py")) if path.resolve() != me}


@pytest.mark.parametrize(("model", "key"), RULE_KEYS, ids=IDS)
def test_rule_key_is_used_in_a_test(model: str, key: str) -> None:
    # used as a key of a rule written in a test: "key": value
    used = re.compile(rf'["\']{re.escape(key)}["\']\s*:')

    files = [path.relative_to(ROOT) for path, text in _test_sources().items() if used.search(text)]

    assert files, f'{model}.{key}: no test under tests/ writes a rule with "{key}"'
