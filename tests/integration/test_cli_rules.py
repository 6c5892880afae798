"""`slipway rules ...`, `slipway plan` and `slipway explain`, in-process against moto.

The CLI builds its own boto3 session from AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL;
``cli_calls`` routes that session through the same botocore hook as the functions'
(``faults``), so a test can count every AWS call a command makes.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sandbox.faults import Faults
from sandbox.stack import World
from tests.integration.test_cli_history_rollback import slipway
from tests.integration.test_deploy import fargate_web, push, registered_revisions

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schema" / "rule.schema.json"
WEB = {"cluster": "prod", "service": "web"}
ORDERS = {"cluster": "prod", "service": "orders"}

# Every key of the rule format, each freeze window form once: a valid rule.
FULL_RULE: dict[str, Any] = {
    "targets": [{"cluster": "prod", "service": "web", "container": "app"}],
    "tags": ["v*"],
    "semver": ">=1.0.0",
    "enabled": True,
    "allow_downgrade": False,
    "circuit_breaker": {"enable": True, "rollback": True},
    "alarms": ["web-5xx"],
    "promote_from": "staging",
    "soak_minutes": 30,
    "freeze": [
        {"start": "2030-12-24T00:00:00", "end": "2030-12-27T00:00:00", "timezone": "Europe/Berlin"},
        {"cron": "0 9 * * mon", "duration_minutes": 60},
        {"days": ["fri"], "from": "16:00", "to": "23:59", "timezone": "America/New_York"},
    ],
    "deploy_after_freeze": True,
    "max_parallel": 2,
    "approval": True,
    "pre_deploy": {
        "container": "app",
        "command": ["./migrate", "--up"],
        "timeout_minutes": 30,
        "cluster": "prod",
        "network": {"subnets": ["subnet-0abc1234"], "security_groups": ["sg-0abc1234"], "assign_public_ip": False},
    },
}

# Operations that change something; `plan` must call none of them.
WRITES = (
    "ecs.RegisterTaskDefinition",
    "ecs.UpdateService",
    "ecs.CreateService",
    "ecs.DeleteService",
    "dynamodb.PutItem",
    "dynamodb.UpdateItem",
    "dynamodb.DeleteItem",
    "dynamodb.TransactWriteItems",
    "dynamodb.BatchWriteItem",
    "sns.Publish",
    "sns.PublishBatch",
    "ssm.PutParameter",
    "ssm.DeleteParameter",
)
WRITE_VERBS = ("Put", "Update", "Delete", "Register", "Create", "Transact", "Publish", "Send", "BatchWrite", "Tag")


@pytest.fixture
def cli_calls(faults: Faults, monkeypatch: pytest.MonkeyPatch) -> Faults:
    """Make the sessions the CLI creates go through the counting hook too."""
    import boto3.session

    class Counted(boto3.session.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.events.register_first("before-send", faults.before_send)

    monkeypatch.setattr(boto3.session, "Session", Counted)
    return faults


def rule_file(tmp_path: Path, name: str, rule: dict[str, Any] | str) -> str:
    path = tmp_path / name
    path.write_text(rule if isinstance(rule, str) else json.dumps(rule, indent=2))
    return str(path)


def parameter_of(world: World, repository: str, name: str) -> dict[str, Any]:
    assert world.stack is not None
    full = f"{world.stack.rules_path}/{repository}/{name}"
    value = world.ssm.get_parameter(Name=full, WithDecryption=True)["Parameter"]
    [described] = world.ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [full]}]
    )["Parameters"]
    return {"value": value["Value"], "version": value["Version"], "type": described["Type"]}


def writes(calls: Faults) -> dict[str, int]:
    """Every write-like call counted, by operation."""
    named = {op: calls.calls[op] for op in WRITES if calls.calls[op]}
    verbs = {op: n for op, n in calls.calls.items() if op.split(".", 1)[1].startswith(WRITE_VERBS) and n}
    return {**named, **verbs}


# -- rules validate (offline) ------------------------------------------------------------


def test_cli_rules_validate_valid_file_exits_zero(tmp_path: Path, capsys) -> None:
    path = rule_file(tmp_path, "prod.json", {"targets": [WEB], "tags": ["v*"]})

    code, out, _ = slipway(capsys, "rules", "validate", path)

    assert code == 0
    assert out.strip() == f"{path}: ok"


def test_cli_rules_validate_rule_with_every_key_is_valid(tmp_path: Path, capsys) -> None:
    path = rule_file(tmp_path, "full.json", FULL_RULE)

    code, out, _ = slipway(capsys, "rules", "validate", path)

    assert code == 0, out


def test_cli_rules_validate_bad_file_prints_each_problem_with_json_path(tmp_path: Path, capsys) -> None:
    rule = {
        "targets": [WEB, {"cluster": "prod"}],
        "tag": ["v*"],
        "freeze": [{"start": "2030-01-02T00:00:00"}],
        "max_parallel": 0,
    }
    path = rule_file(tmp_path, "bad.json", rule)

    code, out, _ = slipway(capsys, "rules", "validate", path)

    assert code == 1
    lines = out.strip().splitlines()
    assert f"{path}: targets[1].service: required" in lines
    assert f'{path}: $: unknown key "tag" (did you mean "tags"?)' in lines
    assert any(line.startswith(f"{path}: freeze[0]: ") for line in lines), lines
    assert any(line.startswith(f"{path}: max_parallel: ") for line in lines), lines
    assert len(lines) == 4


def test_cli_rules_validate_several_files_reports_each_and_fails_if_any_is_bad(tmp_path: Path, capsys) -> None:
    good = rule_file(tmp_path, "good.json", {"targets": [WEB]})
    bad = rule_file(tmp_path, "bad.json", "{not json")

    code, out, _ = slipway(capsys, "rules", "validate", good, bad)

    assert code == 1
    assert f"{good}: ok" in out
    assert f"{bad}: $: not valid JSON" in out


def test_cli_rules_validate_json_lists_files_with_problems(tmp_path: Path, capsys) -> None:
    good = rule_file(tmp_path, "good.json", {"targets": [WEB]})
    bad = rule_file(tmp_path, "bad.json", {"targets": [WEB], "soak_minutes": 30})

    code, out, _ = slipway(capsys, "rules", "validate", "--json", good, bad)

    assert code == 1
    assert json.loads(out) == [
        {"file": good, "valid": True, "problems": []},
        {
            "file": bad,
            "valid": False,
            "problems": ["$: soak_minutes needs promote_from (the rule whose success soaks)"],
        },
    ]


def test_cli_rules_validate_global_json_flag_works_too(tmp_path: Path, capsys) -> None:
    good = rule_file(tmp_path, "good.json", {"targets": [WEB]})

    code, out, _ = slipway(capsys, "--json", "rules", "validate", good)

    assert code == 0
    assert json.loads(out) == [{"file": good, "valid": True, "problems": []}]


def test_cli_rules_validate_works_offline_without_a_stack(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no stack configured and an endpoint that cannot answer
    monkeypatch.delenv("SLIPWAY_TABLE_NAME", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    path = rule_file(tmp_path, "prod.json", {"targets": [WEB]})

    code, out, err = slipway(capsys, "rules", "validate", path)

    assert code == 0, err
    assert out.strip() == f"{path}: ok"


def test_cli_rules_validate_missing_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code, _, err = slipway(capsys, "rules", "validate", str(tmp_path / "nope.json"))

    assert code == 2
    assert "nope.json" in err


# -- rules schema ---------------------------------------------------------------------------


def test_cli_rules_schema_prints_the_published_schema(capsys) -> None:
    code, out, _ = slipway(capsys, "rules", "schema")

    assert code == 0
    assert json.loads(out) == json.loads(SCHEMA.read_text())


def test_rule_schema_accepts_rule_with_every_key_and_rejects_unknown_key() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    assert list(validator.iter_errors(FULL_RULE)) == []
    assert list(validator.iter_errors({"targets": [WEB], "tag": ["v*"]})) != []
    assert list(validator.iter_errors({"tags": ["v*"]})) != []


# -- rules list / show ----------------------------------------------------------------------


@pytest.fixture
def ruled(world: World, cli_calls: Faults) -> World:
    """Rules of two repositories, one of them invalid."""
    world.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    world.put_rule("web", "staging", {"targets": [{"cluster": "staging", "service": "web"}], "enabled": False})
    world.put_rule("api", "prod", {"targets": [{"cluster": "prod", "service": "api"}], "tag": ["v*"]})
    return world


def test_cli_rules_list_prints_table_of_every_rule(ruled: World, capsys) -> None:
    code, out, err = slipway(capsys, "rules", "list")

    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["REPOSITORY", "RULE", "VERSION", "STATE", "TAGS", "TARGETS"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["api", "prod", "1", "invalid"],
        ["web", "prod", "1", "enabled"],
        ["web", "staging", "1", "disabled"],
    ]
    assert "prod/web" in lines[2]
    assert "v*" in lines[2]
    assert "unknown key" in lines[1]


def test_cli_rules_list_of_repository_json(ruled: World, capsys) -> None:
    code, out, _ = slipway(capsys, "rules", "list", "web", "--json")

    assert code == 0
    entries = json.loads(out)
    assert [(e["repository"], e["rule"]) for e in entries] == [("web", "prod"), ("web", "staging")]
    assert entries[0]["parameter"] == "/slipway/rules/web/prod"
    assert entries[0]["valid"] is True
    assert entries[0]["tags"] == ["v*"]
    assert entries[0]["targets"] == "prod/web"
    assert entries[1]["enabled"] is False


def test_cli_rules_list_nested_repository_is_not_mixed_with_parent(ruled: World, capsys) -> None:
    ruled.put_rule("web/admin", "prod", {"targets": [WEB]})

    _, out, _ = slipway(capsys, "rules", "list", "web", "--json")
    _, nested, _ = slipway(capsys, "rules", "list", "web/admin", "--json")

    assert [e["repository"] for e in json.loads(out)] == ["web", "web"]
    assert [(e["repository"], e["rule"]) for e in json.loads(nested)] == [("web/admin", "prod")]


def test_cli_rules_list_honours_aws_region(ruled: World, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    code, out, _ = slipway(capsys, "rules", "list")

    # the rules live in eu-west-1: us-east-1 has none
    assert code == 0
    assert out.strip() == "(nothing)"


def test_cli_rules_list_honours_aws_profile(
    ruled: World, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a profile in us-east-1, where one rule lives, and no region in the environment
    config = tmp_path / "config"
    config.write_text(
        "[profile east]\nregion = us-east-1\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_PROFILE", "east")
    import boto3

    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/slipway/rules/east/prod", Value=json.dumps({"targets": [WEB]}), Type="String"
    )

    # WHEN the rules are listed
    code, out, err = slipway(capsys, "rules", "list", "--json")

    # THEN they are the profile's region's
    assert code == 0, err
    assert [(e["repository"], e["rule"]) for e in json.loads(out)] == [("east", "prod")]


def test_cli_rules_list_honours_aws_endpoint_url(
    ruled: World, capsys, monkeypatch: pytest.MonkeyPatch, no_backoff
) -> None:
    # GIVEN an endpoint nothing listens on (the sandbox would be there)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    code, out, err = slipway(capsys, "rules", "list")

    # THEN the command went there, failed, and said so in one line
    assert code == 1
    assert out == ""
    assert err.startswith("slipway: ")
    assert "127.0.0.1:9" in err


def test_cli_rules_show_prints_value_version_and_validity(ruled: World, capsys) -> None:
    code, out, _ = slipway(capsys, "rules", "show", "web/prod")

    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "# /slipway/rules/web/prod (version 1)"
    assert json.loads("\n".join(lines[1:-1])) == {"targets": [WEB], "tags": ["v*"]}
    assert lines[-1] == "# valid"


def test_cli_rules_show_invalid_rule_lists_problems(ruled: World, capsys) -> None:
    _, out, _ = slipway(capsys, "rules", "show", "api/prod")

    assert '# INVALID:\n#   $: unknown key "tag" (did you mean "tags"?)' in out


def test_cli_rules_show_json(ruled: World, capsys) -> None:
    code, out, _ = slipway(capsys, "rules", "show", "web/prod", "--json")

    assert code == 0
    shown = json.loads(out)
    assert shown["parameter"] == "/slipway/rules/web/prod"
    assert shown["version"] == 1
    assert json.loads(shown["value"]) == {"targets": [WEB], "tags": ["v*"]}
    assert shown["problems"] == []


def test_cli_rules_show_unknown_rule_exits_one(ruled: World, capsys) -> None:
    code, out, err = slipway(capsys, "rules", "show", "web/nope")

    assert code == 1
    assert out == ""
    assert "no rule /slipway/rules/web/nope" in err


def test_cli_rules_show_malformed_reference_is_a_usage_error(ruled: World, capsys) -> None:
    code, _, err = slipway(capsys, "rules", "show", "web")

    assert code == 2
    assert "REPOSITORY/RULE" in err


# -- rules put / delete ---------------------------------------------------------------------


def test_cli_rules_put_new_rule_writes_it_and_shows_the_diff(ruled: World, capsys, tmp_path: Path) -> None:
    path = rule_file(tmp_path, "canary.json", {"targets": [WEB], "tags": ["rc-*"]})

    code, out, err = slipway(capsys, "rules", "put", "web/canary", path)

    assert code == 0, err
    assert "+++ /slipway/rules/web/canary (new)" in out
    assert '+  "tags": [' in out
    assert out.strip().splitlines()[-1] == "wrote /slipway/rules/web/canary version 1"
    stored = parameter_of(ruled, "web", "canary")
    assert json.loads(stored["value"]) == {"targets": [WEB], "tags": ["rc-*"]}


def test_cli_rules_put_overwrites_and_diffs_against_current(ruled: World, capsys, tmp_path: Path) -> None:
    path = rule_file(tmp_path, "prod.json", {"targets": [WEB], "tags": ["v2.*"]})

    code, out, err = slipway(capsys, "rules", "put", "web/prod", path)

    assert code == 0, err
    lines = out.splitlines()
    assert '-    "v*"' in lines
    assert '+    "v2.*"' in lines
    assert not any(line.startswith(('-  "targets"', '+  "targets"')) for line in lines)
    assert lines[-1] == "wrote /slipway/rules/web/prod version 2"
    stored = parameter_of(ruled, "web", "prod")
    assert stored["version"] == 2
    assert json.loads(stored["value"])["tags"] == ["v2.*"]


def test_cli_rules_put_invalid_rule_is_refused_and_nothing_is_written(
    ruled: World, capsys, tmp_path: Path, cli_calls: Faults
) -> None:
    path = rule_file(tmp_path, "prod.json", {"targets": [WEB, {"cluster": "prod"}], "tag": ["v*"]})
    cli_calls.reset_counts()

    code, out, err = slipway(capsys, "rules", "put", "web/prod", path)

    assert code == 1
    assert f"{path}: targets[1].service: required" in err
    assert f'{path}: $: unknown key "tag" (did you mean "tags"?)' in err
    assert "refused" in err
    assert "wrote" not in out
    assert cli_calls.calls["ssm.PutParameter"] == 0
    stored = parameter_of(ruled, "web", "prod")
    assert stored["version"] == 1
    assert json.loads(stored["value"]) == {"targets": [WEB], "tags": ["v*"]}


def test_cli_rules_put_secure_string_stays_secure_string(ruled: World, capsys, tmp_path: Path) -> None:
    ruled.put_rule("web", "secret", {"targets": [WEB]}, secure=True)
    path = rule_file(tmp_path, "secret.json", {"targets": [WEB], "tags": ["v*"]})

    code, _, err = slipway(capsys, "rules", "put", "web/secret", path)

    assert code == 0, err
    stored = parameter_of(ruled, "web", "secret")
    assert stored["type"] == "SecureString"
    assert json.loads(stored["value"]) == {"targets": [WEB], "tags": ["v*"]}


def test_cli_rules_put_new_rule_is_a_plain_string(ruled: World, capsys, tmp_path: Path) -> None:
    path = rule_file(tmp_path, "canary.json", {"targets": [WEB]})

    slipway(capsys, "rules", "put", "web/canary", path)

    assert parameter_of(ruled, "web", "canary")["type"] == "String"


def test_cli_rules_delete_removes_the_rule(ruled: World, capsys) -> None:
    code, out, _ = slipway(capsys, "rules", "delete", "web/prod")

    assert code == 0
    assert out.strip() == "deleted /slipway/rules/web/prod"
    _, listed, _ = slipway(capsys, "rules", "list", "web", "--json")
    assert [e["rule"] for e in json.loads(listed)] == ["staging"]


def test_cli_rules_delete_unknown_rule_exits_one(ruled: World, capsys) -> None:
    code, _, err = slipway(capsys, "rules", "delete", "web/nope")

    assert code == 1
    assert "no rule /slipway/rules/web/nope" in err


@pytest.mark.parametrize("command", ["put", "delete"])
def test_cli_rules_write_commands_print_json_with_json_flag(ruled: World, capsys, tmp_path: Path, command: str) -> None:
    path = rule_file(tmp_path, "prod.json", {"targets": [WEB], "tags": ["v2.*"]})
    args = ["rules", "put", "web/prod", path] if command == "put" else ["rules", "delete", "web/prod"]

    code, out, err = slipway(capsys, "--json", *args)

    assert code == 0, err
    assert json.loads(out)["parameter"] == "/slipway/rules/web/prod"


def test_cli_unknown_aws_profile_fails_with_one_line(ruled: World, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")

    code, out, err = slipway(capsys, "rules", "list")

    assert code == 1
    assert out == ""
    assert err.startswith("slipway: ")
    assert "no-such-profile" in err


# -- plan -------------------------------------------------------------------------------------


@pytest.fixture
def planned(world: World, cli_calls: Faults, clock) -> World:
    """prod/web on Fargate running web:1.0.0; ECR has web; no rules yet."""
    world.create_repository("web")
    fargate_web(world)
    return world


def plan(capsys, *args: str) -> tuple[int, dict[tuple[str | None, str | None], dict[str, Any]], str]:
    """`slipway plan --json`; the plan's lines keyed by (rule, target)."""
    code, out, err = slipway(capsys, "plan", *args, "--json")
    if code != 0 and not out:
        return code, {}, err
    data = json.loads(out)
    return code, {(line["rule"], line["target"]): line for line in data["plan"]}, err


