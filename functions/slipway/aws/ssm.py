"""Rules from Parameter Store, through the Powertools parameters utility."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider
from botocore.exceptions import BotoCoreError, ClientError

from slipway.aws.calls import Caller
from slipway.aws.clients import client, region_of
from slipway.errors import AwsError
from slipway.places import Place
from slipway.ports import RuleSet
from slipway.rulecheck import RuleVersion
from slipway.rules import RuleInvalid, parse_rule, rule_parameter, split_parameter


class ParameterStoreRules:
    """Loads the rules of one repository: one GetParametersByPath walk of its own path.

    ``home`` is the stack's account and Region: a rule's cluster ARN naming them reads as a name.
    """

    def __init__(
        self,
        rules_path: str,
        cache_seconds: int = 30,
        ssm_client: Any = None,
        call: Caller | None = None,
        home: Place | None = None,
    ) -> None:
        self._home = home
        self._rules_path = rules_path.rstrip("/")
        self._cache_seconds = cache_seconds
        self._client = ssm_client or client("ssm")
        self._call = call or Caller("ssm", region_of(self._client))
        self._provider = SSMProvider(boto3_client=self._client)

    def path(self, repository: str) -> str:
        return f"{self._rules_path}/{repository}"

    def load(self, repository: str, fresh: bool = False) -> RuleSet:
        """Valid rules and invalid ones' problems; only direct children of the path are rules.

        Non-recursive, so ``team/api``'s rules are never read for a push to ``team``.
        """
        values = self._call(
            "GetParametersByPath",
            self._get_multiple,
            path=self.path(repository),
            max_age=0 if fresh else self._cache_seconds,
            decrypt=True,
            recursive=False,
            force_fetch=fresh,
        )
        ruleset = RuleSet()
        for name, value in sorted(values.items()):
            parameter = rule_parameter(self._rules_path, repository, name)
            try:
                ruleset.rules.append(parse_rule(repository, name, parameter, str(value), home=self._home))
            except RuleInvalid as problem:
                ruleset.invalid.append(problem)
        return ruleset

    def _get_multiple(self, **kwargs: Any) -> dict[str, Any]:
        """The Powertools provider's read, with the AWS error it wraps in GetParameterError unwrapped."""
        try:
            return dict(self._provider.get_multiple(**kwargs))
        except GetParameterError as error:
            wrapped = error.__cause__ or error.__context__  # Powertools raises it inside its except block
            if isinstance(wrapped, ClientError | BotoCoreError):
                raise wrapped from error
            raise

    def repositories(self) -> list[str]:
        """Every repository with at least one rule parameter under the rules path."""
        return sorted({repository for repository, _, _ in self.list()})

    # -- reading and writing single rules (the rule checker and the CLI) -------------
    def read(self, name: str) -> RuleVersion | None:
        """A rule parameter's current value, version and last modifier; None if it is gone."""
        try:
            got = self._call("GetParameter", self._client.get_parameter, Name=name, WithDecryption=True)["Parameter"]
        except AwsError as error:
            if error.code == "ParameterNotFound":
                return None
            raise
        described = self._call(
            "DescribeParameters",
            self._client.describe_parameters,
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}],
        ).get("Parameters", [])
        modified_by = described[0].get("LastModifiedUser") if described else None
        return RuleVersion(
            name=name,
            value=str(got["Value"]),
            version=int(got["Version"]) if got.get("Version") is not None else None,
            modified_by=modified_by if modified_by and modified_by != "N/A" else None,
            modified_at=got.get("LastModifiedDate"),
        )

    def list(self, repository: str | None = None) -> list[tuple[str, str, RuleVersion]]:
        """Every rule (``repository``, ``rule``, value) under the rules path, or one repository's."""
        path = self.path(repository) if repository else self._rules_path
        found: list[tuple[str, str, RuleVersion]] = []
        token: str | None = None
        while True:
            page = self._call(
                "GetParametersByPath",
                self._client.get_parameters_by_path,
                Path=path,
                Recursive=repository is None,
                WithDecryption=True,
                **({"NextToken": token} if token else {}),
            )
            for parameter in page.get("Parameters", []):
                repo, rule = split_parameter(self._rules_path, parameter["Name"])
                version = RuleVersion(
                    parameter["Name"],
                    parameter["Value"],
                    parameter.get("Version"),
                    None,
                    parameter.get("LastModifiedDate"),
                )
                found.append((repo, rule, version))
            token = page.get("NextToken")
            if not token:
                return sorted(found, key=lambda item: (item[0], item[1]))

    def put(self, name: str, value: str) -> int:
        """Write a rule (overwriting; a SecureString stays one); returns the new version."""
        current = self.read(name)
        kind = "String"
        if current is not None:
            described = self._call(
                "DescribeParameters",
                self._client.describe_parameters,
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}],
            ).get("Parameters", [])
            kind = str(described[0].get("Type", "String")) if described else "String"
        response = self._call(
            "PutParameter", self._client.put_parameter, Name=name, Value=value, Type=kind, Overwrite=True
        )
        self._provider.clear_cache()
        return int(response["Version"])

    def delete(self, name: str) -> None:
        self._call("DeleteParameter", self._client.delete_parameter, Name=name)
        self._provider.clear_cache()
