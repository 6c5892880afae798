"""Client-side token buckets: ECS's quotas kept per action, on a clock tests move."""

from __future__ import annotations

import pytest

from slipway.aws.pacing import ECS_QUOTAS, Pacer, Quota, TokenBucket, ecs_quotas, parse_quotas
from tests.unit.clock import FakeMonotonic


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic(1000.0)


def test_token_bucket_burst_goes_at_once_then_one_per_refill(clock: FakeMonotonic) -> None:
    bucket = TokenBucket(Quota(burst=3, rate=2), clock)

    waits = [bucket.reserve() for _ in range(5)]

    # three from the burst, then the fourth and fifth half a second apart (2 tokens a second)
    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0]


def test_token_bucket_refills_with_time_up_to_its_burst(clock: FakeMonotonic) -> None:
    bucket = TokenBucket(Quota(burst=2, rate=1), clock)
    bucket.reserve()
    bucket.reserve()

    clock.now += 10  # ten seconds idle refill only up to the burst of two

    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 1.0]


def test_token_bucket_drain_makes_the_next_request_wait_for_a_refill(clock: FakeMonotonic) -> None:
    bucket = TokenBucket(Quota(burst=20, rate=1), clock)

    bucket.drain()  # a throttled answer: the account's bucket is empty

    assert bucket.reserve() == 1.0


def test_token_bucket_give_back_returns_a_reservation(clock: FakeMonotonic) -> None:
    bucket = TokenBucket(Quota(burst=1, rate=1), clock)
    bucket.reserve()
    assert bucket.reserve() == 1.0

    bucket.give_back()

    assert bucket.reserve() == 1.0  # the second reservation was returned: the next waits as it did


def test_token_bucket_eta_counts_the_reserved_tokens(clock: FakeMonotonic) -> None:
    bucket = TokenBucket(Quota(burst=20, rate=1), clock)
    for _ in range(20):
        bucket.reserve()

    assert bucket.eta(1) == 1.0
    assert bucket.eta(10) == 10.0
    clock.now += 4
    assert bucket.eta(10) == 6.0


def test_pacer_acquire_sleeps_until_the_token_comes(clock: FakeMonotonic) -> None:
    pacer = Pacer({"ecs": {"RegisterTaskDefinition": Quota(1, 1)}}, clock, clock.sleep)

    assert pacer.acquire("eu-west-1", "ecs", "RegisterTaskDefinition", within=None)
    assert pacer.acquire("eu-west-1", "ecs", "RegisterTaskDefinition", within=None)

    assert clock.slept == [1.0]


def test_pacer_acquire_past_the_deadline_takes_no_token(clock: FakeMonotonic) -> None:
    pacer = Pacer({"ecs": {"RegisterTaskDefinition": Quota(1, 1)}}, clock, clock.sleep)
    pacer.acquire("eu-west-1", "ecs", "RegisterTaskDefinition", within=None)

    assert not pacer.acquire("eu-west-1", "ecs", "RegisterTaskDefinition", within=0.5)

    assert clock.slept == []
    assert pacer.eta("eu-west-1", "ecs", "RegisterTaskDefinition", 1) == 1.0  # the token is still there to take


def test_pacer_buckets_are_per_action_and_region(clock: FakeMonotonic) -> None:
    pacer = Pacer(ecs_quotas(), clock, clock.sleep)
    for _ in range(20):
        pacer.acquire("eu-west-1", "ecs", "RegisterTaskDefinition", None)

    assert pacer.eta("eu-west-1", "ecs", "RegisterTaskDefinition", 1) == 1.0
    assert pacer.eta("eu-west-1", "ecs", "UpdateService", 50) == 0.0
    assert pacer.eta("us-east-1", "ecs", "RegisterTaskDefinition", 20) == 0.0


def test_pacer_unpaced_action_goes_at_once(clock: FakeMonotonic) -> None:
    pacer = Pacer(ecs_quotas(), clock, clock.sleep)

    assert all(pacer.acquire("eu-west-1", "dynamodb", "PutItem", clock.now) for _ in range(1000))
    assert clock.slept == []


def test_ecs_quotas_are_the_documented_table_with_overrides() -> None:
    quotas = ecs_quotas({"RegisterTaskDefinition": Quota(40, 2)})["ecs"]

    assert quotas["RegisterTaskDefinition"] == Quota(40, 2)
    assert quotas["UpdateService"] == Quota(50, 5) == ECS_QUOTAS["UpdateService"]
    assert ECS_QUOTAS["DescribeServices"] == Quota(100, 20)
    assert ECS_QUOTAS["DescribeTaskDefinition"] == Quota(50, 20)


def test_parse_quotas_reads_action_burst_rate_entries() -> None:
    assert parse_quotas("RegisterTaskDefinition:40:2, UpdateService:100:10.5") == {
        "RegisterTaskDefinition": Quota(40, 2.0),
        "UpdateService": Quota(100, 10.5),
    }
    assert parse_quotas("") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("RegisterTaskDefinition:40", "is not Action:burst:rate"),
        ("StartTask:10:1", "is not an ECS action Slipway paces"),
        ("UpdateService:ten:1", "burst must be a whole number"),
        ("UpdateService:0:1", "burst must be at least 1"),
        ("UpdateService:10:0", "rate above 0"),
    ],
)
def test_parse_quotas_bad_entry_is_a_clear_error(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_quotas(text)