def test_plan_matching_push_would_deploy_old_image_to_new(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    digest = planned.push_image("web", "v1.1.0")

    code, lines, err = plan(capsys, "web:v1.1.0")

    assert code == 0, err
    line = lines[("prod", "prod/web")]
    old = planned.image_uri("web", "1.0.0")
    new = planned.image_uri("web", digest)
    assert line["action"] == "deploy"
    assert line["detail"].startswith("would deploy")
    assert f"app: {old} -> {new}" in line["detail"]


def test_plan_table_shows_rule_target_action_and_why(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    planned.push_image("web", "v1.1.0")

    code, out, _ = slipway(capsys, "plan", "web:v1.1.0")

    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split() == ["RULE", "TARGET", "ACTION", "WHAT", "AND", "WHY"]
    assert row.split()[:4] == ["prod", "prod/web", "deploy", "would"]


def test_plan_digest_option_is_used_and_tag_need_not_be_in_ecr(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB]})
    digest = "sha256:" + "b" * 64

    code, out, _ = slipway(capsys, "plan", "web:1.1.0", "--digest", digest, "--json")

    assert code == 0
    data = json.loads(out)
    assert data["digest"] == digest
    assert data["note"] is None
    [line] = data["plan"]
    assert line["action"] == "deploy"
    assert f"web@{digest}" in line["detail"]


