"""The composition root: builds adapters once per process, lazily.

Lazily, so that a test's ``mock_aws`` (or the sandbox's endpoint) is in place before
the first client exists; tests call ``reset()`` between cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipway.settings import Settings


class App:
    """Adapters and domain services for one process.

    ``session`` is the boto3 session every client comes from: tests pass one with
    botocore event handlers registered, to count calls or inject faults. ``clock``
    returns the current time (tests move it instead of sleeping).
    """

    def __init__(self, config: Settings | None = None, session: Any = None, clock: Any = None) -> None:
        from slipway.settings import settings  # pydantic loads with the first invocation, not the import

        self.settings = config or settings()
        self.session = session
        self.clock = clock or (lambda: datetime.now(UTC))

    @cached_property
    def _session(self) -> Any:
        """One boto3 session for every client: botocore loads its endpoint data once."""
        if self.session is not None:
            return self.session
        import boto3

        return boto3.session.Session()

    def client(self, service: str, validate: bool = True) -> Any:
        from slipway.aws.clients import client

        return client(service, session=self._session, pool=self.settings.max_concurrency + 4, validate=validate)

    @cached_property
    def ecs(self) -> Any:
        from slipway.aws.ecs import EcsAdapter

        return EcsAdapter(self.client("ecs"))

    @cached_property
    def rules(self) -> Any:
        from slipway.aws.ssm import ParameterStoreRules

        return ParameterStoreRules(self.settings.rules_path, self.settings.rules_cache_seconds, self.client("ssm"))

    @cached_property
    def dynamodb(self) -> Any:
        # The store's requests are built from typed records; DynamoDB checks them itself.
        return self.client("dynamodb", validate=False)

    @cached_property
    def store(self) -> Any:
        from slipway.aws.store import DynamoStore

        return DynamoStore(self.settings.table_name, self.settings.history_retention_days, self.dynamodb)

    @cached_property
    def notifier(self) -> Any:
        from slipway.aws.sns import SnsNotifier

        return SnsNotifier(self.settings.topic_arn, self.client("sns"))

    @cached_property
    def deployer(self) -> Any:
        from slipway.deploy import Deployer
        from slipway.telemetry import count

        return Deployer(
            self.ecs,
            self.rules,
            self.store,
            self.notifier,
            max_concurrency=self.settings.max_concurrency,
            allowed_clusters=self.settings.allowed_clusters,
            count=count,
            tracker=self.tracker,
            clock=self.clock,
            gates=self.gates,
        )

    @cached_property
    def gates(self) -> Any:
        from slipway.gates import Gatekeeper

        return Gatekeeper(self.store, self.clock)

    @cached_property
    def tracker(self) -> Any:
        from slipway.telemetry import count
        from slipway.tracking import Tracker

        return Tracker(self.ecs, self.store, self.notifier, clock=self.clock, count=count)

    @cached_property
    def idempotency(self) -> Any:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=self.settings.table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value="idempotency#deploy",
            boto3_client=self.dynamodb,
        )


_app: App | None = None


def app() -> App:
    """This process's App."""
    global _app
    if _app is None:
        _app = App()
    return _app


def use(instance: App) -> App:
    """Make ``instance`` this process's App (tests: a session with hooks, fixed settings)."""
    global _app
    _app = instance
    return instance


def reset() -> None:
    """Forget the adapters and settings (tests, or a changed environment)."""
    from slipway.settings import settings

    global _app
    _app = None
    settings.cache_clear()
