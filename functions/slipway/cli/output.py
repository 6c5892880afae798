"""How commands print: JSON for scripts with --json, readable tables and fields for people."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from slipway.cli.context import Context


def emit(ctx: Context, data: Any, table: Sequence[Sequence[str]] | None = None, headers: Sequence[str] = ()) -> None:
    """JSON with --json, else a readable table (or the text given)."""
    if ctx.as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
    elif table is not None:
        click.echo(render_table(headers, table))
    else:
        click.echo(str(data))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    if not rows:
        return "(nothing)"
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def render_fields(fields: Sequence[tuple[str, str]]) -> str:
    """One ``name  value`` line per field, the values aligned (a record, where a table shows many)."""
    width = max((len(name) for name, _ in fields), default=0)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in fields)


_TASK_DEFINITION_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[^:]+:\d{12}:task-definition/(\S+?)(?=[\s,;]|\.?$)")


def short_reason(reason: str, width: int = 80) -> str:
    """A reason for a table cell: task definition ARNs shortened to family:revision."""
    return _TASK_DEFINITION_ARN.sub(r"\1", reason)[:width]


def short_revision(arn: str | None) -> str:
    return arn.rsplit("/", 1)[-1] if arn else "-"


def short_digest(digest: str | None) -> str:
    return digest[:19] if digest else "-"


def moment(value: datetime | None) -> str:
    """A time for people: UTC, to the second ('-' when unknown)."""
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "-"