def test_plan_tag_not_in_ecr_plans_with_placeholder_and_says_so(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB]})

    code, out, _ = slipway(capsys, "plan", "web:9.9.9")

    assert code == 0
    assert out.startswith("note: web:9.9.9 is not in ECR")


def test_plan_tag_not_matching_rule_would_skip_with_pattern(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    planned.push_image("web", "1.2.0")

    code, lines, _ = plan(capsys, "web:1.2.0")

    assert code == 0
    line = lines[("prod", None)]
    assert line["action"] == "skip"
    assert "1.2.0" in line["detail"]
    assert "does not match v*" in line["detail"]


def test_plan_older_version_after_real_rollout_would_skip_downgrade(planned: World, capsys, deploy) -> None:
    # GIVEN 2.0.0 was really rolled out by the deploy function
    planned.put_rule("web", "prod", {"targets": [WEB]})
    deploy(push(planned, "web", "2.0.0"))
    assert [n["message"]["status"] for n in planned.notifications()] == ["DEPLOYING"]
    planned.push_image("web", "1.9.0")

    # WHEN 1.9.0 is planned
    code, lines, _ = plan(capsys, "web:1.9.0")

    # THEN the plan says it would skip it as a downgrade 2.0.0 -> 1.9.0
    line = lines[("prod", "prod/web")]
    assert code == 0
    assert line["action"] == "skip"
    assert line["detail"].startswith("downgrade 2.0.0")
    assert line["detail"].index("2.0.0") < line["detail"].index("->") < line["detail"].index("1.9.0")


def test_plan_missing_service_is_an_error_line(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB, ORDERS]})
    planned.push_image("web", "1.1.0")

    _, lines, _ = plan(capsys, "web:1.1.0")

    assert lines[("prod", "prod/orders")]["action"] == "error"
    assert 'no service "orders" in cluster "prod"' in lines[("prod", "prod/orders")]["detail"]
    assert lines[("prod", "prod/web")]["action"] == "deploy"


