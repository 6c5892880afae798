"""The IAM of template.yaml and templates/target-account.yaml, read from the files themselves.

What each function may call is proven against its calls in tests/integration/test_permissions.py;
here the resources and conditions are: who may assume the target role, which roles may be passed
and to whom, which clusters ECS calls may touch, which accounts may put events on Slipway's bus,
and that nothing stateful goes with a deleted stack. Intrinsic functions are evaluated for given
parameter values (``evaluate``), so a test reads what CloudFormation would deploy.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint_file

from sandbox.template import event_pattern, target_account_template, template
from tests.template.conftest import REGION, ROOT, PatternMatcher

TARGET_ACCOUNT = ROOT / "templates" / "target-account.yaml"
EVENTS = ROOT / "events"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "slipway",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/slipway/4e0f2a90-3c1b-11f0-9a5e-0a1b2c3d4e5f",
}
NO_VALUE = object()
# ECS actions that take the ecs:cluster condition key (Service Authorization Reference for ECS).
CLUSTER_SCOPED = {
    "ecs:DescribeServices",
    "ecs:UpdateService",
    "ecs:DescribeServiceDeployments",
    "ecs:ListServiceDeployments",
    "ecs:ContinueServiceDeployment",
    "ecs:StopServiceDeployment",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
}
# Types whose deletion loses data, as cfn-lint lists them, and the topic subscribers hold on to.
STATEFUL = {"AWS::KMS::Key", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::DynamoDB::Table", "AWS::SNS::Topic"}
KEPT = {"Retain", "RetainExceptOnCreate", "Snapshot"}


class Stack:
    """A template with parameter values: its conditions and intrinsic functions evaluated."""

    def __init__(self, decoded: dict[str, Any], **parameters: str) -> None:
        self.template = decoded
        self.values: dict[str, Any] = dict(PSEUDO)
        for name, spec in decoded.get("Parameters", {}).items():
            raw = parameters.get(name, str(spec.get("Default", "")))
            self.values[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    def condition(self, name: str) -> bool:
        return bool(self.evaluate(self.template["Conditions"][name]))

    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources this stack would have (their conditions hold), properties evaluated."""
        return {
            name: {**spec, "Properties": self.evaluate(spec.get("Properties", {}))}
            for name, spec in self.template["Resources"].items()
            if "Condition" not in spec or self.condition(spec["Condition"])
        }

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.evaluate(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, argument), *_ = node.items()
            if function == "Ref" or function.startswith(("Fn::", "Condition")):
                return self._function(function, argument)
        return {k: v for k, v in ((k, self.evaluate(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _function(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            return NO_VALUE if argument == "AWS::NoValue" else self.values.get(argument, f"<{argument}>")
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument) if isinstance(argument, list) else argument}>"
        if function == "Fn::If":
            name, yes, no = argument
            return self.evaluate(yes if self.condition(name) else no)
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.values.get(m.group(1), f"<{m.group(1)}>")), text)
        args = self.evaluate(argument)
        if function == "Fn::Join":
            return str(args[0]).join(str(v) for v in args[1])
        if function == "Fn::Split":
            return str(args[1]).split(args[0])
        if function == "Fn::Select":
            return args[1][int(args[0])]
        if function == "Fn::Equals":
            return args[0] == args[1]
        if function == "Fn::Not":
            return not args[0]
        if function == "Fn::And":
            return all(args)
        if function == "Fn::Or":
            return any(args)
        raise ValueError(f"cannot evaluate {function}")


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """Every identity-policy statement of the stack's roles and managed policies, with its resource's name."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, spec in stack.resources().items():
        properties = spec["Properties"]
        if spec["Type"] == "AWS::IAM::ManagedPolicy":
            found += [(name, s) for s in properties["PolicyDocument"]["Statement"]]
        if spec["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found += [(name, s) for s in policy["PolicyDocument"]["Statement"]]
    return found


def allows(stack: Stack, action: str, resource: str, role: str | None = None) -> bool:
    """Whether the statements (of ``role`` and its managed policies, or all) allow ``action`` on ``resource``."""
    names = _attached(stack, role) if role else None
    allowed = denied = False
    for name, statement in statements(stack):
        if names is not None and name not in names:
            continue
        if not any(fnmatch.fnmatchcase(action, a) for a in listed(statement["Action"])):
            continue
        if "NotResource" in statement:
            matches = not any(fnmatch.fnmatchcase(resource, r) for r in listed(statement["NotResource"]))
        else:
            matches = any(fnmatch.fnmatchcase(resource, r) for r in listed(statement["Resource"]))
        if matches and statement["Effect"] == "Deny":
            denied = True
        elif matches:
            allowed = True
    return allowed and not denied


def _attached(stack: Stack, role: str) -> set[str]:
    """The role and the managed policies it has in this stack (a Ref to one evaluates to ``<Name>``)."""
    arns = stack.resources()[role]["Properties"].get("ManagedPolicyArns", [])
    return {role} | {arn.strip("<>") for arn in arns}


def function_roles(stack: Stack) -> dict[str, str]:
    """Each function's role, by the function's logical id."""
    return {
        name: spec["Properties"]["Role"]["Fn::GetAtt"][0]
        for name, spec in stack.template["Resources"].items()
        if spec["Type"] == "AWS::Serverless::Function"
    }


# -- linters ---------------------------------------------------------------------------------------


def test_cfn_lint_target_account_template_reports_no_errors_or_warnings() -> None:
    matches = lint_file(TARGET_ACCOUNT, ManualArgs(regions=[REGION]))

    findings = [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches if m.rule.severity != "informational"]
    assert findings == []


# -- nothing stateful goes with the stack ----------------------------------------------------------


@pytest.mark.parametrize("decoded", [template, target_account_template], ids=["template", "target-account"])
def test_stateful_resources_are_retained_on_delete_and_replace(decoded: Any) -> None:
    resources = decoded()["Resources"]

    unkept = {
        name: (spec.get("DeletionPolicy"), spec.get("UpdateReplacePolicy"))
        for name, spec in resources.items()
        if spec["Type"] in STATEFUL and not {spec.get("DeletionPolicy"), spec.get("UpdateReplacePolicy")} <= KEPT
    }
    assert unkept == {}


# -- the functions' roles ---------------------------------------------------------------------------


def test_function_roles_are_the_templates_own_with_no_aws_managed_policy() -> None:
    stack = Stack(template(), TargetAccounts="111122223333", LifecycleHookRoleArn=f"arn:aws:iam::{ACCOUNT}:role/hooks")
    resources = stack.template["Resources"]

    for function, role in function_roles(stack).items():
        assert resources[role]["Type"] == "AWS::IAM::Role", function
        policies = _attached(stack, role) - {role}
        assert policies and {resources[p]["Type"] for p in policies} == {"AWS::IAM::ManagedPolicy"}, function
        assert resources[function]["Properties"].get("Policies") is None, "SAM ignores Policies beside a Role"


def test_function_roles_write_logs_only_to_their_own_log_group() -> None:
    stack = Stack(template())

    for function, role in function_roles(stack).items():
        group = stack.template["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        writes = [s for name, s in statements(stack) if any(a.startswith("logs:") for a in listed(s["Action"]))]
        own = [s for name, s in statements(stack) if name == role and s in writes]
        assert [s["Resource"] for s in own] == [f"<{group}.Arn>"], function
        assert all(s["Resource"] != "*" for s in writes)


def test_assume_role_is_only_the_target_role_of_target_accounts() -> None:
    stack = Stack(template(), TargetAccounts="111122223333,444455556666", TargetRoleName="deployer")

    sts = [s for _, s in statements(stack) if any(a.startswith("sts:") for a in listed(s["Action"]))]
    [allow] = [s for s in sts if s["Effect"] == "Allow"]
    assert listed(allow["Action"]) == ["sts:AssumeRole"]
    assert allow["Resource"] == ["arn:*:iam::111122223333:role/*", "arn:*:iam::444455556666:role/*"]
    for role in ("DeployFunctionRole", "TrackFunctionRole", "SweepFunctionRole", "RuleCheckFunctionRole"):
        assert allows(stack, "sts:AssumeRole", "arn:aws:iam::111122223333:role/deployer", role), role
        assert allows(stack, "sts:AssumeRole", "arn:aws:iam::444455556666:role/deployer", role), role
        assert not allows(stack, "sts:AssumeRole", "arn:aws:iam::111122223333:role/admin", role), role
        assert not allows(stack, "sts:AssumeRole", "arn:aws:iam::999988887777:role/deployer", role), role
        assert not allows(stack, "sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/deployer", role), role


def test_assume_role_is_absent_without_target_accounts() -> None:
    stack = Stack(template())

    assert [s for _, s in statements(stack) if "sts:AssumeRole" in listed(s["Action"])] == []


def test_pass_role_is_only_to_ecs_and_only_the_passable_roles() -> None:
    stack = Stack(template(), PassableRoles="slipway-tasks/*,web-task")

    for decoded in (template(), target_account_template()):
        passes = [s for _, s in statements(Stack(decoded)) if "iam:PassRole" in listed(s["Action"])]
        assert passes, "no PassRole statement"
        for statement in passes:
            assert statement["Resource"] != "*" and "*" not in listed(statement["Resource"])
            service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
            assert service in {"ecs-tasks.amazonaws.com", "ecs.amazonaws.com"}
    assert allows(stack, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/slipway-tasks/web")
    assert allows(stack, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/web-task")
    assert not allows(stack, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")


@pytest.mark.parametrize("decoded", [template, target_account_template], ids=["template", "target-account"])
def test_ecs_calls_on_services_and_tasks_carry_the_allowed_clusters_condition(decoded: Any) -> None:
    stack = Stack(decoded(), AllowedClusters="prod-*,staging")

    scoped = [s for _, s in statements(stack) if CLUSTER_SCOPED & set(listed(s["Action"]))]
    assert scoped
    for statement in scoped:
        assert statement["Condition"]["ArnLike"]["ecs:cluster"] == [
            "arn:*:ecs:*:*:cluster/prod-*",
            "arn:*:ecs:*:*:cluster/staging",
        ], statement["Sid"]


@pytest.mark.parametrize(
    ("key", "resource"),
    [("", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"), (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1", None)],
    ids=["aws/ssm", "own key"],
)
def test_rules_are_decrypted_only_through_parameter_store_and_only_rules(key: str, resource: str | None) -> None:
    stack = Stack(template(), RulesKmsKeyArn=key)

    decrypts = [s for _, s in statements(stack) if s.get("Sid") == "DecryptSecureStringRules"]
    assert len(decrypts) == 2  # RolloutPolicy's and the rule check's
    for statement in decrypts:
        assert statement["Resource"] == (resource or key)
        assert statement["Condition"] == {
            "StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"},
            "StringLike": {
                "kms:EncryptionContext:PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/slipway/rules/*"
            },
        }


def test_outputs_name_the_roles_the_target_accounts_trust_and_the_bus() -> None:
    outputs = template()["Outputs"]
    roles = function_roles(Stack(template()))

    for function in ("DeployFunction", "TrackFunction", "SweepFunction", "RuleCheckFunction", "ReconcileFunction"):
        assert outputs[f"{function}RoleArn"]["Value"] == {"Fn::GetAtt": [roles[function], "Arn"]}
    assert (
        Stack(template()).evaluate(outputs["EventBusArn"]["Value"])
        == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    )


# -- the event bus -----------------------------------------------------------------------------------


def test_event_bus_policy_is_absent_when_nothing_is_forwarded() -> None:
    assert "ForwardedEventsPolicy" not in Stack(template()).resources()


@pytest.mark.parametrize(
    ("parameters", "key", "value"),
    [
        ({"TargetAccounts": "111122223333"}, "aws:PrincipalAccount", ["111122223333"]),
        ({"AllowedRegistries": "555566667777,eu-central-1"}, "aws:PrincipalAccount", ["555566667777", "eu-central-1"]),
        (
            {"TargetAccounts": "111122223333", "AllowedRegistries": "555566667777"},
            "aws:PrincipalAccount",
            ["111122223333", "555566667777"],
        ),
        ({"TargetAccounts": "111122223333", "OrganizationId": "o-abcdefghij"}, "aws:PrincipalOrgID", "o-abcdefghij"),
    ],
)
def test_event_bus_policy_lets_only_target_and_registry_accounts_put_events(
    parameters: dict[str, str], key: str, value: Any
) -> None:
    policy = Stack(template(), **parameters).resources()["ForwardedEventsPolicy"]["Properties"]
    statement = policy["Statement"]

    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", policy["StatementId"])
    assert "EventBusName" not in policy  # the default bus: where AWS services' events arrive
    assert statement["Effect"] == "Allow" and statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    assert statement["Condition"] == {"StringEquals": {key: value}}


# -- the target account ------------------------------------------------------------------------------


def test_target_account_trust_policy_names_only_the_slipway_role_arns() -> None:
    arns = f"arn:aws:iam::{ACCOUNT}:role/slipway-DeployFunctionRole-1,arn:aws:iam::{ACCOUNT}:role/operators"
    for organization, condition in (
        ("", None),
        ("o-abcdefghij", {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}),
    ):
        stack = Stack(
            target_account_template(), SlipwayRoleArns=arns, OrganizationId=organization, SlipwayAccountId=ACCOUNT
        )
        role = stack.resources()["SlipwayTargetRole"]["Properties"]
        [trust] = role["AssumeRolePolicyDocument"]["Statement"]

        assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
        assert trust["Principal"] == {"AWS": arns.split(",")}
        assert trust.get("Condition") == condition
        assert role["MaxSessionDuration"] == 3600
        assert role["RoleName"] == "slipway-target"


def test_target_account_role_grants_exactly_the_ecs_calls_of_slipways_adapter() -> None:
    source = (ROOT / "functions" / "slipway" / "aws" / "ecs.py").read_text()
    mapping = boto3.client("ecs", region_name=REGION).meta.method_to_api_mapping
    called = {f"ecs:{mapping[m]}" for m in re.findall(r"self\._client\.([a-z_]+)", source) if m in mapping}
    stack = Stack(target_account_template())

    granted = {a for _, s in statements(stack) for a in listed(s["Action"]) if a.startswith("ecs:")}
    # a tagged RegisterTaskDefinition is also authorized as TagResource
    assert granted == called | {"ecs:TagResource"}


def test_target_account_role_reaches_this_account_in_every_region_only() -> None:
    stack = Stack(target_account_template(), AllowedClusters="prod")

    for statement in (s for _, s in statements(stack) if s["Resource"] != "*"):
        for resource in listed(statement["Resource"]):
            if resource.startswith("arn:aws:ecs:"):
                assert resource.split(":")[3:5] == ["*", ACCOUNT], statement["Sid"]


def test_target_account_forwarding_role_puts_events_only_on_slipways_bus() -> None:
    stack = Stack(target_account_template(), SlipwayAccountId="999988887777", SlipwayRegion="us-east-1")
    bus = "arn:aws:events:us-east-1:999988887777:event-bus/default"
    resources = stack.resources()

    [statement] = resources["ForwardingRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", bus)
    assert resources["ForwardDeploymentEvents"]["Properties"]["Targets"][0]["Arn"] == bus
    assert "ForwardPushEvents" not in resources  # only for registry accounts (ForwardPushes)


def test_target_account_in_slipways_own_account_and_region_forwards_nothing() -> None:
    stack = Stack(target_account_template(), SlipwayAccountId=ACCOUNT, SlipwayRegion=REGION, ForwardPushes="true")

    assert {"ForwardingRole", "ForwardDeploymentEvents", "ForwardPushEvents"} & set(stack.resources()) == set()


def _events(source: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if isinstance(event, dict) and event.get("source") == source and "detail-type" in event:
            found.append((path.name, event))
    return found


def test_target_account_forwards_every_ecr_event_the_deploy_function_takes_and_no_other(
    eventbridge_matches: PatternMatcher,
) -> None:
    forward = target_account_template()["Resources"]["ForwardPushEvents"]["Properties"]["EventPattern"]
    taken = [event_pattern("DeployFunction", "EcrPush"), event_pattern("DeployFunction", "EcrReplication")]

    for name, event in _events("aws.ecr"):
        wanted = any(eventbridge_matches(p, event) for p in taken)
        assert eventbridge_matches(forward, event) is wanted, name


def test_target_account_forwards_every_ecs_event_the_track_function_takes(eventbridge_matches: PatternMatcher) -> None:
    forward = target_account_template()["Resources"]["ForwardDeploymentEvents"]["Properties"]["EventPattern"]
    taken = [event_pattern("TrackFunction", "DeploymentStateChange"), event_pattern("TrackFunction", "HookStateChange")]

    events = _events("aws.ecs")
    assert events
    for name, event in events:
        if any(eventbridge_matches(p, event) for p in taken):
            assert eventbridge_matches(forward, event), name


def test_target_account_parameters_match_the_slipway_stacks_where_they_mean_the_same() -> None:
    target, slipway = target_account_template()["Parameters"], template()["Parameters"]

    for name in ("PassableRoles", "LifecycleHookRoleArn", "OrganizationId"):
        assert {k: target[name][k] for k in ("Type", "Default", "AllowedPattern")} == {
            k: slipway[name][k] for k in ("Type", "Default", "AllowedPattern")
        }, name
    assert target["RoleName"]["Default"] == slipway["TargetRoleName"]["Default"]
    assert target["RoleName"]["AllowedPattern"] == slipway["TargetRoleName"]["AllowedPattern"]
