"""The subscribers' interface: one SNS message per target and outcome.

``Message`` is a JSON object; ``MessageAttributes`` carry ``status``, ``repository``,
``cluster``, ``service``, ``rule``, ``account`` and ``region`` so teams can subscribe with
filter policies.
An attribute with no value (an invalid rule names no service) is left out, since
SNS refuses empty attribute values.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from slipway.places import Place

SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters, no line breaks.
FILTER_ATTRIBUTES = ("status", "repository", "cluster", "service", "rule", "account", "region")
# Keys that belong to some statuses only; left out of a message when they have no value.
OPTIONAL = frozenset(
    {
        "initiated_by",
        "approved_by",
        "duration_seconds",
        "stopped_reasons",
        "rolled_back_to",
        "held",
        "version",
        "modified_by",
        "modified_at",
        "problems",
        "parameter",
        "error_code",
        "traffic_percent",
        "until",
        "hook_id",
        "aborted_by",
        "findings",
        "exit_code",
        "task_arn",
        "stopped_reason",
        "log_stream",
        "target_type",
        "target",
    }
)


class Notification(BaseModel):
    """The JSON body of a Slipway message."""

    model_config = ConfigDict(extra="allow")

    status: str
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    image: str | None = None
    cluster: str | None = None
    service: str | None = None
    account: str | None = None  # where the service is (the stack's own when nothing else is known)
    region: str | None = None
    launch_type: str | None = None
    rule: str | None = None
    parameter: str | None = None
    task_definition: str | None = None
    previous_task_definition: str | None = None
    deployment_id: str | None = None
    rollout_id: str | None = None
    reason: str | None = None
    error_code: str | None = None
    event_id: str | None = None
    initiated_by: str | None = None
    approved_by: str | None = None
    duration_seconds: int | None = None
    stopped_reasons: list[str] | None = None
    rolled_back_to: str | None = None
    held: str | None = None
    version: int | None = None
    modified_by: str | None = None
    modified_at: datetime | None = None
    problems: list[str] | None = None
    strategy: str | None = None  # rolling, blue_green, canary or linear
    stage: str | None = None  # ECS's lifecycle stage, for blue/green, canary and linear rollouts
    traffic_percent: float | None = None  # production traffic on the new revision (PROGRESS)
    until: datetime | None = None  # when a bake ends or a pause expires (PROGRESS)
    hook_id: str | None = None  # the pause hook waiting for approval (PROGRESS)
    aborted_by: str | None = None
    findings: dict[str, int] | None = None  # the scan gate's counts per severity, as ECR gave them (SKIPPED)
    exit_code: int | None = None  # the pre-deploy task's container's exit code
    task_arn: str | None = None  # the pre-deploy task
    stopped_reason: str | None = None  # why ECS stopped the pre-deploy task
    log_stream: str | None = None  # the pre-deploy container's CloudWatch log stream
    target_type: str | None = None  # "schedule" or "events_rule" for a scheduled task; absent for a service
    target: str | None = None  # the scheduled task's key (schedule:GROUP/NAME, events-rule:NAME#TARGET_ID)
    time: datetime

    def placed(self, home: Place) -> Notification:
        """The message about a service with the stack's own account and Region where it names none."""
        if not self.service or (self.account and self.region):
            return self
        return self.model_copy(update={"account": self.account or home.account, "region": self.region or home.region})

    def elsewhere(self, home: Place | None) -> str:
        """`` in ACCOUNT REGION`` when the message's account and Region are not ``home``'s, else ''."""
        if home is None or not self.account or (self.account, self.region) == (home.account, home.region):
            return ""
        return f" in {self.account} {self.region}"

    def subject(self, home: Place | None = None) -> str:
        """``[STATUS] repository:tag -> cluster/service`` (with the account and Region when they are not
        ``home``), cut to what SNS accepts."""
        image = f"{self.repository or '?'}:{self.tag}" if self.tag else (self.repository or "?")
        if self.service:
            where = f" -> {self.cluster}/{self.service}{self.elsewhere(home)}"
        elif self.target:
            where = f" -> {self.target}"
        elif self.rule or self.parameter:
            where = f" -> rule {self.rule or self.parameter}"
        else:
            where = ""
        return to_subject(f"[{self.status}] {image}{where}")

    def attributes(self) -> dict[str, dict[str, str]]:
        values = self.model_dump()
        return {
            name: {"DataType": "String", "StringValue": str(values[name])}
            for name in FILTER_ATTRIBUTES
            if values.get(name) not in (None, "")
        }

    def body(self) -> str:
        """The JSON Message: every contract key present (null when unknown), extras only when set."""
        values = self.model_dump(mode="json")
        for key in OPTIONAL:
            if values.get(key) is None:
                values.pop(key, None)
        return json.dumps(values)

    def as_entry(self, entry_id: str, home: Place | None = None) -> dict[str, Any]:
        """A PublishBatch entry (naming ``home`` as the account and Region when the message names none)."""
        message = self.placed(home) if home else self
        return {
            "Id": entry_id,
            "Subject": message.subject(home),
            "Message": message.body(),
            "MessageAttributes": message.attributes(),
        }


def to_subject(text: str) -> str:
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return printable if len(printable) <= SUBJECT_LIMIT else printable[: SUBJECT_LIMIT - 3] + "..."
