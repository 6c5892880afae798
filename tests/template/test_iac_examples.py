"""The infrastructure-as-code examples in examples/iac: each leaves the service's image to Slipway.

Read from the files themselves: the CloudFormation template is linted and decoded, the
Terraform configuration parsed with python-hcl2 (and checked by ``terraform fmt`` where
Terraform is installed), the CDK app compiled and, where ``aws-cdk-lib`` is installed,
synthesised. The revision recorder the CloudFormation and CDK examples share is run under moto.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import py_compile
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode_str
from moto import mock_aws

from tests.template.conftest import REGION, ROOT

EXAMPLES = ROOT / "examples" / "iac"
CLOUDFORMATION = EXAMPLES / "cloudformation" / "service.yaml"
TERRAFORM = EXAMPLES / "terraform" / "main.tf"
CDK_APP = EXAMPLES / "cdk" / "app.py"
OUTCOMES = ["SUCCEEDED", "FAILED", "ROLLED_BACK"]


def cloudformation() -> dict[str, Any]:
    decoded, problems = decode_str(CLOUDFORMATION.read_text())
    assert not problems and decoded is not None, problems
    plain: dict[str, Any] = json.loads(json.dumps(decoded))
    return plain


def terraform() -> dict[str, Any]:
    hcl2 = pytest.importorskip("hcl2")
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)
    parsed: dict[str, Any] = hcl2.loads(TERRAFORM.read_text(), serialization_options=options)
    return parsed


def terraform_blocks(parsed: dict[str, Any], kind: str, type_: str) -> dict[str, Any]:
    """``resource "TYPE" "NAME"`` (or ``data``) blocks of one type, by name."""
    return {name: body for block in parsed.get(kind, []) for name, body in block.get(type_, {}).items()}


def ignored(block: dict[str, Any]) -> list[str]:
    return [attribute for lifecycle in block.get("lifecycle", []) for attribute in lifecycle.get("ignore_changes", [])]


# --- CloudFormation ---------------------------------------------------------------------------


def test_cloudformation_example_lint_reports_no_errors_or_warnings() -> None:
    matches = lint_file(CLOUDFORMATION, ManualArgs(regions=[REGION]))

    findings = [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches if m.rule.severity != "informational"]
    assert findings == []


def test_cloudformation_example_service_runs_the_parameter_store_revision_unless_it_says_stack() -> None:
    decoded = cloudformation()
    parameters = decoded["Parameters"]

    service = decoded["Resources"]["Service"]["Properties"]

    assert service["TaskDefinition"] == {
        "Fn::If": ["RunsStackRevision", {"Ref": "TaskDefinition"}, {"Ref": "Revision"}]
    }
    assert decoded["Conditions"]["RunsStackRevision"] == {"Fn::Equals": [{"Ref": "Revision"}, "stack"]}
    # read again on every create and update, so an update sends the revision the service runs now
    assert parameters["Revision"]["Type"] == "AWS::SSM::Parameter::Value<String>"
    # the name the recorder writes is the name CloudFormation reads
    assert parameters["Revision"]["Default"] == parameters["RevisionParameterName"]["Default"]
    assert service.get("DeploymentController", {"Type": "ECS"}) == {"Type": "ECS"}


def test_cloudformation_example_first_revision_is_pinned_and_kept() -> None:
    decoded = cloudformation()

    taskdef = decoded["Resources"]["TaskDefinition"]

    assert taskdef["DeletionPolicy"] == "Retain"
    assert taskdef["UpdateReplacePolicy"] == "Retain"
    assert [c["Image"] for c in taskdef["Properties"]["ContainerDefinitions"]] == [{"Ref": "Image"}]
    assert decoded["Parameters"]["Image"]["AllowedPattern"].endswith("@sha256:[0-9a-f]{64}$")


def test_cloudformation_example_recorder_hears_only_this_services_outcomes() -> None:
    resources = cloudformation()["Resources"]

    subscription = resources["RevisionRecorderSubscription"]["Properties"]
    statements = resources["RevisionRecorderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]

    assert subscription["TopicArn"] == {"Ref": "SlipwayTopicArn"}
    assert subscription["FilterPolicy"] == {
        "cluster": [{"Ref": "ClusterName"}],
        "service": [{"Ref": "ServiceName"}],
        "status": OUTCOMES,
    }
    assert {s["Action"]: s["Resource"]["Fn::Sub"] for s in statements} == {
        "ecs:DescribeServices": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/${ServiceName}",
        "ssm:PutParameter": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${RevisionParameterName}",
    }


def test_revision_recorder_after_a_rollout_writes_the_revision_the_service_runs() -> None:
    # GIVEN a service Slipway moved from the stack's revision to its own, and the parameter still saying "stack"
    code = cloudformation()["Resources"]["RevisionRecorder"]["Properties"]["Code"]["ZipFile"]
    parameter = "/slipway-examples/prod/web/task-definition"
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ssm = boto3.client("ssm", region_name=REGION)
        ecs.create_cluster(clusterName="prod")
        containers = [{"name": "app", "image": "web@sha256:" + "a" * 64, "memory": 512}]
        first = ecs.register_task_definition(family="web-prod", containerDefinitions=containers)
        ecs.create_service(
            cluster="prod",
            serviceName="web",
            taskDefinition=first["taskDefinition"]["taskDefinitionArn"],
            desiredCount=1,
        )
        containers[0]["image"] = "web@sha256:" + "b" * 64
        slipways = ecs.register_task_definition(family="web-prod", containerDefinitions=containers)
        slipways_arn = slipways["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster="prod", service="web", taskDefinition=slipways_arn)
        ssm.put_parameter(Name=parameter, Value="stack", Type="String")
        namespace: dict[str, Any] = {}
        exec(compile(code, "index.py", "exec"), namespace)
        env = {"CLUSTER": "prod", "SERVICE": "web", "PARAMETER": parameter}

        # WHEN Slipway's SUCCEEDED message reaches the recorder
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            returned = namespace["handler"]({"Records": [{"Sns": {"Message": "{}"}}]}, None)

        # THEN the parameter names the revision ECS says the service runs
        assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == slipways_arn
        assert returned == slipways_arn


# --- Terraform --------------------------------------------------------------------------------


def test_terraform_example_service_ignores_changes_to_its_task_definition() -> None:
    parsed = terraform()

    services = terraform_blocks(parsed, "resource", "aws_ecs_service")

    assert list(services) == ["app"]
    assert "task_definition" in ignored(services["app"])
    # Slipway rolls out with the ECS deployment controller only
    assert all(c.get("type", "ECS") == "ECS" for c in services["app"].get("deployment_controller", []))


def test_terraform_example_first_revision_image_does_not_fight_slipway() -> None:
    parsed = terraform()

    taskdef = terraform_blocks(parsed, "resource", "aws_ecs_task_definition")["app"]
    containers = next(block["container_definitions"] for block in parsed["locals"] if "container_definitions" in block)
    image = next(block["image"] for block in parsed["variable"] if "image" in block)

    # a new var.image never registers a revision with an image Slipway did not deploy
    assert "container_definitions" in ignored(taskdef)
    assert taskdef["container_definitions"] == "${jsonencode(local.container_definitions)}"
    # the first image is an input pinned by digest, never a literal tag such as :latest
    assert [c["image"] for c in containers] == ["${var.image}"]
    assert "@sha256:[0-9a-f]{64}$" in image["validation"][0]["condition"]
    # a replaced revision stays ACTIVE, a rollback target still
    assert taskdef["skip_destroy"] is True


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_example_is_formatted() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", str(TERRAFORM.parent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


# --- CDK --------------------------------------------------------------------------------------


def test_cdk_example_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(CDK_APP), cfile=str(tmp_path / "app.pyc"), doraise=True)


def test_cdk_example_records_revisions_with_the_cloudformation_examples_code() -> None:
    tree = ast.parse(CDK_APP.read_text())
    assigned = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    code = ast.literal_eval(assigned["RECORDER_CODE"])

    assert code == cloudformation()["Resources"]["RevisionRecorder"]["Properties"]["Code"]["ZipFile"]
    assert ast.literal_eval(assigned["STACK_REVISION"]) == "stack"


def test_cdk_example_synthesises_a_service_following_the_parameter_store_revision() -> None:
    pytest.importorskip("aws_cdk")
    from aws_cdk import App, assertions

    spec = importlib.util.spec_from_file_location("slipway_cdk_example", CDK_APP)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    settings = example.ServiceSettings(
        cluster_name="prod",
        service_name="web",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["eu-west-1a", "eu-west-1b"],
        subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        security_group_ids=["sg-0123456789abcdef0"],
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "a" * 64,
        revision_parameter="/slipway-examples/prod/web/task-definition",
        slipway_topic_arn="arn:aws:sns:eu-west-1:123456789012:slipway-notifications",
    )

    stack = example.SlipwayOwnedService(App(), "web-prod", settings)
    synthesised = assertions.Template.from_stack(stack).to_json()

    parameters = {
        k: v for k, v in synthesised["Parameters"].items() if v["Type"] == "AWS::SSM::Parameter::Value<String>"
    }
    assert [p["Default"] for p in parameters.values()] == [settings.revision_parameter]
    (revision,) = parameters
    services = [r for r in synthesised["Resources"].values() if r["Type"] == "AWS::ECS::Service"]
    assert len(services) == 1
    condition, if_stack, otherwise = services[0]["Properties"]["TaskDefinition"]["Fn::If"]
    assert synthesised["Conditions"][condition] == {"Fn::Equals": [{"Ref": revision}, "stack"]}
    assert otherwise == {"Ref": revision}
    (taskdef_id,) = [k for k, r in synthesised["Resources"].items() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert if_stack == {"Ref": taskdef_id}
    assert synthesised["Resources"][taskdef_id]["DeletionPolicy"] == "Retain"
    assert synthesised["Resources"][taskdef_id]["UpdateReplacePolicy"] == "Retain"
    subscriptions = [r for r in synthesised["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert [s["Properties"]["FilterPolicy"]["status"] for s in subscriptions] == [OUTCOMES]
