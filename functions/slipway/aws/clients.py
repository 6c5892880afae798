"""boto3 clients with Slipway's retry and timeout settings.

Clients honour ``AWS_ENDPOINT_URL`` (botocore reads it), which is how the local
sandbox points every adapter at a moto server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from slipway.errors import AwsError

T = TypeVar("T")

# "standard" retries throttling and transient errors with exponential backoff and jitter.
RETRY = {"mode": "standard", "max_attempts": 5}


def boto_config(pool: int = 32, validate: bool = True) -> Config:
    return Config(
        retries=RETRY,  # type: ignore[arg-type]
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=pool,
        parameter_validation=validate,
    )


def client(service: str, session: boto3.session.Session | None = None, pool: int = 32, validate: bool = True) -> Any:
    """A client for ``service`` with standard retries.

    ``validate=False`` leaves the checking of request parameters to the service: for
    requests built from Slipway's own typed records, where botocore's client-side check
    of a 100-item transaction costs about as much CPU as building it.
    """
    config = boto_config(pool, validate)
    return (session or boto3.session.Session()).client(service, config=config)  # type: ignore[call-overload]


@contextmanager
def aws_call(operation: str) -> Iterator[None]:
    """Translate botocore errors into AwsError, keeping the AWS code and message."""
    try:
        yield
    except ClientError as error:
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reasons = tuple(str(r.get("Code")) for r in error.response.get("CancellationReasons", []) or [])  # type: ignore[attr-defined]
        raise AwsError(
            operation, str(info.get("Code", "Unknown")), str(info.get("Message", "")), status=status, reasons=reasons
        ) from error
    except BotoCoreError as error:
        raise AwsError(operation, _botocore_code(error), str(error), status=None) from error


def _botocore_code(error: BotoCoreError) -> str:
    name = type(error).__name__
    return {
        "ReadTimeoutError": "ReadTimeout",
        "ConnectTimeoutError": "ConnectTimeout",
        "EndpointConnectionError": "EndpointConnectionError",
        "ConnectionClosedError": "EndpointConnectionError",
    }.get(name, name)


def call(operation: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """Call ``fn(**kwargs)`` translating its errors (see ``aws_call``)."""
    with aws_call(operation):
        return fn(**kwargs)
