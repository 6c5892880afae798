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
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import BotoCoreError

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
                raise click.UsageError(
                    "no Slipway stack: pass --stack NAME or set SLIPWAY_TABLE_NAME and SLIPWAY_TOPIC_ARN"
                )
            self._app = App(config=config, session=self.session())
        return self._app

    def _stack_outputs(self) -> dict[str, str]:
        from slipway.aws.calls import Caller
        from slipway.aws.clients import client

        cloudformation = client("cloudformation", self.session())
        call = Caller("cloudformation", str(cloudformation.meta.region_name or ""))
        response = call("DescribeStacks", cloudformation.describe_stacks, StackName=self.stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in response["Stacks"][0].get("Outputs", [])}
        names = {
            "TableName": "table_name",
            "TopicArn": "topic_arn",
            "RulesPath": "rules_path",
            "WorkQueueUrl": "work_queue_url",
        }
        return {field: outputs[key] for key, field in names.items() if key in outputs}

    def caller(self) -> str | None:
        from slipway.aws.clients import STANDARD_RETRIES, client
        from slipway.errors import AwsError

        try:
            return str(client("sts", self.session(), retries=STANDARD_RETRIES).get_caller_identity()["Arn"])
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


# -- rules -----------------------------------------------------------------------


def _rule_ref(ref: str) -> tuple[str, str]:
    repository, sep, name = ref.rpartition("/")
    if not sep or not repository or not name:
        raise click.BadParameter(f"{ref!r} is not REPOSITORY/RULE")
    return repository, name


def _validate_document(path: str, text: str) -> list[str]:
    from slipway.rules import RuleInvalid, parse_rule

    try:
        parse_rule("(file)", "(file)", path, text)
    except RuleInvalid as invalid:
        return list(invalid.problems)
    return []


@main.group()
def rules() -> None:
    """Write, check and read deployment rules."""


@rules.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rules_validate(ctx: Context, files: tuple[str, ...], as_json: bool) -> None:
    """Check rule files against the rule format, offline; every problem with its JSON path."""
    ctx.as_json = ctx.as_json or as_json
    results = {path: _validate_document(path, Path(path).read_text(encoding="utf-8")) for path in files}
    if ctx.as_json:
        emit(ctx, [{"file": p, "valid": not problems, "problems": problems} for p, problems in results.items()])
    else:
        for path, problems in results.items():
            if problems:
                for problem in problems:
                    click.echo(f"{path}: {problem}")
            else:
                click.echo(f"{path}: ok")
    if any(results.values()):
        sys.exit(1)


@rules.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of the rule format (schema/rule.schema.json in the repository)."""
    from slipway.rules import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@rules.command("list")
@click.argument("repository", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rules_list(ctx: Context, repository: str | None, as_json: bool) -> None:
    """Rules of every repository, or of one."""
    ctx.as_json = ctx.as_json or as_json
    entries = []
    for repo, name, current in ctx.app.rules.list(repository):
        problems = _validate_document(current.name, current.value)
        spec = json.loads(current.value) if not problems else {}
        targets = ", ".join(f"{t.get('cluster', '?')}/{t.get('service', '?')}" for t in spec.get("targets", []))
        entries.append(
            {
                "repository": repo,
                "rule": name,
                "parameter": current.name,
                "version": current.version,
                "valid": not problems,
                "problems": problems,
                "enabled": spec.get("enabled", True) if spec else None,
                "tags": spec.get("tags"),
                "semver": spec.get("semver"),
                "targets": targets,
            }
        )
    rows = [
        [
            e["repository"],
            e["rule"],
            str(e["version"]),
            "invalid" if not e["valid"] else ("enabled" if e["enabled"] else "disabled"),
            ",".join(e["tags"] or []) or (e["semver"] or "any"),
            e["targets"] or "; ".join(e["problems"])[:60],
        ]
        for e in entries
    ]
    emit(ctx, entries, rows, ["REPOSITORY", "RULE", "VERSION", "STATE", "TAGS", "TARGETS"])


@rules.command("show")
@click.argument("ref", metavar="REPOSITORY/RULE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rules_show(ctx: Context, ref: str, as_json: bool) -> None:
    """A rule's value, version and whether it is valid."""
    ctx.as_json = ctx.as_json or as_json
    repository, name = _rule_ref(ref)
    parameter = f"{ctx.app.settings.rules_path.rstrip('/')}/{repository}/{name}"
    current = ctx.app.rules.read(parameter)
    if current is None:
        raise SlipwayError(f"no rule {parameter}")
    problems = _validate_document(parameter, current.value)
    if ctx.as_json:
        emit(ctx, {"parameter": parameter, "version": current.version, "value": current.value, "problems": problems})
        if problems:
            sys.exit(1)
        return
    click.echo(f"# {parameter} (version {current.version})")
    try:
        click.echo(json.dumps(json.loads(current.value), indent=2))
    except json.JSONDecodeError:
        click.echo(current.value)
    click.echo("# valid" if not problems else "# INVALID:\n" + "\n".join(f"#   {p}" for p in problems))
    if problems:
        sys.exit(1)


