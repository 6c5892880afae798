"""boto3 clients with Slipway's timeouts, and the translation of botocore's errors.

Clients honour ``AWS_ENDPOINT_URL`` (botocore reads it), which is how the local
sandbox points every adapter at a moto server. Retries are Slipway's own
(``slipway.aws.calls``): botocore makes one attempt per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from slipway.errors import AwsError

NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}
# For code whose calls do not go through a Caller (the Powertools idempotency layer, STS
# and CloudFormation lookups of the slipway command): botocore's standard retries.
STANDARD_RETRIES = {"mode": "standard", "max_attempts": 5}


def boto_config(pool: int = 32, validate: bool = True, retries: dict[str, Any] | None = None) -> Config:
    return Config(
        retries=retries or NO_RETRIES,  # type: ignore[arg-type]
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=pool,
        parameter_validation=validate,
    )


def client(
    service: str,
    session: boto3.session.Session | None = None,
    pool: int = 32,
    validate: bool = True,
    retries: dict[str, Any] | None = None,
    region: str | None = None,
    credentials: dict[str, str] | None = None,
) -> Any:
    """A client for ``service`` making one attempt per call (``retries`` to have botocore retry).

    ``validate=False`` leaves the checking of request parameters to the service: for
    requests built from Slipway's own typed records, where botocore's client-side check
    of a 100-item transaction costs about as much CPU as building it. ``region`` and
    ``credentials`` (a client's key arguments) reach another Region or account; the
    session's event handlers apply to that client too.
    """
    config = boto_config(pool, validate, retries)
    return (session or boto3.session.Session()).client(  # type: ignore[call-overload]
        service, config=config, region_name=region, **(credentials or {})
    )


def region_of(aws_client: Any) -> str:
    """The Region a client calls (empty for a stand-in without botocore's ``meta``)."""
    meta = getattr(aws_client, "meta", None)
    return str(getattr(meta, "region_name", "") or "")


@contextmanager
def aws_call(operation: str) -> Iterator[None]:
    """Translate botocore errors into AwsError, keeping the AWS code and message."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise translated(operation, error) from error


def translated(operation: str, error: ClientError | BotoCoreError) -> AwsError:
    """botocore's error as an AwsError, with the AWS code, message and status kept."""
    if isinstance(error, BotoCoreError):
        return AwsError(operation, _botocore_code(error), str(error), status=None)
    info = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    reasons = tuple(str(r.get("Code")) for r in error.response.get("CancellationReasons", []) or [])  # type: ignore[attr-defined]
    item = error.response.get("Item")  # type: ignore[typeddict-item]
    return AwsError(
        operation,
        str(info.get("Code", "Unknown")),
        str(info.get("Message", "")),
        status=status,
        reasons=reasons,
        item=dict(item) if isinstance(item, dict) else None,
    )


def _botocore_code(error: BotoCoreError) -> str:
    name = type(error).__name__
    return {
        "ReadTimeoutError": "ReadTimeout",
        "ConnectTimeoutError": "ConnectTimeout",
        "EndpointConnectionError": "EndpointConnectionError",
        "ConnectionClosedError": "EndpointConnectionError",
    }.get(name, name)
