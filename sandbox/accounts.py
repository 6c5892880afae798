"""Many accounts and Regions in one moto: Slipway's account (the hub) and the ones it reaches.

moto keeps accounts apart by credentials. sts:AssumeRole of a role ARN makes a temporary
access key in the IAM backend of the ARN's account (``moto/sts/models.py``:
``STSBackend.assume_role`` and ``_create_access_key``, via ``moto/iam/models.py``
``IAMBackend.create_temp_access_key``; the role need not exist), and every request acts in
the account whose IAM backend holds its access key (``moto/core/responses.py``
``BaseResponse.get_current_account`` calling ``moto/iam/models.py`` ``get_account_id_from``).
``MOTO_ACCOUNT_ID`` in the environment, or an ``x-moto-account-id`` header, overrides that,
so ``account_world`` checks with sts:GetCallerIdentity where its clients act.

What AWS does between accounts and moto does not, played here:

- forwarding: an account's EventBridge rule whose target is Slipway's default bus
  (``AccountWorld.forward_events``) delivers the event as its source emitted it;
  moto re-puts it as a new event of the hub (``forwarded``, ``AccountWorld.emit``).
- replication: ECR copies an image to a registry in another account or Region and emits
  ``ECR Replication Action`` there, and no push (``replicate``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3

from sandbox import bridge
from sandbox import template as tpl
from sandbox.stack import World

# The role the sandbox builds an account's resources with: the one AWS Organizations
# creates in the accounts it makes (moto needs no such role to exist).
ADMIN_ROLE = "OrganizationAccountAccessRole"
TARGET_ROLE = tpl.parameter_default("TargetRoleName")
FORWARDING_ROLE = "slipway-event-forwarding"
# The template's event sources Slipway receives from other accounts and Regions.
FORWARDED = (
    ("DeployFunction", "EcrPush"),
    ("DeployFunction", "EcrReplication"),
    ("TrackFunction", "DeploymentStateChange"),
    ("TrackFunction", "HookStateChange"),
)


class AccountWorld(World):
    """A World acting in another account or Region than its hub, Slipway's World."""

    def __init__(self, hub: World, account: str, region: str, session: boto3.session.Session) -> None:
        super().__init__(region, account, session=session)
        self.hub = hub
        self.forwarding = False

    def create_target_role(self, role_name: str = TARGET_ROLE, stack_name: str = "slipway") -> str:
        """The role Slipway assumes here, trusting the hub stack's function roles; its ARN.

        The trust policy names the hub account and, by ``aws:PrincipalArn``, the roles SAM
        makes for the template's functions (``{stack}-{Function}Role-{suffix}``). moto
        enforces neither it nor the role's permissions.
        """
        patterns = [
            f"arn:aws:iam::{self.hub.account}:role/{stack_name}-{function}Role-*" for function in function_names()
        ]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{self.hub.account}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"ArnLike": {"aws:PrincipalArn": patterns}},
                }
            ],
        }
        return self._role(role_name, trust, "Slipway deploys to this account's ECS services with this role.")

    def forward_events(self) -> list[str]:
        """Rules sending the events Slipway reacts to from this account's default bus to the hub's.

        One rule per template event source, with its pattern; each target the hub's default
        bus, with the role EventBridge needs for a bus in another account or Region. Returns
        the rule names.
        """
        bus = f"arn:aws:events:{self.hub.region}:{self.hub.account}:event-bus/default"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = self._role(FORWARDING_ROLE, trust, "EventBridge sends Slipway's events to its bus with this role.")
        names = []
        for function, event in FORWARDED:
            name = f"slipway-forward-{event}"
            self.events.put_rule(
                Name=name, EventPattern=json.dumps(tpl.event_pattern(function, event)), State="ENABLED"
            )
            self.events.put_targets(Rule=name, Targets=[{"Id": "slipway", "Arn": bus, "RoleArn": role}])
            names.append(name)
        self.forwarding = True
        return names

    def emit(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Put ``event`` on this account's bus, as its service would; what reaches Slipway's functions.

        The event crosses to the hub through the forwarding rules (made on first use) and
        moto's event bus targets, and the template's patterns match it there. Each delivery
        is the event as emitted. The EventBridge User Guide ("Sending and receiving events
        between AWS accounts in Amazon EventBridge") says the receiving account's rules
        match forwarded events unless their pattern names ``account``, and that rules whose
        pattern has ``account`` "do not match events sent from accounts that are not listed":
        ``account`` stays the emitting account's. It says nothing of a change to ``region``,
        ``id``, ``time`` or ``resources``, which stay as the source gave them; and an event
        received from another account goes no further (no third account). moto makes the
        forwarded event anew in the hub (its id, time, account and Region, no resources),
        so the delivery is rebuilt from the emitted event.
        """
        if not self.forwarding:
            self.forward_events()
        self.put_event(event)
        delivered = []
        for body in self.hub.deliveries(event):
            if body.get("detail-type") != event["detail-type"] or body.get("detail") != event["detail"]:
                raise RuntimeError(f"the hub received {body}, not the forwarded {event}")
            delivered.append(copy.deepcopy(event))
        return delivered

    def _role(self, name: str, trust: dict[str, Any], description: str) -> str:
        try:
            role = self.iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description=description
            )
        except self.iam.exceptions.EntityAlreadyExistsException:
            role = self.iam.get_role(RoleName=name)
        return str(role["Role"]["Arn"])


def account_world(hub: World, account: str, region: str, role_name: str = ADMIN_ROLE) -> AccountWorld:
    """The World of ``account`` in ``region``, made once per hub: ``hub.account_world`` calls this.

    Another account's clients use credentials from sts:AssumeRole of ``role_name`` there;
    the hub's own account in another Region uses the hub's credentials.
    """
    hub = hub.hub if isinstance(hub, AccountWorld) else hub
    kept = hub.elsewhere.get((account, region))
    if isinstance(kept, AccountWorld):
        return kept
    if account == hub.account:
        own = hub.session.get_credentials()
        if own is None:
            raise RuntimeError("the hub's session has no credentials")
        frozen = own.get_frozen_credentials()
        key, secret, token = frozen.access_key, frozen.secret_key, frozen.token
    else:
        arn = f"arn:aws:iam::{account}:role/{role_name}"
        assumed = hub.sts.assume_role(RoleArn=arn, RoleSessionName="sandbox", DurationSeconds=3600)["Credentials"]
        key, secret, token = assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"]
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region
    )
    acting = session.client("sts").get_caller_identity()["Account"]
    if acting != account:
        raise RuntimeError(f"moto answers account {account}'s credentials as {acting}: is MOTO_ACCOUNT_ID set?")
    world = hub.elsewhere[(account, region)] = AccountWorld(hub, account, region, session)
    return world


def forwarded(hub: World, event: dict[str, Any]) -> list[dict[str, Any]]:
    """What Slipway's functions receive of ``event``, emitted in its ``account`` and ``region``.

    An event of the hub's own account and Region is routed there (``World.route``); any
    other comes through that account's forwarding rules (``AccountWorld.emit``), with the
    ``account``, ``region``, ``id``, ``time`` and ``resources`` its source gave it.
    """
    if (event["account"], event["region"]) == (hub.account, hub.region):
        return hub.route(event)
    return account_world(hub, event["account"], event["region"]).emit(event)


def replicate(
    source: World,
    repository: str,
    tag: str,
    destination_account: str,
    destination_region: str,
    result: str = "SUCCESS",
) -> dict[str, Any]:
    """ECR replicating ``repository:tag`` from ``source``'s registry; the event it emits in the destination.

    SUCCESS puts the same manifest, digest and tag in the destination registry (creating
    the repository, as ECR does); FAILED leaves it untouched and only returns the event.
    Deliver the event with ``forwarded`` (or ``World.route`` when the destination is the hub).
    """
    [image] = source.ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"]
    digest = str(image["imageId"]["imageDigest"])
    if result == "SUCCESS":
        destination = world_at(source, destination_account, destination_region)
        try:
            destination.ecr.create_repository(repositoryName=repository)
        except destination.ecr.exceptions.RepositoryAlreadyExistsException:
            pass  # replication reuses a repository of that name
        same = {"imageManifest": image["imageManifest"], "imageTag": tag, "imageDigest": digest}
        if image.get("imageManifestMediaType"):
            same["imageManifestMediaType"] = image["imageManifestMediaType"]
        try:
            destination.ecr.put_image(repositoryName=repository, **same)
        except destination.ecr.exceptions.ImageAlreadyExistsException:
            pass  # replicated before: the destination already has it under this tag
    return bridge.ecr_replication_event(
        repository,
        digest,
        tag,
        account=destination_account,
        region=destination_region,
        source_account=source.account,
        source_region=source.region,
        result=result,
    )


def world_at(near: World, account: str, region: str) -> World:
    """The World of ``account`` and ``region`` in the sandbox ``near`` belongs to."""
    hub = near.hub if isinstance(near, AccountWorld) else near
    if (account, region) == (hub.account, hub.region):
        return hub
    return account_world(hub, account, region)


def function_names() -> list[str]:
    """The template's Lambda functions, by logical id."""
    resources = tpl.template()["Resources"]
    return sorted(name for name, spec in resources.items() if spec["Type"] == "AWS::Serverless::Function")