def test_plan_invalid_rule_is_an_error_line(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB], "tag": ["v*"]})
    planned.push_image("web", "1.1.0")

    _, lines, _ = plan(capsys, "web:1.1.0")

    assert lines[("prod", None)]["action"] == "error"
    assert 'unknown key "tag"' in lines[("prod", None)]["detail"]


def test_plan_with_error_line_exits_non_zero(planned: World, capsys) -> None:
    planned.put_rule("web", "prod", {"targets": [ORDERS]})
    planned.push_image("web", "1.1.0")

    code, lines, _ = plan(capsys, "web:1.1.0")

    assert lines[("prod", "prod/orders")]["action"] == "error"
    assert code != 0


def test_plan_gated_rules_would_hold_with_reasons(planned: World, capsys, clock) -> None:
    planned.put_rule("web", "approve", {"targets": [WEB], "tags": ["v*"], "approval": True})
    fargate_web(planned, cluster="staging")
    planned.put_rule("web", "staging", {"targets": [{"cluster": "staging", "service": "web"}], "tags": ["1.*"]})
    planned.put_rule(
        "web",
        "promote",
        {"targets": [{"cluster": "staging", "service": "web"}], "tags": ["v*"], "promote_from": "staging"},
    )
    planned.push_image("web", "v1.1.0")

    _, lines, _ = plan(capsys, "web:v1.1.0")

    assert lines[("approve", "prod/web")]["action"] == "hold"
    assert "waiting for approval" in lines[("approve", "prod/web")]["detail"]
    assert lines[("promote", "staging/web")]["action"] == "hold"
    assert 'succeed under rule "staging"' in lines[("promote", "staging/web")]["detail"]


