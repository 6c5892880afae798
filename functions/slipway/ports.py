"""What the domain needs from the outside world; adapters in ``slipway.aws`` provide it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from slipway.errors import AwsError
from slipway.model import Deployment, Service, ServiceState, TaskDefinition
from slipway.rules import Rule, RuleInvalid


@dataclass
class ServiceLookup:
    """DescribeServices for one cluster: the services found and, per name, why not."""

    found: dict[str, Service] = field(default_factory=dict)
    missing: dict[str, AwsError] = field(default_factory=dict)


@dataclass
class RuleSet:
    """The rules under one repository's path: valid ones and the invalid ones' problems."""

    rules: list[Rule] = field(default_factory=list)
    invalid: list[RuleInvalid] = field(default_factory=list)


class Ecs(Protocol):
    def describe_services(self, cluster: str, names: Sequence[str]) -> ServiceLookup: ...

    def describe_task_definition(self, arn: str) -> TaskDefinition: ...

    def register_task_definition(self, body: dict[str, Any], tags: Sequence[tuple[str, str]]) -> str: ...

    def update_service(
        self, cluster: str, service: str, task_definition: str, deployment_configuration: dict[str, Any]
    ) -> Service: ...


class RuleSource(Protocol):
    def load(self, repository: str) -> RuleSet: ...


class Notifier(Protocol):
    def publish(self, messages: Sequence[Any]) -> list[str]:
        """Publish messages; return a description of each one that could not be sent."""
        ...


class Store(Protocol):
    def get_state(self, key: str) -> ServiceState | None: ...

    def get_states(self, keys: Iterable[str]) -> dict[str, ServiceState]:
        """The states of many services at once (services without one are left out)."""
        ...

    def put_state(self, state: ServiceState, expected_generation: int | None) -> None:
        """Write the state if the stored generation is still ``expected_generation``.

        Raises ConditionFailed when another writer got there first.
        """
        ...

    def put_states(self, writes: Sequence[tuple[ServiceState, int | None]]) -> list[tuple[ServiceState, int | None]]:
        """``put_state`` for many services, several to a transaction; returns the writes not made."""
        ...

    def delete_state(self, key: str, rollout_id: str) -> None: ...

    def put_rollout(
        self, rollout: Any, state: ServiceState | None = None, expected_generation: int | None = None
    ) -> None:
        """Write a rollout's history, and with ``state`` the service's state in the same transaction.

        Raises ConditionFailed (nothing written) when the state's generation moved on.
        """
        ...

    def put_rollouts(self, records: Sequence[tuple[Any, ServiceState, int]]) -> list[tuple[Any, ServiceState, int]]:
        """``put_rollout`` with a state for many rollouts, several to a transaction; returns those not written."""
        ...

    # gates and holds
    def digest_rollouts(self, repository: str, digest: str, rule: str) -> list[Any]: ...

    def in_flight(self, repository: str, rule: str) -> int: ...

    def put_hold(self, hold: Any) -> None: ...

    def holds(self, repository: str | None = None) -> list[Any]: ...

    def get_hold(self, hold_id: str) -> Any: ...

    def delete_hold(self, hold: Any) -> None: ...

    # what pushes matched, for explain
    def put_push(self, repository: str, record: dict[str, Any]) -> None: ...

    def last_push(self, repository: str) -> dict[str, Any] | None: ...


__all__ = ["Deployment", "Ecs", "Notifier", "RuleSet", "RuleSource", "ServiceLookup", "Store"]
