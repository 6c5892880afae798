"""The moto server the benchmarks run against, in its own process, counting every AWS call it answers.

``python -m bench.server`` is that process: it installs the bridges over moto's gaps
(``sandbox.bridge.install_ecs_deployments``, which patches moto, so it must run where
moto serves),
starts a ``ThreadedMotoServer`` on a free port of 127.0.0.1 behind ``CallMeter``,
prints its endpoint on one line and serves until its stdin closes (the benchmark
exited or died) or it gets SIGTERM. ``MotoServer`` starts and drives it from the
benchmark.

The server has an interpreter of its own, as AWS is a different machine: its work and
the clients' (Slipway's deploy handler and its 16 threads, in the benchmark process)
do not take turns on one GIL. Counting happens at the server, so calls made by other
processes (one ``ecs deploy`` per service) are counted with the same meter as
Slipway's and the raw loop's.
"""

from __future__ import annotations

import collections
import gc
import io
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import IO, Any
from urllib.parse import parse_qs

from bench.throttle import Throttle

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

CONTROL = "/bench-api/"  # the benchmark's own requests to the server, never counted
BOOKKEEPING_HEADER = "X-Bench-Bookkeeping"  # the benchmark's own AWS calls: not counted, throttled or delayed
_BOOKKEEPING = "HTTP_X_BENCH_BOOKKEEPING"
RESET = "/moto-api/reset"
STARTUP_SECONDS = 120  # importing moto on a busy 2-core machine can take a while

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

    Requests under ``/bench-api/`` are the benchmark's, not counted: GET
    ``/bench-api/calls`` answers the counts as JSON, PUT or POST ``/bench-api/latency``
    with a JSON object sets ``latency``. PUT ``/bench-api/throttling`` with
    ``{"rate_scale": k}`` puts ECS's token buckets (full, refills times k) in front of
    moto (``bench.throttle.Throttle``), GET answers its record, DELETE takes them away;
    every section but the throttled one runs without them.

    A request with the ``X-Bench-Bookkeeping`` header is the benchmark's own (building
    a fleet, reading results): it goes straight to moto, uncounted, with no latency,
    no token taken and nothing recorded.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.cpu: dict[str, float] = {}  # the server thread's CPU seconds by operation
        self.latency: dict[str, float] = {}
        self.throttle: Throttle | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if str(environ.get("PATH_INFO", "")).startswith(CONTROL):
            return self._control(environ, start_response)
        if environ.get("PATH_INFO") == RESET:
            return self._reset(environ, start_response)
        if environ.get(_BOOKKEEPING):
            return self._app(environ, start_response)
        operation = self._operation(environ)
        if operation:
            with self._lock:
                self.calls[operation] += 1
            latency = self.latency
            delay = latency.get(operation.split(".", 1)[0], latency.get("*", 0.0))
            if delay:
                time.sleep(delay)  # releases the GIL, as waiting on the network does
        throttle = self.throttle
        started = time.thread_time()
        try:
            if throttle is not None and operation:
                return throttle.serve(operation, environ, start_response, self._app)
            return self._app(environ, start_response)
        finally:
            if operation:
                spent = time.thread_time() - started
                with self._lock:
                    self.cpu[operation] = self.cpu.get(operation, 0.0) + spent

    def _reset(self, environ: dict[str, Any], start_response: Any) -> Any:
        """moto's reset, then the garbage collector set to skip everything that lives on.

        A full collection in this process (all of moto imported, a few hundred thousand
        objects) stops every request for about 100 ms, at whatever moment it falls due: in
        one run and not in the next. After each reset the objects that remain (modules,
        the empty backends) are frozen out of the collector, so a collection during a run
        looks only at what the run made. The previous run's objects are collected first.
        """
        gc.unfreeze()
        answer = self._app(environ, start_response)
        gc.collect()
        gc.freeze()
        return answer

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)

    def _control(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = str(environ.get("PATH_INFO", ""))[len(CONTROL) :].strip("/")
        method = str(environ.get("REQUEST_METHOD", "GET"))
        try:
            if path == "calls" and method == "GET":
                body: Any = dict(self.snapshot())
            elif path == "cpu" and method == "GET":
                with self._lock:
                    body = dict(self.cpu)
            elif path == "latency" and method in ("PUT", "POST"):
                latency = _json_body(environ)
                if not isinstance(latency, dict):
                    raise ValueError("latency must be a JSON object of seconds by service")
                self.latency = {str(k): float(v) for k, v in latency.items()}
                body = self.latency
            elif path == "throttling":
                body = self._throttling(method, environ)
            else:
                return _answer(start_response, "404 Not Found", {"error": f"no {method} {CONTROL}{path}"})
        except (ValueError, TypeError) as error:
            return _answer(start_response, "400 Bad Request", {"error": str(error)})
        return _answer(start_response, "200 OK", body)

    def _throttling(self, method: str, environ: dict[str, Any]) -> Any:
        """PUT: fresh buckets (full) and an empty record; GET: the record; DELETE: no buckets."""
        if method in ("PUT", "POST"):
            settings = _json_body(environ)
            if not isinstance(settings, dict):
                raise ValueError('throttling takes a JSON object, e.g. {"rate_scale": 1}')
            self.throttle = Throttle(rate_scale=float(settings.get("rate_scale", 1.0)))
            return {"quotas": self.throttle.buckets.quotas}
        if method == "DELETE":
            self.throttle = None
            return {}
        if self.throttle is None:
            raise ValueError("no throttling set (PUT /bench-api/throttling first)")
        return self.throttle.as_dict()

    def _operation(self, environ: dict[str, Any]) -> str | None:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return None
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            prefix, _, operation = str(target).partition(".")
            return f"{_TARGET_SERVICES.get(prefix, prefix)}.{operation}"
        service = _signed_service(str(environ.get("HTTP_AUTHORIZATION", "")))
        return f"{service}.{_query_action(environ) or environ.get('REQUEST_METHOD', '?')}"


def _json_body(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}")


def _answer(start_response: Any, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


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


# -- the benchmark's side ------------------------------------------------------------

# Straight to 127.0.0.1, whatever HTTP(S)_PROXY says.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoServer:
    """The moto server in a child process (``python -m bench.server``) on 127.0.0.1, a free port."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self.endpoint = ""
        self.latency: dict[str, float] = {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        """Start the server process, and point this process's AWS clients at it."""
        from bench import FUNCTIONS_PATH, ROOT

        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")}
        env.update(FAKE_CREDENTIALS, PYTHONPATH=FUNCTIONS_PATH, PYTHONUNBUFFERED="1")
        # stdin stays open as long as this process lives: the server stops when it closes.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.server"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        threading.Thread(target=self._relay, args=(self._process.stderr,), daemon=True).start()
        ready, _, _ = select.select([self._process.stdout], [], [], STARTUP_SECONDS)
        line = self._process.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            try:
                code: int | None = self._process.wait(timeout=5 if ready else 0.1)  # EOF: it is exiting
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            why = f"exited with {code}" if code is not None else f"no endpoint within {STARTUP_SECONDS} s"
            raise RuntimeError(f"the moto server process did not start ({line or why}){self._last_words()}")
        self.endpoint = line
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
        self._request("POST", RESET, b"")

    def calls(self) -> Counter[str]:
        """The calls the server has answered so far, by ``service.Operation``."""
        return Counter({str(k): int(v) for k, v in self._request("GET", CONTROL + "calls").items()})

    def cpu(self) -> dict[str, float]:
        """The server's CPU seconds so far, by ``service.Operation`` (thread time of each request)."""
        return {str(k): float(v) for k, v in self._request("GET", CONTROL + "cpu").items()}

    def set_latency(self, latency: dict[str, float]) -> None:
        """Hold each answer this long (seconds by service, ``*`` for the rest); ``{}`` for none."""
        self._request("PUT", CONTROL + "latency", json.dumps(latency).encode())
        self.latency = dict(latency)

    def throttle(self, rate_scale: float = 1.0) -> None:
        """ECS's token buckets in front of moto from now on, full, refills times ``rate_scale``; a new record."""
        self._request("PUT", CONTROL + "throttling", json.dumps({"rate_scale": rate_scale}).encode())

    def throttle_record(self) -> dict[str, Any]:
        """What the buckets let through and refused since ``throttle`` (see ``bench.throttle``)."""
        return dict(self._request("GET", CONTROL + "throttling"))

    def unthrottle(self) -> None:
        self._request("DELETE", CONTROL + "throttling")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe:
                pipe.close()

    def _request(self, method: str, path: str, data: bytes | None = None) -> Any:
        self._check()
        request = urllib.request.Request(f"{self.endpoint}{path}", data=data, method=method)
        try:
            with _direct.open(request, timeout=60) as response:  # our own server on 127.0.0.1
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"the moto server answered {method} {path} with {error.code}: {error.read()[:500]!r}"
            ) from error
        except (urllib.error.URLError, ConnectionError) as error:
            self._check()  # a server that died in the meantime says so
            raise RuntimeError(f"the moto server did not answer {method} {path}: {error}") from error

    def _check(self) -> None:
        if self._process is None:
            raise RuntimeError("the moto server is not running (MotoServer.start() first)")
        code = self._process.poll()
        if code is not None:
            raise RuntimeError(
                f"the moto server process (pid {self._process.pid}) exited with {code}{self._last_words()}"
            )

    def _relay(self, stderr: IO[str]) -> None:
        """The server's stderr goes on to ours; its last lines are kept for the error message."""
        for line in stderr:
            self._stderr.append(line.rstrip())
            sys.stderr.write(line)

    def _last_words(self) -> str:
        time.sleep(0.2)  # let the relay catch the traceback's last lines
        return (":\n" + "\n".join(self._stderr)) if self._stderr else ""


# -- the server's side ---------------------------------------------------------------


def main() -> None:
    """Serve moto behind ``CallMeter`` until stdin closes or SIGTERM; the endpoint is the first line out."""
    from moto.server import ThreadedMotoServer

    from sandbox import bridge

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    # The sandbox's bridges: ECS deployments, capacity provider strategies, serial
    # revision numbers; atomic DynamoDB item operations and transactions without table copies.
    bridge.install_ecs_deployments()
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    wsgi = server._server  # the werkzeug server: its app is what every request reaches
    assert wsgi is not None
    wsgi.app = CallMeter(wsgi.app)
    host, port = server.get_host_and_port()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the benchmark too, which stops us

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stopping.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    print(f"http://{host}:{port}", flush=True)
    sys.stdout = sys.stderr  # nothing else may fill a pipe the parent no longer reads
    while not stopping.wait(0.5):
        pass
    server.stop()


if __name__ == "__main__":
    main()
