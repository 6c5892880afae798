"""A Slipway stack and the ECS/ECR world around it, in moto.

Used in-process under ``mock_aws`` by the tests, and against a moto server on
127.0.0.1 by the demo: the code is the same, only the endpoint differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

from sandbox import bridge
from sandbox import template as tpl

if TYPE_CHECKING:
    from sandbox.accounts import AccountWorld

ACCOUNT = "123456789012"
REGION = "eu-west-1"


class LambdaClock:
    """The time Lambda counts an invocation's remaining time by, in the sandbox: real time, plus time spent.

    moto answers at once, where AWS calls can take seconds (a read timeout, a slow answer).
    A fault that says how long its call takes (``sandbox.faults.Fault.takes``) spends that
    time here, so an invocation's time runs out after as many such calls as it would in
    AWS, however fast or loaded the machine running the sandbox is. There is one clock:
    time spent passes for every invocation in flight, as real time does.
    """

    def __init__(self) -> None:
        self._spent = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.monotonic() + self._spent

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._spent += seconds


LAMBDA_TIME = LambdaClock()


@dataclass
class LambdaContext:
    """The parts of a Lambda context that Powertools and Slipway read.

    Its remaining time runs down from ``timeout_ms`` (the function's Timeout, 120 s in
    template.yaml) from the moment it is made, as Lambda's does from the invocation's start,
    on the sandbox's Lambda clock (``LAMBDA_TIME``).
    """

    function_name: str = "slipway-deploy"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slipway-deploy"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/slipway-deploy"
    log_stream_name: str = "sandbox"
    timeout_ms: int = 120_000
    started: float = field(default_factory=LAMBDA_TIME)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (LAMBDA_TIME() - self.started) * 1000))


@dataclass
class Stack:
    """Names and ARNs of the sandbox stack's resources."""

    table: str
    topic_arn: str
    subscriber_url: str
    dead_letter_url: str
    router_url: str
    rules_path: str
    rules_router_url: str = ""
    work_queue_url: str = ""
    track_router_url: str = ""
    chat_topic_arn: str = ""  # the ChatTopic (template.yaml's ChatNotifications default is "true")
    chat_subscriber_url: str = ""

    def queue_for(self, event: dict[str, Any]) -> str:
        """The queue standing for the function whose rules an event's source feeds."""
        routed = {"aws.ssm": self.rules_router_url, "aws.ecs": self.track_router_url}
        return routed.get(str(event["source"]), self.router_url)

    def environment(self) -> dict[str, str]:
        """The functions' SLIPWAY_* environment, as template.yaml's Globals sets it."""
        defaults = {
            "SLIPWAY_RULES_PATH": self.rules_path,
            "SLIPWAY_TOPIC_ARN": self.topic_arn,
            "SLIPWAY_CHAT_TOPIC_ARN": self.chat_topic_arn,
            "SLIPWAY_TABLE_NAME": self.table,
            "SLIPWAY_HISTORY_RETENTION_DAYS": tpl.parameter_default("HistoryRetentionDays"),
            "SLIPWAY_DEPLOYMENT_TIMEOUT_MINUTES": tpl.parameter_default("DeploymentTimeoutMinutes"),
            "SLIPWAY_ALLOWED_CLUSTERS": tpl.parameter_default("AllowedClusters"),
            "SLIPWAY_ALLOWED_SCHEDULES": tpl.parameter_default("AllowedSchedules"),
            "SLIPWAY_ALLOWED_EVENT_RULES": tpl.parameter_default("AllowedEventRules"),
            "SLIPWAY_ACCOUNT_ID": ACCOUNT,
            "SLIPWAY_ALLOWED_REGISTRIES": tpl.parameter_default("AllowedRegistries"),
            "SLIPWAY_TARGET_ACCOUNTS": tpl.parameter_default("TargetAccounts"),
            "SLIPWAY_TARGET_ROLE_NAME": tpl.parameter_default("TargetRoleName"),
            "SLIPWAY_WORK_QUEUE_URL": self.work_queue_url,
            "SLIPWAY_ECS_QUOTAS": tpl.parameter_default("EcsApiQuotas"),
            "SLIPWAY_LIFECYCLE_HOOK_ROLE_ARN": tpl.parameter_default("LifecycleHookRoleArn"),
            "SLIPWAY_TRUSTED_SIGNING_PROFILES": tpl.parameter_default("TrustedSigningProfiles"),
        }
        expected = {k for k in tpl.function_environment() if k.startswith("SLIPWAY_")}
        missing = expected - set(defaults)
        if missing:
            raise ValueError(f"sandbox does not set {sorted(missing)} that template.yaml passes to functions")
        return {**defaults, "POWERTOOLS_SERVICE_NAME": "slipway", "AWS_REGION": REGION}


