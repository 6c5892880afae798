"""The SNS adapter: batches of ten, published concurrently, each failure named once."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from slipway.aws.sns import SnsNotifier
from slipway.notifications import Notification
from tests.unit.fakes import NOW

TOPIC = "arn:aws:sns:eu-west-1:123456789012:slipway"


class FakeSns:
    """publish_batch that records each batch, refuses the one holding ``refuse`` and fails entry ``fail``."""

    def __init__(self, refuse: str | None = None, fail: str | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self._refuse, self._fail = refuse, fail
        self._lock = threading.Lock()

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> dict[str, Any]:
        assert TopicArn == TOPIC
        with self._lock:
            self.batches.append(PublishBatchRequestEntries)
        ids = [e["Id"] for e in PublishBatchRequestEntries]
        if self._refuse in ids:
            error = {"Error": {"Code": "AuthorizationError", "Message": "not allowed"}}
            raise ClientError(error, "PublishBatch")  # type: ignore[arg-type]
        failed = [{"Id": i, "Code": "InternalError", "Message": "try again"} for i in ids if i == self._fail]
        return {"Successful": [{"Id": i} for i in ids if i != self._fail], "Failed": failed}


def messages(count: int) -> list[Notification]:
    return [
        Notification(status="DEPLOYING", repository="web", tag="1.5.0", cluster="prod", service=f"svc-{n}", time=NOW)
        for n in range(count)
    ]


def test_sns_notifier_publishes_every_message_once_in_batches_of_ten() -> None:
    sns = FakeSns()

    failures = SnsNotifier(TOPIC, sns).publish(messages(25))

    assert failures == []
    assert sorted(len(b) for b in sns.batches) == [5, 10, 10]
    ids = sorted(int(e["Id"]) for b in sns.batches for e in b)
    assert ids == list(range(25))  # ids are unique across the concurrent batches


def test_sns_notifier_names_each_message_of_a_refused_batch_and_each_failed_entry() -> None:
    # GIVEN the second batch (ids 10-19) is refused and entry 23 of the third fails
    sns = FakeSns(refuse="10", fail="23")

    failures = SnsNotifier(TOPIC, sns).publish(messages(25))

    # THEN the failures name exactly those eleven messages, in order, with the AWS code
    assert len(failures) == 11
    subjects = [f"[DEPLOYING] web:1.5.0 -> prod/svc-{n}" for n in (*range(10, 20), 23)]
    assert all(f.startswith(s + ": ") for f, s in zip(failures, subjects, strict=True)), failures
    assert all("AuthorizationError" in f for f in failures[:10])
    assert "InternalError: try again" in failures[10]


def test_sns_notifier_one_batch_is_published_in_the_calling_thread() -> None:
    sns = FakeSns()
    caller = threading.get_ident()
    threads: list[int] = []
    publish_batch = sns.publish_batch

    def recording(**kwargs: Any) -> dict[str, Any]:
        threads.append(threading.get_ident())
        return publish_batch(**kwargs)

    sns.publish_batch = recording  # type: ignore[method-assign]

    assert SnsNotifier(TOPIC, sns).publish(messages(3)) == []
    assert threads == [caller]
