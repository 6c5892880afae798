"""The DynamoDB adapter against moto: batch reads of claims and the atomic rollout record."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from sandbox.faults import Fault, Faults
from sandbox.stack import World
from slipway.aws.store import DynamoStore
from slipway.errors import AwsError, ConditionFailed
from slipway.model import Rollout, ServiceState

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(world: World) -> DynamoStore:
    return DynamoStore(os.environ["SLIPWAY_TABLE_NAME"], dynamodb_client=world.dynamodb)


def state(key: str, generation: int = 1, status: str = "PENDING", rollout_id: str = "r-1") -> ServiceState:
    return ServiceState(
        key=key,
        generation=generation,
        rollout_id=rollout_id,
        event_id="evt-1",
        digest="sha256:" + "b" * 64,
        tag="1.5.0",
        status=status,
        claimed_at=NOW,
        previous_task_definition="arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1",
        task_definition="arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2",
    )


def rollout(key: str = "prod/web", rollout_id: str = "r-1") -> Rollout:
    cluster, service = key.split("/")
    return Rollout(
        rollout_id=rollout_id,
        key=key,
        cluster=cluster,
        service=service,
        service_arn=f"arn:aws:ecs:eu-west-1:123456789012:service/{cluster}/{service}",
        repository="web",
        tag="1.5.0",
        digest="sha256:" + "b" * 64,
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "b" * 64,
        rule="prod",
        launch_type="FARGATE",
        task_definition="arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2",
        previous_task_definition="arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1",
        deployment_id="ecs-svc/1234",
        status="DEPLOYING",
        reason="UpdateService accepted the new revision",
        started_at=NOW,
        event_id="evt-1",
    )


def test_store_get_states_reads_past_one_batch_and_leaves_out_services_without_state(store: DynamoStore) -> None:
    # GIVEN 150 services with a state (more than one BatchGetItem holds) and 30 without
    stored = {f"c{i % 3}/svc-{i}": state(f"c{i % 3}/svc-{i}", generation=i + 1) for i in range(150)}
    for item in stored.values():
        store.put_state(item, None)
    keys = [*stored, *(f"c0/none-{i}" for i in range(30))]

    states = store.get_states(keys)

    assert states == stored


def test_store_get_states_of_no_keys_calls_nothing(world: World) -> None:
    faults = Faults()
    store = DynamoStore(os.environ["SLIPWAY_TABLE_NAME"], dynamodb_client=faults.session().client("dynamodb"))

    assert store.get_states([]) == {}
    assert faults.calls["dynamodb.BatchGetItem"] == 0


def test_store_get_states_is_one_call_per_hundred_keys(world: World) -> None:
    faults = Faults()
    store = DynamoStore(os.environ["SLIPWAY_TABLE_NAME"], dynamodb_client=faults.session().client("dynamodb"))

    store.get_states(f"prod/svc-{i}" for i in range(250))

    assert faults.calls["dynamodb.BatchGetItem"] == 3


def test_store_put_rollout_with_state_writes_history_and_state_together(store: DynamoStore) -> None:
    claim = state("prod/web", generation=2, status="REGISTERED")
    store.put_state(claim, None)
    deploying = ServiceState(**{**claim.__dict__, "generation": 3, "status": "DEPLOYING"})

    store.put_rollout(rollout(), deploying, expected_generation=2)

    assert store.get_state("prod/web") == deploying
    assert [r.rollout_id for r in store.history("prod/web")] == ["r-1"]
    assert store.get_rollout("r-1") is not None


def test_store_put_rollout_with_stale_generation_writes_nothing(store: DynamoStore) -> None:
    # GIVEN another writer moved the service's state on to generation 5
    newer = state("prod/web", generation=5, rollout_id="r-newer")
    store.put_state(newer, None)
    deploying = state("prod/web", generation=3, status="DEPLOYING")

    with pytest.raises(ConditionFailed):
        store.put_rollout(rollout(), deploying, expected_generation=2)

    # THEN neither the history nor the state changed: the transaction is all or nothing
    assert store.get_state("prod/web") == newer
    assert store.history("prod/web") == []
    assert store.get_rollout("r-1") is None


def test_store_put_rollout_access_denied_is_an_aws_error_not_a_conflict(world: World) -> None:
    faults = Faults()
    store = DynamoStore(os.environ["SLIPWAY_TABLE_NAME"], dynamodb_client=faults.session().client("dynamodb"))
    faults.fail("dynamodb.TransactWriteItems", Fault("AccessDeniedException", 400, "not authorized"))

    with pytest.raises(AwsError) as raised:
        store.put_rollout(rollout(), state("prod/web", status="DEPLOYING"), expected_generation=None)

    assert (raised.value.operation, raised.value.code) == ("TransactWriteItems", "AccessDeniedException")


def test_store_put_states_writes_its_transactions_concurrently_and_returns_only_a_failed_one(
    store: DynamoStore,
) -> None:
    # GIVEN 250 claims (three transactions of up to 100), one of which is stale
    stale_key = "c0/svc-150"
    store.put_state(state(stale_key, generation=7, rollout_id="r-other"), None)
    writes = [(state(f"c{i % 3}/svc-{i}", rollout_id=f"r-{i}"), None) for i in range(250)]

    failed = store.put_states(writes)

    # THEN only the transaction holding the stale claim (services 100-199) is returned, none of it written
    assert sorted(s.key for s, _ in failed) == sorted(f"c{i % 3}/svc-{i}" for i in range(100, 200))
    written = store.get_states(f"c{i % 3}/svc-{i}" for i in range(250))
    assert sorted(written) == sorted({*(f"c{i % 3}/svc-{i}" for i in (*range(100), *range(200, 250))), stale_key})
    assert written[stale_key].rollout_id == "r-other"
