"""The throttled runs' side of the server: ECS's token buckets in front of moto, and a record.

``Throttle`` lives in the server process, behind ``CallMeter``. Every ECS request takes a
token from its action's bucket (``sandbox.throttling.AccountBuckets``: ECS's documented
burst and refill, refills scaled by ``rate_scale``) or is answered as ECS answers an
empty bucket: HTTP 400 ``{"__type": "ThrottlingException", "message": "Rate exceeded"}``,
taking nothing and never reaching moto. As in ECS the buckets are per account and
Region: ``sandbox.throttling.ThrottledAccount`` picks them from the request's signature
(its Region, and the account moto maps its access key to; the server's moto is the one
that made the keys sts:AssumeRole returned), each place's full on its first request.

The record is what the benchmark reads afterwards instead of asking ECS (which would
take tokens): every request with its outcome (ECS's by action, the others as
``service.Operation``), every successful RegisterTaskDefinition
(the revision and its images), every successful UpdateService (the service and the
revision it now runs), every message SNS accepted and every continuation sent to
the work queue. Times are ``time.monotonic()``,
which on Linux is one clock for every process of the machine, so they compare with the
benchmark's own. A request carries the invocation that made it in the
``X-Bench-Invocation`` header (set by ``bench.environment``), so the record also says
which invocation did what, and each ECS request the place (``ACCOUNT:REGION``) whose
buckets it took from.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from sandbox.throttling import THROTTLED_BODY, AccountBuckets, ThrottledAccount

INVOCATION_HEADER = "X-Bench-Invocation"
_INVOCATION = "HTTP_X_BENCH_INVOCATION"
_RECORDED = frozenset(
    {"ecs.UpdateService", "ecs.RegisterTaskDefinition", "sns.PublishBatch", "sns.Publish", "sqs.SendMessageBatch"}
)

App = Callable[[dict[str, Any], Any], Any]
HOME = ("123456789012", "eu-west-1")  # the account moto serves the fake credentials in, and the server's Region


class _Signed:
    """A WSGI request as ``ThrottledAccount.buckets_of`` reads one: its Authorization header."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.headers = {"Authorization": str(environ.get("HTTP_AUTHORIZATION", ""))}


