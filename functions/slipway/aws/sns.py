"""SNS adapter: notifications published in batches of ten, to the main topic and the chat topic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger

from slipway.aws.calls import Caller, Count
from slipway.aws.clients import client, region_of
from slipway.chat import chat_entry
from slipway.errors import AwsError
from slipway.notifications import Notification
from slipway.places import Place
from slipway.workers import parallel_map

logger = Logger(child=True)

BATCH = 10  # PublishBatch takes at most 10 entries.
CONCURRENT_BATCHES = 8
CHAT_FAILURES = "ChatNotificationsFailed"

Entry = Callable[[Notification, str], dict[str, Any]]


class SnsNotifier:
    """Publishes notifications to the Slipway topic and, when there is one, their chat rendering to the chat
    topic; ``home`` is named where a message names no account.

    A message the chat topic did not take is logged as an error and counted (``ChatNotificationsFailed``),
    not returned as a failure. Every caller answers a failure by publishing the message again (a pending
    notice resent, an invocation retried), which would repeat on the main topic a message its subscribers
    already have, for the sake of its chat rendering: the main topic's contract is at most once per status.
    """

    def __init__(
        self,
        topic_arn: str,
        sns_client: Any = None,
        call: Caller | None = None,
        home: Place | None = None,
        chat_topic_arn: str = "",
        count: Count | None = None,
    ) -> None:
        self._topic_arn = topic_arn
        self._chat_topic_arn = chat_topic_arn
        self._home = home
        self._client = sns_client or client("sns")
        self._call = call or Caller("sns", region_of(self._client))
        self._count = count or (lambda name, value: None)

    def publish(self, messages: Sequence[Notification]) -> list[str]:
        """Publish every message, the batches concurrently; one line per message not accepted."""
        return [failure for failure in self.publish_each(messages) if failure]

    def publish_each(self, messages: Sequence[Notification]) -> list[str | None]:
        """Publish every message; per message, None when the main topic accepted it, else why not."""
        starts = range(0, len(messages), BATCH)
        batches = parallel_map(partial(self._publish_batch, messages), starts, CONCURRENT_BATCHES)
        self._report_chat([failure for _, chat in batches for failure in chat])
        return [result for main, _ in batches for result in main]

    def _publish_batch(self, messages: Sequence[Notification], start: int) -> tuple[list[str | None], list[str]]:
        """One batch to the main topic, then what it accepted to the chat topic: the main topic's results and
        the chat topic's failures. Only what the main topic accepted goes to chat, so that a message published
        again (the main topic refused it the first time) reaches the chat channel once too."""
        main = self._publish(self._topic_arn, self._main_entry, messages[start : start + BATCH], start)
        if not self._chat_topic_arn:
            return main, []
        accepted = [messages[start + i] for i, failure in enumerate(main) if failure is None]
        chat = self._publish(self._chat_topic_arn, self._chat_entry, accepted, 0) if accepted else []
        return main, [failure for failure in chat if failure]

    def _main_entry(self, message: Notification, entry_id: str) -> dict[str, Any]:
        return message.as_entry(entry_id, self._home)

    def _chat_entry(self, message: Notification, entry_id: str) -> dict[str, Any]:
        return chat_entry(message, entry_id, self._home)

    def _report_chat(self, failures: list[str]) -> None:
        if failures:
            logger.error("chat notifications not published", extra={"failures": failures})
            self._count(CHAT_FAILURES, len(failures))

    def _publish(self, topic_arn: str, entry: Entry, chunk: Sequence[Notification], start: int) -> list[str | None]:
        """One PublishBatch of ``chunk`` (entry ids from ``start``); per message, None or why not."""
        entries = [entry(m, str(start + i)) for i, m in enumerate(chunk)]
        try:
            response = self._call(
                "PublishBatch", self._client.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=entries
            )
        except AwsError as error:
            return [f"{m.subject()}: {error}" for m in chunk]
        results: list[str | None] = [None] * len(chunk)
        for failed in response.get("Failed", []):
            index = int(failed["Id"]) - start
            results[index] = f"{chunk[index].subject()}: {failed.get('Code')}: {failed.get('Message', '')}"
        return results
