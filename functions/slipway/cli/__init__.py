"""The ``slipway`` command: history, rollback and rule tools for release managers and on-call.

It uses the caller's AWS credentials (``AWS_PROFILE``, ``AWS_REGION``) and honours
``AWS_ENDPOINT_URL``, so the same commands work against the local sandbox. The stack is
found from ``--stack`` (CloudFormation outputs) or from ``SLIPWAY_TABLE_NAME``,
``SLIPWAY_TOPIC_ARN`` and ``SLIPWAY_RULES_PATH``.

One module per job: ``context`` (the App a command uses), ``output`` (JSON, tables,
fields, through rich), ``failure`` (the one line a failure prints), ``progress`` (--wait),
and the commands: ``history`` (history, rollback, adopt), ``rules``, ``pushes`` (plan,
explain), ``gates`` (approve, holds), ``rollouts`` (abort, approving a paused deployment),
``fleet`` (status) and ``completion``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
from botocore.exceptions import BotoCoreError, ClientError

from slipway.cli.completion import completion
from slipway.cli.context import Context
from slipway.cli.failure import failure_line
from slipway.cli.fleet import status
from slipway.cli.gates import approve, holds
from slipway.cli.history import adopt, history, rollback
from slipway.cli.output import emit, render_fields, render_table, short_digest, short_reason, short_revision
from slipway.cli.pushes import explain, plan_command
from slipway.cli.rollouts import abort
from slipway.cli.rules import rules
from slipway.errors import SlipwayError

if TYPE_CHECKING:
    from rich.console import Console

    from slipway.app import App
    from slipway.follow import Pace

PROG = "slipway"  # also names the completion variable: _SLIPWAY_COMPLETE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--stack", envvar="SLIPWAY_STACK", help="CloudFormation stack of Slipway (its outputs name the table and topic)."
)
@click.option("--region", envvar="AWS_REGION", help="AWS region (default: your AWS configuration's).")
@click.option("--profile", envvar="AWS_PROFILE", help="AWS profile (default: your AWS configuration's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.option("-v", "--verbose", is_flag=True, help="Log what Slipway does (JSON lines on stderr).")
@click.pass_context
def main(
    click_ctx: click.Context, stack: str | None, region: str | None, profile: str | None, as_json: bool, verbose: bool
) -> None:
    """Slipway: see and steer the deployments of ECR pushes to ECS services."""
    quiet_logs(verbose)
    # click_ctx.obj is what ``run`` was handed, if anything (tests); else the Context builds its own.
    given = click_ctx.obj or {}
    click_ctx.obj = Context(stack, region, profile, as_json, **given)


for command in (history, rollback, adopt, rules, plan_command, explain, approve, holds, status, abort, completion):
    main.add_command(command)


def quiet_logs(verbose: bool) -> None:
    """Function logs go to stderr, and only warnings unless --verbose: stdout is the command's output."""
    import logging

    from slipway.telemetry import logger

    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    for handler in logging.getLogger(logger.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_Stderr())  # type: ignore[arg-type]


class _Stderr:
    """Whatever sys.stderr is at the time of writing (it may be replaced, as under test runners)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def run(
    argv: Sequence[str] | None = None,
    app: App | None = None,
    console: Console | None = None,
    pace: Pace | None = None,
) -> None:
    """Entry point: every error a user can cause becomes one line on stderr and exit status 1.

    ``app``: the App every command uses instead of one built from the options;
    ``console``: where tables and progress go; ``pace``: how --wait polls (all for tests).
    """
    given = {name: value for name, value in (("app", app), ("console", console), ("pace", pace)) if value is not None}
    try:
        main(args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False, obj=given)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except (SlipwayError, BotoCoreError, ClientError) as error:
        click.echo(failure_line(error), err=True)
        sys.exit(1)


__all__ = [
    "Context",
    "emit",
    "main",
    "render_fields",
    "render_table",
    "run",
    "short_digest",
    "short_reason",
    "short_revision",
]
