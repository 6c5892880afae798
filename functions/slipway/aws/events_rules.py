"""EventBridge adapter: the targets of a rule, and one target put back with a new task definition."""

from __future__ import annotations

from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.errors import AwsError


class EventRulesAdapter:
    """ListTargetsByRule and PutTargets through boto3 (paced and retried by ``Caller``)."""

    def __init__(self, events_client: Any = None, call: Caller | None = None, account: str = "") -> None:
        self._client = events_client or client("events")
        self._region = region_of(self._client)
        self._call = call or Caller("events", self._region)
        self._account = account
        self._partition = self._client.meta.partition

    def targets(self, rule: str, bus: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            response = self._call(
                "ListTargetsByRule", self._client.list_targets_by_rule, Rule=rule, EventBusName=bus, **extra
            )
            found.extend(response.get("Targets", []))
            token = response.get("NextToken")
            if not token:
                return found

    def put_target(self, rule: str, bus: str, target: dict[str, Any]) -> None:
        """PutTargets answers 200 with FailedEntries for a target it refused: that is an error too."""
        response = self._call("PutTargets", self._client.put_targets, Rule=rule, EventBusName=bus, Targets=[target])
        for failed in response.get("FailedEntries") or []:
            code = str(failed.get("ErrorCode") or "FailedEntry")
            raise AwsError("PutTargets", code, f"target {failed.get('TargetId')}: {failed.get('ErrorMessage', '')}")

    def rule_arn(self, rule: str, bus: str) -> str:
        resource = f"rule/{rule}" if bus == "default" else f"rule/{bus}/{rule}"
        return f"arn:{self._partition}:events:{self._region}:{self._account}:{resource}"
