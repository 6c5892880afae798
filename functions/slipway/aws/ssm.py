"""Rules from Parameter Store, through the Powertools parameters utility."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

from slipway.aws.clients import aws_call, call, client
from slipway.errors import AwsError
from slipway.ports import RuleSet
from slipway.rulecheck import RuleVersion
from slipway.rules import RuleInvalid, parse_rule, rule_parameter, split_parameter


class ParameterStoreRules:
    """Loads the rules of one repository: one GetParametersByPath walk of its own path."""

    def __init__(self, rules_path: str, cache_seconds: int = 30, ssm_client: Any = None) -> None:
        self._rules_path = rules_path.rstrip("/")
        self._cache_seconds = cache_seconds
        self._client = ssm_client or client("ssm")
        self._provider = SSMProvider(boto3_client=self._client)

    def path(self, repository: str) -> str:
        return f"{self._rules_path}/{repository}"

    def load(self, repository: str, fresh: bool = False) -> RuleSet:
        """Valid rules and invalid ones' problems; only direct children of the path are rules.

        Non-recursive, so ``team/api``'s rules are never read for a push to ``team``.
        """
        with aws_call("GetParametersByPath"):
            values = self._provider.get_multiple(
                self.path(repository),
                max_age=0 if fresh else self._cache_seconds,
                decrypt=True,
                recursive=False,
                force_fetch=fresh,
            )
        ruleset = RuleSet()
        for name, value in sorted(values.items()):
            parameter = rule_parameter(self._rules_path, repository, name)
            try:
                ruleset.rules.append(parse_rule(repository, name, parameter, str(value)))
            except RuleInvalid as problem:
                ruleset.invalid.append(problem)
        return ruleset

    # -- reading and writing single rules (the rule checker and the CLI) -------------
    def read(self, name: str) -> RuleVersion | None:
        """A rule parameter's current value, version and last modifier; None if it is gone."""
        try:
            got = call("GetParameter", self._client.get_parameter, Name=name, WithDecryption=True)["Parameter"]
        except AwsError as error:
            if error.code == "ParameterNotFound":
                return None
            raise
        described = call(
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
        paginator = self._client.get_paginator("get_parameters_by_path")
        with aws_call("GetParametersByPath"):
            for page in paginator.paginate(Path=path, Recursive=repository is None, WithDecryption=True):
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
        return sorted(found, key=lambda item: (item[0], item[1]))

    def put(self, name: str, value: str) -> int:
        """Write a rule (overwriting; a SecureString stays one); returns the new version."""
        current = self.read(name)
        kind = "String"
        if current is not None:
            described = call(
                "DescribeParameters",
                self._client.describe_parameters,
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}],
            ).get("Parameters", [])
            kind = str(described[0].get("Type", "String")) if described else "String"
        response = call("PutParameter", self._client.put_parameter, Name=name, Value=value, Type=kind, Overwrite=True)
        self._provider.clear_cache()
        return int(response["Version"])

    def delete(self, name: str) -> None:
        call("DeleteParameter", self._client.delete_parameter, Name=name)
        self._provider.clear_cache()
