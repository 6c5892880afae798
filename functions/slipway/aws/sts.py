"""AWS STS adapter: the credentials of Slipway's role in a target account.

Each target account has a role of one name (the target-account template's, TargetRoleName)
that trusts Slipway's function roles. Sessions last an hour at most: AWS caps a chained
role session (a Lambda role assuming another) at one hour whatever the role allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway.aws.calls import Caller
from slipway.aws.clients import region_of
from slipway.errors import AwsError

SESSION_SECONDS = 3600


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials, in the keyword arguments a boto3 client takes."""

    access_key_id: str
    secret_access_key: str
    session_token: str

    def client_arguments(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


class TargetRoles:
    """Assumes TargetRoleName in an account; an AwsError names the role and AWS's reason when it cannot."""

    def __init__(
        self, sts_client: Any, role_name: str, session_name: str, partition: str = "aws", call: Caller | None = None
    ) -> None:
        self._client = sts_client
        self._role_name = role_name
        self._session_name = session_name[:64]
        self._partition = partition
        self._call = call or Caller("sts", region_of(sts_client))

    def role_arn(self, account: str) -> str:
        return f"arn:{self._partition}:iam::{account}:role/{self._role_name}"

    def assume(self, account: str) -> Credentials:
        arn = self.role_arn(account)
        try:
            response = self._call(
                "AssumeRole",
                self._client.assume_role,
                RoleArn=arn,
                RoleSessionName=self._session_name,
                DurationSeconds=SESSION_SECONDS,
            )
        except AwsError as error:
            raise AwsError(
                "AssumeRole", error.code, f"cannot assume {arn}: {error.message}", status=error.status
            ) from error
        credentials = response["Credentials"]
        return Credentials(
            str(credentials["AccessKeyId"]), str(credentials["SecretAccessKey"]), str(credentials["SessionToken"])
        )
