"""`slipway abort`, approving a paused deployment, and how `slipway status` shows one rollout.

Wiring only: what a status says, which rollout may be approved or aborted and what ECS
is asked to do are decided in ``slipway.control``.
"""

from __future__ import annotations

from typing import Any

import click

from slipway.cli.context import Context
from slipway.cli.output import emit, moment, short_revision
from slipway.errors import SlipwayError
from slipway.rule_strategies import ROLLING


def rollout_fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The rollout as history keeps it: what, where, how and how it went."""
    fields = [
        ("rollout", data["rollout_id"]),
        ("service", data["service"]),
        ("image", data["image"]),
        ("status", data["status"]),
        ("strategy", data["strategy"]),
        (
            "revision",
            f"{short_revision(data['task_definition'])} (from {short_revision(data['previous_task_definition'])})",
        ),
    ]
    if data["strategy"] == ROLLING:
        fields.append(("deployment", data["deployment_id"] or "-"))
    fields.append(("started", moment(data["started_at"])))
    if data["finished_at"]:
        fields.append(("finished", moment(data["finished_at"])))
    fields.append(("reason", data["reason"] or "-"))
    for name in ("approved_by", "aborted_by", "abort_reason"):
        if data[name]:
            fields.append((name.replace("_", " "), data[name]))
    return fields


def deployment_fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    """A strategy rollout's service deployment as ECS shows it now (nothing for other rollouts)."""
    deployment = data["service_deployment"]
    if deployment is None:
        in_flight = data["strategy"] != ROLLING and data["in_flight"]
        return [("deployment", "ECS shows no service deployment for it")] if in_flight else []
    fields = [
        ("deployment", f"{deployment['arn']} ({deployment['status']})"),
        ("stage", deployment["lifecycle_stage"] or "-"),
        ("production", traffic(deployment["production_weight"], deployment["source_production_weight"])),
    ]
    if deployment["test_weight"] is not None:
        fields.append(("test", traffic(deployment["test_weight"], None)))
    if deployment["bake_until"]:
        fields.append(("bake until", moment(deployment["bake_until"])))
    if deployment["progress"]:
        fields.append(("now", deployment["progress"]))
    if deployment["outcome"]:
        fields.append(("ECS says", f"{deployment['outcome']['status']}: {deployment['outcome']['reason']}"))
    return fields


def traffic(target: float | None, source: float | None) -> str:
    """Traffic weights: the new (target) revision's share, and the previous (source) one's when known."""
    new = f"{target:g} % new revision" if target is not None else "unknown share on the new revision"
    return f"{new}, {source:g} % previous" if source is not None else new


def hook_rows(hooks: list[dict[str, Any]]) -> list[list[str]]:
    return [[h["hook_id"], h["target_type"], moment(h["expires_at"]), h["timeout_action"] or "-"] for h in hooks]


def approve_pause(ctx: Context, rollout_id: str, quiet: bool = False) -> dict[str, Any]:
    """Continue the strategy rollout ``rollout_id`` waiting at a pause (``slipway approve`` without a hold).

    Prints what was done (unless ``quiet``: --wait --json prints it with the outcome) and returns it.
    """
    control = ctx.app.control
    rollout = control.strategy_rollout(rollout_id)
    if rollout is None:
        raise SlipwayError(
            f"no held rollout {rollout_id} or paused deployment with that id "
            "(see slipway holds, slipway status CLUSTER/SERVICE)"
        )
    who = ctx.caller() or "unknown"
    approval = control.approve(rollout, who)
    data = {
        "approved_by": who,
        "rollout_id": rollout_id,
        "held": False,
        "service": rollout.key,
        "stage": approval.stage,
        "hook_id": approval.hook.hook_id,
        "service_deployment_arn": approval.deployment.arn,
    }
    text = f"approved by {who}: continuing {rollout_id} at {approval.stage} (hook {approval.hook.hook_id})"
    if not quiet:
        emit(ctx, data if ctx.as_json else text)
    return data


@click.command()
@click.argument("rollout_id")
@click.option("--reason", metavar="TEXT", help="Why: written on the rollout and in the ROLLED_BACK notification.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def abort(ctx: Context, rollout_id: str, reason: str | None, as_json: bool) -> None:
    """Roll back a blue/green, canary or linear rollout in flight.

    ECS returns the service to the revision it came from; who asked and why are written
    on the rollout and in its ROLLED_BACK notification. A rolling rollout: slipway rollback.
    """
    ctx.as_json = ctx.as_json or as_json
    control = ctx.app.control
    rollout = control.abortable(rollout_id)
    who = ctx.caller() or "unknown"
    deployment = control.abort(rollout, who, reason)
    data = {
        "aborted_by": who,
        "rollout_id": rollout_id,
        "service": rollout.key,
        "reason": reason,
        "service_deployment_arn": deployment.arn,
    }
    text = (
        f"rollback requested by {who} for {rollout_id} (service {rollout.key}); "
        "the outcome is notified when ECS finishes it"
    )
    emit(ctx, data if ctx.as_json else text)
