"""The rule keys of the image gates: ``scan`` (vulnerability findings) and ``signature`` (ECR managed signing).

Pure models and validation, used by ``rules.RuleSpec``; the verdicts are in ``image_gates``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field

from slipway.rule_strategies import Strict, _known

# Worst last: a push passes when none of its findings is above the rule's max_severity.
Severity = Literal["NONE", "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
DEFAULT_WAIT_MINUTES = 30
_WaitMinutes = Annotated[int, Field(ge=0, le=24 * 60)]


def _severity(value: Any) -> Any:
    """ECR's severities are upper case: "high" is named with the one it means."""
    if isinstance(value, str) and value not in SEVERITIES and value.upper() in SEVERITIES:
        raise ValueError(f'unknown severity "{value}" (did you mean "{value.upper()}"? severities are upper case)')
    return value


def rank(severity: str) -> int:
    """A severity's place in NONE < INFORMATIONAL < LOW < MEDIUM < HIGH < CRITICAL."""
    return SEVERITIES.index(severity)


class Scan(Strict):
    """The pushed digest's scan findings must be no worse than ``max_severity`` ("NONE": no finding at all).

    A scan not complete holds the push up to ``wait_minutes`` after it was pushed; then, and
    for a scan that cannot give findings (UNSUPPORTED_IMAGE, FINDINGS_UNAVAILABLE, ...),
    ``on_unavailable`` decides: "block" skips the push, "allow" rolls it out.
    """

    max_severity: Annotated[Severity, _known("severity", SEVERITIES), BeforeValidator(_severity)]
    wait_minutes: _WaitMinutes = DEFAULT_WAIT_MINUTES
    on_unavailable: Annotated[Literal["block", "allow"], _known("on_unavailable value", ("block", "allow"))] = "block"


class Signature(Strict):
    """The pushed digest must be signed by ECR managed signing (AWS Signer), with a trusted profile.

    ``required: false`` turns the gate off. Held until ECR reports the signing COMPLETE, at most ``wait_minutes`` after the push.
    """

    required: bool = True  # false turns the gate off without removing the key
    wait_minutes: _WaitMinutes = DEFAULT_WAIT_MINUTES
