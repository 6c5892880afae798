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
from slipway.cli.progress import finish, follow_all, timeout_option, wait_option
from slipway.cli.rollouts import approve_pause
from slipway.model import Hold


@click.command()
@click.argument("rollout_id")
@wait_option
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def approve(ctx: Context, rollout_id: str, wait: bool, timeout: int, as_json: bool) -> None:
    """Approve a held push, or a strategy rollout at a pause.

    A push held by a rule with "approval": true starts rolling out; a blue/green, canary or
    linear rollout waiting at a pause hook continues to its next stage. Who approved is recorded.
    """
    app = ctx.app
    hold = app.store.get_hold(rollout_id)
    ctx.as_json = ctx.as_json or as_json
    if hold is None:
        data = approve_pause(ctx, rollout_id, quiet=wait and ctx.as_json)
        if wait:
            finish(ctx, data, follow_all(ctx, [rollout_id], timeout))
        return
    release(ctx, hold, wait, timeout)


def release(ctx: Context, hold: Hold, wait: bool, timeout: int) -> None:
    """Approve a held push: roll it out if its other gates are open, else record the approval on the hold."""
    app = ctx.app
    who = ctx.caller() or "unknown"
    outcomes = app.deployer.release(hold, approved_by=who)
    if not outcomes:
        still_held(ctx, hold, who, wait)
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
    data = {"approved_by": who, "rollout_id": hold.hold_id, "held": False, "outcomes": results}
    if ctx.as_json and not wait:
        emit(ctx, data)
    elif not ctx.as_json:
        for result in results:
            click.echo(f"approved by {who}: {result['status']} {result['target']}: {result['reason']}")
    if wait:
        started = [o.rollout_id for o in outcomes if o.status.value == "DEPLOYING" and o.rollout_id]
        followed = follow_all(ctx, started, timeout)
        finish(ctx, data, followed if len(started) == len(outcomes) else [])
    if any(o.status.value == "ERROR" for o in outcomes):
        sys.exit(1)


def still_held(ctx: Context, hold: Hold, who: str, wait: bool) -> None:
    """The approval is written on the hold; another gate still holds the push (nothing for --wait to follow)."""
    from dataclasses import replace as replaced

    ctx.app.store.put_hold(replaced(hold, approved_by=who, approved_at=ctx.app.clock()))
    text = f"approved by {who}; still held: {hold.reason} (it rolls out when that clears)"
    held = {"approved_by": who, "rollout_id": hold.hold_id, "held": True, "reason": hold.reason}
    if wait and ctx.as_json:
        finish(ctx, held, [])  # prints the JSON, and exits 1: no rollout to follow, so no success
    emit(ctx, held if ctx.as_json else text)
    if wait:
        click.echo("--wait: the push is still held, so there is no rollout to follow yet", err=True)
        sys.exit(1)


@click.command()
@click.argument("repository", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def holds(ctx: Context, repository: str | None, as_json: bool) -> None:
    """Pushes held by a gate (promotion, freeze, approval, signature, scan, wave), with their rollout ids."""
    ctx.as_json = ctx.as_json or as_json
    found = ctx.app.store.holds(repository)
    rows = [
        [h.hold_id, f"{h.repository}:{h.tag}", h.rule, f"{h.cluster}/{h.service}", h.gate, h.reason[:70]] for h in found
    ]
    emit(ctx, [asdict(h) for h in found], rows, ["ROLLOUT ID", "IMAGE", "RULE", "TARGET", "GATE", "WHY"])
