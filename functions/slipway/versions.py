"""Semantic versions of image tags and the range syntax rules use to select them.

A range is a comma-separated list of clauses that must all hold (``>=1.4.0,<2.0.0``).
A clause is a comparison (``>=``, ``>``, ``<=``, ``<``, ``=``, ``==``, ``!=``) with a
full or partial version, a caret (``^1.4``: compatible with 1.4, below 2.0), or a
tilde (``~1.4.2``: at least 1.4.2, below 1.5). Partial versions fill in zeros.
A pre-release tag satisfies a range only when a clause of the range names a
pre-release of the same ``major.minor.patch`` (the npm rule), so ``>=1.0.0``
never picks up ``1.1.0-rc.1`` by accident.

The ceiling a caret, a tilde or a partial version implies is below that ceiling's
pre-releases too: ``^1.4`` is ``>=1.4.0,<2.0.0-0`` and ``1.4`` is ``>=1.4.0,<1.5.0-0``
(as npm desugars them). Semver orders ``2.0.0-rc.1`` below ``2.0.0``, so a plain
``<2.0.0`` would let ``^1.4,>=2.0.0-rc.0`` select ``2.0.0-rc.1``, a version outside
``^1.4``; ``-0`` is the lowest pre-release there is. A full bound written out,
``<2.0.0``, keeps its plain meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from semver import Version

_CLAUSE = re.compile(r"^(?P<op>\^|~|>=|<=|==|!=|>|<|=)?\s*(?P<version>v?[0-9][0-9A-Za-z.+-]*)$")
_PARTIAL = re.compile(r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?$")


class RangeError(ValueError):
    """A semver range that cannot be parsed; the message says which clause and why."""


def parse_version(tag: str) -> Version | None:
    """The semantic version a tag spells (a leading ``v`` allowed), or None."""
    text = tag[1:] if tag[:1] in ("v", "V") else tag
    try:
        return Version.parse(text)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Comparator:
    """One ``op version`` condition; a range is the conjunction of several.

    ``implied`` marks a ceiling the range's syntax implies (``<2.0.0-0`` of ``^1.4``):
    it names no pre-release a user asked for.
    """

    op: str
    version: Version
    implied: bool = False

    def holds(self, candidate: Version) -> bool:
        order = candidate.compare(self.version)
        return {
            ">=": order >= 0,
            ">": order > 0,
            "<=": order <= 0,
            "<": order < 0,
            "=": order == 0,
            "!=": order != 0,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op}{self.version}"


@dataclass(frozen=True)
class VersionRange:
    """A parsed semver range; ``contains`` answers whether a version is selected."""

    text: str
    comparators: tuple[Comparator, ...]

    def contains(self, candidate: Version) -> bool:
        if candidate.prerelease and not self._names_prerelease_of(candidate):
            return False
        return all(comparator.holds(candidate) for comparator in self.comparators)

    def _names_prerelease_of(self, candidate: Version) -> bool:
        core = (candidate.major, candidate.minor, candidate.patch)
        return any(
            c.version.prerelease and not c.implied and (c.version.major, c.version.minor, c.version.patch) == core
            for c in self.comparators
        )


def parse_range(text: str) -> VersionRange:
    """Parse a range such as ``>=1.4.0,<2.0.0``, ``^1.4`` or ``~1.4.2``."""
    if not text.strip():
        raise RangeError("empty semver range")
    comparators: list[Comparator] = []
    for raw in text.split(","):
        clause = raw.strip()
        match = _CLAUSE.match(clause)
        if not match:
            raise RangeError(f"cannot parse semver clause {clause!r}")
        comparators.extend(_expand(match.group("op") or "=", match.group("version"), clause))
    return VersionRange(text=text, comparators=tuple(comparators))


def _expand(op: str, version_text: str, clause: str) -> list[Comparator]:
    op = "=" if op == "==" else op
    partial = _PARTIAL.match(version_text)
    if partial is None:
        full = parse_version(version_text)
        if full is None:
            raise RangeError(f"{version_text!r} in {clause!r} is not a semantic version")
        return _with_bounds(op, full, _precision=3)
    major = int(partial.group("major"))
    minor = int(partial.group("minor") or 0)
    patch = int(partial.group("patch") or 0)
    precision = 1 + (partial.group("minor") is not None) + (partial.group("patch") is not None)
    return _with_bounds(op, Version(major, minor, patch), _precision=precision)


def _with_bounds(op: str, low: Version, _precision: int) -> list[Comparator]:
    if op == "^":
        return [Comparator(">=", low), _below(_caret_ceiling(low, _precision))]
    if op == "~":
        ceiling = low.bump_major() if _precision == 1 else low.bump_minor()
        return [Comparator(">=", low), _below(ceiling)]
    if op in ("=", "!=") and _precision < 3:
        # "=1.4" means any 1.4.x; "!=1.4" is rejected as ambiguous below.
        if op == "!=":
            raise RangeError(f"'!=' needs a full version, not {low.major}.{low.minor}")
        ceiling = low.bump_major() if _precision == 1 else low.bump_minor()
        return [Comparator(">=", low), _below(ceiling)]
    if op == "<=" and _precision < 3:
        ceiling = low.bump_major() if _precision == 1 else low.bump_minor()
        return [_below(ceiling)]
    if op == "<" and _precision < 3:
        # "<1.5" is below the whole 1.5 series, its pre-releases included.
        return [_below(low)]
    if op == ">" and _precision < 3:
        floor = low.bump_major() if _precision == 1 else low.bump_minor()
        return [Comparator(">=", floor)]
    return [Comparator(op, low)]


def _below(ceiling: Version) -> Comparator:
    """``<ceiling-0``: below the ceiling and below every pre-release of it."""
    return Comparator("<", ceiling.replace(prerelease="0", build=None), implied=True)


def _caret_ceiling(low: Version, precision: int) -> Version:
    # ^1.2.3 := <2.0.0, ^0.2.3 := <0.3.0, ^0.0.3 := <0.0.4 (npm semantics).
    if low.major or precision == 1:
        return low.bump_major()
    if low.minor or precision == 2:
        return low.bump_minor()
    return low.bump_patch()
