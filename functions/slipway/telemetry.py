"""Powertools Logger, Tracer and Metrics shared by every handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="slipway")
tracer = Tracer(service="slipway")
metrics = Metrics(namespace="Slipway", service="slipway")

# A metric's name says its unit: a name ending in Seconds is a duration, any other a count. So one
# callback (the ``count`` every domain class takes) carries both, and the dashboard reads the unit off the name.
SECONDS_SUFFIX = "Seconds"


def count(name: str, value: int = 1) -> None:
    """Add a metric to this invocation's EMF blob: a Count, or Seconds for a name ending in Seconds.

    Zero counts are kept: they chart. Each call is one value, so a duration's statistics (average,
    p90, maximum) are over the rollouts it was measured on.
    """
    unit = MetricUnit.Seconds if name.endswith(SECONDS_SUFFIX) else MetricUnit.Count
    metrics.add_metric(name=name, unit=unit, value=value)
