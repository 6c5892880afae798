"""A Fargate service whose image Slipway owns, as a CDK app: the CloudFormation example, in Python.

The stack owns the service, its first revision and everything else. After creation the
service's ``TaskDefinition`` is read from a Parameter Store parameter on every deploy, because
CloudFormation sends the template's ``TaskDefinition`` whenever it updates the service, and a
subscriber to Slipway's topic keeps that parameter current after each rollout. See "Beside
infrastructure as code" in Slipway's README.

Run with ``cdk deploy -c image=REPOSITORY@sha256:... -c vpcId=... ...`` (see ``cdk.json``).
Needs ``aws-cdk-lib`` and the CDK CLI (Node.js); Slipway itself does not depend on either.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_ssm as ssm
from constructs import Construct

# The parameter's value when the service runs the stack's own revision (before Slipway's first
# rollout, or after a deliberate change of the revision's settings).
STACK_REVISION = "stack"

# The same function as the CloudFormation example's RevisionRecorder (a test keeps them equal).
RECORDER_CODE = """\
import os

import boto3

ecs = boto3.client("ecs")
ssm = boto3.client("ssm")


def handler(event, context):
    # The message says which rollout ended; ECS says what the service runs now.
    service = ecs.describe_services(cluster=os.environ["CLUSTER"], services=[os.environ["SERVICE"]])
    revision = service["services"][0]["taskDefinition"]
    ssm.put_parameter(Name=os.environ["PARAMETER"], Value=revision, Type="String", Overwrite=True)
    return revision
"""


@dataclass(frozen=True)
class ServiceSettings:
    """Where the service runs and what it starts with; every value comes from CDK context."""

    cluster_name: str
    service_name: str
    vpc_id: str
    availability_zones: list[str]
    subnet_ids: list[str]
    security_group_ids: list[str]
    image: str  # the first revision's image, pinned by digest
    revision_parameter: str  # Parameter Store name: "stack" or the ARN of the revision the service runs
    slipway_topic_arn: str  # Slipway's stack output TopicArn

    @classmethod
    def from_context(cls, app: cdk.App) -> ServiceSettings:
        def get(key: str) -> str:
            value = app.node.try_get_context(key)
            if not value:
                raise ValueError(f"set the CDK context value {key!r} (cdk.json or -c {key}=...)")
            return str(value)

        return cls(
            cluster_name=get("clusterName"),
            service_name=get("serviceName"),
            vpc_id=get("vpcId"),
            availability_zones=get("availabilityZones").split(","),
            subnet_ids=get("subnetIds").split(","),
            security_group_ids=get("securityGroupIds").split(","),
            image=get("image"),
            revision_parameter=get("revisionParameter"),
            slipway_topic_arn=get("slipwayTopicArn"),
        )


class SlipwayOwnedService(cdk.Stack):
    """The service, its first revision, and the subscriber that records the revision it runs."""

    def __init__(self, scope: Construct, construct_id: str, settings: ServiceSettings, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=settings.vpc_id,
            availability_zones=settings.availability_zones,
            private_subnet_ids=settings.subnet_ids,
        )
        cluster = ecs.Cluster.from_cluster_attributes(self, "Cluster", cluster_name=settings.cluster_name, vpc=vpc)
        task_definition = self._first_revision(settings)
        service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            service_name=settings.service_name,
            task_definition=task_definition,
            desired_count=2,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets),
            security_groups=[
                ec2.SecurityGroup.from_security_group_id(self, f"SecurityGroup{i}", group_id)
                for i, group_id in enumerate(settings.security_group_ids)
            ],
        )
        self._follow_running_revision(service, task_definition, settings)
        self._record_revisions(settings)
        cdk.CfnOutput(self, "ServiceKey", value=f"{settings.cluster_name}/{settings.service_name}")

    def _first_revision(self, settings: ServiceSettings) -> ecs.FargateTaskDefinition:
        task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=f"{settings.service_name}-{settings.cluster_name}",
            cpu=256,
            memory_limit_mib=512,
        )
        task_definition.add_container(
            "app",
            container_name="app",
            image=ecs.ContainerImage.from_registry(settings.image),
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=8080)],
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="app",
                log_group=logs.LogGroup(
                    self,
                    "LogGroup",
                    log_group_name=f"/ecs/{settings.cluster_name}/{settings.service_name}",
                    retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=cdk.RemovalPolicy.RETAIN,
                ),
            ),
        )
        # DeletionPolicy and UpdateReplacePolicy Retain: CloudFormation would otherwise deregister
        # a replaced revision, which then could no longer be a rollback target.
        task_definition.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        return task_definition

    def _follow_running_revision(
        self, service: ecs.FargateService, task_definition: ecs.FargateTaskDefinition, settings: ServiceSettings
    ) -> None:
        """The escape hatch: the service's TaskDefinition is the parameter's value unless it says ``stack``.

        ``valueForStringParameter`` becomes a stack parameter of type
        ``AWS::SSM::Parameter::Value<String>``, which CloudFormation reads again on every deploy.
        """
        revision = ssm.StringParameter.value_for_string_parameter(self, settings.revision_parameter)
        runs_stack_revision = cdk.CfnCondition(
            self, "RunsStackRevision", expression=cdk.Fn.condition_equals(revision, STACK_REVISION)
        )
        cfn_service = service.node.default_child
        assert isinstance(cfn_service, ecs.CfnService)
        cfn_service.add_property_override(
            "TaskDefinition",
            cdk.Fn.condition_if(runs_stack_revision.logical_id, task_definition.task_definition_arn, revision),
        )

    def _record_revisions(self, settings: ServiceSettings) -> None:
        recorder = lambda_.Function(
            self,
            "RevisionRecorder",
            description="Writes the revision the service runs to Parameter Store after each Slipway outcome.",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_inline(RECORDER_CODE),
            timeout=cdk.Duration.seconds(30),
            environment={
                "CLUSTER": settings.cluster_name,
                "SERVICE": settings.service_name,
                "PARAMETER": settings.revision_parameter,
            },
        )
        recorder.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeServices"],
                resources=[
                    self.format_arn(
                        service="ecs",
                        resource="service",
                        resource_name=f"{settings.cluster_name}/{settings.service_name}",
                    )
                ],
            )
        )
        recorder.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:PutParameter"],
                resources=[
                    self.format_arn(
                        service="ssm", resource="parameter", resource_name=settings.revision_parameter.lstrip("/")
                    )
                ],
            )
        )
        topic = sns.Topic.from_topic_arn(self, "SlipwayTopic", settings.slipway_topic_arn)
        topic.add_subscription(
            subscriptions.LambdaSubscription(
                recorder,
                filter_policy={
                    "cluster": sns.SubscriptionFilter.string_filter(allowlist=[settings.cluster_name]),
                    "service": sns.SubscriptionFilter.string_filter(allowlist=[settings.service_name]),
                    "status": sns.SubscriptionFilter.string_filter(allowlist=["SUCCEEDED", "FAILED", "ROLLED_BACK"]),
                },
            )
        )


def main() -> None:
    app = cdk.App()
    settings = ServiceSettings.from_context(app)
    SlipwayOwnedService(app, f"{settings.service_name}-{settings.cluster_name}", settings)
    app.synth()


if __name__ == "__main__":
    main()