class World:
    """Clients and helpers for one sandbox account and region.

    ``session`` gives the clients their credentials: by default the environment's, which
    moto serves as its default account; ``account_world`` makes one acting in another.
    """

    def __init__(
        self, region: str = REGION, account: str = ACCOUNT, session: boto3.session.Session | None = None
    ) -> None:
        self.region = region
        self.account = account
        self.session = session = session or boto3.session.Session(region_name=region)
        self.elsewhere: dict[tuple[str, str], World] = {}
        self.ecs = session.client("ecs")
        self.ecr = session.client("ecr")
        self.ssm = session.client("ssm")
        self.sns = session.client("sns")
        self.sqs = session.client("sqs")
        self.events = session.client("events")
        self.dynamodb = session.client("dynamodb")
        self.iam = session.client("iam")
        self.sts = session.client("sts")
        self.stack: Stack | None = None
        bridge.install_ecs_deployments()

    def account_world(self, account: str, region: str | None = None) -> AccountWorld:
        """The World of ``account`` in ``region`` (this one's by default), made once and kept.

        Its clients act there, with credentials from sts:AssumeRole of a role in that
        account, as moto maps them (``sandbox/accounts.py``).
        """
        from sandbox import accounts  # here: accounts builds on this module

        return accounts.account_world(self, account, region or self.region)

    # -- the stack, from template.yaml ---------------------------------------
    def deploy_stack(self, name: str = "slipway", chat_subscriber: bool = True) -> Stack:
        table = f"{name}-table"
        self.dynamodb.create_table(TableName=table, **tpl.table_definition())
        self.dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"AttributeName": tpl.ttl_attribute(), "Enabled": True}
        )
        topic_arn = self.sns.create_topic(Name=f"{name}-notifications")["TopicArn"]
        subscriber_url = self.queue(f"{name}-subscriber")
        self.subscribe(topic_arn, subscriber_url)
        chat_topic_arn = chat_subscriber_url = ""
        if tpl.parameter_default("ChatNotifications") == "true":
            chat_topic_arn = self.sns.create_topic(Name=f"{name}-chat")["TopicArn"]
            chat_subscriber_url = self.queue(f"{name}-chat-subscriber")
            if chat_subscriber:  # the benchmarks have no chat channel: in AWS, Amazon Q subscribes from outside
                self.subscribe(chat_topic_arn, chat_subscriber_url)
        dead_letter_url = self.queue(f"{name}-dlq")
        router_url = self.queue(f"{name}-deploy-events")
        self.route_rule(f"{name}-ecr-push", tpl.event_pattern("DeployFunction", "EcrPush"), router_url)
        replication = tpl.event_pattern("DeployFunction", "EcrReplication")
        self.route_rule(f"{name}-ecr-replication", replication, router_url)
        for rule, event in (("ecr-image-scan", "EcrImageScan"), ("inspector2-scan", "Inspector2Scan")):
            self.route_rule(f"{name}-{rule}", tpl.event_pattern("DeployFunction", event), router_url)
        track_router_url = self.queue(f"{name}-track-events")
        for rule, event in (
            ("ecs-deployment", "DeploymentStateChange"),
            ("ecs-hook", "HookStateChange"),
            ("ecs-task", "TaskStateChange"),
        ):
            self.route_rule(f"{name}-{rule}", tpl.event_pattern("TrackFunction", event), track_router_url)
        work_queue_url = self.queue(f"{name}-work", **tpl.queue_attributes("WorkQueue", dead_letter_url, self))
        rules_router_url = self.queue(f"{name}-rule-events")
        self.route_rule(f"{name}-rule-changed", tpl.event_pattern("RuleCheckFunction", "RuleChanged"), rules_router_url)
        self.stack = Stack(
            table=table,
            topic_arn=topic_arn,
            subscriber_url=subscriber_url,
            dead_letter_url=dead_letter_url,
            router_url=router_url,
            rules_path=tpl.parameter_default("RulesPath"),
            rules_router_url=rules_router_url,
            work_queue_url=work_queue_url,
            track_router_url=track_router_url,
            chat_topic_arn=chat_topic_arn,
            chat_subscriber_url=chat_subscriber_url,
        )
        return self.stack

    def queue(self, name: str, **attributes: str) -> str:
        return str(self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def queue_arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def subscribe(self, topic_arn: str, queue_url: str, filter_policy: dict[str, Any] | None = None) -> str:
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        response = self.sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=self.queue_arn(queue_url), Attributes=attributes
        )
        return str(response["SubscriptionArn"])

    def route_rule(self, name: str, pattern: dict[str, Any], queue_url: str) -> None:
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        self.events.put_targets(Rule=name, Targets=[{"Id": "sandbox", "Arn": self.queue_arn(queue_url)}])

    # -- what ECR and EventBridge would do --------------------------------------
    def create_repository(self, name: str) -> str:
        return str(self.ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"])

    def push_image(self, repository: str, tag: str, content: str | None = None) -> str:
        """PutImage of a fresh manifest; returns the image digest ECR computed."""
        layer = hashlib.sha256((content or f"{repository}:{tag}:{uuid.uuid4()}").encode()).hexdigest()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 1,
                    "digest": f"sha256:{layer}",
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": 1,
                        "digest": f"sha256:{layer}",
                    }
                ],
            }
        )
        image = self.ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]
        return str(image["imageId"]["imageDigest"])

    def push_event(self, repository: str, digest: str, tag: str | None, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("account", self.account)
        kwargs.setdefault("region", self.region)
        return bridge.ecr_push_event(repository, digest, tag, **kwargs)

    def route(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Put an event on the default bus; return what the template's rules deliver.

        For an event of this account and Region; ``sandbox.accounts.forwarded`` delivers
        one from elsewhere as another account's forwarding rule would.
        """
        self.put_event(event)
        delivered = []
        for body in self.deliveries(event):
            body["id"] = event["id"]  # keep the id ECR gave the event, for idempotency checks
            delivered.append(bridge.restore_account(body, self.account))
        return delivered

    def put_event(self, event: dict[str, Any]) -> None:
        """PutEvents of ``event`` on this account's default bus, as its service would emit it."""
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
        }
        response = self.events.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {response['Entries']}")

    def deliveries(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The bodies the template's rules delivered for events like ``event`` since last asked."""
        assert self.stack is not None
        return [json.loads(message["Body"]) for message in self.drain(self.stack.queue_for(event))]

    def drain(self, queue_url: str, wait_delayed: float = 0.0) -> list[dict[str, Any]]:
        """Every message on the queue, received and deleted; with ``wait_delayed``, also those sent with a
        delay, waited for up to that many seconds."""
        messages: list[dict[str, Any]] = []
        waited = 0.0
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch and waited < wait_delayed and self.delayed(queue_url):
                time.sleep(0.2)
                waited += 0.2
                continue
            if not batch:
                return messages
            messages.extend(batch)
            self.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def delayed(self, queue_url: str) -> int:
        """How many messages on the queue wait out their delay."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessagesDelayed", "0"))

    def notifications(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """SNS messages a subscriber queue received: Subject, attributes and parsed Message."""
        assert self.stack is not None
        received = []
        for message in self.drain(queue_url or self.stack.subscriber_url):
            envelope = json.loads(message["Body"])
            received.append(
                {
                    "subject": envelope.get("Subject"),
                    "attributes": {k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()},
                    "attribute_types": {k: v["Type"] for k, v in (envelope.get("MessageAttributes") or {}).items()},
                    "message": json.loads(envelope["Message"]),
                }
            )
        return received

    def rule_change(self, repository: str, name: str, operation: str) -> list[dict[str, Any]]:
        """What the rule-check function receives after a rule parameter changes."""
        assert self.stack is not None
        parameter = f"{self.stack.rules_path}/{repository}/{name}"
        event = bridge.parameter_change_event(parameter, operation, account=self.account, region=self.region)
        return self.route(event)

    # -- ECS -------------------------------------------------------------------
    def image_uri(self, repository: str, reference: str) -> str:
        sep = "@" if reference.startswith("sha256:") else ":"
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{repository}{sep}{reference}"

    def cluster(self, name: str, capacity_providers: list[str] | None = None) -> str:
        kwargs: dict[str, Any] = {"clusterName": name}
        if capacity_providers:
            kwargs["capacityProviders"] = capacity_providers
        return str(self.ecs.create_cluster(**kwargs)["cluster"]["clusterArn"])

    def task_definition(self, family: str, containers: list[dict[str, Any]], **extra: Any) -> str:
        for container in containers:
            container.setdefault("memory", 256)
            container.setdefault("essential", container is containers[0])
        response = self.ecs.register_task_definition(family=family, containerDefinitions=containers, **extra)
        return str(response["taskDefinition"]["taskDefinitionArn"])

    def service(self, cluster: str, name: str, task_definition: str, **extra: Any) -> dict[str, Any]:
        extra.setdefault("desiredCount", 2)
        response = self.ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=task_definition, **extra)
        return dict(response["service"])

    def describe_service(self, cluster: str, name: str) -> dict[str, Any]:
        return dict(self.ecs.describe_services(cluster=cluster, services=[name])["services"][0])

    def running_task_definition(self, cluster: str, name: str) -> dict[str, Any]:
        arn = self.describe_service(cluster, name)["taskDefinition"]
        response = self.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        return {**response["taskDefinition"], "tags": response.get("tags", [])}

    def images(self, cluster: str, name: str) -> dict[str, str]:
        definition = self.running_task_definition(cluster, name)
        return {c["name"]: c["image"] for c in definition["containerDefinitions"]}

    # -- rules -----------------------------------------------------------------
    def put_rule(self, repository: str, name: str, rule: dict[str, Any] | str, secure: bool = False) -> str:
        assert self.stack is not None
        parameter = f"{self.stack.rules_path}/{repository}/{name}"
        value = rule if isinstance(rule, str) else json.dumps(rule)
        self.ssm.put_parameter(Name=parameter, Value=value, Type="SecureString" if secure else "String", Overwrite=True)
        return parameter


def apply_environment(stack: Stack) -> None:
    """Point this process's Slipway functions at the sandbox stack."""
    os.environ.update(stack.environment())
