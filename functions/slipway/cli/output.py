"""How commands print: JSON for scripts with --json, tables and fields for people.

Tables come from ``rich``. On a terminal they carry colour (bold headers, statuses by
outcome); when output is not a terminal they are plain and stable for scripts and
``grep``: no colour, no wrapping, columns two spaces apart, no trailing spaces.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from slipway.cli.context import Context

PLAIN_WIDTH = 10_000  # not a terminal: never wrap a line
STATUS_STYLES = {
    "SUCCEEDED": "green",
    "DEPLOYING": "yellow",
    "PROGRESS": "yellow",
    "SKIPPED": "dim",
    "SUPERSEDED": "dim",
    "FAILED": "bold red",
    "ROLLED_BACK": "bold red",
    "ERROR": "bold red",
    "TIMED_OUT": "red",
}


def make_console(file: Any = None, force_terminal: bool | None = None, width: int | None = None) -> Console:
    """A rich Console on stdout (as it is now: test runners replace it); wide and plain when not a terminal."""
    from rich.console import Console

    console = Console(file=file or sys.stdout, force_terminal=force_terminal, width=width, highlight=False, emoji=False)
    if not console.is_terminal and width is None:
        console.width = PLAIN_WIDTH
    return console


def emit(ctx: Context, data: Any, table: Sequence[Sequence[str]] | None = None, headers: Sequence[str] = ()) -> None:
    """JSON with --json, else a readable table (or the text given)."""
    if ctx.as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
    elif table is not None:
        show(ctx.console, table_of(headers, table) if table else "(nothing)")
    else:
        click.echo(str(data))


def show(console: Console, renderable: RenderableType) -> None:
    """Print through rich: as is on a terminal; captured, and each line's trailing spaces cut, elsewhere."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    click.echo(text, file=console.file)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def table_of(headers: Sequence[str], rows: Sequence[Sequence[str]], show_header: bool = True) -> Table:
    """Left-aligned columns two spaces apart, no borders; status cells styled by outcome (seen on terminals)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=None,
        show_header=show_header,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1),
        show_edge=False,
        expand=False,
    )
    for header in headers or [""] * (len(rows[0]) if rows else 0):
        table.add_column(Text(str(header)), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(str(cell), style=STATUS_STYLES.get(str(cell), "")) for cell in row))
    return table


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table as plain text (what ``emit`` prints when output is not a terminal)."""
    if not rows:
        return "(nothing)"
    return _plain(table_of(headers, rows))


def render_fields(fields: Sequence[tuple[str, str]]) -> str:
    """One ``name  value`` line per field, the values aligned (a record, where a table shows many)."""
    if not fields:
        return ""
    return _plain(table_of(["", ""], [list(f) for f in fields], show_header=False))


def _plain(renderable: RenderableType) -> str:
    console = make_console(file=_Discard(), force_terminal=False, width=PLAIN_WIDTH)
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


class _Discard:
    """A file that keeps nothing: the plain renderings are captured, never written."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


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
