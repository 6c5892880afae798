"""template.yaml against its linters, the SAM CLI, the event files, the code and samconfig.toml.

Everything is read from the files themselves (``sandbox.template`` decodes the template), so
a change to the stack that breaks the contract fails here before a deploy would.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from sandbox.template import TEMPLATE, event_pattern, parameter_default, resource, template
from slipway.app import App
from slipway.settings import Settings
from tests.template.conftest import REGION, ROOT, PatternMatcher, SamRunner

EVENTS = ROOT / "events"
SAMCONFIG = ROOT / "samconfig.toml"

# What the deploy rule must deliver: every successful push, foreign ones and artifacts
# included (the function decides about other accounts, regions and non-image artifacts).
DELIVERED = frozenset(
    {
        "ecr-push.json",
        "ecr-push-aws-sample.json",
        "ecr-push-no-tag.json",
        "ecr-push-image-index.json",
        "ecr-push-nested-repository.json",
        "ecr-push-other-account.json",
        "ecr-push-other-region.json",
        "ecr-push-signature.json",
        "ecr-push-helm-chart.json",
        "ecr-push-sbom.json",
        "ecr-push-forwarded.json",
    }
)
# What it must never wake the function for.
NOT_DELIVERED = frozenset({"ecr-push-failed.json", "ecr-delete.json"})
# Replications: not pushes, delivered by the replication rule instead (failed ones too, to be logged).
REPLICATED = frozenset({"ecr-replication-success.json", "ecr-replication-failed.json"})
# Finished scans: delivered by the scan rules (basic: ECR's; enhanced: Inspector's, of ECR images only).
SCANNED = frozenset({"ecr-image-scan.json"})
INSPECTED = frozenset({"inspector2-scan.json"})
INSPECTED_NOT_ECR = frozenset({"inspector2-scan-ec2.json"})

# Settings fields the template deliberately leaves to the code's default: tuning knobs with
# no stack parameter behind them. Anything else Settings reads must come from the template.
DEFAULT_ONLY = {
    "rules_cache_seconds": "in-process cache of one repository's rules; 30 s suits every stack",
    "max_concurrency": "worker threads per invocation, bounded 1..64 by Settings itself",
    "idempotency_hours": "48 h of deduplication outlasts EventBridge's 1 h retry window",
    "reconcile_lookback_minutes": "how far back a reconcile looks at most; an hour covers EventBridge's retries",
    "region": "Lambda sets AWS_REGION itself; Settings.from_environ reads it",
}


def _samconfig() -> dict[str, Any]:
    return tomllib.loads(SAMCONFIG.read_text())


def _samconfig_environments() -> list[str]:
    return sorted(name for name, value in _samconfig().items() if isinstance(value, dict))


def _target(value: Any) -> str | None:
    """The logical id a Ref or GetAtt names, else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (function, argument), *_ = value.items()
    if function == "Ref" and isinstance(argument, str):
        return argument
    if function == "Fn::GetAtt":
        return str(argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0])
    return None


def _resource_type(logical_id: str | None) -> str | None:
    return template()["Resources"].get(logical_id, {}).get("Type") if logical_id else None


def _globals_environment() -> dict[str, Any]:
    return dict(template()["Globals"]["Function"]["Environment"]["Variables"])


