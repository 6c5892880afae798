"""The composition root: builds adapters once per process, lazily.

Lazily, so that a test's ``mock_aws`` (or the sandbox's endpoint) is in place before
the first client exists; tests call ``reset()`` between cases.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from slipway.settings import Settings, settings


class App:
    """Adapters and domain services for one process."""

    def __init__(self, config: Settings | None = None) -> None:
        self.settings = config or settings()

    @cached_property
    def ecs(self) -> Any:
        from slipway.aws.ecs import EcsAdapter
        from slipway.aws.clients import client

        return EcsAdapter(client("ecs", pool=self.settings.max_concurrency + 4))

    @cached_property
    def rules(self) -> Any:
        from slipway.aws.ssm import ParameterStoreRules

        return ParameterStoreRules(self.settings.rules_path, self.settings.rules_cache_seconds)

    @cached_property
    def dynamodb(self) -> Any:
        from slipway.aws.clients import client

        return client("dynamodb", pool=self.settings.max_concurrency + 4)

    @cached_property
    def store(self) -> Any:
        from slipway.aws.store import DynamoStore

        return DynamoStore(self.settings.table_name, self.settings.history_retention_days, self.dynamodb)

    @cached_property
    def notifier(self) -> Any:
        from slipway.aws.sns import SnsNotifier

        return SnsNotifier(self.settings.topic_arn)

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
        )

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


def reset() -> None:
    """Forget the adapters and settings (tests, or a changed environment)."""
    global _app
    _app = None
    settings.cache_clear()
