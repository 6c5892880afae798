"""Function settings, read once from the environment the template sets."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, field_validator

from slipway.aws.pacing import Quota, parse_quotas


class Settings(BaseModel):
    """Everything a Slipway function needs to know about its stack."""

    rules_path: str = "/slipway/rules"
    topic_arn: str = ""
    table_name: str = ""
    work_queue_url: str = ""
    rules_cache_seconds: int = Field(default=30, ge=0)
    max_concurrency: int = Field(default=16, ge=1, le=64)
    idempotency_hours: int = Field(default=48, ge=1)
    history_retention_days: int = Field(default=90, ge=1)
    deployment_timeout_minutes: int = Field(default=30, ge=1)
    allowed_clusters: tuple[str, ...] = ("*",)
    allow_foreign_pushes: bool = False
    # ECS quotas raised for this account: "Action:burst:rate,..." over the documented defaults.
    ecs_quotas: dict[str, Quota] = Field(default_factory=dict)
    reconcile_lookback_minutes: int = Field(default=60, ge=1)
    # The role ECS assumes to invoke a rule's Lambda lifecycle hooks (passed as each hook's roleArn).
    lifecycle_hook_role_arn: str = ""

    @field_validator("ecs_quotas", mode="before")
    @classmethod
    def _quotas(cls, value: object) -> object:
        return parse_quotas(value) if isinstance(value, str) else value

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for field in cls.model_fields:
            raw = env.get(f"SLIPWAY_{field.upper()}")
            if raw is None:
                continue
            if field == "allowed_clusters":
                values[field] = tuple(part.strip() for part in raw.split(",") if part.strip()) or ("*",)
            else:
                values[field] = raw
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process (cached: the environment does not change)."""
    return Settings.from_environ()