@rules.command("put")
@click.argument("ref", metavar="REPOSITORY/RULE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rules_put(ctx: Context, ref: str, file: str, as_json: bool) -> None:
    """Validate a rule file and write it (overwriting), showing the diff against the current value."""
    import difflib

    repository, name = _rule_ref(ref)
    text = Path(file).read_text(encoding="utf-8")
    ctx.as_json = ctx.as_json or as_json
    problems = _validate_document(file, text)
    if problems:
        if ctx.as_json:
            emit(ctx, {"written": False, "file": file, "problems": problems})
        for problem in problems:
            click.echo(f"{file}: {problem}", err=True)
        raise SlipwayError(f"refused: {file} is not a valid rule; nothing was written")
    parameter = f"{ctx.app.settings.rules_path.rstrip('/')}/{repository}/{name}"
    current = ctx.app.rules.read(parameter)
    new = json.dumps(json.loads(text), indent=2, sort_keys=False)
    old = (
        json.dumps(json.loads(current.value), indent=2)
        if current and not _validate_document(parameter, current.value)
        else (current.value if current else "")
    )
    diff = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"{parameter} (current)", f"{parameter} (new)", lineterm=""
        )
    )
    version = ctx.app.rules.put(parameter, json.dumps(json.loads(text), separators=(",", ":")))
    if ctx.as_json:
        emit(ctx, {"written": True, "parameter": parameter, "version": version, "diff": diff})
        return
    click.echo("\n".join(diff) if diff else f"{parameter}: no change in content")
    click.echo(f"wrote {parameter} version {version}")


