"""The CloudWatch dashboard and alarms of template.yaml against the code and the stack.

Every Slipway metric a widget or an alarm names must be one the code emits (the names are
collected from the code itself, so a renamed metric fails here, not on an empty graph), every
AWS metric must name one of the stack's functions or queues, every alarm must notify the
topic, and docs/dashboard.svg must be what scripts/render-dashboard.py draws today.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sandbox.template import template
from slipway.model import Status
from slipway.moves import ALLOWED_FROM
from slipway.telemetry import metrics
from tests.template.conftest import ROOT

CODE = ROOT / "functions" / "slipway"
# `count(` or `self._count(` (the callback every domain class takes), then its arguments.
COUNT_CALL = re.compile(r"\b_?count\(")
ADD_METRIC = re.compile(r"add_metric\(\s*name=\"([A-Z]\w+)\"")
# How moves.py names a rollout's outcome: Rollouts{Status as TitleCase}.
TITLE_CASED_STATUS = "{status.title().replace('_', '')}"


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_dashboard", ROOT / "scripts" / "render-dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _render_module()


def _first_argument(source: str, start: int) -> str:
    """The text of a call's first argument, from just after its opening parenthesis."""
    depth, quote = 0, ""
    for end in range(start, len(source)):
        char = source[end]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}" and depth:
            depth -= 1
        elif char in ",)" and not depth:
            return source[start:end].strip()
    return ""


def _names_in(argument: str, constants: dict[str, str]) -> set[str]:
    """Metric names a count's first argument can take: literals, a module constant, Rollouts{status}."""
    if argument in constants:
        return {constants[argument]}
    if argument.startswith('f"') and argument.endswith(TITLE_CASED_STATUS + '"'):
        # Mover.move looks its status up in ALLOWED_FROM first: only those statuses get this far.
        prefix = argument[2 : -len(TITLE_CASED_STATUS) - 1]
        return {prefix + Status(s).value.title().replace("_", "") for s in ALLOWED_FROM}
    return set(re.findall(r"(?<![f\w])\"([A-Z]\w+)\"", argument))