def test_plan_changes_nothing(planned: World, capsys, cli_calls: Faults) -> None:
    # GIVEN rules that would deploy, skip, hold (approval, promotion, wave, freeze) and error
    now = datetime.now(UTC)  # the CLI runs on the real clock
    fargate_web(planned, cluster="staging")
    staging = {"cluster": "staging", "service": "web"}
    planned.put_rule("web", "prod", {"targets": [WEB, staging], "tags": ["v*"], "max_parallel": 1})
    planned.put_rule("web", "orders", {"targets": [ORDERS]})
    planned.put_rule("web", "approve", {"targets": [staging], "approval": True})
    planned.put_rule("web", "promote", {"targets": [WEB], "promote_from": "prod", "soak_minutes": 10})
    planned.put_rule(
        "web",
        "frozen",
        {
            "targets": [staging],
            "freeze": [{"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(days=1)).isoformat()}],
            "deploy_after_freeze": True,
        },
    )
    planned.put_rule("web", "nightly", {"targets": [WEB], "tags": ["nightly-*"]})
    planned.push_image("web", "v1.1.0")
    revisions = registered_revisions(planned, "web")
    running = planned.describe_service("prod", "web")["taskDefinition"]
    cli_calls.reset_counts()

    # WHEN a release manager plans the push, as a table and as JSON
    table = slipway(capsys, "plan", "web:v1.1.0")
    code, lines, err = plan(capsys, "web:v1.1.0")

    # THEN the plan was read from the live rules and services (its error line makes the exit status 1)...
    assert table[0] == 1, table[2]
    assert code == 1, err
    assert {line["action"] for line in lines.values()} >= {"deploy", "skip", "hold", "error"}
    assert cli_calls.calls["ssm.GetParametersByPath"] >= 2
    assert cli_calls.calls["ecs.DescribeServices"] >= 2
    # ...and not one AWS call wrote anything
    assert writes(cli_calls) == {}
    assert registered_revisions(planned, "web") == revisions
    assert planned.describe_service("prod", "web")["taskDefinition"] == running
    assert planned.notifications() == []
    _, holds, _ = slipway(capsys, "holds", "--json")
    assert json.loads(holds) == []


def test_plan_write_counter_sees_writes_of_a_real_push(planned: World, cli_calls: Faults, deploy) -> None:
    # the counter `plan` is judged by does see writes: a real push of the same image makes them
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    cli_calls.reset_counts()

    deploy(push(planned, "web", "v1.1.0"))

    counted = writes(cli_calls)
    for op in ("ecs.RegisterTaskDefinition", "ecs.UpdateService", "dynamodb.TransactWriteItems", "sns.PublishBatch"):
        assert counted.get(op, 0) >= 1, op


def test_plan_malformed_image_is_a_usage_error(planned: World, capsys) -> None:
    code, _, err = slipway(capsys, "plan", "web")

    assert code == 2
    assert "REPOSITORY:TAG" in err


# -- explain ----------------------------------------------------------------------------------


def test_explain_last_push_lists_matched_and_unmatched_rules_with_reasons(
    planned: World, capsys, deploy, clock
) -> None:
    # GIVEN two rules, of which a push matches one
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    planned.put_rule("web", "nightly", {"targets": [WEB], "tags": ["nightly-*"]})
    event = push(planned, "web", "v1.1.0")
    deploy(event)

    # WHEN someone asks why
    code, out, err = slipway(capsys, "explain", "web")

    # THEN the last push, what matched, what did not and why, and what happened
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"last push: web:v1.1.0 ({event['detail']['image-digest']})")
    assert lines[1].split() == ["RULE", "RESULT", "TARGET", "WHY"]
    rows = [re.split(r"\s{2,}", line) for line in lines[2:]]
    assert ["prod", "matched", "-", "-"] in rows
    assert ["nightly", "no match", "-", "tag v1.1.0 does not match nightly-*"] in rows
    assert ["prod", "DEPLOYING", "prod/web", "UpdateService accepted the new revision"] in rows
    assert len(rows) == 3


def test_explain_json_has_matched_unmatched_and_outcomes(planned: World, capsys, deploy) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"]})
    planned.put_rule("web", "nightly", {"targets": [WEB], "tags": ["nightly-*"]})
    deploy(push(planned, "web", "v1.1.0"))

    code, out, _ = slipway(capsys, "explain", "web", "--json")

    assert code == 0
    record = json.loads(out)
    assert record["tag"] == "v1.1.0"
    assert record["matched_rules"] == ["prod"]
    assert record["unmatched_rules"] == {"nightly": "tag v1.1.0 does not match nightly-*"}
    assert [(o["rule"], o["status"], o["target"]) for o in record["outcomes"]] == [("prod", "DEPLOYING", "prod/web")]


def test_explain_push_matching_no_rule_is_explained(planned: World, capsys, deploy) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB], "semver": ">=2.0.0"})
    deploy(push(planned, "web", "1.1.0"))

    _, out, _ = slipway(capsys, "explain", "web", "--json")

    record = json.loads(out)
    assert record["matched_rules"] == []
    assert record["outcomes"] == []
    assert "outside semver range" in record["unmatched_rules"]["prod"]