@rules.command("delete")
@click.argument("ref", metavar="REPOSITORY/RULE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rules_delete(ctx: Context, ref: str, as_json: bool) -> None:
    """Delete a rule."""
    ctx.as_json = ctx.as_json or as_json
    repository, name = _rule_ref(ref)
    parameter = f"{ctx.app.settings.rules_path.rstrip('/')}/{repository}/{name}"
    from slipway.errors import AwsError

    try:
        ctx.app.rules.delete(parameter)
    except AwsError as error:
        if error.code == "ParameterNotFound":
            raise SlipwayError(f"no rule {parameter}") from None
        raise
    emit(ctx, {"deleted": True, "parameter": parameter} if ctx.as_json else f"deleted {parameter}")


# -- plan, explain, approve -------------------------------------------------------


def _digest_of(ctx: Context, repository: str, tag: str) -> str | None:
    from slipway.aws.calls import Caller
    from slipway.aws.clients import client
    from slipway.errors import AwsError

    ecr = client("ecr", ctx.session())
    try:
        response = Caller("ecr", str(ecr.meta.region_name or ""))(
            "DescribeImages",
            ecr.describe_images,
            repositoryName=repository,
            imageIds=[{"imageTag": tag}],
        )
    except AwsError:
        return None
    details = response.get("imageDetails", [])
    return str(details[0]["imageDigest"]) if details else None


@main.command("plan")
@click.argument("image", metavar="REPOSITORY:TAG")
@click.option("--digest", help="The image digest (default: what ECR has for the tag).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def plan_command(ctx: Context, image: str, digest: str | None, as_json: bool) -> None:
    """What a push of REPOSITORY:TAG would do, per rule and target, and why. Changes nothing."""
    from dataclasses import asdict as as_dict
    from datetime import UTC

    from slipway.model import Push

    ctx.as_json = ctx.as_json or as_json
    repository, sep, tag = image.rpartition(":")
    if not sep or not repository or not tag:
        raise click.BadParameter(f"{image!r} is not REPOSITORY:TAG")
    app = ctx.app
    digest = digest or _digest_of(ctx, repository, tag)
    note = None
    if digest is None:
        digest = "sha256:" + "0" * 64
        note = f"{repository}:{tag} is not in ECR; planning with a placeholder digest"
    arn = ctx.caller() or ""
    account = arn.split(":")[4] if arn.count(":") >= 5 else "000000000000"
    region = ctx.session().region_name or "us-east-1"
    push = Push("plan", account, region, repository, digest, tag, datetime.now(UTC))
    lines = app.deployer.preview(push)
    if note and not ctx.as_json:
        click.echo(f"note: {note}")
    rows = [[line.rule or "-", line.target or "-", line.action, line.sentence()] for line in lines]
    emit(
        ctx,
        {"image": image, "digest": digest, "note": note, "plan": [as_dict(line) for line in lines]},
        rows,
        ["RULE", "TARGET", "ACTION", "WHAT AND WHY"],
    )
    if any(line.action == "error" for line in lines):
        sys.exit(1)


@main.command()
@click.argument("repository")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def explain(ctx: Context, repository: str, as_json: bool) -> None:
    """The last push of a repository: which rules matched, which did not and why, and what happened."""
    ctx.as_json = ctx.as_json or as_json
    record = ctx.app.store.last_push(repository)
    if record is None:
        raise SlipwayError(f"no push of {repository} on record")
    if ctx.as_json:
        emit(ctx, record)
        return
    click.echo(f"last push: {repository}:{record.get('tag')} ({record.get('digest')}) at {record.get('time')}")
    rows = [[rule, "matched", "-", "-"] for rule in record.get("matched_rules", [])]
    rows += [[rule, "no match", "-", why] for rule, why in record.get("unmatched_rules", {}).items()]
    rows += [
        [o.get("rule") or "-", o.get("status"), o.get("target") or "-", o.get("reason") or ""]
        for o in record.get("outcomes", [])
    ]
    click.echo(render_table(["RULE", "RESULT", "TARGET", "WHY"], rows))


@main.command()
@click.argument("rollout_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def approve(ctx: Context, rollout_id: str, as_json: bool) -> None:
    """Approve a rollout held by a rule with "approval": true, and start it (who approved is recorded)."""
    app = ctx.app
    hold = app.store.get_hold(rollout_id)
    if hold is None:
        raise SlipwayError(f"no held rollout {rollout_id} (see slipway holds)")
    ctx.as_json = ctx.as_json or as_json
    who = ctx.caller() or "unknown"
    outcomes = app.deployer.release(hold, approved_by=who)
    if not outcomes:
        from dataclasses import replace as replaced

        app.store.put_hold(replaced(hold, approved_by=who, approved_at=app.clock()))
        text = f"approved by {who}; still held: {hold.reason} (it rolls out when that clears)"
        emit(
            ctx,
            {"approved_by": who, "rollout_id": rollout_id, "held": True, "reason": hold.reason}
            if ctx.as_json
            else text,
        )
        return
    results = [
        {
            "status": o.status.value,
            "target": o.target.key if o.target else None,
            "reason": o.reason,
            "rollout_id": o.rollout_id,
        }
        for o in outcomes
    ]
    if ctx.as_json:
        emit(ctx, {"approved_by": who, "rollout_id": rollout_id, "held": False, "outcomes": results})
    else:
        for result in results:
            click.echo(f"approved by {who}: {result['status']} {result['target']}: {result['reason']}")
    if any(o.status.value == "ERROR" for o in outcomes):
        sys.exit(1)


@main.command()
@click.argument("repository", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def holds(ctx: Context, repository: str | None, as_json: bool) -> None:
    """Pushes held by a gate (promotion, freeze, approval, wave), with their rollout ids."""
    ctx.as_json = ctx.as_json or as_json
    found = ctx.app.store.holds(repository)
    rows = [
        [h.hold_id, f"{h.repository}:{h.tag}", h.rule, f"{h.cluster}/{h.service}", h.gate, h.reason[:70]] for h in found
    ]
    emit(ctx, [asdict(h) for h in found], rows, ["ROLLOUT ID", "IMAGE", "RULE", "TARGET", "GATE", "WHY"])


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
    except (SlipwayError, BotoCoreError) as error:
        click.echo(f"slipway: {error}", err=True)
        sys.exit(1)
