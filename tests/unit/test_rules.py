"""Rule format, validation messages and tag matching."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from slipway.places import Place
from slipway.rules import MAX_RULE_BYTES, RuleInvalid, parse_rule, rule_parameter, split_parameter
from tests.unit.fakes import ACCOUNT, REGION, RULES_PATH, cluster_arn, make_rule

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PARAMETER = f"{RULES_PATH}/web/main"
HOME = Place(ACCOUNT, REGION)
WEB = {"cluster": "prod", "service": "web"}

# Image tags as Docker spells them: a word character, then up to 127 of [A-Za-z0-9_.-].
docker_tags = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}\Z")


def parse(value: str | dict[str, Any], home: Place | None = HOME) -> Any:
    text = value if isinstance(value, str) else json.dumps(value)
    return parse_rule("web", "main", PARAMETER, text, home=home)


def problems_of(value: str | dict[str, Any]) -> list[str]:
    with pytest.raises(RuleInvalid) as raised:
        parse(value)
    assert raised.value.parameter == PARAMETER
    return raised.value.problems


# -- format and defaults ---------------------------------------------------------------


def test_parse_rule_minimal_rule_gets_documented_defaults() -> None:
    rule = parse({"targets": [WEB]})

    assert rule.spec.tags is None
    assert rule.spec.semver is None
    assert rule.spec.enabled is True
    assert rule.spec.allow_downgrade is False
    assert (rule.spec.circuit_breaker.enable, rule.spec.circuit_breaker.rollback) == (True, True)
    assert rule.spec.alarms is None
    assert (rule.repository, rule.name, rule.parameter) == ("web", "main", PARAMETER)


def test_parse_rule_every_key_set_is_kept() -> None:
    rule = parse(
        {
            "targets": [
                {"cluster": "prod", "service": "web", "container": "app"},
                {"cluster": cluster_arn("staging"), "service": "web-canary"},
            ],
            "tags": ["v*", "release-*"],
            "semver": ">=1.4.0,<2.0.0",
            "enabled": False,
            "allow_downgrade": True,
            "circuit_breaker": {"enable": True, "rollback": False},
            "alarms": ["web-5xx", "web-latency"],
        }
    )

    assert [t.key for t in rule.spec.targets] == ["prod/web", "staging/web-canary"]
    assert rule.spec.targets[0].container == "app"
    assert rule.spec.targets[1].container is None
    assert rule.spec.tags == ["v*", "release-*"]
    assert rule.spec.semver == ">=1.4.0,<2.0.0"
    assert rule.spec.enabled is False
    assert rule.spec.allow_downgrade is True
    assert rule.spec.circuit_breaker.rollback is False
    assert rule.spec.alarms == ["web-5xx", "web-latency"]


def test_parse_rule_cluster_arn_of_the_home_reads_as_its_name() -> None:
    target = parse({"targets": [{"cluster": cluster_arn("prod"), "service": "web"}]}).spec.targets[0]

    assert (target.cluster, target.cluster_name, target.place) == ("prod", "prod", None)
    assert target.key == "prod/web"


def test_parse_rule_cluster_arn_elsewhere_keeps_its_place_and_a_qualified_key() -> None:
    arn = "arn:aws:ecs:eu-west-2:333344445555:cluster/prod"
    target = parse({"targets": [{"cluster": arn, "service": "web"}]}).spec.targets[0]

    assert (target.cluster_name, target.place) == ("prod", Place("333344445555", "eu-west-2"))
    assert target.key == "333344445555:eu-west-2:prod/web"
    assert target.at(HOME) == Place("333344445555", "eu-west-2")


def test_parse_rule_without_a_home_keeps_every_cluster_arn() -> None:
    target = parse({"targets": [{"cluster": cluster_arn("prod"), "service": "web"}]}, home=None).spec.targets[0]

    assert target.place == HOME
    assert target.key == f"{ACCOUNT}:{REGION}:prod/web"


def test_parse_rule_cluster_name_has_no_account_or_region() -> None:
    target = parse({"targets": [WEB]}).spec.targets[0]

    assert (target.cluster_name, target.place, target.at(HOME)) == ("prod", None, HOME)


# -- validation messages ---------------------------------------------------------------


def test_parse_rule_misspelt_key_is_unknown_with_suggestion() -> None:
    assert problems_of({"targets": [WEB], "tag": ["v*"]}) == ['$: unknown key "tag" (did you mean "tags"?)']


def test_parse_rule_unrelated_unknown_key_lists_known_keys() -> None:
    (problem,) = problems_of({"targets": [WEB], "xyzzy": 1})

    assert problem.startswith('$: unknown key "xyzzy" (known keys: ')
    for key in ("targets", "tags", "semver", "enabled", "allow_downgrade", "circuit_breaker", "alarms"):
        assert key in problem


def test_parse_rule_unknown_key_in_target_names_the_target() -> None:
    value = {"targets": [WEB, {"cluster": "prod", "service": "api", "containr": "app"}]}

    assert problems_of(value) == ['targets[1]: unknown key "containr" (did you mean "container"?)']


def test_parse_rule_unknown_key_in_circuit_breaker_names_it() -> None:
    value = {"targets": [WEB], "circuit_breaker": {"enabled": True}}

    assert problems_of(value) == ['circuit_breaker: unknown key "enabled" (did you mean "enable"?)']


def test_parse_rule_target_without_service_is_required_at_its_path() -> None:
    assert problems_of({"targets": [WEB, {"cluster": "prod"}]}) == ["targets[1].service: required"]


def test_parse_rule_without_targets_is_required() -> None:
    assert problems_of({"tags": ["v*"]}) == ["targets: required"]


@pytest.mark.parametrize("targets", [[], "prod/web", None, {"cluster": "prod", "service": "web"}])
def test_parse_rule_targets_not_a_non_empty_list_is_invalid(targets: Any) -> None:
    (problem,) = problems_of({"targets": targets})

    assert problem.startswith("targets: ")


def test_parse_rule_every_problem_is_reported_at_once() -> None:
    value = {"targets": [{"cluster": "prod"}], "tag": ["v*"], "semver": "banana"}

    problems = problems_of(value)

    assert "targets[0].service: required" in problems
    assert '$: unknown key "tag" (did you mean "tags"?)' in problems
    assert any(p.startswith("semver: ") for p in problems)
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{not json", re.compile(r"^\$: not valid JSON: .+ at line 1 column 2$")),
        ('{"targets": [\n', re.compile(r"^\$: not valid JSON: .+ at line 2 column 1$")),
        ("", re.compile(r"^\$: not valid JSON: .+ at line 1 column 1$")),
    ],
)
def test_parse_rule_bad_json_reports_where(value: str, expected: re.Pattern[str]) -> None:
    (problem,) = problems_of(value)

    assert expected.match(problem), problem


@pytest.mark.parametrize(
    ("value", "kind"), [("[1, 2]", "list"), ('"targets"', "str"), ("42", "int"), ("null", "NoneType"), ("true", "bool")]
)
def test_parse_rule_json_not_an_object_is_invalid(value: str, kind: str) -> None:
    assert problems_of(value) == [f"$: a rule is a JSON object, not {kind}"]


def test_parse_rule_value_at_size_limit_is_accepted() -> None:
    # GIVEN a valid rule padded with whitespace to exactly the limit
    compact = json.dumps({"targets": [WEB]})
    value = compact + " " * (MAX_RULE_BYTES - len(compact))
    assert len(value.encode()) == 8192

    assert parse(value).spec.targets[0].key == "prod/web"


def test_parse_rule_value_over_size_limit_is_invalid_with_its_size() -> None:
    compact = json.dumps({"targets": [WEB]})
    value = compact + " " * (8193 - len(compact))

    assert problems_of(value) == ["$: rule is 8193 bytes, more than 8192"]


def test_parse_rule_size_limit_counts_bytes_not_characters() -> None:
    # 3000 three-byte characters: 9000+ bytes though far fewer than 8192 characters
    value = json.dumps({"targets": [WEB], "alarms": ["€" * 3000]}, ensure_ascii=False)
    assert len(value) < 8192 < len(value.encode())

    (problem,) = problems_of(value)

    assert problem == f"$: rule is {len(value.encode())} bytes, more than 8192"


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ({"cluster": "arn:aws:ecs:eu-west-1:1234:cluster/prod", "service": "web"}, "targets[0].cluster"),
        ({"cluster": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web", "service": "web"}, "targets[0].cluster"),
        ({"cluster": "prod cluster", "service": "web"}, "targets[0].cluster"),
        ({"cluster": "", "service": "web"}, "targets[0].cluster"),
        ({"cluster": "prod", "service": "web/api"}, "targets[0].service"),
        ({"cluster": "prod", "service": ""}, "targets[0].service"),
        ({"cluster": "prod", "service": "web", "container": "app:1"}, "targets[0].container"),
        ({"cluster": "prod", "service": 7}, "targets[0].service"),
    ],
)
def test_parse_rule_bad_target_field_is_reported_at_its_path(target: dict[str, Any], path: str) -> None:
    (problem,) = problems_of({"targets": [target]})

    assert problem.startswith(f"{path}: ")


def test_parse_rule_same_service_twice_by_name_and_arn_is_invalid() -> None:
    value = {"targets": [WEB, {"cluster": cluster_arn("prod"), "service": "web"}]}

    assert problems_of(value) == ["targets: target prod/web is listed twice"]


def test_parse_rule_tag_glob_as_long_as_an_ecr_tag_is_valid() -> None:
    # ECR's ImageTag is up to 300 characters, so a glob naming one exactly must fit.
    rule = parse({"targets": [WEB], "tags": ["x" * 300]})

    assert rule.match("x" * 300).matched


def test_parse_rule_same_service_name_in_two_clusters_is_valid() -> None:
    rule = parse({"targets": [WEB, {"cluster": "staging", "service": "web"}]})

    assert [t.key for t in rule.spec.targets] == ["prod/web", "staging/web"]


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("tags", [], "tags"),
        ("tags", "v*", "tags"),
        ("tags", ["v*", ""], "tags[1]"),
        ("tags", ["x" * 301], "tags[0]"),
        ("semver", ">=1.0.0 <2.0.0", "semver"),
        ("semver", "", "semver"),
        ("semver", 2, "semver"),
        ("enabled", "sometimes", "enabled"),
        ("allow_downgrade", [], "allow_downgrade"),
        ("circuit_breaker", True, "circuit_breaker"),
        ("alarms", [f"alarm-{i}" for i in range(11)], "alarms"),
        ("alarms", [""], "alarms[0]"),
    ],
)
def test_parse_rule_bad_optional_field_is_reported_at_its_path(field: str, value: Any, path: str) -> None:
    (problem,) = problems_of({"targets": [WEB], field: value})

    assert problem.startswith(f"{path}: ")


def test_parse_rule_bad_semver_explains_the_clause() -> None:
    assert problems_of({"targets": [WEB], "semver": "!=1.4"}) == ["semver: '!=' needs a full version, not 1.4"]


def test_rule_invalid_message_names_parameter_and_problems() -> None:
    error = RuleInvalid(PARAMETER, ["targets: required", "$: unknown key"])

    assert str(error) == f"rule {PARAMETER} is invalid: targets: required; $: unknown key"


# -- parameter names ------------------------------------------------------------------


def test_rule_parameter_nested_repository_round_trips() -> None:
    parameter = rule_parameter("/slipway/rules/", "team/payments-api", "prod")

    assert parameter == "/slipway/rules/team/payments-api/prod"
    assert split_parameter("/slipway/rules", parameter) == ("team/payments-api", "prod")


@pytest.mark.parametrize("parameter", ["/other/web/main", "/slipway/rules/web", "/slipway/rules/"])
def test_split_parameter_outside_rules_path_raises(parameter: str) -> None:
    with pytest.raises(ValueError, match="/slipway/rules"):
        split_parameter("/slipway/rules", parameter)


# -- matching, by example ----------------------------------------------------------------


def test_rule_match_without_tags_or_semver_takes_any_tag() -> None:
    match = make_rule().match("anything-at-all")

    assert match.matched is True
    assert match.reason == "rule takes any tag"


def test_rule_match_glob_selects_matching_tag() -> None:
    rule = make_rule(tags=["release-*", "v*"])

    assert rule.match("v1.2.3").matched is True
    assert rule.match("release-42").matched is True


def test_rule_match_glob_miss_explains_which_patterns() -> None:
    match = make_rule(tags=["release-*", "v*"]).match("main-abc123")

    assert match.matched is False
    assert "tag main-abc123 does not match" in match.reason
    assert "release-*" in match.reason
    assert "does not match" in match.reason and "v*" in match.reason


def test_rule_match_glob_is_case_sensitive() -> None:
    rule = make_rule(tags=["release-*"])

    assert rule.match("Release-1").matched is False
    assert rule.match("RELEASE-1").matched is False


def test_rule_match_glob_question_mark_and_class() -> None:
    rule = make_rule(tags=["v?.?.?", "rc[0-9]"])

    assert rule.match("v1.2.3").matched is True
    assert rule.match("v1.2.33").matched is False
    assert rule.match("rc7").matched is True
    assert rule.match("rcx").matched is False


def test_rule_match_semver_non_semver_tag_is_unmatched_with_reason() -> None:
    match = make_rule(semver="^1.4").match("latest")

    assert match.matched is False
    assert "not a semantic version" in match.reason


def test_rule_match_semver_outside_range_is_unmatched_with_reason() -> None:
    match = make_rule(semver="^1.4").match("2.0.0")

    assert match.matched is False
    assert "outside semver range '^1.4'" in match.reason


@pytest.mark.parametrize(("tag", "expected"), [("1.5.0", True), ("v1.5.0", True), ("1.3.0", False), ("2.0.0", False)])
def test_rule_match_semver_range_selects_versions(tag: str, expected: bool) -> None:
    assert make_rule(semver=">=1.4.0,<2.0.0").match(tag).matched is expected


def test_rule_match_semver_prerelease_tag_excluded_unless_range_names_one() -> None:
    assert make_rule(semver=">=1.0.0").match("1.5.0-rc.1").matched is False
    assert make_rule(semver=">=1.5.0-rc.0").match("1.5.0-rc.1").matched is True


def test_rule_match_tags_and_semver_must_both_hold() -> None:
    rule = make_rule(tags=["v*"], semver="^1.4")

    assert rule.match("v1.5.0").matched is True
    assert rule.match("1.5.0").matched is False  # semver fits, glob does not
    assert rule.match("v2.0.0").matched is False  # glob fits, semver does not


# -- matching, properties -----------------------------------------------------------------


@PROPERTY
@given(tag=docker_tags)
def test_rule_match_tag_matches_pattern_equal_to_itself(tag: str) -> None:
    assert make_rule(tags=[tag]).match(tag).matched is True


@PROPERTY
@given(tag=docker_tags)
def test_rule_match_star_matches_every_tag(tag: str) -> None:
    assert make_rule(tags=["*"]).match(tag).matched is True


@PROPERTY
@given(prefix=docker_tags, tag=docker_tags)
def test_rule_match_prefix_pattern_matches_exactly_tags_starting_with_prefix(prefix: str, tag: str) -> None:
    assert make_rule(tags=[prefix + "*"]).match(tag).matched is tag.startswith(prefix)


@PROPERTY
@given(prefix=docker_tags, rest=docker_tags)
def test_rule_match_prefix_pattern_matches_prefix_plus_anything(prefix: str, rest: str) -> None:
    assert make_rule(tags=[prefix + "*"]).match(prefix + rest).matched is True


@PROPERTY
@given(tag=docker_tags)
def test_rule_match_pattern_in_other_case_does_not_match(tag: str) -> None:
    assume(tag.swapcase() != tag)
    assert make_rule(tags=[tag.swapcase()]).match(tag).matched is False


@PROPERTY
@given(prefixes=st.lists(docker_tags, min_size=1, max_size=4), tag=docker_tags)
def test_rule_match_several_patterns_match_iff_any_does(prefixes: list[str], tag: str) -> None:
    rule = make_rule(tags=[p + "*" for p in prefixes])

    assert rule.match(tag).matched is any(tag.startswith(p) for p in prefixes)


@PROPERTY
@given(tag=docker_tags)
def test_rule_match_question_marks_match_tags_of_that_length(tag: str) -> None:
    assert make_rule(tags=["?" * len(tag)]).match(tag).matched is True
    assert make_rule(tags=["?" * (len(tag) + 1)]).match(tag).matched is False
