"""`slipway status`: what runs where, the fleet view a release manager opens first.

No argument: every service Slipway has a state for. REPOSITORY: the services of that
repository's rules. CLUSTER/SERVICE: that one, with its latest rollout in detail (and for
a blue/green, canary or linear rollout in flight, its service deployment from ECS).
What a view holds is decided in ``slipway.fleetview``; the strategy detail in ``slipway.control``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from slipway.cli.context import Context
from slipway.cli.output import emit, moment, short_digest, short_revision
from slipway.errors import SlipwayError
from slipway.places import split_key as split_place

if TYPE_CHECKING:
    from slipway.fleetview import ServiceView

HEADERS = ["SERVICE", "TAG", "DIGEST", "REVISION", "LAST OUTCOME", "WHEN (UTC)", "IN FLIGHT", "HOLDS"]


@click.command()
@click.argument("subject", required=False, metavar="[REPOSITORY | CLUSTER/SERVICE]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def status(ctx: Context, subject: str | None, as_json: bool) -> None:
    """A service's latest rollout: its stage, traffic and pauses.

    Without CLUSTER/SERVICE, the fleet view: what runs where. For every service Slipway
    has a state for (or, with REPOSITORY, the services of its rules): the tag, digest and
    revision it runs, the last outcome and when, a rollout in flight (a strategy's
    stage) and the holds waiting. With CLUSTER/SERVICE: its latest rollout and, for a
    blue/green, canary or linear one in flight, ECS's service deployment now.
    """
    from slipway.fleetview import FleetView, rule_keys

    ctx.as_json = ctx.as_json or as_json
    fleet = FleetView(ctx.app.store)
    if subject is None:
        views = fleet.every()
        show_fleet(ctx, views, "no service has a state in Slipway's table yet")
        return
    if _is_service(ctx, subject):
        show_service(ctx, subject, fleet.service(subject))
        return
    rules = ctx.app.rules.load(subject, fresh=True)
    if not rules.rules and not rules.invalid:
        if "/" not in split_place(subject)[1]:
            raise SlipwayError(
                f"{subject!r} is not CLUSTER/SERVICE (or ACCOUNT:REGION:CLUSTER/SERVICE), "
                f"and repository {subject} has no rules"
            )
        show_service(ctx, subject, fleet.service(subject))  # says it has no rollout on record
        return
    show_fleet(ctx, fleet.services(rule_keys(rules.rules), subject), f"the rules of {subject} name no service")


def _is_service(ctx: Context, subject: str) -> bool:
    """A service when history knows it (a repository name may contain '/' too: history decides)."""
    place, local = split_place(subject)
    if place is not None:
        return True
    return local.count("/") == 1 and bool(ctx.app.store.history(subject, limit=1))


def fleet_row(view: ServiceView) -> list[str]:
    running, flight = view.running, view.in_flight
    flying = "-"
    if flight is not None:
        flying = f"{flight.status} {flight.tag or short_digest(flight.digest)}"
        if flight.strategy != "rolling":
            flying += f" ({flight.strategy}, {flight.stage or 'starting'})"
    holds = ", ".join(f"{h.gate} {h.tag or short_digest(h.digest)}" for h in view.holds) or "-"
    return [
        view.key,
        (running.tag or "-") if running else "-",
        short_digest(running.digest) if running else "-",
        short_revision(running.task_definition) if running else "-",
        view.last.status if view.last else "-",
        moment(view.last_at).removesuffix(" UTC"),
        flying,
        holds,
    ]


def show_fleet(ctx: Context, views: list[ServiceView], empty: str) -> None:
    if not views and not ctx.as_json:
        click.echo(f"({empty})")
        return
    emit(ctx, [view.record() for view in views], [fleet_row(v) for v in views], HEADERS)


def show_service(ctx: Context, key: str, view: ServiceView) -> None:
    """One service: its latest rollout as ``slipway status`` always showed it, and what runs and waits."""
    from slipway.cli.output import render_fields, render_table
    from slipway.cli.rollouts import deployment_fields, hook_rows, rollout_fields
    from slipway.control import summary
    from slipway.rollback import split_key

    split_key(key)
    data = {**summary(ctx.app.control.status(key)), **{"fleet": view.record()}}
    if ctx.as_json:
        emit(ctx, data)
        return
    fields = rollout_fields(data) + deployment_fields(data)
    running = view.running
    if running is not None and running.rollout_id != data["rollout_id"]:
        fields.append(
            (
                "running",
                f"{running.tag or '-'} {short_revision(running.task_definition)} (rollout {running.rollout_id})",
            )
        )
    for hold in view.holds:
        fields.append(("held", f"{hold.repository}:{hold.tag} by {hold.gate} under rule {hold.rule} ({hold.hold_id})"))
    click.echo(render_fields(fields))
    waiting = (data["service_deployment"] or {}).get("hooks_waiting") or []
    if waiting:
        click.echo()
        click.echo(render_table(["HOOK ID", "TYPE", "EXPIRES", "ON TIMEOUT"], hook_rows(waiting)))
    if data["next"]:
        click.echo()
        click.echo(f"next: {data['next']}")
