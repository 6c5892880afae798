"""Fuzz the edges: any event or rule value either parses or fails with Slipway's own clear error."""

from __future__ import annotations

import json
import re
import string
from typing import Any

import botocore.session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from slipway.events import DIGEST, REPOSITORY, TAG, EcrImageActionEvent
from slipway.intake import PushRejected, push_from_event, rejection_notice
from slipway.places import Place
from slipway.rules import Rule, RuleInvalid, parse_rule

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
RULE_KEYS = [
    "targets",
    "tags",
    "semver",
    "enabled",
    "allow_downgrade",
    "circuit_breaker",
    "alarms",
    "promote_from",
    "soak_minutes",
    "freeze",
    "deploy_after_freeze",
    "max_parallel",
    "approval",
    "tag",
    "target",
]
rule_documents = st.dictionaries(st.sampled_from(RULE_KEYS), json_values, max_size=6) | json_values
names = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12)
targets = st.fixed_dictionaries({"cluster": names, "service": names}, optional={"container": names})


@settings(max_examples=300, deadline=None)
@given(document=rule_documents)
def test_fuzz_rule_any_json_parses_or_is_rule_invalid(document: Any) -> None:
    try:
        rule = parse_rule("web", "prod", "/slipway/rules/web/prod", json.dumps(document))
    except RuleInvalid as invalid:
        assert invalid.problems and all(isinstance(p, str) and ": " in p for p in invalid.problems)
        return
    assert isinstance(rule, Rule) and rule.spec.targets


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_fuzz_rule_any_text_parses_or_is_rule_invalid(text: str) -> None:
    try:
        parse_rule("web", "prod", "/slipway/rules/web/prod", text)
    except RuleInvalid as invalid:
        assert invalid.problems


@settings(max_examples=200, deadline=None)
@given(
    document=st.fixed_dictionaries(
        {"targets": st.lists(targets, min_size=1, max_size=3, unique_by=lambda t: (t["cluster"], t["service"]))},
        optional={"tags": st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=3), "enabled": st.booleans()},
    ),
    tag=st.from_regex(TAG, fullmatch=True),
)
def test_fuzz_rule_valid_documents_match_any_tag_without_error(document: dict[str, Any], tag: str) -> None:
    rule = parse_rule("web", "prod", "/slipway/rules/web/prod", json.dumps(document))
    match = rule.match(tag)
    assert isinstance(match.matched, bool) and match.reason


def ecr_event(detail: Any, **top: Any) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": "11111111-2222-3333-4444-555555555555",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": "123456789012",
        "time": "2026-11-27T10:15:30Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }
    event.update(top)
    return event


details = st.fixed_dictionaries(
    {},
    optional={
        "result": st.sampled_from(["SUCCESS", "FAILURE"]) | json_scalars,
        "action-type": st.sampled_from(["PUSH", "DELETE"]) | json_scalars,
        "repository-name": st.from_regex(REPOSITORY, fullmatch=True) | json_scalars,
        "image-digest": st.from_regex(DIGEST, fullmatch=True) | json_scalars,
        "image-tag": st.from_regex(TAG, fullmatch=True) | json_scalars,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(detail=details | json_values, account=st.sampled_from(["123456789012", "210987654321"]) | json_scalars)
def test_fuzz_event_parses_to_a_push_or_a_precise_rejection(detail: Any, account: Any) -> None:
    event = ecr_event(detail, account=account)
    try:
        push = push_from_event(EcrImageActionEvent.model_validate(event), Place("123456789012", "eu-west-1"), ())
    except (ValidationError, PushRejected) as problem:
        notice = rejection_notice(event, problem)
        assert notice.status in {"ERROR", "IGNORED"} and notice.reason
        return
    assert DIGEST.match(push.digest) and REPOSITORY.match(push.repository)
    assert push.tag is None or TAG.match(push.tag)
    assert push.image == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{push.repository}@{push.digest}"


# -- names and tags against ECR's own API model ----------------------------------------------
# The oracle is botocore's ECR service model, read at test time, so Slipway's REPOSITORY and
# TAG cannot drift from what ECR declares. ImageTag has no pattern in the model; the
# character class is the one ECR's service enforces ("must satisfy regular expression
# '[a-zA-Z0-9-_.]+'").
ECR_MODEL = botocore.session.get_session().get_service_model("ecr")
REPOSITORY_SHAPE = ECR_MODEL.shape_for("RepositoryName").metadata
TAG_SHAPE = ECR_MODEL.shape_for("ImageTag").metadata
ECR_TAG_CHARACTERS = re.compile(r"[a-zA-Z0-9\-_.]+")


def _accepted(detail_changes: dict[str, Any]) -> bool:
    detail = {
        "result": "SUCCESS",
        "repository-name": "web",
        "image-digest": "sha256:" + "a" * 64,
        "action-type": "PUSH",
        **detail_changes,
    }
    try:
        EcrImageActionEvent.model_validate(ecr_event(detail))
    except ValidationError:
        return False
    return True


def _ecr_allows_repository(name: str) -> bool:
    length_ok = REPOSITORY_SHAPE["min"] <= len(name) <= REPOSITORY_SHAPE["max"]
    return length_ok and re.fullmatch(REPOSITORY_SHAPE["pattern"], name) is not None


def _ecr_allows_tag(tag: str) -> bool:
    return TAG_SHAPE["min"] <= len(tag) <= TAG_SHAPE["max"] and ECR_TAG_CHARACTERS.fullmatch(tag) is not None


def runs_of(character: str, low: int, high: int) -> st.SearchStrategy[str]:
    """One character repeated, for lengths either side of a limit."""
    return st.integers(min_value=low, max_value=high).map(lambda n: character * n)


repository_names = (
    st.text(alphabet="ab0._-/A \n", max_size=14)
    | st.from_regex(REPOSITORY_SHAPE["pattern"], fullmatch=True)
    | runs_of("a", 250, 262)
)
image_tags = st.text(alphabet="aZ9._-/+: \n", min_size=1, max_size=14) | runs_of("v", 290, 310)


@settings(max_examples=200, deadline=None)
@given(name=repository_names)
def test_fuzz_repository_name_accepted_iff_ecr_model_allows_it(name: str) -> None:
    assert _accepted({"repository-name": name}) is _ecr_allows_repository(name)


@settings(max_examples=500, deadline=None)
@given(tag=image_tags)
def test_fuzz_image_tag_accepted_iff_ecr_allows_it(tag: str) -> None:
    assert _accepted({"image-tag": tag}) is _ecr_allows_tag(tag)


@settings(max_examples=60, deadline=None)
@given(name=st.from_regex(REPOSITORY, fullmatch=True), tag=st.from_regex(TAG, fullmatch=True))
def test_fuzz_slipway_grammar_is_within_ecr_model(name: str, tag: str) -> None:
    # Every name and tag Slipway's own patterns generate is one ECR allows (the length
    # bounds are checked beside the patterns, so only the pattern side is generated here).
    assert re.fullmatch(REPOSITORY_SHAPE["pattern"], name)
    assert _ecr_allows_tag(tag)
