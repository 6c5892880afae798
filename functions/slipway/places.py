"""Where a service lives: an account and a Region, and how its key says so.

Slipway's own account and Region are its home. A service at home is known by
``cluster/service``, as it always was; a service in another account or Region by
``ACCOUNT:REGION:cluster/service`` (a cluster name cannot contain ``:``), so that two
accounts' ``prod/web`` never share a claim, a history or a hold.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

# arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE
_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}):")
_QUALIFIED = re.compile(r"^(?P<account>\d{12}):(?P<region>[a-z0-9-]+):(?P<rest>[^:]+)$")
ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True, order=True)
class Place:
    """An account and a Region: ECS's throttling buckets, credentials and events are per place."""

    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.account}:{self.region}"


def of_arn(arn: str) -> Place | None:
    """The place an ARN names (None for anything that is not a regional ARN with an account)."""
    match = _ARN.match(arn)
    if match is None or not match.group("region"):
        return None
    return Place(match.group("account"), match.group("region"))


def partition_of(arn: str, default: str = "aws") -> str:
    match = _ARN.match(arn)
    return match.group("partition") if match else default


def service_key(cluster: str, service: str, place: Place | None = None) -> str:
    """``cluster/service`` at home (``place`` None), ``ACCOUNT:REGION:cluster/service`` elsewhere."""
    return f"{place}:{cluster}/{service}" if place else f"{cluster}/{service}"


def split_key(key: str) -> tuple[Place | None, str]:
    """The place a key names (None: home) and its ``cluster/service``."""
    match = _QUALIFIED.match(key)
    if match is None:
        return None, key
    return Place(match.group("account"), match.group("region")), match.group("rest")


def away(place: Place | None, home: Place) -> Place | None:
    """``place`` when it is not home, else None: what keys and services carry."""
    return place if place is not None and place != home else None


def cluster_arn(name: str, place: Place, partition: str = "aws") -> str:
    """The ARN of cluster ``name`` at ``place``."""
    return f"arn:{partition}:ecs:{place.region}:{place.account}:cluster/{name}"


def cluster_allowed(name: str, place: Place, home: Place, patterns: tuple[str, ...], partition: str = "aws") -> bool:
    """Whether AllowedClusters lets Slipway deploy to cluster ``name`` at ``place``.

    A name or glob entry (``prod-*``) allows clusters at home; an ARN glob entry
    (``arn:aws:ecs:*:222233334444:cluster/prod-*``) allows the clusters whose ARN it matches,
    at home or elsewhere.
    """
    arn = cluster_arn(name, place, partition)
    for pattern in patterns:
        if pattern.startswith("arn:"):
            if fnmatch.fnmatchcase(arn, pattern):
                return True
        elif place == home and fnmatch.fnmatchcase(name, pattern):
            return True
    return False


@dataclass(frozen=True)
class Refusal:
    """Why Slipway may not deploy to a cluster: an error code and a sentence."""

    code: str
    reason: str


@dataclass(frozen=True)
class Reach:
    """Where this stack may deploy: its home, AllowedClusters and TargetAccounts. One decision, one place."""

    home: Place
    allowed_clusters: tuple[str, ...] = ("*",)
    target_accounts: tuple[str, ...] = ()

    def refusal(self, cluster: str, place: Place, partition: str = "aws") -> Refusal | None:
        """None when Slipway may deploy to ``cluster`` (a name) at ``place``; else why not."""
        if place.account != self.home.account and place.account not in self.target_accounts:
            listed = ", ".join(self.target_accounts) or "none"
            return Refusal(
                "AccountNotAllowed",
                f"cluster {cluster} is in account {place.account}, which is not in TargetAccounts ({listed})",
            )
        if not cluster_allowed(cluster, place, self.home, self.allowed_clusters, partition):
            where = f" in {place.account}/{place.region}" if place != self.home else ""
            return Refusal(
                "ClusterNotAllowed",
                f'cluster "{cluster}"{where} is not in AllowedClusters ({", ".join(self.allowed_clusters)})',
            )
        return None
