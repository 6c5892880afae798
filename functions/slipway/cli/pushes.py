"""`slipway plan` and `slipway explain`: what a push would do, and what the last one did and why."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from slipway.cli.context import Context
from slipway.cli.output import emit, render_table
from slipway.errors import SlipwayError


def _image_of(ctx: Context, repository: str, tag: str) -> tuple[str, datetime | None] | None:
    """The digest ECR has for the tag, and when it was pushed (the image gates wait from then)."""
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
    if not details:
        return None
    pushed = details[0].get("imagePushedAt")
    return str(details[0]["imageDigest"]), pushed if isinstance(pushed, datetime) else None


@click.command("plan")
@click.argument("image", metavar="REPOSITORY:TAG")
@click.option("--digest", help="The image digest (default: what ECR has for the tag).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def plan_command(ctx: Context, image: str, digest: str | None, as_json: bool) -> None:
    """What a push of REPOSITORY:TAG would do, per rule and target, and why. Changes nothing.

    Gates included: which one would hold the push now (a freeze, a promotion, approval, its
    signing or its scan as ECR reports them) and why.
    """
    from dataclasses import asdict as as_dict
    from datetime import UTC

    from slipway.model import Push

    ctx.as_json = ctx.as_json or as_json
    repository, sep, tag = image.rpartition(":")
    if not sep or not repository or not tag:
        raise click.BadParameter(f"{image!r} is not REPOSITORY:TAG")
    app = ctx.app
    found = _image_of(ctx, repository, tag)
    pushed_at = found[1] if found and (digest is None or digest == found[0]) else None
    digest = digest or (found[0] if found else None)
    note = None
    if digest is None:
        digest = "sha256:" + "0" * 64
        note = f"{repository}:{tag} is not in ECR; planning with a placeholder digest"
    arn = ctx.caller() or ""
    account = arn.split(":")[4] if arn.count(":") >= 5 else "000000000000"
    region = ctx.session().region_name or "us-east-1"
    push = Push("plan", account, region, repository, digest, tag, pushed_at or datetime.now(UTC))
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


@click.command()
@click.argument("repository")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def explain(ctx: Context, repository: str, as_json: bool) -> None:
    """The last push of a repository: which rules matched, which did not and why, and what happened.

    A held target shows its gate (``SKIPPED, held: scan``); its reason says what it waits for.
    """
    ctx.as_json = ctx.as_json or as_json
    record = ctx.app.store.last_push(repository)
    if record is None:
        raise SlipwayError(f"no push of {repository} on record")
    runs = [r for r in ctx.app.store.task_runs() if (r.repository, r.digest) == (repository, record.get("digest"))]
    if ctx.as_json:
        tasks = [{"rule": r.rule, "status": r.status, "task_arn": r.task_arn, "reason": r.reason} for r in runs]
        emit(ctx, {**record, "pre_deploy": tasks} if tasks else record)
        return
    click.echo(f"last push: {repository}:{record.get('tag')} ({record.get('digest')}) at {record.get('time')}")
    rows = [[rule, "matched", "-", "-"] for rule in record.get("matched_rules", [])]
    rows += [[rule, "no match", "-", why] for rule, why in record.get("unmatched_rules", {}).items()]
    rows += [
        [o.get("rule") or "-", _result(o), o.get("target") or "-", o.get("reason") or ""]
        for o in record.get("outcomes", [])
    ]
    click.echo(render_table(["RULE", "RESULT", "TARGET", "WHY"], rows))
    for run in runs:
        click.echo(f"pre-deploy task of rule {run.rule}: {run.status}: {run.reason or run.where}")


def _result(outcome: dict[str, object]) -> str:
    """An outcome's status, with the gate that holds it (``SKIPPED, held: scan``)."""
    held = outcome.get("held")
    return f"{outcome.get('status')}, held: {held}" if held else str(outcome.get("status"))
