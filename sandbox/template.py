"""Read template.yaml, so sandbox resources cannot drift from the real stack."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


@lru_cache(maxsize=1)
def template() -> dict[str, Any]:
    decoded, problems = decode_str(TEMPLATE.read_text())
    if problems or decoded is None:
        raise ValueError(f"cannot read {TEMPLATE}: {problems}")
    return _plain(decoded)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def resource(name: str) -> dict[str, Any]:
    return dict(template()["Resources"][name]["Properties"])


def parameter_default(name: str) -> str:
    return str(template()["Parameters"][name]["Default"])


def event_pattern(function: str, event: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The EventBridge pattern of a function's event source, as CloudFormation would resolve it.

    ``Fn::Sub`` over stack parameters is resolved with their defaults (or ``parameters``).
    """
    values = {name: str(spec.get("Default", "")) for name, spec in template()["Parameters"].items()}
    values.update(parameters or {})
    return dict(_resolve(resource(function)["Events"][event]["Properties"]["Pattern"], values))


def _resolve(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for name, value in values.items():
                text = text.replace("${" + name + "}", value)
            if "${" in text:
                raise ValueError(f"cannot resolve {node} in the sandbox")
            return text
        return {k: _resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, values) for v in node]
    return node


def table_definition() -> dict[str, Any]:
    """CreateTable arguments for the Slipway table, from its template resource."""
    props = resource("SlipwayTable")
    definition = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return definition


def ttl_attribute() -> str:
    return str(resource("SlipwayTable")["TimeToLiveSpecification"]["AttributeName"])


def function_environment() -> dict[str, Any]:
    return dict(template()["Globals"]["Function"]["Environment"]["Variables"])


def queue_attributes(name: str, dead_letter_url: str, world: Any) -> dict[str, str]:
    """CreateQueue attributes of a queue resource: its visibility timeout, retention and redrive policy."""
    import json

    props = resource(name)
    attributes = {
        "VisibilityTimeout": str(props.get("VisibilityTimeout", 30)),
        "MessageRetentionPeriod": str(props.get("MessageRetentionPeriod", 345600)),
    }
    redrive = props.get("RedrivePolicy")
    if redrive:
        policy = {
            "deadLetterTargetArn": world.queue_arn(dead_letter_url),
            "maxReceiveCount": redrive["maxReceiveCount"],
        }
        attributes["RedrivePolicy"] = json.dumps(policy)
    return attributes


def function_timeout(name: str) -> int:
    """A function's Timeout: its own, else the Globals'."""
    own = resource(name).get("Timeout")
    return int(own if own is not None else template()["Globals"]["Function"]["Timeout"])


def max_receive_count(queue: str) -> int:
    return int(resource(queue)["RedrivePolicy"]["maxReceiveCount"])


@lru_cache(maxsize=1)
def target_account_template() -> dict[str, Any]:
    """templates/target-account.yaml (the stack of every target account), decoded as ``template()`` decodes."""
    path = TEMPLATE.parent / "templates" / "target-account.yaml"
    decoded, problems = decode_str(path.read_text())
    if problems or decoded is None:
        raise ValueError(f"cannot read {path}: {problems}")
    return _plain(decoded)
