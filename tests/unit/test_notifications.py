"""The subscribers' interface: Subject, Message JSON and MessageAttributes."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway.intake import PushRejected, rejection_notice
from slipway.model import Status
from slipway.notifications import Notification, to_subject
from slipway.outcome import Outcome, notification
from slipway.rules import Target
from tests.conftest import load_event
from tests.unit.fakes import NOW, REGISTRY, digest, make_push, make_service

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OLD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7"
NEW = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:8"
CONTRACT_KEYS = {
    "status",
    "repository",
    "tag",
    "digest",
    "image",
    "cluster",
    "service",
    "launch_type",
    "rule",
    "task_definition",
    "previous_task_definition",
    "deployment_id",
    "reason",
    "time",
}


def deploying(repository: str = "web", tag: str = "1.5.0") -> Notification:
    service = make_service(NEW, name="web", cluster="prod", launch_type="FARGATE")
    outcome = Outcome(
        Status.DEPLOYING,
        "UpdateService accepted the new revision",
        rule="main",
        parameter="/slipway/rules/web/main",
        target=Target(cluster="prod", service="web"),
        service=service,
        task_definition=NEW,
        previous_task_definition=OLD,
        deployment_id="ecs-svc/123",
        rollout_id="r-1",
    )
    return notification(make_push(tag, digest("b"), repository=repository), outcome, NOW)


def invalid_rule() -> Notification:
    outcome = Outcome(
        Status.ERROR,
        "invalid rule /slipway/rules/web/broken: targets: required",
        rule="broken",
        parameter="/slipway/rules/web/broken",
        error_code="InvalidRule",
    )
    return notification(make_push("1.5.0"), outcome, NOW)


def printable_ascii(text: str) -> bool:
    return all(32 <= ord(ch) <= 126 for ch in text)


# -- Subject ----------------------------------------------------------------------------


def test_subject_names_status_image_and_service() -> None:
    assert deploying().subject() == "[DEPLOYING] web:1.5.0 -> prod/web"


def test_subject_without_service_names_the_rule() -> None:
    subject = invalid_rule().subject()

    assert subject == "[ERROR] web:1.5.0 -> rule broken"


def test_subject_nested_repository_is_kept_readable() -> None:
    subject = deploying(repository="team/payments-api", tag="v2.0.0").subject()

    assert "[DEPLOYING]" in subject
    assert "team/payments-api:v2.0.0" in subject
    assert "prod/web" in subject


def test_subject_long_values_cut_to_100_characters() -> None:
    subject = deploying(repository="a" * 200 + "/" + "b" * 55, tag="t" * 128).subject()

    assert len(subject) == 100
    assert subject.startswith("[DEPLOYING] aaaa")
    assert subject.endswith("...")


def test_subject_non_ascii_and_line_breaks_are_replaced() -> None:
    subject = to_subject("[ERROR] café\r\nservice\tx")

    assert printable_ascii(subject)
    assert subject == "[ERROR] caf???service?x"


@pytest.mark.parametrize(("length", "expected"), [(99, 99), (100, 100), (101, 100), (106, 100), (500, 100)])
def test_to_subject_cut_exactly_at_100_characters(length: int, expected: int) -> None:
    text = "x" * length

    subject = to_subject(text)

    assert len(subject) == expected
    assert subject.endswith("...") is (length > 100)


@PROPERTY
@given(text=st.text(max_size=400))
def test_to_subject_any_text_gives_at_most_100_printable_ascii(text: str) -> None:
    subject = to_subject(text)

    assert len(subject) <= 100
    assert printable_ascii(subject)


@PROPERTY
@given(text=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=100))
def test_to_subject_short_printable_text_is_unchanged(text: str) -> None:
    assert to_subject(text) == text


@PROPERTY
@given(
    repository=st.from_regex(r"\A[a-z0-9]{1,40}(/[a-z0-9]{1,40}){0,3}\Z"),
    tag=st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z"),
    status=st.sampled_from([s.value for s in Status]),
)
def test_subject_any_push_fits_sns_and_starts_with_status(repository: str, tag: str, status: str) -> None:
    note = deploying(repository=repository, tag=tag).model_copy(update={"status": status})

    subject = note.subject()

    assert len(subject) <= 100
    assert printable_ascii(subject)
    assert subject.startswith(f"[{status}] ")


def test_subject_rejected_push_has_no_python_none() -> None:
    # GIVEN the ERROR notice the deploy function publishes for a push from another account
    event = load_event("ecr-push-other-account.json")
    note = rejection_notice(event, PushRejected("push from account 210987654321 is not from this stack's account"))
    assert note.status == "ERROR"

    subject = note.subject()

    assert "None" not in subject
    assert subject.startswith("[ERROR] web:")


# -- Message ------------------------------------------------------------------------------


def test_message_has_every_contract_key() -> None:
    message = json.loads(deploying().body())

    assert CONTRACT_KEYS - set(message) == set()


def test_message_values_describe_the_rollout() -> None:
    message = json.loads(deploying().body())

    assert message["status"] == "DEPLOYING"
    assert (message["repository"], message["tag"], message["digest"]) == ("web", "1.5.0", digest("b"))
    assert message["image"] == f"{REGISTRY}/web@{digest('b')}"
    assert (message["cluster"], message["service"], message["launch_type"]) == ("prod", "web", "FARGATE")
    assert message["rule"] == "main"
    assert (message["task_definition"], message["previous_task_definition"]) == (NEW, OLD)
    assert message["deployment_id"] == "ecs-svc/123"
    assert message["reason"] == "UpdateService accepted the new revision"
    assert datetime.fromisoformat(message["time"]) == NOW


def test_message_for_invalid_rule_keeps_keys_with_null_service() -> None:
    message = json.loads(invalid_rule().body())

    assert CONTRACT_KEYS - set(message) == set()
    assert message["service"] is None
    assert message["cluster"] is None
    assert message["error_code"] == "InvalidRule"
    assert "targets: required" in message["reason"]


def test_message_cluster_from_target_when_service_unknown() -> None:
    outcome = Outcome(
        Status.ERROR,
        "DescribeServices failed: MISSING",
        rule="main",
        target=Target(cluster="arn:aws:ecs:eu-west-1:123456789012:cluster/prod", service="gone"),
        error_code="MISSING",
    )

    message = json.loads(notification(make_push(), outcome, NOW).body())

    assert (message["cluster"], message["service"]) == ("prod", "gone")
    assert message["launch_type"] is None


# -- MessageAttributes --------------------------------------------------------------------


def test_attributes_are_strings_for_filter_policies() -> None:
    assert deploying().attributes() == {
        "status": {"DataType": "String", "StringValue": "DEPLOYING"},
        "repository": {"DataType": "String", "StringValue": "web"},
        "cluster": {"DataType": "String", "StringValue": "prod"},
        "service": {"DataType": "String", "StringValue": "web"},
        "rule": {"DataType": "String", "StringValue": "main"},
        "account": {"DataType": "String", "StringValue": "123456789012"},
        "region": {"DataType": "String", "StringValue": "eu-west-1"},
    }


def test_attributes_without_value_are_omitted() -> None:
    attributes = invalid_rule().attributes()

    assert set(attributes) == {"status", "repository", "rule"}


def test_attributes_empty_string_is_omitted() -> None:
    note = Notification(status="ERROR", repository="web", rule="", time=NOW)

    assert set(note.attributes()) == {"status", "repository"}


def test_as_entry_is_a_publish_batch_entry() -> None:
    note = deploying()

    entry = note.as_entry("3")

    assert set(entry) == {"Id", "Subject", "Message", "MessageAttributes"}
    assert entry["Id"] == "3"
    assert entry["Subject"] == "[DEPLOYING] web:1.5.0 -> prod/web"
    assert json.loads(entry["Message"])["status"] == "DEPLOYING"
    assert entry["MessageAttributes"]["status"]["StringValue"] == "DEPLOYING"


def test_notification_findings_of_scan_gate_in_body_only_when_set() -> None:
    # GIVEN a push the scan gate skipped with its counts, and one a freeze skipped
    target = Target(cluster="prod", service="web")
    counts = {"CRITICAL": 2, "HIGH": 5, "MEDIUM": 1}
    scanned = Outcome(Status.SKIPPED, "2 CRITICAL findings; the rule allows up to HIGH", target=target, findings=counts)
    frozen = Outcome(Status.SKIPPED, "frozen until 2026-11-27 12:00 UTC", target=target)

    # WHEN their messages are built
    with_findings = json.loads(notification(make_push(), scanned, NOW).body())
    without = json.loads(notification(make_push(), frozen, NOW).body())

    # THEN findings is in the first as ECR counted, and left out of the other
    assert with_findings["findings"] == counts
    assert "findings" not in without
