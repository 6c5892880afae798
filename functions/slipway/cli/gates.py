"""`slipway approve` and `slipway holds`: pushes a gate holds back, and letting one go.

``approve`` takes either id: a held push's (it is released here), or a strategy
rollout's waiting at a pause (continued through ``slipway.cli.rollouts``).
"""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from slipway.cli.context import Context
from slipway.cli.output import emit
from slipway.cli.rollouts import approve_pause


@click.command()
@click.argument("rollout_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def approve(ctx: Context, rollout_id: str, as_json: bool) -> None:
    """Approve a held push, or a strategy rollout at a pause.

    A push held by a rule with "approval": true starts rolling out; a blue/green, canary or
    linear rollout waiting at a pause hook continues to its next stage. Who approved is recorded.
    """
    app = ctx.app
    hold = app.store.get_hold(rollout_id)
    ctx.as_json = ctx.as_json or as_json
    if hold is None:
        approve_pause(ctx, rollout_id)
        return
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


@click.command()
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
