"""Semver tags and ranges: examples worked out by hand, and properties against a Version oracle."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from semver import Version

from slipway.versions import RangeError, parse_range, parse_version

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Small numbers so that generated versions often sit on a range's boundaries.
numbers = st.integers(min_value=0, max_value=4)
prerelease_ids = st.sampled_from(["alpha", "alpha.1", "beta.2", "rc.1", "rc.10", "0"])
releases = st.builds(Version, major=numbers, minor=numbers, patch=numbers)
prereleases = st.builds(Version, major=numbers, minor=numbers, patch=numbers, prerelease=prerelease_ids)
any_versions = releases | prereleases


def contains(range_text: str, version: Version) -> bool:
    return parse_range(range_text).contains(version)


# -- parse_version ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("1.4.2", Version(1, 4, 2)),
        ("v1.4.2", Version(1, 4, 2)),
        ("V1.4.2", Version(1, 4, 2)),
        ("2.0.0-rc.1", Version(2, 0, 0, prerelease="rc.1")),
        ("v0.0.1+build.7", Version(0, 0, 1, build="build.7")),
    ],
)
def test_parse_version_semver_tag_parses(tag: str, expected: Version) -> None:
    assert parse_version(tag) == expected


@pytest.mark.parametrize(
    "tag", ["latest", "1.4", "1", "01.2.3", "v", "vv1.2.3", "", "1.2.3.4", "main-abc123", "release-1.2.3"]
)
def test_parse_version_non_semver_tag_returns_none(tag: str) -> None:
    assert parse_version(tag) is None


# -- parse_range, by example ------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_text", "version", "expected"),
    [
        # comparison clauses, comma = and
        (">=1.4.0,<2.0.0", "1.4.0", True),
        (">=1.4.0,<2.0.0", "1.9.9", True),
        (">=1.4.0,<2.0.0", "2.0.0", False),
        (">=1.4.0,<2.0.0", "1.3.9", False),
        (">= 1.4.0 , < 2.0.0", "1.5.0", True),
        (">1.4.0", "1.4.0", False),
        (">1.4.0", "1.4.1", True),
        ("<=1.4.0", "1.4.0", True),
        ("!=1.4.2", "1.4.2", False),
        ("!=1.4.2", "1.4.3", True),
        ("=1.4.2", "1.4.2", True),
        ("==1.4.2", "1.4.2", True),
        ("1.4.2", "1.4.3", False),
        # caret: compatible with the leftmost non-zero part
        ("^1.4", "1.4.0", True),
        ("^1.4", "1.99.0", True),
        ("^1.4", "2.0.0", False),
        ("^1.4", "1.3.9", False),
        ("^1.4.2", "1.4.1", False),
        ("^0.2.3", "0.2.9", True),
        ("^0.2.3", "0.3.0", False),
        ("^0.0.3", "0.0.3", True),
        ("^0.0.3", "0.0.4", False),
        ("^0.0", "0.0.9", True),
        ("^0.0", "0.1.0", False),
        ("^0", "0.9.9", True),
        ("^0", "1.0.0", False),
        # tilde: patch-level changes (minor-level when only the major is given)
        ("~1.4.2", "1.4.2", True),
        ("~1.4.2", "1.4.9", True),
        ("~1.4.2", "1.5.0", False),
        ("~1.4.2", "1.4.1", False),
        ("~1.4", "1.4.0", True),
        ("~1.4", "1.5.0", False),
        ("~1", "1.9.0", True),
        ("~1", "2.0.0", False),
        # partial versions fill in: "1.4" is any 1.4.x
        ("1.4", "1.4.7", True),
        ("1.4", "1.5.0", False),
        ("=1", "1.9.9", True),
        ("=1", "2.0.0", False),
        ("<=1.4", "1.4.9", True),
        ("<=1.4", "1.5.0", False),
        (">1.4", "1.4.9", False),
        (">1.4", "1.5.0", True),
        (">=1.4", "1.4.0", True),
        ("<1.4", "1.3.9", True),
        ("<1.4", "1.4.0", False),
        # a leading v in the range is accepted
        ("^v1.2", "1.3.0", True),
        (">=v1.2.0", "1.1.0", False),
        # build metadata does not take part in precedence
        ("=1.4.2", "1.4.2+build.7", True),
    ],
)
def test_parse_range_example_version_selected_as_specified(range_text: str, version: str, expected: bool) -> None:
    assert contains(range_text, Version.parse(version)) is expected


@pytest.mark.parametrize(
    ("range_text", "version", "expected"),
    [
        # no clause names a pre-release: pre-releases are never picked up
        (">=1.0.0", "1.1.0-rc.1", False),
        ("^1.4", "1.5.0-beta.1", False),
        ("<2.0.0", "2.0.0-rc.1", False),
        ("~1.4.2", "1.4.3-alpha", False),
        # a clause names a pre-release of the same major.minor.patch: it may match
        (">=1.4.0-rc.1", "1.4.0-rc.2", True),
        (">=1.4.0-rc.1", "1.4.0-rc.0", False),
        (">=1.4.0-rc.1,<2.0.0", "1.4.0-rc.1", True),
        ("^1.2.3-beta.2", "1.2.3-beta.4", True),
        # ... but not a pre-release of another major.minor.patch
        (">=1.4.0-rc.1", "1.5.0-rc.1", False),
        ("^1.2.3-beta.2", "1.2.4-beta.1", False),
        # releases are compared normally against a pre-release bound
        (">=1.4.0-rc.1", "1.4.0", True),
        (">=1.4.0-rc.1", "1.5.0", True),
        ("^1.2.3-beta.2", "1.2.3", True),
        ("~1.2.3-beta.2", "1.3.0", False),
    ],
)
def test_parse_range_prerelease_follows_npm_rule(range_text: str, version: str, expected: bool) -> None:
    assert contains(range_text, Version.parse(version)) is expected


@pytest.mark.parametrize(
    ("range_text", "version", "expected"),
    [
        # the ceiling a partial version implies excludes the next series' pre-releases...
        ("1.4,>=1.5.0-rc.0", "1.5.0-rc.1", False),
        ("=1.4,>=1.5.0-rc.0", "1.5.0-rc.1", False),
        ("<=1.4,>=1.5.0-rc.0", "1.5.0-rc.1", False),
        ("<1.5,>=1.5.0-rc.0", "1.5.0-rc.1", False),
        ("1,>=2.0.0-alpha", "2.0.0-alpha", False),
        # ... as do the ceilings of caret and tilde, partial or full
        ("^1.4,>=2.0.0-rc.0", "2.0.0-rc.1", False),
        ("^1.4.2,>=2.0.0-rc.0", "2.0.0-rc.1", False),
        ("^0.2.3,>=0.3.0-0", "0.3.0-0", False),
        ("^0.0.3,>=0.0.4-rc.1", "0.0.4-rc.1", False),
        ("~1.4.2,>=1.5.0-rc.0", "1.5.0-rc.1", False),
        ("~1.4,>=1.5.0-0", "1.5.0-0", False),
        ("~1,>=2.0.0-rc.0", "2.0.0-rc.1", False),
        ("^1.2.3-beta.2,>=2.0.0-beta.1", "2.0.0-beta.2", False),
        # a pre-release inside the range is still selected when a clause names it:
        # 1.5.0-rc.1 is above 1.4.0 and below 2.0.0-0, so it is within ^1.4
        ("^1.4,>=1.5.0-rc.0", "1.5.0-rc.1", True),
        ("~1.4.2,>=1.4.3-rc.0", "1.4.3-rc.1", True),
        ("1.4,>=1.4.3-rc.0", "1.4.3-rc.1", True),
        ("<1.5,>=1.4.9-rc.0", "1.4.9-rc.1", True),
        # releases are unchanged: the ceiling itself is still out, the one below still in
        ("^1.4", "1.99.99", True),
        ("<=1.4", "1.4.99", True),
        ("<1.5", "1.4.99", True),
        ("<1.5", "1.5.0", False),
        # an explicit full bound keeps its plain meaning: 2.0.0-rc.1 < 2.0.0
        (">=2.0.0-rc.0,<2.0.0", "2.0.0-rc.1", True),
        (">=2.0.0-rc.0,<=2.0.0", "2.0.0-rc.1", True),
        (">=1.5.0-rc.0,<1.5.0", "1.5.0-rc.1", True),
    ],
)
def test_parse_range_implied_ceiling_excludes_prereleases_of_the_ceiling(
    range_text: str, version: str, expected: bool
) -> None:
    assert contains(range_text, Version.parse(version)) is expected


@pytest.mark.parametrize(
    ("range_text", "fragment"),
    [
        ("", "empty semver range"),
        ("   ", "empty semver range"),
        (">=1.0.0,", "''"),
        (">=1.0.0 <2.0.0", "'>=1.0.0 <2.0.0'"),
        ("^banana", "'^banana'"),
        ("latest", "'latest'"),
        (">=1.2.3.4", "'1.2.3.4'"),
        ("=>1.0.0", "'=>1.0.0'"),
        ("!=1.4", "'!=' needs a full version"),
        ("!=1", "'!=' needs a full version"),
        ("1.x", "'1.x'"),
        ("*", "'*'"),
    ],
)
def test_parse_range_invalid_text_raises_range_error_naming_the_clause(range_text: str, fragment: str) -> None:
    with pytest.raises(RangeError) as raised:
        parse_range(range_text)
    assert fragment in str(raised.value)


def test_parse_range_keeps_original_text() -> None:
    assert parse_range("^1.4").text == "^1.4"


# -- properties, against an oracle written with Version comparisons -----------------------


@PROPERTY
@given(low=releases.filter(lambda v: v.major > 0), candidate=any_versions)
def test_caret_range_major_nonzero_contains_iff_between_low_and_next_major(low: Version, candidate: Version) -> None:
    # GIVEN ^X.Y.Z with X > 0
    ceiling = Version(low.major + 1, 0, 0)
    expected = candidate.prerelease is None and low <= candidate < ceiling
    # THEN it selects exactly the releases X.Y.Z <= v < (X+1).0.0
    assert contains(f"^{low}", candidate) is expected


@PROPERTY
@given(low=releases.filter(lambda v: v.major == 0 and v.minor > 0), candidate=any_versions)
def test_caret_range_major_zero_contains_iff_between_low_and_next_minor(low: Version, candidate: Version) -> None:
    ceiling = Version(0, low.minor + 1, 0)
    expected = candidate.prerelease is None and low <= candidate < ceiling
    assert contains(f"^{low}", candidate) is expected


@PROPERTY
@given(low=releases, candidate=any_versions)
def test_tilde_range_contains_iff_between_low_and_next_minor(low: Version, candidate: Version) -> None:
    # GIVEN ~X.Y.Z: THEN X.Y.Z <= v < X.(Y+1).0
    ceiling = Version(low.major, low.minor + 1, 0)
    expected = candidate.prerelease is None and low <= candidate < ceiling
    assert contains(f"~{low}", candidate) is expected


@PROPERTY
@given(low=releases, high=releases, candidate=releases)
def test_comma_range_equals_conjunction_of_its_clauses(low: Version, high: Version, candidate: Version) -> None:
    together = contains(f">={low},<{high}", candidate)
    # THEN the comma range is the "and" of its clauses, and of the plain comparisons
    assert together is (contains(f">={low}", candidate) and contains(f"<{high}", candidate))
    assert together is (low <= candidate < high)


@PROPERTY
@given(op=st.sampled_from([">=", ">", "<=", "<", "=", "!="]), bound=releases, candidate=releases)
def test_comparison_range_agrees_with_version_comparison(op: str, bound: Version, candidate: Version) -> None:
    oracle = {
        ">=": candidate >= bound,
        ">": candidate > bound,
        "<=": candidate <= bound,
        "<": candidate < bound,
        "=": candidate == bound,
        "!=": candidate != bound,
    }[op]
    assert contains(f"{op}{bound}", candidate) is oracle


@PROPERTY
@given(
    clauses=st.lists(
        st.tuples(st.sampled_from([">=", ">", "<=", "<", "=", "!=", "^", "~", ""]), releases), min_size=1, max_size=3
    ),
    candidate=prereleases,
)
def test_range_naming_no_prerelease_never_contains_a_prerelease(
    clauses: list[tuple[str, Version]], candidate: Version
) -> None:
    range_text = ",".join(f"{op}{version}" for op, version in clauses)
    assert contains(range_text, candidate) is False


@PROPERTY
@given(bound=prereleases, candidate=prereleases)
def test_range_naming_prerelease_admits_only_same_core_prereleases(bound: Version, candidate: Version) -> None:
    same_core = (bound.major, bound.minor, bound.patch) == (candidate.major, candidate.minor, candidate.patch)
    assert contains(f">={bound}", candidate) is (same_core and candidate >= bound)


@PROPERTY
@given(version=any_versions)
def test_parse_version_leading_v_spells_the_same_version(version: Version) -> None:
    assert parse_version(f"v{version}") == version
    assert parse_version(str(version)) == version


@PROPERTY
@given(op=st.sampled_from([">=", "<", "^", "~", "="]), bound=releases, candidate=releases)
def test_parse_range_leading_v_in_range_means_the_same(op: str, bound: Version, candidate: Version) -> None:
    assert contains(f"{op}v{bound}", candidate) is contains(f"{op}{bound}", candidate)


def partial(version: Version, precision: int) -> str:
    """``version`` written with its first ``precision`` parts (``1``, ``1.4`` or ``1.4.2``)."""
    return ".".join(str(p) for p in (version.major, version.minor, version.patch)[:precision])


def implied_ceiling(op: str, bound: Version, precision: int) -> Version | None:
    """The upper bound ``op`` and a bound of that precision imply, worked out from the README's table."""
    major, minor, patch = bound.major, bound.minor, bound.patch
    if op == "^":  # up to the next major; for 0.x the next minor; for 0.0.x the next patch
        if major or precision == 1:
            return Version(major + 1, 0, 0)
        if minor or precision == 2:
            return Version(0, minor + 1, 0)
        return Version(0, 0, patch + 1)
    if op == "~":  # up to the next minor (~1: the next major)
        return Version(major + 1, 0, 0) if precision == 1 else Version(major, minor + 1, 0)
    if op in ("=", "<=") and precision < 3:  # the whole series: 1.4 up to 1.5.0
        return Version(major + 1, 0, 0) if precision == 1 else Version(major, minor + 1, 0)
    if op == "<" and precision < 3:  # below the series: <1.5 up to 1.5.0
        return Version(major, minor if precision == 2 else 0, 0)
    return None  # a full bound written out: no ceiling is implied


