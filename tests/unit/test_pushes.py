"""The order of pushes: the newest per rule, and a push received by its event or the reconcile, once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from slipway.model import RECONCILE
from slipway.pushes import EVENT, PushMark, PushOrder, RuleLatest, covered, newer
from tests.unit.fakes import NOW, FakeStore, digest, make_push, make_rule


def latest(tag: str | None, event_id: str = "evt-0", minutes: float = 0) -> RuleLatest:
    return RuleLatest("web", "main", event_id, tag, digest("c"), NOW + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("tag", "their_tag", "minutes", "expected"),
    [
        ("1.6.0", "1.5.0", 10, True),  # a higher version wins, whenever it was pushed
        ("1.5.0", "1.6.0", -10, False),
        ("latest", "main-abc", -1, True),  # not versions: the later push wins
        ("latest", "main-abc", 1, False),
        ("1.6.0", "main-abc", 1, False),  # one of them no version: the time decides
        ("1.5.0", "1.5.0", 0, True),  # the same version pushed again at the same time: the later one seen
    ],
)
def test_newer_orders_by_version_then_by_push_time(tag: str, their_tag: str, minutes: float, expected: bool) -> None:
    assert newer(make_push(tag), latest(their_tag, minutes=minutes), by_version=True) is expected


def test_newer_by_time_only_when_the_rule_allows_downgrades() -> None:
    assert newer(make_push("1.5.0"), latest("1.6.0", minutes=-1), by_version=False)


def test_push_order_admit_keeps_the_newer_push() -> None:
    store = FakeStore()
    order = PushOrder(store)
    rule = make_rule()

    assert order.admit(make_push("1.5.0", event_id="evt-1"), rule) is None
    assert order.admit(make_push("1.6.0", event_id="evt-2"), rule) is None
    stopped = order.admit(make_push("1.5.5", event_id="evt-3"), rule)

    assert stopped is not None and stopped.event_id == "evt-2"
    assert store.latest[("web", "main")].tag == "1.6.0"


def test_push_order_superseded_by_names_the_newer_push_only() -> None:
    store = FakeStore()
    order = PushOrder(store)
    rule = make_rule()
    older, newer_push = make_push("1.5.0", event_id="evt-1"), make_push("1.6.0", event_id="evt-2")
    order.admit(older, rule)

    assert order.superseded_by(older, rule) is None
    order.admit(newer_push, rule)
    by = order.superseded_by(older, rule)
    assert by is not None and by.tag == "1.6.0"
    assert order.superseded_by(newer_push, rule) is None


def mark(source: str, event_id: str, minutes: float = 0, received: float = 0) -> PushMark:
    return PushMark(
        "web",
        digest("b"),
        "1.5.0",
        event_id,
        source,
        NOW + timedelta(minutes=minutes),
        NOW + timedelta(minutes=received),
    )


def test_covered_late_event_of_a_reconciled_push_is_covered() -> None:
    assert covered(mark(EVENT, "evt-1"), mark(RECONCILE, "reconcile-1", minutes=0.1))


def test_covered_event_after_an_earlier_event_of_the_same_digest_and_tag_is_a_push_of_its_own() -> None:
    assert not covered(mark(EVENT, "evt-2", minutes=30), mark(EVENT, "evt-1"))


def test_covered_reconcile_of_a_push_received_since_it_was_pushed_is_covered() -> None:
    assert covered(mark(RECONCILE, "reconcile-1"), mark(EVENT, "evt-1", received=0.5))


def test_covered_reconcile_of_a_push_pushed_again_after_the_last_mark_is_not() -> None:
    assert not covered(mark(RECONCILE, "reconcile-2", minutes=60), mark(EVENT, "evt-1"))


def test_covered_same_event_again_goes_on_but_a_push_reconciled_once_is_done() -> None:
    assert not covered(mark(EVENT, "evt-1"), mark(EVENT, "evt-1"))
    assert covered(mark(RECONCILE, "reconcile-1"), mark(RECONCILE, "reconcile-1"))


def test_push_order_receive_first_path_wins_the_other_is_told() -> None:
    store = FakeStore()
    order = PushOrder(store)

    assert order.receive(mark(RECONCILE, "reconcile-1")) is None
    first = order.receive(mark(EVENT, "evt-1"))

    assert first is not None and first.source == RECONCILE
    assert order.receive(mark(RECONCILE, "reconcile-1")) is not None  # found once is done
    assert order.receive(replace(mark(EVENT, "evt-9", minutes=45), received_at=NOW + timedelta(minutes=45))) is None