def _module_constants(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def emitted_metrics() -> set[str]:
    """Every metric name the Lambda package counts or adds, read from its source."""
    names: set[str] = set()
    for path in CODE.rglob("*.py"):
        source = path.read_text()
        constants = _module_constants(source)
        for call in COUNT_CALL.finditer(source):
            names |= _names_in(_first_argument(source, call.end()), constants)
        names |= set(ADD_METRIC.findall(source))
    return names


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    return render.dashboard_body()


def _metric_lines(body: dict[str, Any]) -> list[list[Any]]:
    return [line for w in body["widgets"] if w["type"] == "metric" for line in w["properties"]["metrics"]]


def _dimensions(line: list[Any]) -> dict[str, str]:
    pairs = [part for part in line[2:] if not isinstance(part, dict)]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def _alarms() -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def _function_names() -> set[str]:
    stack = render.SampleStack(template())
    return {
        stack.ref(name)
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


# -- the scan of the code the other tests rely on --------------------------------------------


def test_emitted_metrics_scan_finds_literal_conditional_constant_and_status_names() -> None:
    names = emitted_metrics()

    assert {"PushesReceived", "TargetsHandedOn", "ReconcileFound"} <= names  # literals
    assert {"ThrottlingRetries", "AwsRetries"} <= names  # both sides of a conditional
    assert "ChatNotificationsFailed" in names  # a module constant
    assert {"RolloutsSucceeded", "RolloutsTimedOut", "RolloutsRolledBack"} <= names  # Rollouts{status}
    assert {"PushToDeployingSeconds", "PushToOutcomeSeconds"} <= names
    assert "RolloutsDeploying" not in names  # no move goes to DEPLOYING


# -- the dashboard body ------------------------------------------------------------------------


def test_dashboard_body_is_json_whose_widgets_fit_the_grid_without_overlapping(body: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for widget in body["widgets"]:
        assert widget["x"] >= 0 and widget["width"] >= 1 and widget["x"] + widget["width"] <= 24, widget
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells, f"{render.widget_title(widget)} overlaps {cells[(x, y)]}"
                cells[(x, y)] = render.widget_title(widget)


def test_dashboard_body_region_is_the_stacks(body: dict[str, Any]) -> None:
    regions = {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"}

    assert regions == {render.SAMPLE["AWS::Region"]}


def test_dashboard_slipway_metric_each_emitted_by_the_code(body: dict[str, Any]) -> None:
    charted = {line[1] for line in _metric_lines(body) if line[0] == "Slipway"}

    assert charted - emitted_metrics() == set()


def test_dashboard_slipway_metric_has_the_namespace_and_dimension_powertools_emits(body: dict[str, Any]) -> None:
    emf = metrics.provider  # what the functions' Metrics serialises: namespace Slipway, dimension service
    lines = [line for line in _metric_lines(body) if not line[0].startswith("AWS/")]

    assert {line[0] for line in lines} == {emf.namespace}
    assert all(_dimensions(line) == {"service": emf.service} for line in lines)


def test_dashboard_charts_pushes_outcomes_durations_retries_hand_on_reconcile_and_errors(body: dict[str, Any]) -> None:
    charted = {line[1] for line in _metric_lines(body)}

    wanted = {
        "PushesReceived",
        "PushToDeployingSeconds",
        "PushToOutcomeSeconds",
        "ThrottlingRetries",
        "TargetsHandedOn",
        "ReconcileFound",
        "TargetsErrored",
        "Errors",
        "ApproximateNumberOfMessagesVisible",
    }
    outcomes = {f"Rollouts{Status(s).value.title().replace('_', '')}" for s in ALLOWED_FROM}
    assert wanted | outcomes <= charted


@pytest.mark.parametrize("metric", ["Errors", "Throttles", "Duration"])
def test_dashboard_lambda_metric_names_every_function_of_the_template(body: dict[str, Any], metric: str) -> None:
    lines = [line for line in _metric_lines(body) if line[:2] == ["AWS/Lambda", metric]]

    assert sorted(_dimensions(line)["FunctionName"] for line in lines) == sorted(_function_names())


def test_dashboard_aws_metric_each_names_a_function_or_queue_of_the_template(body: dict[str, Any]) -> None:
    stack = render.SampleStack(template())
    queues = {stack.queue_name(name) for name, r in template()["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    known = {"FunctionName": _function_names(), "QueueName": queues}

    for line in (line for line in _metric_lines(body) if line[0].startswith("AWS/")):
        dimensions = _dimensions(line)
        assert dimensions, line
        assert all(value in known.get(name, set()) for name, value in dimensions.items()), line


def test_dashboard_dead_letter_depth_is_the_dead_letter_queues(body: dict[str, Any]) -> None:
    [line] = [line for line in _metric_lines(body) if line[0] == "AWS/SQS"]

    assert _dimensions(line) == {"QueueName": render.SampleStack(template()).queue_name("DeadLetterQueue")}


def test_dashboard_alarm_widget_shows_every_alarm(body: dict[str, Any]) -> None:
    stack = render.SampleStack(template())
    [widget] = [w for w in body["widgets"] if w["type"] == "alarm"]

    assert sorted(widget["properties"]["alarms"]) == sorted(stack.get_att(name, "Arn") for name in _alarms())


# -- the alarms --------------------------------------------------------------------------------


def test_alarms_dead_letters_deploy_errors_errored_targets_and_timeouts_exist() -> None:
    watched = {(a["Namespace"], a["MetricName"]) for a in _alarms().values()}

    assert watched >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("Slipway", "TargetsErrored"),
        ("Slipway", "RolloutsTimedOut"),
    }


@pytest.mark.parametrize("name", sorted(_alarms()))
def test_alarm_notifies_the_topic_under_a_stack_name_and_says_what_to_do(name: str) -> None:
    alarm = _alarms()[name]

    assert alarm["AlarmActions"] == [{"Ref": "NotificationsTopic"}]
    assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")
    description = alarm["AlarmDescription"]
    assert len(description if isinstance(description, str) else description["Fn::Sub"]) > 80


@pytest.mark.parametrize("name", sorted(n for n, a in _alarms().items() if a["Namespace"] == "Slipway"))
def test_alarm_slipway_metric_is_emitted_with_the_powertools_dimension(name: str) -> None:
    alarm = _alarms()[name]

    assert alarm["MetricName"] in emitted_metrics()
    assert alarm["Dimensions"] == [{"Name": "service", "Value": metrics.provider.service}]


def test_alarm_deploy_errors_watches_the_deploy_function() -> None:
    [alarm] = [a for a in _alarms().values() if a["Namespace"] == "AWS/Lambda"]

    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "DeployFunction"}}]


# -- the picture in the README ---------------------------------------------------------------


def test_dashboard_svg_is_what_the_script_renders_from_the_template(body: dict[str, Any]) -> None:
    svg = Path(render.SVG)

    assert svg.read_text() == render.render_svg(body), "run .venv/bin/python scripts/render-dashboard.py"


def test_dashboard_svg_has_one_titled_rectangle_per_widget(body: dict[str, Any]) -> None:
    svg = render.render_svg(body)

    assert svg.count("<rect ") == len(body["widgets"]) + 1  # and the background
    assert all(f">{render.widget_title(w)}</text>" in svg for w in body["widgets"] if "&" not in render.widget_title(w))
