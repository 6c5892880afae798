"""The chat topic's messages: AWS's custom-notification schema, for every status Slipway sends."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from slipway.aws.sns import CHAT_FAILURES, SnsNotifier
from slipway.chat import DESCRIPTION_LIMIT, TITLE_LIMIT, chat_entry, chat_message, chat_title, next_steps, thread_id
from slipway.model import Status
from slipway.notifications import Notification
from slipway.places import Place
from slipway.rulecheck import RULE_ACCEPTED, RULE_DELETED, RULE_INVALID
from tests.unit.fakes import NOW

HOME = Place("123456789012", "eu-west-1")
TOPIC = "arn:aws:sns:eu-west-1:123456789012:slipway"
CHAT = "arn:aws:sns:eu-west-1:123456789012:slipway-chat"
ROLLOUT = "06eb0411-60d8-58ac-b613-c88b96c8d077"
PARAMETER = "/slipway/rules/web/prod"


def rollout(status: str, **extra: Any) -> Notification:
    values: dict[str, Any] = {
        "status": status,
        "repository": "web",
        "tag": "1.5.0",
        "cluster": "prod",
        "service": "web",
        "rule": "prod",
        "rollout_id": ROLLOUT,
        "reason": f"{status.lower()} for a reason",
        "time": NOW,
    }
    return Notification(**{**values, **extra})


def rule_event(status: str, **extra: Any) -> Notification:
    values: dict[str, Any] = {"status": status, "repository": "web", "rule": "prod", "parameter": PARAMETER}
    return Notification(**{**values, "reason": "rule is valid and every target exists", "time": NOW, **extra})


# One message of every status Slipway sends (model.Status and the rule checker's).
EVERY_STATUS = {
    **{status.value: rollout(status.value) for status in Status},
    "ERROR (invalid rule)": Notification(status="ERROR", repository="web", tag="1.4.2", rule="canary", time=NOW),
    "ERROR (rejected event)": Notification(status="ERROR", reason="not an ECR push", event_id="x", time=NOW),
    RULE_INVALID: rule_event(
        RULE_INVALID, reason="targets.0.cluster: required", problems=["targets.0.cluster: required"]
    ),
    RULE_ACCEPTED: rule_event(RULE_ACCEPTED, problems=[]),
    RULE_DELETED: rule_event(RULE_DELETED, reason=f"rule {PARAMETER} was deleted"),
}


# -- the schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("notification", EVERY_STATUS.values(), ids=EVERY_STATUS.keys())
def test_chat_message_every_status_has_the_schemas_required_fields_within_its_lengths(
    notification: Notification,
) -> None:
    message = json.loads(json.dumps(chat_message(notification, HOME)))  # what SNS carries

    assert message["version"] == "1.0"
    assert message["source"] == "custom"
    content, metadata = message["content"], message["metadata"]
    assert content["textType"] == "client-markdown"
    assert content["description"] and len(content["description"]) <= DESCRIPTION_LIMIT
    assert content["title"].startswith(notification.status) and len(content["title"]) <= TITLE_LIMIT
    assert all(isinstance(step, str) and step for step in content.get("nextSteps", []))
    assert all(isinstance(keyword, str) and keyword for keyword in content["keywords"])
    assert metadata["threadId"] and metadata["eventType"] == notification.status
    assert all(isinstance(value, str) for value in metadata["additionalContext"].values())
    assert all(isinstance(resource, str) for resource in metadata["relatedResources"])


def test_chat_title_names_status_image_and_service() -> None:
    assert chat_title(rollout("ROLLED_BACK"), HOME) == "ROLLED_BACK web:1.5.0 on prod/web"


def test_chat_title_service_in_another_account_names_account_and_region() -> None:
    elsewhere = rollout("SUCCEEDED", account="333344445555", region="eu-west-2")

    assert chat_title(elsewhere, HOME) == "SUCCEEDED web:1.5.0 on prod/web in 333344445555 eu-west-2"
    assert chat_message(rollout("SUCCEEDED"), HOME)["content"]["title"] == "SUCCEEDED web:1.5.0 on prod/web"


def test_chat_title_without_a_service_names_the_rule() -> None:
    assert chat_title(EVERY_STATUS["ERROR (invalid rule)"], HOME) == "ERROR web:1.4.2 for rule canary"
    assert chat_title(EVERY_STATUS[RULE_DELETED], HOME) == "RULE_DELETED web for rule prod"


def test_chat_title_longer_than_the_limit_is_cut_with_an_ellipsis() -> None:
    long = rollout("FAILED", service="s" * 400)

    title = chat_title(long, HOME)

    assert len(title) == TITLE_LIMIT
    assert title.startswith("FAILED web:1.5.0 on prod/sss") and title.endswith("...")


def test_chat_description_is_the_reason_then_each_stopped_task() -> None:
    stopped = ["task a1: Essential container in task exited; container app: exit code 1", "task b2: OutOfMemory"]

    description = chat_message(rollout("FAILED", stopped_reasons=stopped), HOME)["content"]["description"]

    assert description.splitlines() == [
        "failed for a reason",
        "",
        "Stopped tasks:",
        f"• {stopped[0]}",
        f"• {stopped[1]}",
    ]


def test_chat_description_longer_than_the_limit_is_cut_with_an_ellipsis() -> None:
    description = chat_message(rollout("FAILED", reason="x" * 10_000), HOME)["content"]["description"]

    assert len(description) == DESCRIPTION_LIMIT and description.endswith("...")


def test_chat_description_of_an_invalid_rule_lists_each_problem_once() -> None:
    problems = ["targets.0.cluster: required", "strategy: unknown"]
    invalid = rule_event(RULE_INVALID, reason="; ".join(problems), problems=problems)

    description = chat_message(invalid, HOME)["content"]["description"]

    assert description.splitlines() == ["Problems:", *(f"• {p}" for p in problems)]


# -- next steps and threads ------------------------------------------------------------------------

HISTORY, ROLLBACK, APPROVE = "slipway history prod/web", "slipway rollback prod/web", f"slipway approve {ROLLOUT}"


@pytest.mark.parametrize(
    ("notification", "steps"),
    [
        (rollout("DEPLOYING"), [HISTORY]),
        (rollout("PROGRESS", stage="BAKE_TIME"), [HISTORY]),
        (rollout("PROGRESS", stage="PRODUCTION_TRAFFIC_SHIFT", hook_id="pause-1"), [APPROVE, HISTORY]),
        (rollout("SKIPPED", held="approval"), [APPROVE, HISTORY]),
        (rollout("SKIPPED", held="freeze"), [HISTORY]),
        (rollout("SUCCEEDED"), [HISTORY]),
        (rollout("FAILED"), [HISTORY, ROLLBACK]),
        (rollout("ROLLED_BACK"), [HISTORY, ROLLBACK]),
        (rollout("TIMED_OUT"), [HISTORY, ROLLBACK]),
        (rollout("SUPERSEDED"), [HISTORY]),
        (rollout("ERROR"), [HISTORY]),
        (EVERY_STATUS["ERROR (invalid rule)"], []),
        (EVERY_STATUS[RULE_INVALID], []),
    ],
    ids=lambda value: value.status if isinstance(value, Notification) else None,
)
def test_next_steps_per_status(notification: Notification, steps: list[str]) -> None:
    assert next_steps(notification) == steps
    assert chat_message(notification, HOME)["content"].get("nextSteps", []) == steps


def test_thread_id_is_the_rollouts_so_each_rollout_is_one_thread() -> None:
    deploying, succeeded = rollout("DEPLOYING"), rollout("SUCCEEDED")
    other = rollout("DEPLOYING", rollout_id="5b0c7f0e-0000-5000-8000-000000000000")

    assert thread_id(deploying) == thread_id(succeeded) == ROLLOUT
    assert thread_id(other) != ROLLOUT


def test_thread_id_of_rule_events_is_the_rule() -> None:
    threads = {thread_id(EVERY_STATUS[status]) for status in (RULE_INVALID, RULE_ACCEPTED, RULE_DELETED)}

    assert threads == {PARAMETER}


# -- the SNS entry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("notification", EVERY_STATUS.values(), ids=EVERY_STATUS.keys())
def test_chat_entry_attributes_and_subject_equal_the_main_topics(notification: Notification) -> None:
    main, chat = notification.as_entry("3", HOME), chat_entry(notification, "3", HOME)

    assert chat["MessageAttributes"] == main["MessageAttributes"]
    assert chat["Subject"] == main["Subject"]
    assert json.loads(chat["Message"]) == chat_message(notification, HOME)


# -- the SNS adapter with a chat topic -------------------------------------------------------------


class FakeSns:
    """publish_batch per topic: records what each topic got, refuses a topic, or fails one entry of one."""

    def __init__(self, refuse: str | None = None, fail: tuple[str, str] | None = None) -> None:
        self.published: dict[str, list[dict[str, Any]]] = {TOPIC: [], CHAT: []}
        self._refuse, self._fail = refuse, fail
        self._lock = threading.Lock()

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(PublishBatchRequestEntries) <= 10
        if TopicArn == self._refuse:
            error = {"Error": {"Code": "AuthorizationError", "Message": "not allowed"}}
            raise ClientError(error, "PublishBatch")  # type: ignore[arg-type]
        failing = {self._fail[1]} if self._fail and self._fail[0] == TopicArn else set()
        accepted = [e for e in PublishBatchRequestEntries if e["Id"] not in failing]
        with self._lock:
            self.published[TopicArn].extend(accepted)
        failed = [{"Id": i, "Code": "InternalError", "Message": "try again"} for i in failing]
        return {"Successful": [{"Id": e["Id"]} for e in accepted], "Failed": failed}


def deploying(count: int) -> list[Notification]:
    return [rollout("DEPLOYING", service=f"svc-{n}", rollout_id=f"rollout-{n}") for n in range(count)]


def counter() -> tuple[dict[str, int], Any]:
    counts: dict[str, int] = {}

    def count(name: str, value: int) -> None:
        counts[name] = counts.get(name, 0) + value

    return counts, count


def test_sns_notifier_with_chat_topic_publishes_each_message_to_both_topics() -> None:
    sns = FakeSns()
    messages = deploying(25)

    failures = SnsNotifier(TOPIC, sns, home=HOME, chat_topic_arn=CHAT).publish(messages)

    assert failures == []
    main = [json.loads(e["Message"]) for e in sns.published[TOPIC]]
    chat = [json.loads(e["Message"]) for e in sns.published[CHAT]]
    assert sorted(m["rollout_id"] for m in main) == sorted(m.rollout_id for m in messages)
    assert sorted(c["metadata"]["threadId"] for c in chat) == sorted(m.rollout_id for m in messages)
    assert all(c["source"] == "custom" for c in chat)


def test_sns_notifier_without_chat_topic_publishes_only_to_the_main_topic() -> None:
    sns = FakeSns()

    SnsNotifier(TOPIC, sns, home=HOME).publish(deploying(3))

    assert len(sns.published[TOPIC]) == 3 and sns.published[CHAT] == []


def test_sns_notifier_chat_topic_refusing_keeps_main_messages_and_counts_the_failures() -> None:
    # GIVEN a chat topic that refuses every batch
    sns = FakeSns(refuse=CHAT)
    counts, count = counter()

    # WHEN twelve messages are published
    results = SnsNotifier(TOPIC, sns, home=HOME, chat_topic_arn=CHAT, count=count).publish_each(deploying(12))

    # THEN the main topic has all twelve and the caller sees no failure (it would publish them again),
    # while the chat failures are counted
    assert results == [None] * 12
    assert len(sns.published[TOPIC]) == 12
    assert counts == {CHAT_FAILURES: 12}


def test_sns_notifier_chat_entry_failing_is_counted_once() -> None:
    sns = FakeSns(fail=(CHAT, "1"))
    counts, count = counter()

    results = SnsNotifier(TOPIC, sns, home=HOME, chat_topic_arn=CHAT, count=count).publish_each(deploying(3))

    assert results == [None, None, None]
    assert len(sns.published[CHAT]) == 2
    assert counts == {CHAT_FAILURES: 1}


def test_sns_notifier_message_the_main_topic_refused_does_not_go_to_chat() -> None:
    # GIVEN the main topic fails entry 1: the caller will publish that message again
    sns = FakeSns(fail=(TOPIC, "1"))
    counts, count = counter()
    messages = deploying(3)

    results = SnsNotifier(TOPIC, sns, home=HOME, chat_topic_arn=CHAT, count=count).publish_each(messages)

    # THEN the failure is the main topic's, and the chat channel gets that message only when it goes out
    assert [r is None for r in results] == [True, False, True]
    chat_threads = [json.loads(e["Message"])["metadata"]["threadId"] for e in sns.published[CHAT]]
    assert sorted(chat_threads) == ["rollout-0", "rollout-2"]
    assert counts == {}
