"""Count AWS calls and inject faults through botocore's ``before-send`` event.

The handler answers a request in place of the service, so botocore parses the
fault exactly as it would parse AWS's and its real retry logic runs.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import boto3
from botocore.awsrequest import AWSResponse

from sandbox.image_checks import ImageChecks
from sandbox.stack import ACCOUNT, LAMBDA_TIME

# Services whose errors come back as XML (query protocol) rather than JSON.
_QUERY_PROTOCOL = {"sns", "iam", "sts", "cloudformation"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@dataclass(frozen=True)
class Fault:
    """An error response: HTTP status, AWS error code and message (or a raised exception).

    ``takes``: the seconds of the invocation's time the failed call takes (spent on the
    sandbox's Lambda clock, ``sandbox.stack.LAMBDA_TIME``), as a call that times out, or
    is answered slowly, takes them in AWS.
    """

    code: str
    status: int = 400
    message: str = "injected by the test"
    exception: Callable[[], BaseException] | None = None
    after_send: bool = False
    takes: float = 0.0


# Decides, from a request, whether it meets a fault (None: it goes through).
Decide = Callable[[Any], Fault | None]
# Who calls AssumeRole for Slipway: the deploy function's role, as Lambda names its session.
FUNCTION_CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/slipway-DeployFunctionRole-SANDBOX/slipway-deploy"


def _response(service: str, fault: Fault) -> AWSResponse:
    if service in _QUERY_PROTOCOL:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
            f"<Message>{fault.message}</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    else:
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-query-error": f"{fault.code};Sender"}
    return AWSResponse("https://fault.invalid", fault.status, headers, _Raw(body))


class Faults:
    """A botocore hook: counts every call and answers planned ones with faults."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._planned: dict[str, deque[Fault | None]] = defaultdict(deque)
        self._always: dict[str, Fault] = {}
        self._deciders: dict[str, list[Decide]] = defaultdict(list)
        self._lock = threading.Lock()
        self.sent_after: Counter[str] = Counter()
        self.images = ImageChecks()  # ECR's scan findings and signing status, which moto lacks

    def fail(self, operation: str, fault: Fault, times: int = 1, after: int = 0) -> Faults:
        """Answer ``times`` calls of ``service.Operation`` with ``fault``, once ``after`` more have gone through."""
        with self._lock:
            self._planned[operation].extend([None] * after + [fault] * times)
        return self

    def fail_always(self, operation: str, fault: Fault) -> Faults:
        """Answer every call of ``service.Operation`` with ``fault`` until ``stop``."""
        with self._lock:
            self._always[operation] = fault
        return self

    def fail_when(self, operation: str, decide: Decide) -> Faults:
        """Answer each call of ``service.Operation`` with the fault ``decide`` finds in its request, until ``stop``."""
        with self._lock:
            self._deciders[operation].append(decide)
        return self

    def deny_assume_role(self, role_arn: str, caller: str = FUNCTION_CALLER) -> Faults:
        """sts:AssumeRole of ``role_arn`` fails with AccessDenied until ``stop``; other roles are assumed.

        STS answers so, HTTP 403, when the role's trust policy does not name the caller or
        the caller may not assume the role (the IAM User Guide's "Troubleshoot access denied
        error messages"): ``User: <caller> is not authorized to perform: sts:AssumeRole on
        resource: <role ARN>``.
        """
        message = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        denied = Fault("AccessDenied", 403, message)
        return self.fail_when(
            "sts.AssumeRole", lambda request: denied if _form(request).get("RoleArn") == role_arn else None
        )

    def stop(self, operation: str | None = None) -> None:
        """No more faults for ``operation`` (or for any)."""
        with self._lock:
            kept: list[dict[str, Any]] = [self._planned, self._always, self._deciders]
            for planned in kept:
                if operation is None:
                    planned.clear()
                else:
                    planned.pop(operation, None)

    def count(self, prefix: str = "") -> int:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix))

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()

    def before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        key = f"{service}.{operation}"
        with self._lock:
            self.calls[key] += 1
            planned = self._planned.get(key)
            fault = planned.popleft() if planned else self._always.get(key)
            if planned is not None and not planned and fault is None:
                self._planned.pop(key, None)
            deciders = list(self._deciders.get(key, ()))
        for decide in deciders:
            fault = fault or decide(request)
        if fault is None:
            return None
        LAMBDA_TIME.spend(fault.takes)
        if fault.after_send:
            # The service does the work; the answer is lost on the way back (a read timeout).
            self._deliver(event_name, request)
            self.sent_after[key] += 1
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url=request.url)
        if fault.exception is not None:
            raise fault.exception()
        # Every before-send handler runs; pointing the request nowhere keeps moto's
        # in-process handler from executing it, as AWS would not have.
        request.url = "https://fault.invalid/"
        return _response(service, fault)

    @staticmethod
    def _deliver(event_name: str, request: Any) -> None:
        """Let moto execute the request (in-process), discarding its answer."""
        from moto.core.models import botocore_stubber

        botocore_stubber(event_name=event_name, request=request)

    def session(self, region: str = "eu-west-1") -> boto3.session.Session:
        """A boto3 session whose clients go through this hook (registered before moto's).

        The image checks bridge answers after this hook: its calls are counted, and can fail, here.
        """
        session = boto3.session.Session(region_name=region)
        session.events.register_first("before-send", self.before_send)
        session.events.register_first("before-send", self.images.before_send)
        return session


def _form(request: Any) -> dict[str, str]:
    """The parameters of a query-protocol request (STS, IAM, SNS): its form-encoded body."""
    body = request.body or b""
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {name: values[0] for name, values in parse_qs(text).items()}
