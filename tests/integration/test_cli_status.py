"""`slipway status`: the fleet view (every service, a repository's, one), and the errors a user can cause."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.deployments import Deployments
from sandbox.faults import Fault, Faults
from sandbox.stack import World
from tests.integration.test_cli_history_rollback import slipway
from tests.integration.test_cli_rules import cli_calls  # noqa: F401 - the fixture, for the CLI's own sessions
from tests.integration.test_deploy import fargate_web, push


@pytest.fixture
def fresh_rules(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy function reads rules as they are now (its 30-second cache off): the fixtures edit them."""
    monkeypatch.setenv("SLIPWAY_RULES_CACHE_SECONDS", "0")


@pytest.fixture
def fleet(world: World, fresh_rules, deploy, track, ecs_life: Deployments, clock) -> dict[str, Any]:
    """web: prod/web SUCCEEDED on 1.2.0, staging/web DEPLOYING 1.3.0; prod/web holds 1.3.0 for approval.
    api: prod/api SUCCEEDED on 2.0.0 (another repository)."""
    world.create_repository("web")
    world.create_repository("api")
    fargate_web(world, "prod", "web")
    fargate_web(world, "staging", "web")
    fargate_web(world, "prod", "api")
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})
    world.put_rule("api", "prod", {"targets": [{"cluster": "prod", "service": "api", "container": "app"}]})
    revisions = {}
    for repository, tag, service in (("web", "1.2.0", "web"), ("api", "2.0.0", "api")):
        clock.advance(minutes=5)
        deploy(push(world, repository, tag))
        [note] = [n["message"] for n in world.notifications() if n["message"]["status"] == "DEPLOYING"]
        clock.advance(minutes=2)
        track(ecs_life.complete("prod", service, note["deployment_id"]))
        revisions[f"prod/{service}"] = note["task_definition"]
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "approval": True})
    world.put_rule("web", "staging", {"targets": [{"cluster": "staging", "service": "web"}]})
    clock.advance(minutes=5)
    deploy(push(world, "web", "1.3.0"))
    world.notifications()
    return revisions


def rows(out: str) -> dict[str, list[str]]:
    """The fleet table's rows by service (columns split on runs of two spaces)."""
    lines = out.strip().splitlines()
    assert lines[0].split("  ")[0] == "SERVICE"
    return {line.split()[0]: [cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines[1:]}


def test_cli_status_without_argument_shows_every_service_with_a_state(world: World, fleet, capsys) -> None:
    code, out, err = slipway(capsys, "status")

    assert code == 0, err
    shown = rows(out)
    assert sorted(shown) == ["prod/api", "prod/web", "staging/web"]
    web = shown["prod/web"]
    assert web[1] == "1.2.0" and web[3] == fleet["prod/web"].rsplit("/", 1)[-1] and web[4] == "SUCCEEDED"
    assert web[-1] == "approval 1.3.0"
    staging = shown["staging/web"]
    assert staging[1] == "-" and "DEPLOYING 1.3.0" in staging
    assert "\x1b[" not in out  # not a terminal: plain


def test_cli_status_json_of_every_service(world: World, fleet, capsys) -> None:
    code, out, err = slipway(capsys, "status", "--json")

    assert code == 0, err
    by_key = {entry["service"]: entry for entry in json.loads(out)}
    web = by_key["prod/web"]
    assert (web["tag"], web["last_outcome"], web["in_flight"]) == ("1.2.0", "SUCCEEDED", None)
    assert web["revision"] == fleet["prod/web"] and web["digest"].startswith("sha256:")
    assert [(h["gate"], h["image"], h["rule"]) for h in web["holds"]] == [("approval", "web:1.3.0", "prod")]
    flying = by_key["staging/web"]["in_flight"]
    assert (flying["status"], flying["image"], flying["strategy"]) == ("DEPLOYING", "web:1.3.0", "rolling")
    assert by_key["staging/web"]["last_outcome"] is None


def test_cli_status_of_a_repository_shows_the_services_of_its_rules(world: World, fleet, capsys) -> None:
    code, out, err = slipway(capsys, "status", "web")

    assert code == 0, err
    assert sorted(rows(out)) == ["prod/web", "staging/web"]

    code, out, _ = slipway(capsys, "status", "api", "--json")
    assert code == 0
    [api] = json.loads(out)
    assert (api["service"], api["tag"], api["holds"]) == ("prod/api", "2.0.0", [])


def test_cli_status_of_a_service_shows_its_rollout_and_holds(world: World, fleet, capsys) -> None:
    code, out, err = slipway(capsys, "status", "prod/web")

    assert code == 0, err
    shown = {name: value.strip() for name, _, value in (line.partition("  ") for line in out.splitlines())}
    assert (shown["status"], shown["image"], shown["strategy"]) == ("SUCCEEDED", "web:1.2.0", "rolling")
    assert shown["held"].startswith("web:1.3.0 by approval under rule prod (")

    code, out, _ = slipway(capsys, "status", "prod/web", "--json")
    data = json.loads(out)
    assert data["status"] == "SUCCEEDED" and data["fleet"]["holds"][0]["gate"] == "approval"


def test_cli_status_of_an_empty_table_says_so(world: World, faults, capsys) -> None:
    code, out, _ = slipway(capsys, "status")
    assert (code, out) == (0, "(no service has a state in Slipway's table yet)\n")
    code, out, _ = slipway(capsys, "status", "--json")
    assert (code, json.loads(out)) == (0, [])


# -- errors a user can cause: one line, exit 1, never a traceback ---------------------------


def one_line_failure(code: int, out: str, err: str) -> str:
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("slipway: ")
    assert "Traceback" not in err
    return err


def test_cli_status_of_an_unknown_service_or_repository_is_one_line(world: World, faults, capsys) -> None:
    err = one_line_failure(*slipway(capsys, "status", "prod/nope"))
    assert "no rollout of prod/nope on record" in err
    err = one_line_failure(*slipway(capsys, "status", "nope"))
    assert "'nope' is not CLUSTER/SERVICE" in err and "repository nope has no rules" in err


def test_cli_with_a_stack_that_does_not_exist_is_one_line(world: World, faults, capsys) -> None:
    err = one_line_failure(*slipway(capsys, "--stack", "nope", "status"))
    assert "no stack nope in" in err and "--stack" in err


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        ("ExpiredTokenException", 400, "your AWS credentials are invalid or have expired"),
        ("AccessDeniedException", 400, "access denied: your credentials may not Scan here"),
    ],
)
def test_cli_aws_refusals_are_one_line(world: World, fleet, capsys, cli_calls: Faults, code, status, says) -> None:  # noqa: F811
    cli_calls.fail_always("dynamodb.Scan", Fault(code, status, "The security token included in the request is expired"))

    err = one_line_failure(*slipway(capsys, "status"))

    assert says in err and code in err


def test_cli_without_credentials_is_one_line(world: World, faults, capsys, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    err = one_line_failure(*slipway(capsys, "status"))

    assert "no AWS credentials found" in err


def test_cli_rule_that_does_not_validate_is_refused_in_clear_lines(world: World, capsys, tmp_path) -> None:
    bad = tmp_path / "prod.json"
    bad.write_text(json.dumps({"targets": [{"cluster": "prod", "service": "web"}], "tag": ["1.*"]}))

    code, out, err = slipway(capsys, "rules", "put", "web/prod", str(bad))

    assert (code, out) == (1, "")
    assert "Traceback" not in err
    assert err.splitlines() == [
        f'{bad}: $: unknown key "tag" (did you mean "tags"?)',
        f"slipway: refused: {bad} is not a valid rule; nothing was written",
    ]