class Throttle:
    """ECS's buckets for one throttled run, and the record of what got through."""

    def __init__(self, rate_scale: float = 1.0) -> None:
        self.buckets = AccountBuckets(rate_scale=rate_scale)  # the home account's; the others' are made from it
        self.places = ThrottledAccount(self.buckets, home=HOME)
        self._place_names: dict[int, str] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        # (t, ECS action or service.Operation, "ok"/"throttled"/HTTP status, invocation, ECS's ACCOUNT:REGION or "")
        self.requests: list[tuple[float, str, str, str, str]] = []
        self.registrations: list[tuple[float, str, list[str], str]] = []  # (t, arn, images, invocation)
        self.updates: list[tuple[float, str, str, str]] = []  # (t, cluster/service, task definition, invocation)
        self.messages: list[tuple[float, dict[str, Any], str]] = []  # (t, SNS message, invocation)
        self.hand_ons: list[tuple[float, int, str]] = []  # (t, targets in one work-queue message, invocation)

    def serve(self, operation: str, environ: dict[str, Any], start_response: Any, app: App) -> Any:
        """Answer one request: throttled, or moto's answer (recorded when it is one the benchmark reads)."""
        service, _, action = operation.partition(".")
        invocation = str(environ.get(_INVOCATION, ""))
        place = ""
        if service == "ecs":
            buckets, place = self._buckets(environ)
            if not buckets.take(action):
                self._note(action, "throttled", invocation, place)
                return _throttled(start_response)
        request = _request_body(environ) if operation in _RECORDED and service != "ecs" else b""
        status: list[str] = []

        def capture(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        body = b"".join(app(environ, capture))
        ok = bool(status) and status[0].startswith("2")
        outcome = "ok" if ok else (status[0].split(" ", 1)[0] if status else "?")
        self._note(action if service == "ecs" else operation, outcome, invocation, place)
        if ok and operation in _RECORDED:
            self._record(operation, request, body, invocation)
        return [body]

    def _buckets(self, environ: dict[str, Any]) -> tuple[AccountBuckets, str]:
        """The buckets of the account and Region an ECS request acts in, and that place as ``ACCOUNT:REGION``."""
        buckets = self.places.buckets_of(_Signed(environ))
        name = self._place_names.get(id(buckets))
        if name is None:
            known = {id(b): f"{account}:{region}" for (account, region), b in _copy(self.places.places).items()}
            name = self._place_names.setdefault(id(buckets), known[id(buckets)])
        return buckets, name

    def _note(self, action: str, outcome: str, invocation: str, place: str = "") -> None:
        with self._lock:
            self.requests.append((time.monotonic(), action, outcome, invocation, place))

    def _record(self, operation: str, request: bytes, body: bytes, invocation: str) -> None:
        now = time.monotonic()
        if operation == "ecs.UpdateService":
            service = json.loads(body)["service"]
            cluster = str(service.get("clusterArn", "")).rsplit("/", 1)[-1]
            entry = (now, f"{cluster}/{service['serviceName']}", str(service["taskDefinition"]), invocation)
            with self._lock:
                self.updates.append(entry)
        elif operation == "ecs.RegisterTaskDefinition":
            definition = json.loads(body)["taskDefinition"]
            images = [str(c.get("image", "")) for c in definition.get("containerDefinitions", [])]
            with self._lock:
                self.registrations.append((now, str(definition["taskDefinitionArn"]), images, invocation))
        elif operation == "sqs.SendMessageBatch":
            sent = [_targets(entry.get("MessageBody", "")) for entry in json.loads(request).get("Entries", [])]
            with self._lock:
                self.hand_ons.extend((now, targets, invocation) for targets in sent)
        else:
            messages = _sns_messages(parse_qs(request.decode("utf-8", "replace")))
            with self._lock:
                self.messages.extend((now, message, invocation) for message in messages)

    def as_dict(self) -> dict[str, Any]:
        places = {f"{account}:{region}": b for (account, region), b in _copy(self.places.places).items()}
        taken: Counter[str] = Counter()
        throttled: Counter[str] = Counter()
        for buckets in places.values():
            taken.update(buckets.taken)
            throttled.update(buckets.throttled)
        with self._lock:
            return {
                "started": self.started,
                "home": f"{HOME[0]}:{HOME[1]}",
                "quotas": {action: list(quota) for action, quota in self.buckets.quotas.items()},
                "taken": dict(taken),
                "throttled": dict(throttled),
                "by_place": {
                    place: {"taken": dict(b.taken), "throttled": dict(b.throttled)} for place, b in places.items()
                },
                "requests": list(self.requests),
                "registrations": list(self.registrations),
                "updates": list(self.updates),
                "messages": list(self.messages),
                "hand_ons": list(self.hand_ons),
            }


def _copy(places: dict[tuple[str, str], AccountBuckets]) -> dict[tuple[str, str], AccountBuckets]:
    """A copy of ``ThrottledAccount.places``, which another thread may add to: ``dict()`` of it runs in C,
    under the GIL, so it never sees the dict change size half way (iterating over it could)."""
    return dict(places)


def _throttled(start_response: Any) -> list[bytes]:
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(THROTTLED_BODY))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    start_response("400 Bad Request", headers)
    return [THROTTLED_BODY]


def _request_body(environ: dict[str, Any]) -> bytes:
    """The request's body, left readable for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = bytes(environ["wsgi.input"].read(length)) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _targets(body: str) -> int:
    """How many targets a continuation (a work-queue message's body) hands on."""
    try:
        return len(json.loads(body).get("targets", []))
    except (ValueError, AttributeError):
        return 0


def _sns_messages(form: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The JSON messages of a Publish or PublishBatch request (Slipway's messages are JSON objects)."""
    texts = [values[0] for key, values in form.items() if key == "Message" or key.endswith(".Message")]
    messages = []
    for text in texts:
        try:
            message = json.loads(text)
        except ValueError:
            message = {"text": text}
        messages.append(message if isinstance(message, dict) else {"value": message})
    return messages
