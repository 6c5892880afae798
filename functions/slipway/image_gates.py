"""The image gates: what ECR says of a pushed digest (its scan findings, its signing) against a rule.

A check that has no answer yet (a scan in progress, signing not done) holds the push up to
the key's ``wait_minutes`` after it was pushed; the hold is released by a scan event or the
sweep, and after the wait the gate closes for good (``final``). A check that fails closes it
at once, without a hold.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from slipway.errors import AwsError
from slipway.gates import PASS, Verdict
from slipway.model import Push, Status
from slipway.ports import ImageChecks, ScanFindings, SigningStatus
from slipway.rule_gates import SEVERITIES, Scan, Signature, rank

logger = Logger(child=True)

SCAN, SIGNATURE = "scan", "signature"
SCANNED = frozenset({"COMPLETE", "ACTIVE"})  # findings to count: a basic scan done, an enhanced one monitoring
SCANNING = frozenset({"IN_PROGRESS", "PENDING", "NOT_FOUND"})  # an answer still to come
# Severities ECR reports that are none of the rule's: ranked with INFORMATIONAL (see the README).
UNRANKED = {"UNDEFINED": "INFORMATIONAL", "UNTRIAGED": "INFORMATIONAL"}


def _minutes_left(push: Push, wait_minutes: int, now: datetime) -> int:
    return math.ceil((push.time + timedelta(minutes=wait_minutes) - now).total_seconds() / 60)


def _error(gate: str, error: AwsError, push: Push, wait_minutes: int, now: datetime) -> Verdict:
    """A failed read: asked again later (held) while AWS may answer in time, else ERROR with its code."""
    reason = f"{error.operation} failed: {error.code}: {error.message}"
    if error.retryable and _minutes_left(push, wait_minutes, now) > 0:
        return Verdict(False, reason, gate, hold=True)
    return Verdict(False, reason, gate, final=True, status=Status.ERROR, error_code=error.code)


def _ranked(severity: str) -> int:
    """A counted severity's rank; one Slipway does not know (a newer scanner's) ranks as CRITICAL: refused."""
    known = UNRANKED.get(severity, severity)
    return rank(known) if known in SEVERITIES else rank("CRITICAL")


def over_limit(counts: dict[str, int], max_severity: str) -> list[tuple[str, int]]:
    """The counts above ``max_severity``, worst first (a ``TOTAL`` is not a severity)."""
    limit = rank(max_severity)
    above = [(s, n) for s, n in counts.items() if s != "TOTAL" and n > 0 and _ranked(s) > limit]
    return sorted(above, key=lambda item: (-_ranked(item[0]), item[0]))


def findings_reason(above: list[tuple[str, int]], max_severity: str) -> str:
    """``2 CRITICAL, 5 HIGH findings; the rule allows up to MEDIUM``."""
    total = sum(n for _, n in above)
    listed = ", ".join(f"{n} {severity}" for severity, n in above)
    return f"{listed} finding{'s' if total != 1 else ''}; the rule allows up to {max_severity}"


def scan_verdict(scan: Scan, push: Push, findings: ScanFindings, now: datetime) -> Verdict:
    """The scan gate's verdict on the findings ECR gave for the push's digest."""
    if findings.status in SCANNED:
        above = over_limit(findings.counts, scan.max_severity)
        if not above:
            return PASS
        return Verdict(
            False, findings_reason(above, scan.max_severity), SCAN, final=True, findings=dict(findings.counts)
        )
    if findings.status in SCANNING:
        left = _minutes_left(push, scan.wait_minutes, now)
        if left > 0:
            reason = f"waiting for the scan of {push.digest[:19]} ({findings.status}), up to {left} min more"
            return Verdict(False, reason, SCAN, hold=True)
        return _unavailable(scan, push, "scan not complete")
    described = f": {findings.description}" if findings.description else ""
    return _unavailable(scan, push, f"scan {findings.status or 'status unknown'}{described}")


def _unavailable(scan: Scan, push: Push, reason: str) -> Verdict:
    if scan.on_unavailable == "allow":
        logger.warning("scan gate passed without findings", extra={"reason": reason, "digest": push.digest})
        return PASS
    return Verdict(False, reason, SCAN, final=True)


def signature_verdict(
    signature: Signature, push: Push, statuses: list[SigningStatus], trusted: tuple[str, ...], now: datetime
) -> Verdict:
    """The signature gate's verdict on ECR's signing statuses of the push's digest."""
    complete = [s for s in statuses if s.status == "COMPLETE"]
    if any(s.profile_arn in trusted for s in complete):
        return PASS
    pending = [s for s in statuses if s.status == "IN_PROGRESS"]
    if pending or not statuses:
        left = _minutes_left(push, signature.wait_minutes, now)
        state = "signing IN_PROGRESS" if pending else "not signed yet"
        if left > 0:
            return Verdict(
                False,
                f"waiting for ECR managed signing of {push.digest[:19]} ({state}), up to {left} min more",
                SIGNATURE,
                hold=True,
            )
        return Verdict(
            False, f"signature not complete after {signature.wait_minutes} min ({state})", SIGNATURE, final=True
        )
    if complete:
        profiles = ", ".join(sorted({s.profile_arn for s in complete}))
        listed = "does not list" if trusted else "does not list (it lists no profile: no signature is trusted)"
        return Verdict(False, f"signed by {profiles}, which TrustedSigningProfiles {listed}", SIGNATURE, final=True)
    failed = [s for s in statuses if s.status == "FAILED"]
    why = "; ".join(
        f"{s.profile_arn}: {s.failure_code or 'FAILED'}: {s.failure_reason or 'no reason given'}" for s in failed
    )
    return Verdict(False, f"signing failed: {why}", SIGNATURE, final=True)


class ImageGates:
    """Asks ECR about a push's digest and turns the answer into the scan and signature verdicts."""

    def __init__(self, checks: ImageChecks, trusted_profiles: tuple[str, ...] = ()) -> None:
        self._checks = checks
        self._trusted = trusted_profiles

    def scan(self, scan: Scan | None, push: Push, now: datetime) -> Verdict:
        if scan is None:
            return PASS
        try:
            findings = self._checks.scan_findings(push.account, push.repository, push.digest, region=push.region)
        except AwsError as error:
            return _error(SCAN, error, push, scan.wait_minutes, now)
        return scan_verdict(scan, push, findings, now)

    def signature(self, signature: Signature | None, push: Push, now: datetime) -> Verdict:
        if signature is None or not signature.required:
            return PASS
        try:
            statuses = self._checks.signing_status(push.account, push.repository, push.digest, region=push.region)
        except AwsError as error:
            return _error(SIGNATURE, error, push, signature.wait_minutes, now)
        return signature_verdict(signature, push, statuses, self._trusted, now)


__all__ = [
    "SCAN",
    "SEVERITIES",
    "SIGNATURE",
    "ImageGates",
    "findings_reason",
    "over_limit",
    "scan_verdict",
    "signature_verdict",
]
