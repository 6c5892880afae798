"""Lambda's side of an invocation, for the sandbox: deadlines, retries and the SQS event source.

Slipway's deploy function is invoked by EventBridge (asynchronously: Lambda retries a
failed invocation twice, then sends the event to the on-failure destination) and by its
work queue (an SQS event source: a message whose invocation fails, or that the handler
reports as a failed batch item, is received again until its receive count reaches the
redrive policy's maximum, then it moves to the dead-letter queue). moto runs no
functions; ``Runtime`` plays Lambda for the handler, in this process, with the
template's settings, so tests, the demo and the benchmark can run a push that takes
several invocations end to end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import template as tpl
from sandbox.stack import ACCOUNT, REGION, LambdaContext, World

Handler = Callable[[dict[str, Any], Any], Any]
ASYNC_RETRIES = 2  # Lambda's asynchronous invocations: EventInvokeConfig.MaximumRetryAttempts


@dataclass
class Invocation:
    """One invocation as Lambda saw it: its event, result or error, and how long it took."""

    source: str  # "event" or "sqs"
    seconds: float
    result: Any = None
    error: BaseException | None = None


@dataclass
class Runtime:
    """Invokes a handler as Lambda would, and polls the work queue as its event source does."""

    world: World
    handler: Handler
    timeout_ms: int = field(default_factory=lambda: int(tpl.function_timeout("DeployFunction") * 1000))
    function_name: str = "slipway-deploy"
    invocations: list[Invocation] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any], source: str = "event") -> Any:
        """One invocation with a fresh context whose time runs down from the timeout."""
        context = LambdaContext(
            function_name=self.function_name,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}",
            timeout_ms=self.timeout_ms,
        )
        started = time.monotonic()
        try:
            result = self.handler(json.loads(json.dumps(event)), context)
        except Exception as error:
            self.invocations.append(Invocation(source, time.monotonic() - started, error=error))
            raise
        self.invocations.append(Invocation(source, time.monotonic() - started, result=result))
        return result

    def deliver(self, event: dict[str, Any]) -> Any:
        """An asynchronous invocation: retried twice after an error, then the event is a dead letter."""
        for attempt in range(ASYNC_RETRIES + 1):
            try:
                return self.invoke(event)
            except Exception:  # noqa: BLE001 - any error fails the invocation, as in Lambda
                if attempt == ASYNC_RETRIES:
                    self.dead_letters.append(event)
        return None

    def carry_on(self, max_invocations: int = 1000, max_wait: float = 120.0) -> int:
        """Invoke the handler for each work-queue message until the queue is empty; the invocations made.

        A message sent with a delay is waited for (up to ``max_wait`` seconds in all), as the
        event source would receive it once the delay is over.
        """
        assert self.world.stack is not None
        url = self.world.stack.work_queue_url
        made, waited = 0, 0.0
        while made < max_invocations:
            messages = self.world.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if messages:
                made += 1
                self._consume(url, messages[0])
                continue
            if not self.world.delayed(url) or waited >= max_wait:
                return made
            time.sleep(0.2)
            waited += 0.2
        return made

    def _consume(self, url: str, message: dict[str, Any]) -> None:
        event = {"Records": [sqs_record(self.world, url, message)]}
        try:
            response = self.invoke(event, source="sqs")
        except Exception:  # noqa: BLE001 - any error fails the invocation, as in Lambda
            failed = True
        else:
            failed = bool((response or {}).get("batchItemFailures"))
        if failed:
            # Received again at once (the sandbox does not wait out the visibility timeout),
            # until the redrive policy moves it to the dead-letter queue.
            self._return_or_redrive(url, message)
        else:
            self.world.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _return_or_redrive(self, url: str, message: dict[str, Any]) -> None:
        received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if received >= tpl.max_receive_count("WorkQueue"):
            assert self.world.stack is not None
            self.world.sqs.send_message(QueueUrl=self.world.stack.dead_letter_url, MessageBody=message["Body"])
            self.world.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        else:
            self.world.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def run(self, event: dict[str, Any]) -> int:
        """A push delivered and carried on until nothing is left: the invocations it took."""
        before = len(self.invocations)
        self.deliver(event)
        self.carry_on()
        return len(self.invocations) - before


def sqs_record(world: World, url: str, message: dict[str, Any]) -> dict[str, Any]:
    """The record Lambda's SQS event source hands the function for one message."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", ACCOUNT),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": world.queue_arn(url),
        "awsRegion": world.region,
    }
