"""Draw the layout of template.yaml's CloudWatch dashboard as docs/dashboard.svg.

The dashboard body is resolved with sample values (a stack named slipway-sample in eu-west-1),
then each widget becomes one titled rectangle at its x, y, width and height on CloudWatch's
24-column grid. Plain SVG, written the same way every time: tests/template/test_dashboard.py
regenerates it and compares.

    .venv/bin/python scripts/render-dashboard.py          # write docs/dashboard.svg
    .venv/bin/python scripts/render-dashboard.py --check  # exit 1 if it is not what the template gives
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
SVG = ROOT / "docs" / "dashboard.svg"
DASHBOARD = "Dashboard"
# The stack the picture (and the tests) resolve the body for.
SAMPLE = {
    "AWS::StackName": "slipway-sample",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}
COLUMN = 40  # pixels per grid column: the grid is 24 columns wide
ROW = 30  # pixels per grid row
GAP = 4
_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    decoded, problems = decode_str(path.read_text())
    if problems or decoded is None:
        raise ValueError(f"cannot read {path}: {problems}")
    return json.loads(json.dumps(decoded))  # plain dicts, lists and strings


class SampleStack:
    """Values CloudFormation would give the template's references, for the sample stack."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = template
        self.resources: dict[str, Any] = template["Resources"]
        self.parameters: dict[str, Any] = template.get("Parameters", {})

    def ref(self, name: str) -> str:
        if name in SAMPLE:
            return SAMPLE[name]
        if name in self.parameters:
            return str(self.parameters[name].get("Default", ""))
        resource = self.resources.get(name)
        if resource is None:
            raise ValueError(f"the dashboard names {name}, which the template does not define")
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Lambda::Function"}:
            return str(self.resolve(resource["Properties"]["FunctionName"]))
        if resource["Type"] == "AWS::SQS::Queue":
            return (
                f"https://sqs.{SAMPLE['AWS::Region']}.amazonaws.com/{SAMPLE['AWS::AccountId']}/{self.queue_name(name)}"
            )
        return f"{SAMPLE['AWS::StackName']}-{name}-SAMPLE"

    def queue_name(self, name: str) -> str:
        return f"{SAMPLE['AWS::StackName']}-{name}-SAMPLE"

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name)
        if resource is None:
            raise ValueError(f"the dashboard names {name}.{attribute}, which the template does not define")
        kind = resource["Type"]
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.queue_name(name)
        if kind == "AWS::CloudWatch::Alarm" and attribute == "Arn":
            alarm = self.resolve(resource["Properties"]["AlarmName"])
            return f"arn:aws:cloudwatch:{SAMPLE['AWS::Region']}:{SAMPLE['AWS::AccountId']}:alarm:{alarm}"
        raise ValueError(f"no sample value for {name}.{attribute} ({kind})")

    def resolve(self, node: Any) -> Any:
        """A template value with Ref, Fn::GetAtt, Fn::Sub and Fn::If (its first branch) resolved."""
        if isinstance(node, dict) and len(node) == 1:
            [(function, argument)] = node.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(name, attribute)
            if function == "Fn::If":  # the sample stack has every condition true (the defaults do)
                return self.resolve(argument[1])
            if function == "Fn::Sub":
                return self.sub(argument)
        if isinstance(node, dict):
            return {k: self.resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v) for v in node]
        return node

    def sub(self, argument: str | list[Any]) -> str:
        text, given = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        variables = {name: str(self.resolve(value)) for name, value in given.items()}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if "." in name:
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return _VARIABLE.sub(value, text)


def dashboard_body(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dashboard's body as CloudWatch would receive it from the sample stack (parsed JSON)."""
    template = template or load_template()
    body = template["Resources"][DASHBOARD]["Properties"]["DashboardBody"]
    return dict(json.loads(SampleStack(template).resolve(body)))


def widget_title(widget: dict[str, Any]) -> str:
    properties = widget.get("properties", {})
    if "title" in properties:
        return str(properties["title"])
    first = str(properties.get("markdown", widget["type"])).strip().splitlines()[0]
    return first.lstrip("#").strip()


def widget_detail(widget: dict[str, Any]) -> list[str]:
    """What the widget shows: its metrics' names (each once), its alarms' count, or "text"."""
    properties = widget.get("properties", {})
    if widget["type"] == "metric":
        names = dict.fromkeys(f"{m[0]} {m[1]}" if m[0] != "Slipway" else m[1] for m in properties.get("metrics", []))
        return list(names)
    if widget["type"] == "alarm":
        return [f"{len(properties.get('alarms', []))} alarms"]
    return ["text"]


def _wrapped(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 2 + len(word) <= width:
            lines[-1] += f", {word}"
        else:
            lines.append(word)
    return lines


def render_svg(body: dict[str, Any]) -> str:
    """One titled rectangle per widget, placed on the 24-column grid."""
    widgets = body["widgets"]
    rows = max(w["y"] + w["height"] for w in widgets)
    width, height = 24 * COLUMN, rows * ROW
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'  <rect x="0" y="0" width="{width}" height="{height}" fill="#f4f5f7"/>',
    ]
    for widget in widgets:
        x, y = widget["x"] * COLUMN + GAP, widget["y"] * ROW + GAP
        w, h = widget["width"] * COLUMN - 2 * GAP, widget["height"] * ROW - 2 * GAP
        fill = "#ffffff" if widget["type"] != "text" else "#e8eef7"
        lines += [
            "  <g>",
            f'    <rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="#8a9099"/>',
            f'    <text x="{x + 10}" y="{y + 20}" font-size="14" font-weight="bold" fill="#16191f">'
            f"{escape(widget_title(widget))}</text>",
        ]
        for number, line in enumerate(_wrapped(widget_detail(widget), w // 7)):
            lines.append(
                f'    <text x="{x + 10}" y="{y + 40 + 15 * number}" font-size="11" fill="#5f6b7a">{escape(line)}</text>'
            )
        lines.append("  </g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    svg = render_svg(dashboard_body())
    if "--check" in argv:
        if not SVG.exists() or SVG.read_text() != svg:
            print(f"{SVG.relative_to(ROOT)} is not what template.yaml gives: run scripts/render-dashboard.py")
            return 1
        return 0
    SVG.parent.mkdir(exist_ok=True)
    SVG.write_text(svg)
    print(f"wrote {SVG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
