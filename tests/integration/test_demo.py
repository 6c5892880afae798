"""`make demo` end to end: push -> rollout on EC2 and Fargate -> outcomes -> rollback by command -> canaries.

The demo runs in its own process, as `make demo` runs it: it starts a moto server and
sets AWS_ENDPOINT_URL and credentials, which must not leak into other tests' mock_aws.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # the demo takes about ten seconds


def run_demo(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def section(out: str, number: int) -> str:
    """The text of one numbered section of the demo's output."""
    match = re.search(rf"^== {number}\. .*?(?=^== \d+\. |\Z)", out, re.MULTILINE | re.DOTALL)
    assert match, f"no section {number} in the demo's output:\n{out}"
    return match.group(0)


@pytest.mark.slow
def test_demo_whole_flow_exits_zero_and_shows_each_outcome() -> None:
    # WHEN the demo runs as `make demo` runs it
    done = run_demo("-m", "sandbox.demo")

    # THEN it succeeds, quietly: no handler log lines or EMF blobs among its output
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert '"_aws"' not in out
    assert '"level"' not in out
    # AND the good push rolled out to both launch types, pinned by digest, and SUCCEEDED on both
    pushed = section(out, 3)
    assert "rule matched: prod" in pushed
    assert "prod/web (FARGATE)" in pushed
    assert "prod/web-ec2 (EC2)" in pushed
    assert "web:1 -> web:2" in pushed
    assert "web-ec2:1 -> web-ec2:2" in pushed
    assert len(re.findall(r"web:1\.0\.0 -> web@sha256:[0-9a-f]{12}", pushed)) == 2
    assert "launch type FARGATE" in pushed
    assert "launch type EC2" in pushed
    completed = section(out, 4)
    assert "[SUCCEEDED] web:1.1.0 -> prod/web\n" in completed
    assert "[SUCCEEDED] web:1.1.0 -> prod/web-ec2" in completed
    # AND the broken push ended ROLLED_BACK on both, never SUCCEEDED
    broken = section(out, 5)
    assert "[ROLLED_BACK] web:1.2.0 -> prod/web\n" in broken
    assert "[ROLLED_BACK] web:1.2.0 -> prod/web-ec2" in broken
    assert "rolled_back_to web:2" in broken
    assert "rolled_back_to web-ec2:2" in broken
    assert "CannotPullContainerError" in broken
    assert "SUCCEEDED]" not in broken
    # AND `slipway rollback` made a rollout that history shows SUCCEEDED, newest first
    rollback = section(out, 6)
    assert "$ slipway rollback prod/web" in rollback
    assert "rolling prod/web back: web:2 -> web:1" in rollback
    last_history = rollback.rsplit("$ slipway history prod/web", 1)[1].strip().splitlines()
    assert last_history[0].split()[:2] == ["STARTED", "(UTC)"]
    newest = last_history[1].split()
    assert newest[2] == "SUCCEEDED"
    assert "rollback" in newest
    assert "web:1" in newest
    # AND a canary: 5 % shifted and baking, a pause approved with `slipway approve`, production, SUCCEEDED
    canary = section(out, 7)
    assert "[DEPLOYING] api:2.0.0 -> prod/api" in canary and "strategy canary" in canary
    assert "5 % of production traffic shifted to the new revision; baking until" in canary
    assert "waiting for approval" in canary
    assert "$ slipway approve " in canary and "continuing " in canary
    assert "all production traffic shifted to the new revision" in canary
    assert "[SUCCEEDED] api:2.0.0 -> prod/api" in canary
    assert canary.index("baking until") < canary.index("all production traffic") < canary.index("[SUCCEEDED]")
    # AND a second release whose alarm fires during the bake ends ROLLED_BACK, never SUCCEEDED
    alarm = section(out, 8)
    assert "[ROLLED_BACK] api:2.1.0 -> prod/api" in alarm
    assert "alarm api-5xx is in ALARM state" in alarm
    assert "SUCCEEDED]" not in alarm
    # AND the scan gate: a push held for its scan rolls out on ECR's scan event; one with CRITICAL findings is SKIPPED
    scan = section(out, 10)
    assert "[SKIPPED] scanned:1.1.0 -> prod/scanned" in scan
    assert "waiting for the scan of sha256:" in scan
    assert "[DEPLOYING] scanned:1.1.0 -> prod/scanned" in scan
    assert "[SKIPPED] scanned:1.2.0 -> prod/scanned" in scan
    assert "reason: 2 CRITICAL findings; the rule allows up to HIGH" in scan
    assert "findings: {'CRITICAL': 2, 'HIGH': 5, 'MEDIUM': 1}" in scan
    assert "[DEPLOYING] scanned:1.2.0" not in scan
    # AND a migration that exits 0 lets both services roll out; one that exits 3 fails both, untouched
    migration = section(out, 11)
    first, second = migration.split("push orders:1.2.0", 1)
    assert "[DEPLOYING] orders:1.1.0 -> prod/orders\n" in first
    assert "[DEPLOYING] orders:1.1.0 -> prod/orders-worker" in first
    assert "[FAILED] orders:1.2.0 -> prod/orders\n" in second
    assert "[FAILED] orders:1.2.0 -> prod/orders-worker" in second
    assert "pre-deploy task exited with code 3" in second and "exit_code=3" in second
    assert "DEPLOYING]" not in second
    assert "Neither service was touched" in second
    # AND it ends with the fleet view of prod/web and a failure as the chat channel shows it
    last = section(out, 12)
    assert "$ slipway status prod/web" in last
    assert "ROLLED_BACK web:1.2.0 on prod/web" in last
    assert "== 13." not in out
    assert "Done in" in out


# ECS (played by sandbox.deployments) never reports a deployment as completed.
NEVER_COMPLETES = """
from sandbox import deployments

complete = deployments.Deployments.complete


def still_in_progress(self, *args, **kwargs):
    event = complete(self, *args, **kwargs)
    event["detail"]["eventName"] = "SERVICE_DEPLOYMENT_IN_PROGRESS"
    return event


deployments.Deployments.complete = still_in_progress
"""


@pytest.mark.slow
def test_demo_deployment_never_completes_exits_one_naming_the_step() -> None:
    # GIVEN ECS never says the good release's deployments completed
    run = f"{NEVER_COMPLETES}\nimport sys\nfrom sandbox.demo import main\nsys.exit(main())"

    # WHEN the demo runs
    done = run_demo("-c", run)

    # THEN it fails at that step, saying which outcome is missing, and does not claim success
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DEMO FAILED: no SUCCEEDED message for prod/web" in done.stderr
    assert "Done in" not in done.stdout
