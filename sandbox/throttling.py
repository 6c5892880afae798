"""ECS's request throttling, played in front of moto (which answers every call at once).

ECS throttles each account and Region with a token bucket per action (AWS documentation,
"Request throttling for the Amazon ECS API"): a request finds a token and goes, or finds
none and fails with HTTP 400 ``ThrottlingException`` "Rate exceeded", taking nothing.
``AccountBuckets`` keeps those buckets on a clock, deterministically; ``ThrottledAccount``
applies them to a boto3 session through botocore's ``before-send`` event (in-process
tests under ``mock_aws``), one set per account and Region a request acts in (its
signature's Region, the account moto maps its access key to), and the benchmark's server applies the same buckets to every
request it serves. Optional latency holds each request for a while, as a network would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

# The documented quotas: (burst, refill per second) per ECS action.
ECS_BUCKETS: Mapping[str, tuple[int, float]] = {
    "RegisterTaskDefinition": (20, 1),
    "DeregisterTaskDefinition": (20, 1),
    "CreateService": (50, 5),
    "UpdateService": (50, 5),
    "DeleteService": (50, 5),
    "DescribeServices": (100, 20),
    "ListServices": (100, 20),
    "DescribeTaskDefinition": (50, 20),
    "ListTaskDefinitions": (50, 20),
    "DescribeTasks": (100, 20),
    "ListTasks": (100, 20),
    "DescribeServiceDeployments": (50, 20),
    "ListServiceDeployments": (50, 20),
}


class AccountBuckets:
    """A token bucket per ECS action; ``take`` says whether a request goes or is throttled."""

    def __init__(
        self,
        buckets: Mapping[str, tuple[int, float]] | None = None,
        rate_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quotas = {action: (burst, rate * rate_scale) for action, (burst, rate) in (buckets or ECS_BUCKETS).items()}
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = {action: float(burst) for action, (burst, _) in self.quotas.items()}
        self._stamp = {action: clock() for action in self.quotas}
        self.taken: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def take(self, action: str) -> bool:
        """A token for one request of ``action`` (True), or a throttle (False). Unknown actions always go."""
        if action not in self.quotas:
            return True
        burst, rate = self.quotas[action]
        with self._lock:
            now = self._clock()
            self._tokens[action] = min(float(burst), self._tokens[action] + (now - self._stamp[action]) * rate)
            self._stamp[action] = now
            if self._tokens[action] >= 1:
                self._tokens[action] -= 1
                self.taken[action] += 1
                return True
            self.throttled[action] += 1
            return False

    def fresh(self) -> AccountBuckets:
        """Full buckets of the same quotas on the same clock: another account's or Region's."""
        return AccountBuckets(self.quotas, clock=self._clock)

    def reset(self) -> None:
        with self._lock:
            now = self._clock()
            for action, (burst, _) in self.quotas.items():
                self._tokens[action] = float(burst)
                self._stamp[action] = now
            self.taken.clear()
            self.throttled.clear()


THROTTLED_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
THROTTLED_HEADERS = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-query-error": "ThrottlingException;Sender"}


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


# The credential scope of a SigV4 signature: Credential=KEY/DATE/REGION/SERVICE/aws4_request.
_SIGNED = re.compile(r"Credential=(?P<key>[^/]+)/\d+/(?P<region>[^/]+)/")


class ThrottledAccount:
    """botocore hook: ECS requests over their bucket are answered as ECS answers them.

    ``buckets`` are those of ``home`` (the sandbox's account and Region); a request acting
    in another account or Region takes from that one's, made full on its first request.
    """

    def __init__(
        self,
        buckets: AccountBuckets | None = None,
        latency: float = 0.0,
        home: tuple[str, str] = ("123456789012", "eu-west-1"),
    ) -> None:
        self.buckets = buckets or AccountBuckets()
        self.latency = latency
        self.places: dict[tuple[str, str], AccountBuckets] = {home: self.buckets}
        self._places_lock = threading.Lock()

    def buckets_of(self, request: Any) -> AccountBuckets:
        """The buckets of the account and Region ``request`` acts in."""
        signed = _SIGNED.search(str(request.headers.get("Authorization", "") or ""))
        if signed is None:
            return self.buckets
        from moto.iam.models import get_account_id_from

        place = (get_account_id_from(signed.group("key")), signed.group("region"))
        with self._places_lock:
            if place not in self.places:
                self.places[place] = self.buckets.fresh()
            return self.places[place]

    def install(self, session: boto3.session.Session) -> boto3.session.Session:
        """Register on ``session`` (ahead of any hook registered before it): clients made after see the buckets."""
        session.events.register_first("before-send", self.before_send)
        return session

    def before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        if self.latency:
            time.sleep(self.latency)
        if service != "ecs" or self.buckets_of(request).take(operation):
            return None
        request.url = "https://throttled.invalid/"  # nothing else executes it, as ECS would not
        return AWSResponse("https://throttled.invalid", 400, THROTTLED_HEADERS, _Body(THROTTLED_BODY))
