"""The moto server the benchmarks run against, counting every AWS call it answers.

The server runs in this process (``ThreadedMotoServer``) so that the sandbox's patches
over moto's gaps apply to it. Counting happens at the server, so calls made by other
processes (one ``ecs deploy`` per service) are counted with the same meter as
Slipway's and the raw loop's.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import urllib.request
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from moto.server import ThreadedMotoServer

from bench import bridge

HOST = "127.0.0.1"
REGION = "eu-west-1"

# X-Amz-Target prefixes of the JSON-protocol services the benchmarks use.
_TARGET_SERVICES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AmazonSSM": "ssm",
    "DynamoDB_20120810": "dynamodb",
    "AmazonSQS": "sqs",
    "AWSEvents": "events",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
}

# What every process that talks to the server needs: fake credentials, its endpoint,
# a region, and no profile that could point elsewhere.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class CallMeter:
    """WSGI middleware: counts requests as ``service.Operation`` (Faults' naming).

    ``latency`` (seconds by service, ``*`` for the rest) delays each answer, for the
    what-if runs that model AWS round trips; it is empty for every measurement that
    counts toward a target.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.latency: dict[str, float] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        operation = self._operation(environ)
        if operation:
            with self._lock:
                self.calls[operation] += 1
            delay = self.latency.get(operation.split(".", 1)[0], self.latency.get("*", 0.0))
            if delay:
                time.sleep(delay)  # releases the GIL, as waiting on the network does
        return self._app(environ, start_response)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)

    def _operation(self, environ: dict[str, Any]) -> str | None:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return None
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            prefix, _, operation = str(target).partition(".")
            return f"{_TARGET_SERVICES.get(prefix, prefix)}.{operation}"
        service = _signed_service(str(environ.get("HTTP_AUTHORIZATION", "")))
        return f"{service}.{_query_action(environ) or environ.get('REQUEST_METHOD', '?')}"


def _signed_service(authorization: str) -> str:
    # "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/sns/aws4_request, ..."
    credential = authorization.partition("Credential=")[2].split(",", 1)[0]
    parts = credential.split("/")
    return parts[3] if len(parts) > 3 else "unknown"


def _query_action(environ: dict[str, Any]) -> str | None:
    """``Action`` of a query-protocol request (SNS, STS), from the query or the form body."""
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query["Action"][0]
    if "x-www-form-urlencoded" not in str(environ.get("CONTENT_TYPE", "")):
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # the app reads it again
    form = parse_qs(body.decode("utf-8", "replace"))
    return form["Action"][0] if "Action" in form else None


class MotoServer:
    """A moto server on 127.0.0.1 (a free port) in this process."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self.meter: CallMeter | None = None
        self.endpoint = ""

    def start(self) -> str:
        """Start the server, bridge moto's ECS gaps, and point this process's AWS clients at it."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        bridge.install()
        self._server.start()
        host, port = self._server.get_host_and_port()
        wsgi = self._server._server  # the werkzeug server: its app is what every request reaches
        assert wsgi is not None
        self.meter = CallMeter(wsgi.app)
        wsgi.app = self.meter
        self.endpoint = f"http://{host}:{port}"
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint})
        return self.endpoint

    def environment(self) -> dict[str, str]:
        """Environment for a child process that should talk to this server."""
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        return {**env, **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def reset(self) -> None:
        """Forget every resource (moto's reset API): each run starts from an empty account."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:  # our own server on 127.0.0.1
            json.loads(response.read() or b"{}")

    def calls(self) -> Counter[str]:
        assert self.meter is not None
        return self.meter.snapshot()

    def stop(self) -> None:
        self._server.stop()
