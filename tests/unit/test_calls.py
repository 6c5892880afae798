"""Every AWS call: a token per attempt, retries to the invocation's deadline, botocore's errors translated."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from slipway import budget
from slipway.aws import calls
from slipway.aws.calls import ATTEMPTS_WITHOUT_DEADLINE, Caller, RetryingClient
from slipway.aws.pacing import Pacer, Quota
from slipway.budget import Budget
from slipway.errors import OUT_OF_TIME, AwsError
from tests.unit.clock import FakeMonotonic


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "told so"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


class Flaky:
    """A call that fails with ``errors`` in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"ok": True, **kwargs}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    monkeypatch.setattr(calls, "backoff_delay", lambda attempt, throttled: 0.1)
    return FakeMonotonic()


def caller(clock: FakeMonotonic, service: str = "ecs", pacer: Pacer | None = None) -> Caller:
    return Caller(service, "eu-west-1", pacer, sleep=clock.sleep)


def test_caller_retries_throttling_past_botocores_five_attempts_while_time_allows(clock: FakeMonotonic) -> None:
    call = Flaky(*[client_error("ThrottlingException") for _ in range(12)])

    with budget.running(Budget(deadline=100.0, clock=clock)):
        answer = caller(clock)("DescribeServices", call, cluster="prod")

    assert answer == {"ok": True, "cluster": "prod"}
    assert call.calls == 13


def test_caller_stops_at_the_work_deadline_with_the_last_error_still_retryable(clock: FakeMonotonic) -> None:
    call = Flaky(*[client_error("ThrottlingException") for _ in range(1000)])

    with budget.running(Budget(deadline=10.0, reserve=5.0, clock=clock)), pytest.raises(AwsError) as raised:
        caller(clock)("RegisterTaskDefinition", call)

    assert raised.value.code == "ThrottlingException" and raised.value.retryable
    assert clock.now <= 5.0  # ECS work stops where the reserve begins
    assert call.calls > 10


def test_caller_finishing_calls_may_use_the_reserve(clock: FakeMonotonic) -> None:
    call = Flaky(*[client_error("ProvisionedThroughputExceededException") for _ in range(80)])

    with budget.running(Budget(deadline=10.0, reserve=5.0, clock=clock)):
        caller(clock, service="dynamodb")("TransactWriteItems", call)

    assert 5.0 < clock.now < 10.0


def test_caller_refused_call_is_raised_at_once_with_its_code(clock: FakeMonotonic) -> None:
    call = Flaky(client_error("AccessDeniedException"))

    with budget.running(Budget(deadline=100.0, clock=clock)), pytest.raises(AwsError) as raised:
        caller(clock)("UpdateService", call)

    assert (raised.value.code, raised.value.operation, raised.value.retryable) == (
        "AccessDeniedException",
        "UpdateService",
        False,
    )
    assert call.calls == 1 and clock.slept == []


def test_caller_timeout_is_retried_as_transient(clock: FakeMonotonic) -> None:
    call = Flaky(ReadTimeoutError(endpoint_url="https://ecs"))

    with budget.running(Budget(deadline=100.0, clock=clock)):
        caller(clock)("UpdateService", call)

    assert call.calls == 2


def test_caller_without_deadline_stops_after_a_fixed_count(clock: FakeMonotonic) -> None:
    call = Flaky(*[client_error("InternalError", 500) for _ in range(100)])

    with pytest.raises(AwsError):
        caller(clock)("DescribeServices", call)

    assert call.calls == ATTEMPTS_WITHOUT_DEADLINE


def test_caller_paces_each_attempt_and_a_throttle_waits_for_a_refill(clock: FakeMonotonic) -> None:
    pacer = Pacer({"ecs": {"RegisterTaskDefinition": Quota(20, 1)}}, clock, clock.sleep)
    call = Flaky(client_error("ThrottlingException"))

    with budget.running(Budget(deadline=100.0, clock=clock)):
        caller(clock, pacer=pacer)("RegisterTaskDefinition", call)

    # the throttle said the account's bucket is empty: the retry waited a full refill (1 s)
    assert call.calls == 2
    assert sum(clock.slept) >= 1.0


def test_caller_no_token_before_the_deadline_makes_no_call(clock: FakeMonotonic) -> None:
    pacer = Pacer({"ecs": {"RegisterTaskDefinition": Quota(1, 0.1)}}, clock, clock.sleep)
    call = Flaky()

    with budget.running(Budget(deadline=5.0, clock=clock)):
        caller(clock, pacer=pacer)("RegisterTaskDefinition", call)
        with pytest.raises(AwsError) as raised:
            caller(clock, pacer=pacer)("RegisterTaskDefinition", call)

    assert raised.value.code == OUT_OF_TIME and raised.value.retryable
    assert call.calls == 1


def test_retrying_client_raises_what_botocore_raised(clock: FakeMonotonic) -> None:
    class Client:
        class meta:
            method_to_api_mapping = {"put_item": "PutItem"}

        exceptions = object()

        def __init__(self) -> None:
            self.put_item = Flaky(
                client_error("ProvisionedThroughputExceededException"), client_error("ConditionalCheckFailedException")
            )

    client = Client()
    proxy = RetryingClient(client, caller(clock, service="dynamodb"))

    with budget.running(Budget(deadline=100.0, clock=clock)), pytest.raises(ClientError) as raised:
        proxy.put_item(TableName="t")

    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert client.put_item.calls == 2
    assert proxy.exceptions is client.exceptions
