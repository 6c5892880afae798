"""`slipway rules ...`: write, check and read deployment rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from slipway.cli.context import Context
from slipway.cli.output import emit
from slipway.errors import SlipwayError


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


@click.group()
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
    entries: list[dict[str, Any]] = []
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
    from slipway.rules import rule_parameter

    parameter = rule_parameter(ctx.app.settings.rules_path, repository, name)
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
    from slipway.rules import rule_parameter

    parameter = rule_parameter(ctx.app.settings.rules_path, repository, name)
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
    from slipway.rules import rule_parameter

    parameter = rule_parameter(ctx.app.settings.rules_path, repository, name)
    from slipway.errors import AwsError

    try:
        ctx.app.rules.delete(parameter)
    except AwsError as error:
        if error.code == "ParameterNotFound":
            raise SlipwayError(f"no rule {parameter}") from None
        raise
    emit(ctx, {"deleted": True, "parameter": parameter} if ctx.as_json else f"deleted {parameter}")