@PROPERTY
@given(
    op=st.sampled_from(["^", "~", "=", "<=", "<"]),
    bound=releases,
    precision=st.integers(min_value=1, max_value=3),
    named=prerelease_ids,
    candidate_id=prerelease_ids,
)
def test_implied_ceiling_never_admits_a_prerelease_of_the_ceiling_even_when_named(
    op: str, bound: Version, precision: int, named: str, candidate_id: str
) -> None:
    # GIVEN a clause whose ceiling comes from its syntax, and another clause naming a pre-release of that ceiling
    ceiling = implied_ceiling(op, bound, precision)
    assume(ceiling is not None)
    assert ceiling is not None
    candidate = ceiling.replace(prerelease=candidate_id)
    range_text = f"{op}{partial(bound, precision)},>={ceiling.replace(prerelease=named)}"

    # THEN the ceiling's pre-releases are outside the range, as the ceiling itself is
    assert contains(range_text, candidate) is False
    assert contains(f"{op}{partial(bound, precision)}", ceiling) is False


@PROPERTY
@given(
    op=st.sampled_from(["^", "~", "=", "<=", "<"]),
    bound=releases,
    precision=st.integers(min_value=1, max_value=3),
    candidate=releases,
)
def test_implied_ceiling_selects_the_releases_below_it(
    op: str, bound: Version, precision: int, candidate: Version
) -> None:
    ceiling = implied_ceiling(op, bound, precision)
    assume(ceiling is not None)
    assert ceiling is not None
    floor = Version(bound.major, bound.minor if precision > 1 else 0, bound.patch if precision > 2 else 0)
    above_floor = op == "<" or op == "<=" or candidate >= floor

    assert contains(f"{op}{partial(bound, precision)}", candidate) is (above_floor and candidate < ceiling)


@PROPERTY
@given(core=releases, low=prerelease_ids, candidate_id=prerelease_ids)
def test_explicit_full_upper_bound_admits_named_prereleases_below_it(
    core: Version, low: str, candidate_id: str
) -> None:
    # GIVEN >=X.Y.Z-pre,<X.Y.Z written out: the pre-releases of X.Y.Z are below X.Y.Z
    bound, candidate = core.replace(prerelease=low), core.replace(prerelease=candidate_id)

    assert contains(f">={bound},<{core}", candidate) is (candidate >= bound)
