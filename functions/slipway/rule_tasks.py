"""The rule key ``pre_deploy``: a one-off ECS task (a migration) that must succeed before a push rolls out.

Pure models and validation, used by ``rules.RuleSpec``. The task runs the pushed
revision of the first target's service, with ``command`` in place of ``container``'s
own, once per push and rule; its targets are held (gate ``pre_deploy``) until it exits 0.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from slipway.rule_strategies import Strict

DEFAULT_TIMEOUT_MINUTES = 15
MAX_TIMEOUT_MINUTES = 120
MAX_SUBNETS = 16  # awsvpcConfiguration: up to 16 subnets
MAX_SECURITY_GROUPS = 5  # and up to 5 security groups
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")


class TaskNetwork(Strict):
    """An explicit awsvpc network for the task, in place of the service's."""

    subnets: Annotated[list[str], Field(min_length=1, max_length=MAX_SUBNETS)]
    security_groups: Annotated[list[str], Field(max_length=MAX_SECURITY_GROUPS)] = []
    assign_public_ip: bool = False

    @field_validator("subnets")
    @classmethod
    def _subnet_ids(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if not _SUBNET.match(s)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: not a subnet id (subnet-0123456789abcdef0)")
        return value

    @field_validator("security_groups")
    @classmethod
    def _group_ids(cls, value: list[str]) -> list[str]:
        bad = [g for g in value if not _SECURITY_GROUP.match(g)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: not a security group id (sg-0123456789abcdef0)")
        return value

    def configuration(self) -> dict[str, object]:
        """RunTask's ``networkConfiguration``."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.subnets),
                "securityGroups": list(self.security_groups),
                "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
            }
        }


class PreDeploy(Strict):
    """``pre_deploy``: the command a container of the new revision runs, as a task, before any target updates."""

    container: str
    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES
    cluster: str | None = None
    network: Literal["service"] | TaskNetwork = "service"

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, value: object) -> object:
        if isinstance(value, dict):
            return TaskNetwork.model_validate(value)
        if value != "service":
            raise ValueError(
                f"network is {value!r}: \"service\" (the first target's service's network) or an awsvpc object "
                '{"subnets": [...], "security_groups": [...], "assign_public_ip": false}'
            )
        return value

    @field_validator("container")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a container name (letters, digits, '-' and '_', up to 255): "
                "name a container of the targets' task definition"
            )
        return value

    @field_validator("timeout_minutes")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if not 1 <= value <= MAX_TIMEOUT_MINUTES:
            raise ValueError(f"timeout_minutes is {value}: it must be 1 to {MAX_TIMEOUT_MINUTES} minutes")
        return value

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("arn:"):
            if not _CLUSTER_ARN.match(value):
                raise ValueError(f"{value!r} is not an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)")
        elif not _NAME.match(value):
            raise ValueError(f"{value!r} is not a cluster name (letters, digits, '-' and '_', up to 255)")
        return value

    @property
    def cluster_name(self) -> str | None:
        return self.cluster.rsplit("/", 1)[-1] if self.cluster else None
