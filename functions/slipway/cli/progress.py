"""`--wait`: following rollouts to their outcome with a progress display.

On a terminal a rich spinner shows the service, the status, a strategy rollout's stage
and the time elapsed; otherwise each change is one plain line (stable, for logs). The
waiting itself is ``slipway.follow``: it polls the rollout's record in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from slipway.cli.context import Context
from slipway.cli.output import emit, short_reason
from slipway.follow import Followed, follow
from slipway.model import Rollout

DEFAULT_TIMEOUT = 1800  # seconds: ECS's own deployments usually end well within half an hour

wait_option = click.option("--wait", is_flag=True, help="Follow the rollout to its outcome; exit 1 unless SUCCEEDED.")
timeout_option = click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=click.IntRange(1, 24 * 3600),
    metavar="SECONDS",
    help="With --wait: how long to wait at most.",
)


def where(rollout: Rollout, elapsed: float) -> str:
    """The rollout now, in words: service, status, a strategy rollout's stage, time elapsed."""
    stage = f", stage {rollout.stage}" if rollout.stage else ""
    return f"{rollout.key}: {rollout.status}{stage} ({elapsed:.0f}s)"


def outcome_line(followed: Followed) -> str:
    rollout = followed.rollout
    if followed.timed_out:
        return f"{rollout.key}: still {rollout.status} after {followed.elapsed:.0f}s; stopped waiting (rollout {rollout.rollout_id})"
    return f"{rollout.key}: {rollout.status} after {followed.elapsed:.0f}s: {short_reason(rollout.reason, 200)}"


def follow_all(ctx: Context, rollout_ids: Sequence[str], timeout: int) -> list[Followed]:
    """Follow each rollout in turn, showing progress unless --json; the last reading of each."""
    store = ctx.app.store
    results = []
    for rollout_id in rollout_ids:
        if ctx.as_json:
            results.append(follow(store, rollout_id, timeout, ctx.pace))
        elif ctx.console.is_terminal:
            results.append(_with_spinner(ctx, rollout_id, timeout))
        else:
            results.append(_with_lines(ctx, rollout_id, timeout))
        if not ctx.as_json:
            click.echo(outcome_line(results[-1]), file=ctx.console.file)
    return results


def _with_spinner(ctx: Context, rollout_id: str, timeout: int) -> Followed:
    with ctx.console.status(f"waiting for rollout {rollout_id}") as spinner:
        return follow(
            ctx.app.store,
            rollout_id,
            timeout,
            ctx.pace,
            lambda rollout, elapsed: spinner.update(where(rollout, elapsed)),
        )


def _with_lines(ctx: Context, rollout_id: str, timeout: int) -> Followed:
    last: list[tuple[str, str | None]] = []

    def seen(rollout: Rollout, elapsed: float) -> None:
        now = (rollout.status, rollout.stage)
        if not last or last[-1] != now:  # one line per change, not per poll
            last.append(now)
            click.echo(where(rollout, elapsed), file=ctx.console.file)

    return follow(ctx.app.store, rollout_id, timeout, ctx.pace, seen)


def followed_record(followed: Followed) -> dict[str, Any]:
    rollout = followed.rollout
    return {
        "rollout_id": rollout.rollout_id,
        "service": rollout.key,
        "status": rollout.status,
        "reason": rollout.reason,
        "elapsed_seconds": round(followed.elapsed, 1),
        "timed_out": followed.timed_out,
    }


def finish(ctx: Context, data: dict[str, Any], results: Sequence[Followed]) -> None:
    """Print the JSON (with the outcomes) when asked; exit 1 unless every rollout SUCCEEDED."""
    if ctx.as_json:
        emit(ctx, {**data, "waited": [followed_record(f) for f in results]})
    if not results or not all(f.succeeded for f in results):
        raise SystemExit(1)
