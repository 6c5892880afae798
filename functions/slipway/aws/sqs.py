"""SQS adapter: the work queue that carries handed-on targets to a later invocation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.errors import AwsError
from slipway.handon import Continuation

BATCH = 10  # SendMessageBatch takes at most 10 entries.


class SqsWorkQueue:
    """Sends continuations to the work queue, whose messages invoke the deploy function."""

    def __init__(self, queue_url: str, sqs_client: Any = None, call: Caller | None = None) -> None:
        self._url = queue_url
        self._client = sqs_client or client("sqs")
        self._call = call or Caller("sqs", region_of(self._client))

    def hand_on(self, continuations: Sequence[Continuation]) -> None:
        """Send every continuation; AwsError naming those SQS did not take (the others are sent)."""
        refused: list[str] = []
        for start in range(0, len(continuations), BATCH):
            entries = [
                {"Id": str(i), "MessageBody": c.body(), "DelaySeconds": c.delay_seconds}
                for i, c in enumerate(continuations[start : start + BATCH], start)
            ]
            response = self._call(
                "SendMessageBatch", self._client.send_message_batch, QueueUrl=self._url, Entries=entries
            )
            refused.extend(f"{f.get('Code')}: {f.get('Message', '')}" for f in response.get("Failed", []))
        if refused:
            raise AwsError("SendMessageBatch", "HandOnRefused", "; ".join(refused))
