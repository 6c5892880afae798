"""Slipway: roll ECR pushes out to ECS services, driven by rules in Parameter Store."""

__version__ = "0.1.0"
