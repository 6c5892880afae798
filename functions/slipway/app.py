"""The composition root: builds adapters once per process, lazily.

Lazily, so that a test's ``mock_aws`` (or the sandbox's endpoint) is in place before
the first client exists; tests call ``reset()`` between cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from slipway.aws.calls import Caller
    from slipway.aws.ecr import EcrImageChecks, EcrRegistry
    from slipway.aws.fleet import EcsFleet
    from slipway.aws.pacing import Pacer
    from slipway.aws.sns import SnsNotifier
    from slipway.aws.sqs import SqsWorkQueue
    from slipway.aws.ssm import ParameterStoreRules
    from slipway.aws.store import DynamoStore
    from slipway.aws.sts import TargetRoles
    from slipway.control import Control
    from slipway.deploy import Deployer
    from slipway.gates import Gatekeeper
    from slipway.places import Place, Reach
    from slipway.predeploy import PreDeployTasks
    from slipway.reconcile import Reconciler
    from slipway.scheduled import ScheduledMover
    from slipway.settings import Settings
    from slipway.tracking import Tracker


class App:
    """Adapters and domain services for one process.

    ``session`` is the boto3 session every client comes from: tests pass one with
    botocore event handlers registered, to count calls or inject faults. ``clock``
    returns the current time (tests move it instead of sleeping). The pacer is the
    process's: in Lambda one invocation runs at a time, and the next one in the same
    execution environment starts from what the last one left in the buckets.
    """

    def __init__(
        self,
        config: Settings | None = None,
        session: boto3.session.Session | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from slipway.settings import settings  # pydantic loads with the first invocation, not the import

        self.settings = config or settings()
        self.session = session
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    @cached_property
    def _session(self) -> boto3.session.Session:
        """One boto3 session for every client: botocore loads its endpoint data once."""
        if self.session is not None:
            return self.session
        import boto3

        return boto3.session.Session()

    def client(
        self,
        service: str,
        validate: bool = True,
        retries: dict[str, Any] | None = None,
        region: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> Any:
        from slipway.aws.clients import client

        pool = self.settings.max_concurrency + 4
        return client(
            service,
            session=self._session,
            pool=pool,
            validate=validate,
            retries=retries,
            region=region,
            credentials=credentials,
        )

    def caller(self, service: str, client: Any, scope: str | None = None) -> Caller:
        """The paced, deadline-bounded calls of one client (``scope``: the account and Region it paces as)."""
        from slipway.aws.calls import Caller
        from slipway.telemetry import count

        return Caller(service, scope or str(client.meta.region_name or ""), self.pacer, count=count)

    @cached_property
    def home(self) -> Place:
        """The stack's own account and Region (the account from STS when the environment does not say)."""
        from slipway.aws.clients import STANDARD_RETRIES
        from slipway.places import Place

        home = self.settings.home
        if home.account and home.region:
            return home
        sts = self.client("sts", retries=STANDARD_RETRIES)
        return Place(home.account or str(sts.get_caller_identity()["Account"]), home.region or sts.meta.region_name)

    @property
    def reach(self) -> Reach:
        """Where the stack may deploy: its home (as resolved above), AllowedClusters and TargetAccounts."""
        from slipway.places import Reach

        return Reach(self.home, self.settings.allowed_clusters, self.settings.target_accounts)

    @cached_property
    def pacer(self) -> Pacer:
        from slipway.aws.pacing import Pacer, ecs_quotas

        return Pacer(ecs_quotas(self.settings.ecs_quotas))

    @cached_property
    def ecs(self) -> EcsFleet:
        """ECS wherever a call's ARN points: Slipway's own account and Region, or a target account's."""
        from slipway.aws.accounts import Accounts
        from slipway.aws.ecs import EcsAdapter
        from slipway.aws.fleet import EcsFleet

        def adapter(place: Place, credentials: dict[str, str] | None) -> EcsAdapter:
            at_home = place == self.home
            ecs = self.client("ecs", region=None if at_home else place.region, credentials=credentials)
            scope = None if at_home else str(place)  # home keeps its Region's buckets
            return EcsAdapter(ecs, self.pacer, self.caller("ecs", ecs, scope), None if at_home else place)

        return EcsFleet(self.home, Accounts(self.home, self.target_roles, adapter).reach)

    @cached_property
    def target_roles(self) -> TargetRoles:
        import os

        from slipway.aws.sts import TargetRoles

        sts = self.client("sts")
        session = f"slipway-{os.environ.get('AWS_LAMBDA_FUNCTION_NAME', 'cli')}"
        partition = self._session.get_partition_for_region(self.home.region) if self.home.region else "aws"
        return TargetRoles(sts, self.settings.target_role_name, session, partition, self.caller("sts", sts))

    @cached_property
    def rules(self) -> ParameterStoreRules:
        from slipway.aws.ssm import ParameterStoreRules

        ssm = self.client("ssm")
        settings = self.settings
        cache = settings.rules_cache_seconds
        return ParameterStoreRules(settings.rules_path, cache, ssm, self.caller("ssm", ssm), home=self.home)

    @cached_property
    def dynamodb(self) -> Any:
        # The store's requests are built from typed records; DynamoDB checks them itself.
        return self.client("dynamodb", validate=False)

    @cached_property
    def store(self) -> DynamoStore:
        from slipway.aws.store import DynamoStore

        retention = self.settings.history_retention_days
        return DynamoStore(self.settings.table_name, retention, self.dynamodb, self.caller("dynamodb", self.dynamodb))

    @cached_property
    def notifier(self) -> SnsNotifier:
        from slipway.aws.sns import SnsNotifier
        from slipway.telemetry import count

        sns = self.client("sns")
        return SnsNotifier(
            self.settings.topic_arn,
            sns,
            self.caller("sns", sns),
            home=self.home,
            chat_topic_arn=self.settings.chat_topic_arn,
            count=count,
        )

    @cached_property
    def queue(self) -> SqsWorkQueue | None:
        """The work queue continuations go to; None without one (handed-on work is then retried)."""
        from slipway.aws.sqs import SqsWorkQueue

        if not self.settings.work_queue_url:
            return None
        sqs = self.client("sqs")
        return SqsWorkQueue(self.settings.work_queue_url, sqs, self.caller("sqs", sqs))

    @cached_property
    def registry(self) -> EcrRegistry:
        from slipway.aws.ecr import EcrRegistry

        ecr = self.client("ecr")
        return EcrRegistry(ecr, self.caller("ecr", ecr))

    @cached_property
    def image_checks(self) -> EcrImageChecks:
        """ECR's scan findings and signing status of pushed digests, in the push's own Region."""
        from slipway.aws.ecr import EcrImageChecks

        def regional(region: str | None) -> tuple[Any, Caller]:
            at_home = region in (None, self.home.region)
            ecr = self.client("ecr", region=None if at_home else region)
            return ecr, self.caller("ecr", ecr)

        return EcrImageChecks(regional)

    @cached_property
    def scheduled(self) -> ScheduledMover:
        """Moves schedules' and events rules' ECS targets (in Slipway's own account and Region)."""
        from slipway.aws.events_rules import EventRulesAdapter
        from slipway.aws.scheduler import SchedulerAdapter
        from slipway.scheduled import ScheduledMover, ScheduleReach

        scheduler = self.client("scheduler")
        events = self.client("events")
        reach = ScheduleReach(self.reach, self.settings.allowed_schedules, self.settings.allowed_event_rules)
        return ScheduledMover(
            self.ecs,
            SchedulerAdapter(scheduler, self.caller("scheduler", scheduler)),
            EventRulesAdapter(events, self.caller("events", events), self.home.account),
            self.store,
            reach,
            self.clock,
        )

    @cached_property
    def deployer(self) -> Deployer:
        from slipway.deploy import Deployer
        from slipway.telemetry import count

        return Deployer(
            self.ecs,
            self.rules,
            self.store,
            self.notifier,
            queue=self.queue,
            max_concurrency=self.settings.max_concurrency,
            reach=self.reach,
            count=count,
            tracker=self.tracker,
            clock=self.clock,
            gates=self.gates,
            hook_role=self.settings.lifecycle_hook_role_arn or None,
            scheduled=self.scheduled,
            known_revision=self.tasks.revision_for,  # services run the revision their pre-deploy task ran
        )

    @cached_property
    def reconciler(self) -> Reconciler:
        from datetime import timedelta

        from slipway.reconcile import Reconciler
        from slipway.telemetry import count

        lookback = timedelta(minutes=self.settings.reconcile_lookback_minutes)
        return Reconciler(self.rules, self.registry, self.store, self.deployer, self.clock, lookback, count)

    @cached_property
    def gates(self) -> Gatekeeper:
        from slipway.gates import Gatekeeper
        from slipway.image_gates import ImageGates

        images = ImageGates(self.image_checks, self.settings.trusted_signing_profiles)
        return Gatekeeper(self.store, self.clock, images, self.tasks)

    @cached_property
    def tasks(self) -> PreDeployTasks:
        """The rules' pre-deploy tasks: started once per digest and rule, waited for by the holds."""
        from slipway.predeploy import PreDeployTasks

        return PreDeployTasks(self.ecs, self.store, self.clock)

    @cached_property
    def tracker(self) -> Tracker:
        from slipway.telemetry import count
        from slipway.tracking import Tracker

        return Tracker(self.ecs, self.store, self.notifier, clock=self.clock, count=count)

    @cached_property
    def control(self) -> Control:
        from slipway.control import Control

        return Control(self.ecs, self.store)

    @cached_property
    def idempotency(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        from slipway.aws.calls import RetryingClient

        # Powertools calls this client itself: the proxy gives its calls the same retries as the rest.
        return DynamoDBPersistenceLayer(
            table_name=self.settings.table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value="idempotency#deploy",
            boto3_client=RetryingClient(self.dynamodb, self.caller("dynamodb", self.dynamodb)),  # type: ignore[arg-type]
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
