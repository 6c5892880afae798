"""Function settings, read once from the environment the template sets."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, field_validator

from slipway.aws.pacing import Quota, parse_quotas
from slipway.places import ACCOUNT, REGION, Place


class Settings(BaseModel):
    """Everything a Slipway function needs to know about its stack."""

    rules_path: str = "/slipway/rules"
    topic_arn: str = ""
    # The chat topic (custom notifications of AWS's chat integration); empty: no chat rendering is published.
    chat_topic_arn: str = ""
    table_name: str = ""
    work_queue_url: str = ""
    rules_cache_seconds: int = Field(default=30, ge=0)
    max_concurrency: int = Field(default=16, ge=1, le=64)
    idempotency_hours: int = Field(default=48, ge=1)
    history_retention_days: int = Field(default=90, ge=1)
    deployment_timeout_minutes: int = Field(default=30, ge=1)
    allowed_clusters: tuple[str, ...] = ("*",)
    # EventBridge Scheduler schedules (GROUP/NAME globs) and EventBridge rules (name globs) Slipway may move.
    allowed_schedules: tuple[str, ...] = ()
    allowed_event_rules: tuple[str, ...] = ()
    # The stack's own account (the template passes AWS::AccountId) and Region (Lambda's AWS_REGION).
    account_id: str = ""
    region: str = ""
    # Registries besides the stack's own whose pushes are deployed: account ids and Region names.
    allowed_registries: tuple[str, ...] = ()
    # Accounts Slipway reaches through their target_role_name role.
    target_accounts: tuple[str, ...] = ()
    target_role_name: str = "slipway-target"
    # ECS quotas raised for this account: "Action:burst:rate,..." over the documented defaults.
    ecs_quotas: dict[str, Quota] = Field(default_factory=dict)
    reconcile_lookback_minutes: int = Field(default=60, ge=1)
    # The role ECS assumes to invoke a rule's Lambda lifecycle hooks (passed as each hook's roleArn).
    lifecycle_hook_role_arn: str = ""
    # AWS Signer signing profile ARNs the signature gate trusts; empty: any profile ECR signed with.
    trusted_signing_profiles: tuple[str, ...] = ()

    @field_validator("ecs_quotas", mode="before")
    @classmethod
    def _quotas(cls, value: object) -> object:
        return parse_quotas(value) if isinstance(value, str) else value

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [entry for entry in value if not (ACCOUNT.match(entry) or REGION.match(entry))]
        if wrong:
            raise ValueError(f"AllowedRegistries entries are account ids or Region names, not {', '.join(wrong)}")
        return value

    @field_validator("target_accounts")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [entry for entry in value if not ACCOUNT.match(entry)]
        if wrong:
            raise ValueError(f"TargetAccounts entries are 12-digit account ids, not {', '.join(wrong)}")
        return value

    @property
    def home(self) -> Place:
        """The stack's own account and Region."""
        return Place(self.account_id, self.region)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {"region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""}
        for field in cls.model_fields:
            raw = env.get(f"SLIPWAY_{field.upper()}")
            if raw is None:
                continue
            if field in _LISTS:
                values[field] = tuple(part.strip() for part in raw.split(",") if part.strip()) or _LISTS[field]
            else:
                values[field] = raw
        return cls.model_validate(values)


# Comma-separated settings, and what an empty one means.
_LISTS: dict[str, tuple[str, ...]] = {
    "allowed_clusters": ("*",),
    "allowed_registries": (),
    "target_accounts": (),
    "trusted_signing_profiles": (),
    "allowed_schedules": (),
    "allowed_event_rules": (),
}


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process (cached: the environment does not change)."""
    return Settings.from_environ()