def test_explain_shows_the_latest_of_several_pushes(planned: World, capsys, deploy, clock) -> None:
    planned.put_rule("web", "prod", {"targets": [WEB]})
    deploy(push(planned, "web", "1.1.0"))
    clock.advance(minutes=5)
    deploy(push(planned, "web", "1.2.0"))

    _, out, _ = slipway(capsys, "explain", "web", "--json")

    assert json.loads(out)["tag"] == "1.2.0"


def test_explain_without_push_on_record_exits_one(planned: World, capsys) -> None:
    code, out, err = slipway(capsys, "explain", "web")

    assert code == 1
    assert out == ""
    assert "no push of web on record" in err


def test_plan_pre_deploy_rule_says_the_push_waits_for_its_task_and_runs_nothing(
    planned: World, cli_calls: Faults, capsys
) -> None:
    # GIVEN a rule with a pre-deploy task, and a tag pushed
    migrate = {"container": "app", "command": ["./migrate"]}
    planned.put_rule("web", "prod", {"targets": [WEB], "tags": ["v*"], "pre_deploy": migrate})
    planned.push_image("web", "v1.1.0")
    cli_calls.reset_counts()

    # WHEN the push is planned
    code, lines, err = plan(capsys, "web:v1.1.0")

    # THEN the target would be held for the task, and no task was started
    assert code == 0, err
    line = lines[("prod", "prod/web")]
    assert line["action"] == "hold"
    assert line["detail"] == "waiting for the pre-deploy task (app: ./migrate) to run and exit 0"
    assert cli_calls.calls["ecs.RunTask"] == 0
    assert not any(cli_calls.calls[w] for w in WRITES)
