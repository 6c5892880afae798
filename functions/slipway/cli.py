"""The ``slipway`` command: history, rollback and rule tools for release managers and on-call.

It uses the caller's AWS credentials (``AWS_PROFILE``, ``AWS_REGION``) and honours
``AWS_ENDPOINT_URL``, so the same commands work against the local sandbox. The stack is
found from ``--stack`` (CloudFormation outputs) or from ``SLIPWAY_TABLE_NAME``,
``SLIPWAY_TOPIC_ARN`` and ``SLIPWAY_RULES_PATH``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from slipway.errors import SlipwayError


class Context:
    """What every command needs: an App built from the options, and the output mode."""

    def __init__(self, stack: str | None, region: str | None, profile: str | None, as_json: bool) -> None:
        self.stack = stack
        self.region = region
        self.profile = profile
        self.as_json = as_json
        self._app: Any = None

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    @property
    def app(self) -> Any:
        if self._app is None:
            from slipway.app import App
            from slipway.settings import Settings

            overrides = self._stack_outputs() if self.stack else {}
            config = Settings.from_environ().model_copy(update=overrides)
            if not config.table_name:
                raise click.UsageError("no Slipway stack: pass --stack NAME or set SLIPWAY_TABLE_NAME and SLIPWAY_TOPIC_ARN")
            self._app = App(config=config, session=self.session())
        return self._app

    def _stack_outputs(self) -> dict[str, str]:
        from slipway.aws.clients import call, client

        response = call("DescribeStacks", client("cloudformation", self.session()).describe_stacks, StackName=self.stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in response["Stacks"][0].get("Outputs", [])}
        names = {"TableName": "table_name", "TopicArn": "topic_arn", "RulesPath": "rules_path"}
        return {field: outputs[key] for key, field in names.items() if key in outputs}

    def caller(self) -> str | None:
        from slipway.aws.clients import client
        from slipway.errors import AwsError

        try:
            return str(client("sts", self.session()).get_caller_identity()["Arn"])
        except (AwsError, Exception):  # noqa: BLE001 - who ran it is informative, never required
            return None


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


_TASK_DEFINITION_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[^:]+:\d{12}:task-definition/(\S+?)(?=[\s,;]|\.?$)")


def short_reason(reason: str, width: int = 80) -> str:
    """A reason for a table cell: task definition ARNs shortened to family:revision."""
    return _TASK_DEFINITION_ARN.sub(r"\1", reason)[:width]


def short_revision(arn: str | None) -> str:
    return arn.rsplit("/", 1)[-1] if arn else "-"


def short_digest(digest: str | None) -> str:
    return digest[:19] if digest else "-"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--stack", envvar="SLIPWAY_STACK", help="CloudFormation stack of Slipway (its outputs name the table and topic).")
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
    click_ctx.obj = Context(stack, region, profile, as_json)


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


@main.command()
@click.argument("service_key", metavar="CLUSTER/SERVICE")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="How many rollouts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def history(ctx: Context, service_key: str, limit: int, as_json: bool) -> None:
    """Rollouts of a service, newest first."""
    from slipway.rollback import split_key

    ctx.as_json = ctx.as_json or as_json
    split_key(service_key)
    rollouts = ctx.app.store.history(service_key, limit=limit)
    rows = [
        [
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            r.tag or "-",
            short_digest(r.digest),
            short_revision(r.task_definition),
            r.rule,
            f"{r.duration_seconds}s" if r.duration_seconds is not None else "-",
            short_reason(r.reason),
        ]
        for r in rollouts
    ]
    headers = ["STARTED (UTC)", "STATUS", "TAG", "DIGEST", "REVISION", "RULE", "TOOK", "REASON"]
    emit(ctx, [asdict(r) for r in rollouts], rows, headers)


@main.command()
@click.argument("service_key", metavar="CLUSTER/SERVICE")
@click.option("--to", "to", metavar="REVISION_OR_DIGEST", help="family:revision, task definition ARN or sha256 digest.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rollback(ctx: Context, service_key: str, to: str | None, as_json: bool) -> None:
    """Return a service to its previous successful revision (or --to one), as a tracked rollout."""
    from slipway.rollback import Rollback

    ctx.as_json = ctx.as_json or as_json
    app = ctx.app
    outcome = Rollback(app.ecs, app.store, app.notifier, app.tracker, app.clock).run(service_key, to, ctx.caller())
    data = {
        "status": outcome.status.value,
        "service": service_key,
        "task_definition": outcome.task_definition,
        "previous_task_definition": outcome.previous_task_definition,
        "deployment_id": outcome.deployment_id,
        "rollout_id": outcome.rollout_id,
        "reason": outcome.reason,
    }
    if outcome.status.value == "ERROR":
        emit(ctx, data) if ctx.as_json else click.echo(f"rollback of {service_key} failed: {outcome.reason}", err=True)
        sys.exit(1)
    text = (
        f"rolling {service_key} back: {short_revision(outcome.previous_task_definition)} -> "
        f"{short_revision(outcome.task_definition)} (deployment {outcome.deployment_id}, rollout {outcome.rollout_id})"
    )
    emit(ctx, data if ctx.as_json else text)


def run(argv: Sequence[str] | None = None) -> None:
    """Entry point: Slipway's own errors become one line on stderr and exit status 1."""
    try:
        main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except SlipwayError as error:
        click.echo(f"slipway: {error}", err=True)
        sys.exit(1)
