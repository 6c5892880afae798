"""One Lambda execution environment of the deploy function, as a process of its own.

In Lambda every concurrent invocation runs in an execution environment of its own (a
process: its own interpreter, its own Slipway App and pacer), and an environment is
reused for later invocations, one at a time, keeping what the last one left (clients,
caches, the pacer's buckets). ``python -m bench.environment`` is one such environment:
it imports the deploy handler (Lambda's init phase), says ``ready``, then runs one
invocation per line of its stdin, the real handler with a context whose remaining time
runs down from the function's timeout, and answers each on a line of its own.

Slipway's logs and metrics go where Lambda would send them, which here is nowhere: the
process's stdout is ``/dev/null``; the answers go over a duplicate of the original
stdout. Every AWS request carries the invocation's id in a header, for the server's
record (``bench.throttle``). ``Environment`` starts and drives one from the benchmark.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any

from bench.throttle import INVOCATION_HEADER

READY = "ready"
START_SECONDS = 120  # imports on a busy 2-core machine
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:slipway-deploy"


@dataclass
class Answer:
    """What an invocation returned or raised, as the environment reported it."""

    result: Any = None
    error: str | None = None  # "Type: message", or "Task timed out after N s" (the environment is gone)
    ended: float = 0.0


class Environment:
    """A ``python -m bench.environment`` child: started, warmed, invoked, stopped."""

    def __init__(self, name: str, environ: dict[str, str]) -> None:
        from bench import FUNCTIONS_PATH, ROOT

        self.name = name
        self.invocations = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.environment"],
            cwd=ROOT,
            env={**environ, "PYTHONPATH": FUNCTIONS_PATH, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self._out: IO[str] = self.process.stdout
        self._in: IO[str] = self.process.stdin
        line = self._line(time.monotonic() + START_SECONDS)
        if line != READY:
            self.stop()
            raise RuntimeError(f"execution environment {name} did not start ({line or 'no answer'})")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, invocation: str, event: dict[str, Any], timeout_ms: int, started: float) -> Answer:
        """Run one invocation that started at ``started`` (monotonic); killed at its timeout, as Lambda does."""
        self.invocations += 1
        request = {"id": invocation, "event": event, "timeout_ms": timeout_ms, "started": started}
        self._in.write(json.dumps(request) + "\n")
        self._in.flush()
        # A moment past the timeout: the child's answer may be on its way when the deadline passes.
        line = self._line(started + timeout_ms / 1000 + 0.5)
        if not line:
            self.stop()
            return Answer(error=f"Task timed out after {timeout_ms / 1000:.1f} seconds", ended=time.monotonic())
        answer = json.loads(line)
        return Answer(answer.get("result"), answer.get("error"), float(answer["ended"]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self._in, self._out):
            try:
                pipe.close()
            except OSError:
                pass  # a broken pipe to a killed child: nothing left to flush

    def _line(self, deadline: float) -> str:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return ""
            ready, _, _ = select.select([self._out], [], [], left)
            if ready:
                return self._out.readline().strip()


# -- the environment's side ---------------------------------------------------------


class _Context:
    """The Lambda context: remaining time runs down from the timeout since the invocation started."""

    function_name = "slipway-deploy"
    memory_limit_in_mb = 512
    invoked_function_arn = FUNCTION_ARN
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/slipway-deploy"
    log_stream_name = "bench"

    def __init__(self, timeout_ms: int, started: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = started + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Tagging:
    """botocore ``before-send`` hook: each request names the invocation that made it."""

    current = ""

    def __call__(self, request: Any, **_: Any) -> None:
        request.headers[INVOCATION_HEADER] = self.current


def main() -> None:
    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # Slipway's logs and EMF metrics: written, as in Lambda, and discarded
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")

    import boto3
    from aws_lambda_powertools.utilities import parameters

    from slipway import app
    from slipway.handlers import deploy
    from slipway.settings import Settings, settings

    tagging = _Tagging()
    session = boto3.session.Session()
    session.events.register("before-send", tagging)
    settings.cache_clear()
    parameters.clear_caches()
    app.use(app.App(config=Settings.from_environ(), session=session))
    print(READY, file=answers, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        tagging.current = str(request["id"])
        context = _Context(int(request["timeout_ms"]), float(request["started"]))
        answer: dict[str, Any] = {"id": request["id"]}
        try:
            answer["result"] = deploy.handler(request["event"], context)
        except Exception as error:  # noqa: BLE001 - any error fails the invocation, as in Lambda
            answer["error"] = f"{type(error).__name__}: {str(error)[:500]}"
        answer["ended"] = time.monotonic()
        print(json.dumps(answer, default=str), file=answers, flush=True)


if __name__ == "__main__":
    main()
