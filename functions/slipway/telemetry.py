"""Powertools Logger, Tracer and Metrics shared by every handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="slipway")
tracer = Tracer(service="slipway")
metrics = Metrics(namespace="Slipway", service="slipway")


def count(name: str, value: int = 1) -> None:
    """Add a Count metric to this invocation's EMF blob (zero counts are kept: they chart)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
