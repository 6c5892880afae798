"""SNS adapter: notifications published in batches of ten."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from slipway.aws.clients import call, client
from slipway.errors import AwsError
from slipway.notifications import Notification
from slipway.workers import parallel_map

BATCH = 10  # PublishBatch takes at most 10 entries.
CONCURRENT_BATCHES = 8


class SnsNotifier:
    """Publishes notifications to the Slipway topic."""

    def __init__(self, topic_arn: str, sns_client: Any = None) -> None:
        self._topic_arn = topic_arn
        self._client = sns_client or client("sns")

    def publish(self, messages: Sequence[Notification]) -> list[str]:
        """Publish every message, the batches concurrently; one line per message not accepted."""
        starts = range(0, len(messages), BATCH)
        batches = parallel_map(partial(self._publish, messages), starts, CONCURRENT_BATCHES)
        return [line for lines in batches for line in lines]

    def _publish(self, messages: Sequence[Notification], start: int) -> list[str]:
        chunk = messages[start : start + BATCH]
        entries = [m.as_entry(str(start + i)) for i, m in enumerate(chunk)]
        try:
            response = call(
                "PublishBatch",
                self._client.publish_batch,
                TopicArn=self._topic_arn,
                PublishBatchRequestEntries=entries,
            )
        except AwsError as error:
            return [f"{m.subject()}: {error}" for m in chunk]
        failures: list[str] = []
        for failed in response.get("Failed", []):
            message = messages[int(failed["Id"])]
            failures.append(f"{message.subject()}: {failed.get('Code')}: {failed.get('Message', '')}")
        return failures