def _parameter_default_value(value: Any) -> str | None:
    """What an environment value is when every parameter keeps its default; None for resources."""
    parameters = template()["Parameters"]
    referenced = _target(value)
    if referenced in parameters:
        return str(parameters[referenced]["Default"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        referenced = _target(parts)
        if referenced in parameters:
            return str(separator).join(str(parameters[referenced]["Default"]).split(","))
    return None


def _parameter_problems(name: str, value: str) -> list[str]:
    """Why CloudFormation would refuse ``value`` for parameter ``name`` (empty if it would not)."""
    spec = template()["Parameters"].get(name)
    if spec is None:
        return [f"{name} is not a parameter of template.yaml"]
    items = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
    problems = []
    for item in items:
        allowed = spec.get("AllowedValues")
        if allowed is not None and item not in {str(a) for a in allowed}:
            problems.append(f"{name}={item} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, item):
            problems.append(f"{name}={item} does not match {pattern}")
        if spec["Type"] == "Number":
            number = float(item)
            if number < float(spec.get("MinValue", number)) or number > float(spec.get("MaxValue", number)):
                problems.append(f"{name}={item} is outside {spec.get('MinValue')}..{spec.get('MaxValue')}")
    return problems


# --- linters and the SAM CLI ------------------------------------------------------------------


def test_cfn_lint_template_reports_no_errors_or_warnings() -> None:
    matches = lint_file(Path(TEMPLATE), ManualArgs(regions=[REGION]))

    findings = [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches if m.rule.severity != "informational"]
    assert findings == []


def test_sam_validate_lint_template_exits_zero(sam: SamRunner) -> None:
    result = sam("validate", "--lint", "--template", "template.yaml", "--region", REGION)

    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_without_lint_template_translates(sam: SamRunner, tmp_path: Path) -> None:
    # GIVEN an empty config, so samconfig.toml's `lint = true` does not turn this into a lint run:
    # cfn-lint checks the SAM template against schemas and never runs the SAM transform itself
    empty = tmp_path / "samconfig.toml"
    empty.write_text("version = 0.1\n")

    # WHEN the SAM translator expands the template
    result = sam("validate", "--template", str(TEMPLATE), "--region", REGION, "--config-file", str(empty))

    # THEN it produces a CloudFormation template
    assert result.returncode == 0, result.stdout + result.stderr


# [default] is the config test_sam_validate_lint_template_exits_zero already loads (SAM reads the
# samconfig.toml next to the template), so only the other environments need a run of their own.
@pytest.mark.parametrize("environment", [env for env in _samconfig_environments() if env != "default"])
def test_sam_validate_config_environment_validates_offline(sam: SamRunner, environment: str) -> None:
    result = sam("validate", "--config-file", "samconfig.toml", "--config-env", environment)

    assert result.returncode == 0, result.stdout + result.stderr


# --- the deploy rule's event pattern against real-shaped events ------------------------------


def test_events_ecr_files_each_decided_for_deploy_rule() -> None:
    on_disk = {path.name for path in EVENTS.glob("ecr-*.json")}

    assert not DELIVERED & NOT_DELIVERED
    assert on_disk - DELIVERED - NOT_DELIVERED - REPLICATED - SCANNED == set(), "new event file: add it to a list above"
    assert (DELIVERED | NOT_DELIVERED | REPLICATED | SCANNED) - on_disk == set(), (
        "listed event file missing from events/"
    )


def test_events_inspector_files_each_decided_for_scan_rule() -> None:
    on_disk = {path.name for path in EVENTS.glob("inspector2-*.json")}

    assert on_disk == INSPECTED | INSPECTED_NOT_ECR, "new event file: add it to a list above"


@pytest.mark.parametrize(
    ("rule", "name"), [("EcrImageScan", n) for n in SCANNED] + [("Inspector2Scan", n) for n in INSPECTED]
)
def test_scan_rule_pattern_finished_scan_matches(eventbridge_matches: PatternMatcher, rule: str, name: str) -> None:
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(event_pattern("DeployFunction", rule), event) is True


@pytest.mark.parametrize("name", sorted(DELIVERED | NOT_DELIVERED | REPLICATED | INSPECTED_NOT_ECR))
def test_scan_rule_patterns_ignore_pushes_and_other_scans(eventbridge_matches: PatternMatcher, name: str) -> None:
    # GIVEN a push, a replication, or Inspector's scan of an EC2 instance (no repository-name)
    event = json.loads((EVENTS / name).read_text())

    # THEN neither scan rule wakes the deploy function for it
    assert eventbridge_matches(event_pattern("DeployFunction", "EcrImageScan"), event) is False
    assert eventbridge_matches(event_pattern("DeployFunction", "Inspector2Scan"), event) is False


@pytest.mark.parametrize("name", sorted(SCANNED | INSPECTED))
def test_push_rules_ignore_scan_events(eventbridge_matches: PatternMatcher, name: str) -> None:
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(event_pattern("DeployFunction", "EcrPush"), event) is False
    assert eventbridge_matches(event_pattern("DeployFunction", "EcrReplication"), event) is False


@pytest.mark.parametrize("name", sorted(REPLICATED))
def test_replication_rule_pattern_matches_replications_and_the_push_rule_does_not(
    eventbridge_matches: PatternMatcher, name: str
) -> None:
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(event_pattern("DeployFunction", "EcrReplication"), event) is True
    assert eventbridge_matches(event_pattern("DeployFunction", "EcrPush"), event) is False


@pytest.mark.parametrize("name", sorted(DELIVERED | NOT_DELIVERED))
def test_replication_rule_pattern_ignores_pushes(eventbridge_matches: PatternMatcher, name: str) -> None:
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(event_pattern("DeployFunction", "EcrReplication"), event) is False


@pytest.mark.parametrize("name", sorted(DELIVERED))
def test_deploy_rule_pattern_successful_push_matches(eventbridge_matches: PatternMatcher, name: str) -> None:
    pattern = event_pattern("DeployFunction", "EcrPush")
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(pattern, event) is True


@pytest.mark.parametrize("name", sorted(NOT_DELIVERED))
def test_deploy_rule_pattern_failed_push_or_delete_does_not_match(
    eventbridge_matches: PatternMatcher, name: str
) -> None:
    pattern = event_pattern("DeployFunction", "EcrPush")
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(pattern, event) is False


# --- what the contract requires of the template ----------------------------------------------


def test_deploy_function_ecr_push_event_has_retry_policy_and_sqs_dead_letter() -> None:
    event = resource("DeployFunction")["Events"]["EcrPush"]
    retry = event["Properties"].get("RetryPolicy", {})
    dead_letter = event["Properties"].get("DeadLetterConfig", {})
    queue = _target(dead_letter.get("Arn"))

    assert event["Type"] == "EventBridgeRule"
    assert {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= retry.keys()
    assert dead_letter.get("Type") == "SQS" or _resource_type(queue) == "AWS::SQS::Queue", dead_letter


def test_deploy_function_dead_letter_queue_policy_lets_eventbridge_send() -> None:
    # GIVEN a dead-letter queue of our own (SAM writes the policy only for the queue it creates)
    queue = _target(resource("DeployFunction")["Events"]["EcrPush"]["Properties"]["DeadLetterConfig"].get("Arn"))
    if queue is None:
        pytest.skip("SAM creates the queue and its policy")

    # WHEN the stack's queue policies are read
    grants = [
        statement
        for policy in template()["Resources"].values()
        if policy["Type"] == "AWS::SQS::QueuePolicy" and queue in {_target(q) for q in policy["Properties"]["Queues"]}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        and "events.amazonaws.com" in str(statement["Principal"])
        and "sqs:SendMessage" in str(statement["Action"])
    ]

    # THEN EventBridge may send to it, or dead letters would be lost
    assert grants


def test_deploy_function_event_invoke_config_has_on_failure_destination() -> None:
    on_failure = resource("DeployFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    expected_type = {"SQS": "AWS::SQS::Queue", "SNS": "AWS::SNS::Topic", "Lambda": "AWS::Serverless::Function"}

    assert on_failure["Type"] in {"SQS", "SNS", "Lambda", "EventBridge", "S3Bucket"}
    if "Destination" in on_failure and on_failure["Type"] in expected_type:
        assert _resource_type(_target(on_failure["Destination"])) == expected_type[on_failure["Type"]]


def test_globals_function_runtime_and_architecture_are_python313_arm64() -> None:
    function_globals = template()["Globals"]["Function"]

    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]


@pytest.mark.parametrize(
    ("parameter", "default"), [("RulesPath", "/slipway/rules"), ("DeploymentTimeoutMinutes", "30")]
)
def test_template_parameter_default_is_the_contracts(parameter: str, default: str) -> None:
    assert parameter_default(parameter) == default


def test_notifications_topic_is_kms_encrypted_and_its_arn_an_output() -> None:
    # GIVEN the topic the functions publish to
    topic = str(_target(_globals_environment()["SLIPWAY_TOPIC_ARN"]))
    assert _resource_type(topic) == "AWS::SNS::Topic"

    # WHEN the stack's outputs are read
    arn_outputs = [
        name
        for name, output in template()["Outputs"].items()
        if output["Value"] in ({"Ref": topic}, {"Fn::GetAtt": [topic, "TopicArn"]})
    ]

    # THEN subscribers can find it, and it is encrypted with a key of ours
    assert arn_outputs
    assert resource(topic).get("KmsMasterKeyId")


def test_slipway_table_ttl_is_on_the_attribute_idempotency_expires() -> None:
    table = str(_target(_globals_environment()["SLIPWAY_TABLE_NAME"]))
    assert _resource_type(table) == "AWS::DynamoDB::Table"
    ttl = resource(table).get("TimeToLiveSpecification", {})
    idempotency = App(Settings(table_name="slipway")).idempotency

    assert ttl.get("Enabled") is True
    assert ttl.get("AttributeName") == idempotency.expiry_attr


def test_globals_environment_every_settings_field_set_unless_default_only() -> None:
    environment = _globals_environment()
    expected = {f"SLIPWAY_{field.upper()}" for field in Settings.model_fields if field not in DEFAULT_ONLY}
    default_only = {f"SLIPWAY_{field.upper()}" for field in DEFAULT_ONLY}

    assert expected - environment.keys() == set()
    assert DEFAULT_ONLY.keys() <= Settings.model_fields.keys(), "DEFAULT_ONLY names a field Settings lost"
    assert default_only & environment.keys() == set(), "set in Globals: drop it from DEFAULT_ONLY"


def test_globals_environment_slipway_variable_unknown_to_settings_is_absent() -> None:
    read = {f"SLIPWAY_{field.upper()}" for field in Settings.model_fields}
    set_by_template = {name for name in _globals_environment() if name.startswith("SLIPWAY_")}

    assert set_by_template - read == set(), "Settings never reads these: a typo, or a missing field"


def test_globals_environment_parameter_defaults_give_settings_defaults() -> None:
    # GIVEN the environment a stack deployed with every parameter at its default would have
    environment = {
        name: default
        for name, value in _globals_environment().items()
        if name.startswith("SLIPWAY_") and (default := _parameter_default_value(value)) is not None
    }
    fields = {name.removeprefix("SLIPWAY_").lower() for name in environment}

    # WHEN the functions read it
    deployed = Settings.from_environ(environment)

    # THEN they behave as the code does with no environment at all (tests, the CLI, local runs)
    assert fields, "no SLIPWAY_ variable is bound to a parameter"
    assert {f: getattr(deployed, f) for f in fields} == {f: getattr(Settings(), f) for f in fields}


# --- samconfig.toml ---------------------------------------------------------------------------


def test_samconfig_environments_have_own_stack_region_and_lint() -> None:
    config = _samconfig()
    environments = _samconfig_environments()
    stacks = [config[env]["global"]["parameters"]["stack_name"] for env in environments]

    assert config["version"] == 0.1
    assert {"default", "staging", "prod"} <= set(environments)
    assert len(set(stacks)) == len(stacks), stacks
    for env in environments:
        assert config[env]["global"]["parameters"]["region"] == REGION, env
        assert config[env]["validate"]["parameters"]["lint"] is True, env


@pytest.mark.parametrize("environment", _samconfig_environments())
def test_samconfig_parameter_overrides_are_values_template_accepts(environment: str) -> None:
    deploy = _samconfig()[environment]["deploy"]["parameters"]
    pairs = [item.split("=", 1) for item in shlex.split(deploy.get("parameter_overrides", ""))]

    assert all(len(pair) == 2 for pair in pairs), pairs
    assert [problem for name, value in pairs for problem in _parameter_problems(name, value)] == []
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()


# --- the track function's task rule: Slipway's stopped pre-deploy tasks only --------------------

TASK_STOPPED = ("ecs-task-stopped.json", "ecs-task-stopped-exit-code.json", "ecs-task-stopped-before-start.json")


@pytest.mark.parametrize("name", TASK_STOPPED)
def test_track_task_rule_pattern_matches_stopped_pre_deploy_tasks(
    eventbridge_matches: PatternMatcher, name: str
) -> None:
    event = json.loads((EVENTS / name).read_text())

    assert eventbridge_matches(event_pattern("TrackFunction", "TaskStateChange"), event) is True


def test_track_task_rule_pattern_ignores_a_running_task_and_tasks_slipway_did_not_start(
    eventbridge_matches: PatternMatcher,
) -> None:
    pattern = event_pattern("TrackFunction", "TaskStateChange")
    sample = json.loads((EVENTS / "ecs-task-state-change-aws-sample.json").read_text())  # RUNNING, a service's
    stopped = json.loads((EVENTS / "ecs-task-stopped.json").read_text())
    stopped["detail"]["startedBy"] = "ecs-svc/1111111111111111111"  # a service's task, stopped

    assert eventbridge_matches(pattern, sample) is False
    assert eventbridge_matches(pattern, stopped) is False
