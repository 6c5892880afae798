"""SNS adapter: notifications published in batches of ten."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.errors import AwsError
from slipway.notifications import Notification
from slipway.places import Place
from slipway.workers import parallel_map

BATCH = 10  # PublishBatch takes at most 10 entries.
CONCURRENT_BATCHES = 8


class SnsNotifier:
    """Publishes notifications to the Slipway topic; ``home`` is named where a message names no account."""

    def __init__(
        self, topic_arn: str, sns_client: Any = None, call: Caller | None = None, home: Place | None = None
    ) -> None:
        self._topic_arn = topic_arn
        self._home = home
        self._client = sns_client or client("sns")
        self._call = call or Caller("sns", region_of(self._client))

    def publish(self, messages: Sequence[Notification]) -> list[str]:
        """Publish every message, the batches concurrently; one line per message not accepted."""
        return [failure for failure in self.publish_each(messages) if failure]

    def publish_each(self, messages: Sequence[Notification]) -> list[str | None]:
        """Publish every message; per message, None when SNS accepted it, else why not."""
        starts = range(0, len(messages), BATCH)
        batches = parallel_map(partial(self._publish, messages), starts, CONCURRENT_BATCHES)
        return [result for batch in batches for result in batch]

    def _publish(self, messages: Sequence[Notification], start: int) -> list[str | None]:
        chunk = messages[start : start + BATCH]
        entries = [m.as_entry(str(start + i), self._home) for i, m in enumerate(chunk)]
        try:
            response = self._call(
                "PublishBatch",
                self._client.publish_batch,
                TopicArn=self._topic_arn,
                PublishBatchRequestEntries=entries,
            )
        except AwsError as error:
            return [f"{m.subject()}: {error}" for m in chunk]
        results: list[str | None] = [None] * len(chunk)
        for failed in response.get("Failed", []):
            index = int(failed["Id"])
            message = messages[index]
            results[index - start] = f"{message.subject()}: {failed.get('Code')}: {failed.get('Message', '')}"
        return results
