"""The services a benchmark push fans out to, and the rules that select them.

A fleet of N services is mixed as real estates are: EC2 and Fargate launch types and
Fargate Spot capacity providers, spread over several clusters, with a third of the
services sharing their task definition family and revision with another service.
The throttled runs choose the sharing instead (``per_revision``): every service its own
family, or exactly ten services on each family's one revision. A fleet may live in
another account or Region than Slipway's (``place``): its rules then name its clusters
by ARN, and its task definitions run the image from Slipway's registry.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

from sandbox.stack import World

KINDS = ("EC2", "FARGATE", "EC2", "FARGATE_SPOT")
MAX_CLUSTERS = 8
TARGETS_PER_RULE = 50  # keeps each rule well under Parameter Store's 4 KB standard tier
CONTAINER = "app"
OLD_TAG = "1.0.0"
NEW_TAG = "1.1.0"


@dataclass(frozen=True)
class FleetService:
    """One ECS service of a fleet."""

    cluster: str
    name: str
    kind: str  # EC2, FARGATE or FARGATE_SPOT
    family: str

    @property
    def fargate(self) -> bool:
        return self.kind != "EC2"


@dataclass(frozen=True)
class Fleet:
    """N services that one repository's rules select, at home or in ``place`` (account, Region)."""

    repository: str
    services: tuple[FleetService, ...]
    place: tuple[str, str] | None = None

    def cluster_ref(self, cluster: str) -> str:
        """How a rule names the cluster: by name at home, by ARN elsewhere."""
        if self.place is None:
            return cluster
        account, region = self.place
        return f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"

    @property
    def clusters(self) -> list[str]:
        return sorted({s.cluster for s in self.services})

    @property
    def families(self) -> list[str]:
        return sorted({s.family for s in self.services})

    def rules(self) -> dict[str, dict[str, Any]]:
        """Rule name -> rule value: the targets in chunks of TARGETS_PER_RULE."""
        targets = [{"cluster": self.cluster_ref(s.cluster), "service": s.name} for s in self.services]
        prefix = "fleet" if self.place is None else f"fleet-{self.place[0]}-{self.place[1]}"
        return {
            f"{prefix}-{k // TARGETS_PER_RULE:02d}": {"targets": targets[k : k + TARGETS_PER_RULE], "tags": ["1.*"]}
            for k in range(0, len(targets), TARGETS_PER_RULE)
        }

    def describe(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for service in self.services:
            kinds[service.kind] = kinds.get(service.kind, 0) + 1
        shared = sum(1 for s in self.services if sum(o.family == s.family for o in self.services) > 1)
        return {
            "services": len(self.services),
            "clusters": len(self.clusters),
            "families": len(self.families),
            "services_sharing_a_revision": shared,
            "kinds": kinds,
            "rules": len(self.rules()),
        }


def plan_fleet(
    size: int, prefix: str, repository: str, per_revision: int | None = None, place: tuple[str, str] | None = None
) -> Fleet:
    """``size`` services named ``{prefix}-svc-NNNN`` over up to 8 clusters ``{prefix}-cN``.

    By default a third of them share a revision (see the module's docstring);
    ``per_revision`` instead puts every ``per_revision`` consecutive services on one
    family's one revision (1: each service its own family). ``place``: the account and
    Region they are in (None: Slipway's own).
    """
    if per_revision is not None:
        return _grouped(size, prefix, repository, per_revision, place)
    clusters = min(MAX_CLUSTERS, max(1, math.ceil(size / 4)))
    services = []
    for i in range(size):
        kind = KINDS[i % len(KINDS)]
        compatibility = "ec2" if kind == "EC2" else "fargate"
        # In every block of 12 services, the first 4 share: the two EC2 ones one revision,
        # the Fargate and Fargate Spot ones another.
        shared = (i // 4) % 3 == 0
        family = f"{prefix}-{compatibility}-{'b' if shared else 's'}{i // 4 if shared else i}"
        services.append(FleetService(f"{prefix}-c{i % clusters}", f"{prefix}-svc-{i:04d}", kind, family))
    return Fleet(repository, tuple(services))


def _grouped(size: int, prefix: str, repository: str, per_revision: int, place: tuple[str, str] | None) -> Fleet:
    """Services ``per_revision`` to a family; a family's services share its kind (a revision is EC2 or Fargate)."""
    clusters = min(MAX_CLUSTERS, max(1, math.ceil(size / 4)))
    services = []
    for i in range(size):
        index = i // per_revision
        kind = KINDS[index % len(KINDS)]
        family = f"{prefix}-{'ec2' if kind == 'EC2' else 'fargate'}-r{index}"
        services.append(FleetService(f"{prefix}-c{i % clusters}", f"{prefix}-svc-{i:04d}", kind, family))
    return Fleet(repository, tuple(services), place)


def new_digest() -> str:
    return "sha256:" + secrets.token_hex(32)


def build(world: World, fleet: Fleet, rules: bool = True, hub: World | None = None) -> None:
    """Create the fleet's clusters, task definitions (revision 1) and services, and its rules.

    ``world`` is where the services are (the fleet's place); ``hub`` Slipway's World, whose
    registry the images come from and whose Parameter Store holds the rules (None: ``world``).
    """
    hub = hub or world
    for cluster in fleet.clusters:
        world.cluster(cluster, capacity_providers=["FARGATE", "FARGATE_SPOT"])
    revisions: dict[str, str] = {}
    for service in fleet.services:
        if service.family not in revisions:
            revisions[service.family] = register(world, fleet.repository, service, hub)
        world.service(service.cluster, service.name, revisions[service.family], **placement(service))
    if rules:
        for name, value in fleet.rules().items():
            hub.put_rule(fleet.repository, name, value)


def placement(service: FleetService) -> dict[str, Any]:
    if service.kind == "FARGATE_SPOT":
        return {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    return {"launchType": service.kind}


def register(world: World, repository: str, service: FleetService, registry: World | None = None) -> str:
    """Revision 1 of a family: the app from ``repository`` (in ``registry``'s, by default ``world``'s) and a
    log router sidecar."""
    containers: list[dict[str, Any]] = [
        {
            "name": CONTAINER,
            "image": (registry or world).image_uri(repository, OLD_TAG),
            "essential": True,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "STAGE", "value": "prod"}, {"name": "SERVICE", "value": service.name}],
            "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch"}},
        },
        {
            "name": "log-router",
            "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0",
            "essential": True,
            "firelensConfiguration": {"type": "fluentbit"},
        },
    ]
    extra: dict[str, Any] = {"tags": [{"key": "team", "value": "bench"}]}
    if service.fargate:
        extra.update(networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512", memory="1024")
        extra["executionRoleArn"] = f"arn:aws:iam::{world.account}:role/ecs-execution"
    else:
        extra.update(networkMode="bridge", requiresCompatibilities=["EC2"])
    return world.task_definition(service.family, containers, **extra)


def rules_json_sizes(fleet: Fleet) -> list[int]:
    return [len(json.dumps(v)) for v in fleet.rules().values()]
