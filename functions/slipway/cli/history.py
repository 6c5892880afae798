"""`slipway history` and `slipway rollback`: a service's rollouts, and going back to an earlier one."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from slipway.cli.context import Context
from slipway.cli.output import emit, short_digest, short_reason, short_revision
from slipway.cli.progress import finish, follow_all, timeout_option, wait_option
from slipway.model import Rollout


def acted(rollout: Rollout) -> str:
    """Who started, approved or aborted the rollout (the last part of each ARN), or '-'."""
    parts = [
        f"{verb} {who.rsplit('/', 1)[-1]}"
        for verb, who in (
            ("started by", rollout.initiated_by),
            ("approved by", rollout.approved_by),
            ("aborted by", rollout.aborted_by),
        )
        if who
    ]
    return "; ".join(parts) or "-"


@click.command()
@click.argument("service_key", metavar="CLUSTER/SERVICE|schedule:GROUP/NAME|events-rule:NAME")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="How many rollouts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def history(ctx: Context, service_key: str, limit: int, as_json: bool) -> None:
    """Rollouts of a service, newest first."""
    from slipway.rollback import split_key
    from slipway.scheduled_targets import scheduled_key

    ctx.as_json = ctx.as_json or as_json
    if scheduled_key(service_key) is None:  # schedule:GROUP/NAME and events-rule:NAME have histories too
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
            acted(r),
        ]
        for r in rollouts
    ]
    headers = ["STARTED (UTC)", "STATUS", "TAG", "DIGEST", "REVISION", "RULE", "TOOK", "REASON", "BY"]
    emit(ctx, [{**asdict(r), "account": r.account, "region": r.region} for r in rollouts], rows, headers)


@click.command()
@click.argument("service_key", metavar="CLUSTER/SERVICE|schedule:GROUP/NAME|events-rule:NAME")
@click.option("--to", "to", metavar="REVISION_OR_DIGEST", help="family:revision, task definition ARN or sha256 digest.")
@wait_option
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def rollback(ctx: Context, service_key: str, to: str | None, wait: bool, timeout: int, as_json: bool) -> None:
    """Return a service to its previous successful revision (or --to one), as a tracked rollout."""
    from slipway.rollback import Rollback
    from slipway.scheduled_targets import scheduled_key

    ctx.as_json = ctx.as_json or as_json
    app = ctx.app
    if scheduled_key(service_key) is not None:
        roll_back_scheduled(ctx, service_key, to)
        return
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
    if not wait:
        emit(ctx, data if ctx.as_json else text)
        return
    if not ctx.as_json:
        click.echo(text)
    finish(ctx, data, follow_all(ctx, [outcome.rollout_id] if outcome.rollout_id else [], timeout))


@click.command()
@click.argument("service_key", metavar="CLUSTER/SERVICE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def adopt(ctx: Context, service_key: str, as_json: bool) -> None:
    """Record the revision a service runs as its baseline, so slipway rollback can return to it.

    For a service Slipway never deployed: one SUCCEEDED entry in its history (rule adopt,
    no deployment, started by you). Nothing in ECS changes.
    """
    from slipway.adopt import Adopter

    ctx.as_json = ctx.as_json or as_json
    app = ctx.app
    rollout = Adopter(app.ecs, app.store, app.clock).adopt(service_key, ctx.caller())
    data = {**asdict(rollout), "account": rollout.account, "region": rollout.region}
    image = f"{rollout.repository}:{rollout.tag}" if rollout.tag else rollout.image
    text = f"adopted {rollout.key}: {short_revision(rollout.task_definition)} ({image}) is its baseline, rollout {rollout.rollout_id}"
    emit(ctx, data if ctx.as_json else text)


def roll_back_scheduled(ctx: Context, key: str, to: str | None) -> None:
    """A schedule's or events rule's rollback: SUCCEEDED once its ECS target names the revision (nothing to wait for)."""
    from slipway.scheduled_rollback import ScheduledRollback

    app = ctx.app
    outcomes = ScheduledRollback(app.scheduled, app.ecs, app.store, app.notifier, app.clock).run(key, to, ctx.caller())
    data = [
        {
            "status": o.status.value,
            "target": o.task.label if o.task else key,
            "task_definition": o.task_definition,
            "previous_task_definition": o.previous_task_definition,
            "rollout_id": o.rollout_id,
            "reason": o.reason,
        }
        for o in outcomes
    ]
    lines = [
        f"rolled {d['target']} back: {short_revision(d['previous_task_definition'])} -> "
        f"{short_revision(d['task_definition'])} (no deployment to watch)"
        for d in data
    ]
    emit(ctx, data if ctx.as_json else "\n".join(lines))
