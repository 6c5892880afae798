"""Rule gates under moto: promotion with soak, freeze windows, approval and waves.

The functions run on the test clock (``clock``), which tests move instead of sleeping;
``slipway approve`` runs in-process on the real clock, like a person at a terminal.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sandbox.deployments import Deployments
from sandbox.faults import Faults
from sandbox.stack import World
from tests.integration.conftest import Clock
from tests.integration.test_cli_history_rollback import slipway
from tests.integration.test_deploy import fargate_web, push

MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"  # who moto's STS says is calling
PROD = {"cluster": "prod", "service": "web"}
STAGING = {"cluster": "staging", "service": "web"}


def messages(world: World) -> list[dict[str, Any]]:
    return [n["message"] for n in world.notifications()]


def by_rule(notes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {m["rule"]: m for m in notes}
    assert len(found) == len(notes), notes
    return found


def holds() -> list[Any]:
    from slipway import app

    return list(app.app().store.holds())


def on_the_minute(clock: Clock) -> datetime:
    """Put the clock on a whole minute, so times in reasons read exactly."""
    clock.now = clock.now.replace(second=0, microsecond=0)
    return clock.now


@pytest.fixture
def two_stages(world: World) -> World:
    """web on staging/web and prod/web (Fargate), both running web:1.0.0; no rules yet."""
    world.create_repository("web")
    fargate_web(world, cluster="staging")
    fargate_web(world, cluster="prod")
    return world


# -- promotion ---------------------------------------------------------------------------------


def test_promotion_push_is_held_until_source_rule_succeeded(two_stages: World, deploy) -> None:
    # GIVEN prod promotes what staging has rolled out successfully
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging", "soak_minutes": 30})
    prod_before = two_stages.describe_service("prod", "web")["taskDefinition"]

    # WHEN a push arrives
    event = push(two_stages, "web", "1.1.0")
    deploy(event)

    # THEN staging deploys, prod is skipped with the reason and held
    notes = by_rule(messages(two_stages))
    assert notes["staging"]["status"] == "DEPLOYING"
    prod = notes["prod"]
    assert prod["status"] == "SKIPPED"
    assert prod["held"] == "promotion"
    assert prod["reason"] == f'waiting for {event["detail"]["image-digest"][:19]} to succeed under rule "staging" first'
    assert prod["rollout_id"]
    assert two_stages.describe_service("prod", "web")["taskDefinition"] == prod_before
    assert [(h.rule, h.gate, h.hold_id) for h in holds()] == [("prod", "promotion", prod["rollout_id"])]


def test_promotion_after_soak_deploys_without_new_push(
    two_stages: World, deploy, track, sweep, ecs_life: Deployments, clock: Clock
) -> None:
    # GIVEN prod promotes from staging after 30 minutes of soak, and a push staging is rolling out
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging", "soak_minutes": 30})
    event = push(two_stages, "web", "1.1.0")
    digest = event["detail"]["image-digest"]
    deploy(event)
    notes = by_rule(messages(two_stages))
    prod_before = two_stages.describe_service("prod", "web")["taskDefinition"]

    # WHEN staging's rollout succeeds
    clock.advance(minutes=5)
    result = track(ecs_life.complete("staging", "web", notes["staging"]["deployment_id"]))

    # THEN staging is SUCCEEDED, and prod is not deployed while it soaks
    assert result["status"] == "SUCCEEDED"
    assert result["released"] == []
    assert [(m["status"], m["rule"]) for m in messages(two_stages)] == [("SUCCEEDED", "staging")]
    clock.advance(minutes=29)
    assert sweep()["released"] == []
    assert messages(two_stages) == []
    assert two_stages.describe_service("prod", "web")["taskDefinition"] == prod_before

    # WHEN the soak is over and the sweep runs
    clock.advance(minutes=2)
    released = sweep()["released"]

    # THEN prod rolls the same push out, with no new push
    assert released == [{"status": "DEPLOYING", "rule": "prod", "target": "prod/web"}]
    [note] = messages(two_stages)
    assert (note["status"], note["rule"], note["cluster"]) == ("DEPLOYING", "prod", "prod")
    assert note["digest"] == digest
    assert note["tag"] == "1.1.0"
    assert note["event_id"] == event["id"]
    assert note["rollout_id"] == notes["prod"]["rollout_id"]
    assert two_stages.images("prod", "web")["app"].endswith("@" + digest)
    assert holds() == []
    # AND it happens once
    clock.advance(minutes=10)
    assert sweep()["released"] == []
    assert messages(two_stages) == []


def test_promotion_push_during_soak_is_skipped_with_minutes_to_go(
    two_stages: World, deploy, track, ecs_life: Deployments, clock: Clock
) -> None:
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging", "soak_minutes": 30})
    event = push(two_stages, "web", "1.1.0")
    deploy(event)
    staging = by_rule(messages(two_stages))["staging"]
    on_the_minute(clock)
    track(ecs_life.complete("staging", "web", staging["deployment_id"]))
    succeeded_at = clock.now
    two_stages.notifications()

    # WHEN the same image is pushed again under another tag 10.5 minutes into the soak
    clock.advance(minutes=10, seconds=30)
    deploy(push(two_stages, "web", "1.1.0-final", digest=event["detail"]["image-digest"]))

    # THEN prod says how long it still soaks (19.5 minutes: 20 to go, rounded up)
    prod = by_rule(messages(two_stages))["prod"]
    assert prod["status"] == "SKIPPED"
    assert prod["held"] == "promotion"
    assert prod["reason"] == f'soaking: succeeded under "staging" at {succeeded_at:%H:%M} UTC, 20 min of 30 to go'


def test_promotion_soak_minutes_to_go_on_a_whole_minute_is_exact(
    two_stages: World, deploy, track, ecs_life: Deployments, clock: Clock
) -> None:
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging", "soak_minutes": 30})
    event = push(two_stages, "web", "1.1.0")
    deploy(event)
    staging = by_rule(messages(two_stages))["staging"]
    on_the_minute(clock)
    track(ecs_life.complete("staging", "web", staging["deployment_id"]))
    two_stages.notifications()

    clock.advance(minutes=10)
    deploy(push(two_stages, "web", "1.1.0-final", digest=event["detail"]["image-digest"]))

    prod = by_rule(messages(two_stages))["prod"]
    assert prod["reason"].endswith(", 20 min of 30 to go")


def test_promotion_without_soak_happens_when_source_succeeds(
    two_stages: World, deploy, track, ecs_life: Deployments
) -> None:
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging"})
    event = push(two_stages, "web", "1.1.0")
    deploy(event)
    staging = by_rule(messages(two_stages))["staging"]

    # WHEN staging's rollout completes
    result = track(ecs_life.complete("staging", "web", staging["deployment_id"]))

    # THEN the track function itself promotes the push to prod
    assert result["released"] == [{"status": "DEPLOYING", "rule": "prod", "target": "prod/web"}]
    notes = messages(two_stages)
    assert [(m["status"], m["rule"]) for m in notes] == [("SUCCEEDED", "staging"), ("DEPLOYING", "prod")]
    assert notes[1]["digest"] == event["detail"]["image-digest"]
    assert two_stages.images("prod", "web")["app"].endswith("@" + event["detail"]["image-digest"])


def test_promotion_source_failed_never_promotes(
    two_stages: World, deploy, track, sweep, ecs_life: Deployments, clock: Clock
) -> None:
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging"})
    deploy(push(two_stages, "web", "1.1.0"))
    staging = by_rule(messages(two_stages))["staging"]
    prod_before = two_stages.describe_service("prod", "web")["taskDefinition"]

    result = track(ecs_life.fail("staging", "web", staging["deployment_id"]))
    clock.advance(hours=2)
    swept = sweep()

    assert result["released"] == []
    assert swept["released"] == []
    assert "DEPLOYING" not in [m["status"] for m in messages(two_stages)]
    assert two_stages.describe_service("prod", "web")["taskDefinition"] == prod_before


def test_promotion_newer_push_replaces_older_held_push(
    two_stages: World, deploy, track, ecs_life: Deployments, clock: Clock
) -> None:
    # GIVEN 1.1.0 waits for staging, then 1.2.0 is pushed before staging finished 1.1.0
    two_stages.put_rule("web", "staging", {"targets": [STAGING]})
    two_stages.put_rule("web", "prod", {"targets": [PROD], "promote_from": "staging"})
    older = push(two_stages, "web", "1.1.0")
    deploy(older)
    clock.advance(minutes=1)
    newer = push(two_stages, "web", "1.2.0")
    deploy(newer)
    staging = [m for m in messages(two_stages) if m["rule"] == "staging" and m["status"] == "DEPLOYING"]
    newest = next(m for m in staging if m["tag"] == "1.2.0")

    # WHEN staging completes 1.2.0
    track(ecs_life.complete("staging", "web", newest["deployment_id"]))

    # THEN prod gets 1.2.0, and 1.1.0 never reaches it
    deployed = [m for m in messages(two_stages) if m["rule"] == "prod" and m["status"] == "DEPLOYING"]
    assert [m["tag"] for m in deployed] == ["1.2.0"]
    assert two_stages.images("prod", "web")["app"].endswith("@" + newer["detail"]["image-digest"])
    assert holds() == []


# -- freeze windows ----------------------------------------------------------------------------


@pytest.fixture
def prod_only(world: World) -> World:
    world.create_repository("web")
    fargate_web(world)
    return world


def frozen_rule(start: datetime, end: datetime, after: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {"targets": [PROD], "freeze": [{"start": start.isoformat(), "end": end.isoformat()}]}
    if after:
        rule["deploy_after_freeze"] = True
    return rule


def test_freeze_push_inside_window_is_skipped_until_its_end(
    prod_only: World, deploy, sweep, clock: Clock, faults: Faults
) -> None:
    now = on_the_minute(clock)
    end = now + timedelta(hours=1)
    prod_only.put_rule("web", "prod", frozen_rule(now - timedelta(hours=1), end, after=False))

    deploy(push(prod_only, "web", "1.1.0"))

    [note] = messages(prod_only)
    assert note["status"] == "SKIPPED"
    assert note["reason"] == f"frozen until {end:%Y-%m-%d %H:%M} UTC"
    assert "held" not in note
    assert holds() == []
    assert faults.calls["ecs.UpdateService"] == 0


def test_freeze_window_end_with_deploy_after_freeze_rolls_out_at_the_end(
    prod_only: World, deploy, sweep, clock: Clock
) -> None:
    # GIVEN a freeze ending at T, and a push held by it
    now = on_the_minute(clock)
    end = now + timedelta(minutes=10)
    prod_only.put_rule("web", "prod", frozen_rule(now - timedelta(hours=1), end, after=True))
    event = push(prod_only, "web", "1.1.0")
    deploy(event)
    [skipped] = messages(prod_only)
    assert skipped["status"] == "SKIPPED"
    assert skipped["held"] == "freeze"
    assert skipped["reason"] == f"frozen until {end:%Y-%m-%d %H:%M} UTC; it rolls out when the window ends"

    # WHEN the sweep runs a minute before T
    clock.now = end - timedelta(minutes=1)
    assert sweep()["released"] == []
    assert messages(prod_only) == []

    # AND again at T
    clock.now = end
    released = sweep()["released"]

    # THEN the push rolls out at T, without a new push
    assert released == [{"status": "DEPLOYING", "rule": "prod", "target": "prod/web"}]
    [note] = messages(prod_only)
    assert note["status"] == "DEPLOYING"
    assert note["event_id"] == event["id"]
    assert prod_only.images("prod", "web")["app"].endswith("@" + event["detail"]["image-digest"])


def test_freeze_window_end_without_deploy_after_freeze_waits_for_a_new_push(
    prod_only: World, deploy, sweep, clock: Clock
) -> None:
    now = on_the_minute(clock)
    end = now + timedelta(minutes=10)
    prod_only.put_rule("web", "prod", frozen_rule(now - timedelta(hours=1), end, after=False))
    deploy(push(prod_only, "web", "1.1.0"))
    assert [m["status"] for m in messages(prod_only)] == ["SKIPPED"]

    # a push one minute before T is still frozen
    clock.now = end - timedelta(minutes=1)
    deploy(push(prod_only, "web", "1.1.1"))
    [late] = messages(prod_only)
    assert late["status"] == "SKIPPED"
    assert late["reason"].startswith("frozen until")

    # at T the sweep does nothing: no push was held
    clock.now = end
    assert sweep()["released"] == []
    assert messages(prod_only) == []

    # a push at T deploys
    event = push(prod_only, "web", "1.1.2")
    deploy(event)
    [note] = messages(prod_only)
    assert note["status"] == "DEPLOYING"
    assert note["tag"] == "1.1.2"


def test_freeze_newer_push_replaces_older_held_push(prod_only: World, deploy, sweep, clock: Clock) -> None:
    now = on_the_minute(clock)
    end = now + timedelta(minutes=30)
    prod_only.put_rule("web", "prod", frozen_rule(now - timedelta(hours=1), end, after=True))
    deploy(push(prod_only, "web", "1.1.0"))
    clock.advance(minutes=5)
    newer = push(prod_only, "web", "1.2.0")
    deploy(newer)
    assert [h.tag for h in holds()] == ["1.2.0"]
    prod_only.notifications()

    clock.now = end
    sweep()

    [note] = messages(prod_only)
    assert note["status"] == "DEPLOYING"
    assert note["tag"] == "1.2.0"
    assert prod_only.images("prod", "web")["app"].endswith("@" + newer["detail"]["image-digest"])


@pytest.mark.parametrize(
    ("window", "local_now", "until"),
    [
        # Friday 20:00 in New York is Saturday 01:00 UTC: frozen in New York, not in UTC
        (
            {"days": ["fri"], "from": "16:00", "to": "23:59", "timezone": "America/New_York"},
            datetime(2025, 1, 10, 20, 0, tzinfo=ZoneInfo("America/New_York")),
            "2025-01-11 04:59 UTC",
        ),
        # Friday 12:00 in New York is 17:00 UTC: inside 16:00-23:59 if it were read as UTC, but it is not
        (
            {"days": ["fri"], "from": "16:00", "to": "23:59", "timezone": "America/New_York"},
            datetime(2025, 1, 10, 12, 0, tzinfo=ZoneInfo("America/New_York")),
            None,
        ),
        # past midnight: Saturday 22:00 to 02:00, at Sunday 01:30 in Berlin (summer time)
        (
            {"days": ["sat"], "from": "22:00", "to": "02:00", "timezone": "Europe/Berlin"},
            datetime(2025, 7, 6, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
            "2025-07-06 00:00 UTC",
        ),
        # cron: every day at 09:00 Berlin time for 60 minutes
        (
            {"cron": "0 9 * * *", "duration_minutes": 60, "timezone": "Europe/Berlin"},
            datetime(2025, 1, 15, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")),
            "2025-01-15 09:00 UTC",
        ),
        (
            {"cron": "0 9 * * *", "duration_minutes": 60, "timezone": "Europe/Berlin"},
            datetime(2025, 1, 15, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")),
            None,
        ),
        # an absolute window without an offset is in its time zone
        (
            {"start": "2025-01-15T09:00:00", "end": "2025-01-15T18:00:00", "timezone": "Asia/Tokyo"},
            datetime(2025, 1, 15, 17, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
            "2025-01-15 09:00 UTC",
        ),
    ],
)
def test_freeze_window_in_time_zone_is_read_in_that_zone(
    prod_only: World, deploy, clock: Clock, window: dict[str, Any], local_now: datetime, until: str | None
) -> None:
    clock.now = local_now.astimezone(UTC)
    prod_only.put_rule("web", "prod", {"targets": [PROD], "freeze": [window]})

    deploy(push(prod_only, "web", "1.1.0"))

    [note] = messages(prod_only)
    if until is None:
        assert note["status"] == "DEPLOYING"
    else:
        assert (note["status"], note["reason"]) == ("SKIPPED", f"frozen until {until}")


# -- approval -----------------------------------------------------------------------------------


def test_approval_push_is_held_with_rollout_id(prod_only: World, deploy, faults: Faults, capsys) -> None:
    prod_only.put_rule("web", "prod", {"targets": [PROD], "approval": True})

    deploy(push(prod_only, "web", "1.1.0"))

    [note] = messages(prod_only)
    assert note["status"] == "SKIPPED"
    assert note["held"] == "approval"
    assert note["reason"] == "waiting for approval (slipway approve ROLLOUT_ID)"
    assert note["rollout_id"]
    assert faults.calls["ecs.UpdateService"] == 0
    code, out, _ = slipway(capsys, "holds", "--json")
    [held] = json.loads(out)
    assert code == 0
    assert held["hold_id"] == note["rollout_id"]
    assert held["gate"] == "approval"
    code, out, _ = slipway(capsys, "holds")
    assert note["rollout_id"] in out
    assert "approval" in out


def test_approval_slipway_approve_starts_the_rollout(prod_only: World, deploy, capsys) -> None:
    # GIVEN a push held for approval
    prod_only.put_rule("web", "prod", {"targets": [PROD], "approval": True})
    event = push(prod_only, "web", "1.1.0")
    deploy(event)
    [held] = messages(prod_only)

    # WHEN a release manager approves it
    code, out, err = slipway(capsys, "approve", held["rollout_id"])

    # THEN it rolls out under the same rollout id, and who approved is said
    assert code == 0, err
    assert out.startswith(f"approved by {MOTO_CALLER}: DEPLOYING prod/web")
    [note] = messages(prod_only)
    assert note["status"] == "DEPLOYING"
    assert note["rollout_id"] == held["rollout_id"]
    assert note["digest"] == event["detail"]["image-digest"]
    assert prod_only.images("prod", "web")["app"].endswith("@" + event["detail"]["image-digest"])
    assert holds() == []
    # AND it cannot be approved twice
    assert slipway(capsys, "approve", held["rollout_id"])[0] == 1


def test_approval_rollout_records_who_approved(prod_only: World, deploy, capsys) -> None:
    prod_only.put_rule("web", "prod", {"targets": [PROD], "approval": True})
    deploy(push(prod_only, "web", "1.1.0"))
    [held] = messages(prod_only)

    slipway(capsys, "approve", held["rollout_id"])

    [note] = messages(prod_only)
    _, out, _ = slipway(capsys, "history", "prod/web", "--json")
    [rollout] = json.loads(out)
    assert rollout["rollout_id"] == held["rollout_id"]
    assert rollout.get("approved_by") == MOTO_CALLER
    assert note.get("approved_by") == MOTO_CALLER


def test_approval_approve_prints_json_with_json_flag(prod_only: World, deploy, capsys) -> None:
    prod_only.put_rule("web", "prod", {"targets": [PROD], "approval": True})
    deploy(push(prod_only, "web", "1.1.0"))
    [held] = messages(prod_only)

    code, out, err = slipway(capsys, "--json", "approve", held["rollout_id"])

    assert code == 0, err
    assert json.loads(out)["approved_by"] == MOTO_CALLER


def test_approval_while_wave_is_full_is_recorded_on_the_hold_and_rolls_out_later(
    world: World, deploy, track, ecs_life: Deployments, capsys
) -> None:
    # GIVEN two targets that need approval, one at a time
    world.create_repository("web")
    fargate_web(world, cluster="prod")
    fargate_web(world, cluster="staging")
    world.put_rule("web", "prod", {"targets": [PROD, STAGING], "approval": True, "max_parallel": 1})
    deploy(push(world, "web", "1.1.0"))
    held = {m["cluster"]: m["rollout_id"] for m in messages(world)}
    assert slipway(capsys, "approve", held["prod"])[0] == 0

    # WHEN the second is approved while the first still rolls out
    code, out, _ = slipway(capsys, "approve", held["staging"])

    # THEN it waits for a wave slot, and the hold says who approved
    assert code == 0
    assert out.startswith(f"approved by {MOTO_CALLER}; still held")
    [hold] = holds()
    assert hold.hold_id == held["staging"]
    assert hold.approved_by == MOTO_CALLER
    assert hold.approved_at is not None
    deploying = [m for m in messages(world) if m["status"] == "DEPLOYING"]
    assert [m["cluster"] for m in deploying] == ["prod"]

    # WHEN the first completes
    result = track(ecs_life.complete("prod", "web", deploying[0]["deployment_id"]))

    # THEN the approved second one starts, with no second approval
    assert result["released"] == [{"status": "DEPLOYING", "rule": "prod", "target": "staging/web"}]
    assert holds() == []


def test_approval_unknown_rollout_id_exits_one(world: World, faults: Faults, capsys) -> None:
    code, out, err = slipway(capsys, "approve", "00000000-0000-0000-0000-000000000000")

    assert code == 1
    assert out == ""
    assert "no held rollout 00000000-0000-0000-0000-000000000000" in err


def test_approval_newer_push_replaces_older_held_push(prod_only: World, deploy, clock: Clock, capsys) -> None:
    # GIVEN 1.1.0 and then 1.2.0 are held for approval
    prod_only.put_rule("web", "prod", {"targets": [PROD], "approval": True})
    deploy(push(prod_only, "web", "1.1.0"))
    clock.advance(minutes=1)
    newer = push(prod_only, "web", "1.2.0")
    deploy(newer)
    older_id, newer_id = (m["rollout_id"] for m in messages(prod_only))

    # THEN only the newer is held: the older cannot be approved any more
    _, out, _ = slipway(capsys, "holds", "--json")
    assert [(h["hold_id"], h["tag"]) for h in json.loads(out)] == [(newer_id, "1.2.0")]
    code, _, err = slipway(capsys, "approve", older_id)
    assert code == 1
    assert "no held rollout" in err

    # AND approving the newer rolls out 1.2.0, never 1.1.0
    assert slipway(capsys, "approve", newer_id)[0] == 0
    deployed = [m for m in messages(prod_only) if m["status"] == "DEPLOYING"]
    assert [m["tag"] for m in deployed] == ["1.2.0"]
    assert prod_only.images("prod", "web")["app"].endswith("@" + newer["detail"]["image-digest"])


# -- waves: max_parallel -------------------------------------------------------------------------

SERVICES = [f"web{i}" for i in range(1, 6)]


@pytest.fixture
def five_services(world: World) -> World:
    """prod/web1 .. prod/web5 on EC2, each running web:1.0.0."""
    world.create_repository("web")
    world.cluster("prod")
    for name in SERVICES:
        td = world.task_definition(name, [{"name": "app", "image": world.image_uri("web", "1.0.0")}])
        world.service("prod", name, td, launchType="EC2")
    return world


def test_max_parallel_rolls_out_a_wave_then_one_more_per_completion(
    five_services: World, deploy, track, ecs_life: Deployments, faults: Faults
) -> None:
    # GIVEN a rule for 5 services, 2 at a time
    targets = [{"cluster": "prod", "service": name} for name in SERVICES]
    five_services.put_rule("web", "prod", {"targets": targets, "max_parallel": 2})

    # WHEN a push arrives
    event = push(five_services, "web", "1.1.0")
    deploy(event)

    # THEN 2 deploy and 3 are queued
    notes = messages(five_services)
    deploying = {m["service"]: m["deployment_id"] for m in notes if m["status"] == "DEPLOYING"}
    queued = [m for m in notes if m["status"] == "SKIPPED"]
    assert sorted(deploying) == ["web1", "web2"]
    assert sorted(m["service"] for m in queued) == ["web3", "web4", "web5"]
    assert {m["held"] for m in queued} == {"wave"}
    assert {m["reason"] for m in queued} == {"queued: rule prod rolls out 2 target(s) at a time"}

    # WHEN one completes
    result = track(ecs_life.complete("prod", "web1", deploying.pop("web1")))

    # THEN exactly one more starts
    assert len(result["released"]) == 1
    assert result["released"][0]["status"] == "DEPLOYING"
    notes = messages(five_services)
    assert [m["status"] for m in notes if m["service"] == "web1"] == ["SUCCEEDED"]
    started = [m for m in notes if m["status"] == "DEPLOYING"]
    assert len(started) == 1
    deploying.update({m["service"]: m["deployment_id"] for m in started})

    # WHEN each rollout in flight completes in turn
    rolled = Counter(["web1", "web2", started[0]["service"]])
    while deploying:
        assert len(deploying) <= 2
        service = sorted(deploying)[0]
        track(ecs_life.complete("prod", service, deploying.pop(service)))
        for note in messages(five_services):
            if note["status"] == "DEPLOYING":
                rolled[note["service"]] += 1
                deploying[note["service"]] = note["deployment_id"]

    # THEN every service got the push exactly once
    assert rolled == Counter(SERVICES)
    assert faults.calls["ecs.UpdateService"] == 5
    for name in SERVICES:
        assert five_services.images("prod", name)["app"].endswith("@" + event["detail"]["image-digest"])
    assert holds() == []


def test_max_parallel_release_handed_on_keeps_its_slot_so_the_next_hold_waits(
    five_services: World, deploy, ecs_life: Deployments, faults: Faults, no_backoff: None
) -> None:
    from sandbox.faults import Fault

    # GIVEN three services one at a time: web1 deploying, web2 and web3 held by the wave
    targets = [{"cluster": "prod", "service": name} for name in SERVICES[:3]]
    five_services.put_rule("web", "prod", {"targets": targets, "max_parallel": 1})
    deploy(push(five_services, "web", "1.1.0"))
    [first] = [m for m in messages(five_services) if m["status"] == "DEPLOYING"]

    # WHEN web1 completes while ECS cannot register web2's revision for now (503: handed on)
    from sandbox.stack import LambdaContext
    from slipway.handlers import track as handler

    faults.fail_always("ecs.RegisterTaskDefinition", Fault("ServiceUnavailable", 503, takes=2.0))  # of 30 s
    event = ecs_life.complete("prod", first["service"], first["deployment_id"])
    handler.handler(event, LambdaContext(function_name="slipway-track", timeout_ms=30_000))  # time runs out
    faults.stop()

    # THEN the released target keeps the wave's one slot: the other hold stays held
    assert len(holds()) == 1
    assert faults.calls["ecs.UpdateService"] == 1  # web1's: nothing else started


def test_max_parallel_larger_than_targets_deploys_all_at_once(five_services: World, deploy) -> None:
    targets = [{"cluster": "prod", "service": name} for name in SERVICES]
    five_services.put_rule("web", "prod", {"targets": targets, "max_parallel": 10})

    deploy(push(five_services, "web", "1.1.0"))

    assert Counter(m["status"] for m in messages(five_services)) == Counter({"DEPLOYING": 5})
    assert holds() == []


def test_max_parallel_slot_of_errored_target_is_free_at_the_next_sweep(
    five_services: World, deploy, sweep, clock: Clock
) -> None:
    # GIVEN one at a time, and the first target does not exist
    targets = [{"cluster": "prod", "service": name} for name in ("gone", "web1", "web2")]
    five_services.put_rule("web", "prod", {"targets": targets, "max_parallel": 1})
    deploy(push(five_services, "web", "1.1.0"))
    notes = {m["service"]: m for m in messages(five_services)}
    assert notes["gone"]["status"] == "ERROR"
    assert (notes["web1"]["status"], notes["web1"]["held"]) == ("SKIPPED", "wave")

    # WHEN the sweep runs
    clock.advance(minutes=5)
    released = sweep()["released"]

    # THEN the next target starts: an error holds no slot
    assert released == [{"status": "DEPLOYING", "rule": "prod", "target": "prod/web1"}]
    assert [h.service for h in holds()] == ["web2"]
