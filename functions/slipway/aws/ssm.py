"""Rules from Parameter Store, through the Powertools parameters utility."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

from slipway.aws.clients import aws_call, client
from slipway.ports import RuleSet
from slipway.rules import RuleInvalid, parse_rule, rule_parameter


class ParameterStoreRules:
    """Loads the rules of one repository: one GetParametersByPath walk of its own path."""

    def __init__(self, rules_path: str, cache_seconds: int = 30, ssm_client: Any = None) -> None:
        self._rules_path = rules_path.rstrip("/")
        self._cache_seconds = cache_seconds
        self._provider = SSMProvider(boto3_client=ssm_client or client("ssm"))

    def path(self, repository: str) -> str:
        return f"{self._rules_path}/{repository}"

    def load(self, repository: str) -> RuleSet:
        """Valid rules and invalid ones' problems; only direct children of the path are rules.

        Non-recursive, so ``team/api``'s rules are never read for a push to ``team``.
        """
        with aws_call("GetParametersByPath"):
            values = self._provider.get_multiple(
                self.path(repository), max_age=self._cache_seconds, decrypt=True, recursive=False
            )
        ruleset = RuleSet()
        for name, value in sorted(values.items()):
            parameter = rule_parameter(self._rules_path, repository, name)
            try:
                ruleset.rules.append(parse_rule(repository, name, parameter, str(value)))
            except RuleInvalid as problem:
                ruleset.invalid.append(problem)
        return ruleset
