"""What every command needs: the App built from the global options, and the output mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import boto3
    from rich.console import Console

    from slipway.app import App
    from slipway.follow import Pace


class Context:
    """What every command needs: an App built from the options, and the output mode.

    ``app`` is the App to use instead of building one (tests hand one in through ``run``).
    """

    def __init__(
        self,
        stack: str | None,
        region: str | None,
        profile: str | None,
        as_json: bool,
        app: App | None = None,
        console: Console | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.stack = stack
        self.region = region
        self.profile = profile
        self.as_json = as_json
        self._app = app
        self._console = console
        self.pace = pace  # how --wait polls (None: every two seconds, real time)

    @property
    def console(self) -> Console:
        """Where tables and progress go: stdout, with colour only on a terminal."""
        if self._console is None:
            from slipway.cli.output import make_console

            self._console = make_console()
        return self._console

    def session(self) -> boto3.session.Session:
        import boto3

        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    @property
    def app(self) -> App:
        if self._app is None:
            from slipway.app import App
            from slipway.settings import Settings

            overrides = self._stack_outputs() if self.stack else {}
            environ = Settings.from_environ()
            config = Settings.model_validate({**environ.model_dump(), **overrides}) if overrides else environ
            if not config.table_name:
                raise click.UsageError(
                    "no Slipway stack: pass --stack NAME or set SLIPWAY_TABLE_NAME and SLIPWAY_TOPIC_ARN"
                )
            self._app = App(config=config, session=self.session())
        return self._app

    def _stack_outputs(self) -> dict[str, object]:
        from slipway.aws.calls import Caller
        from slipway.aws.clients import client
        from slipway.errors import AwsError, SlipwayError
        from slipway.places import of_arn

        cloudformation = client("cloudformation", self.session())
        region = str(cloudformation.meta.region_name or "")
        try:
            response = Caller("cloudformation", region)(
                "DescribeStacks", cloudformation.describe_stacks, StackName=self.stack
            )
        except AwsError as error:
            if error.code == "ValidationError":  # CloudFormation's answer for a stack that does not exist
                raise SlipwayError(
                    f"no stack {self.stack} in {region or 'your default Region'}: check --stack (or SLIPWAY_STACK) and --region"
                ) from error
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in response["Stacks"][0].get("Outputs", [])}
        names = {
            "TableName": "table_name",
            "TopicArn": "topic_arn",
            "RulesPath": "rules_path",
            "WorkQueueUrl": "work_queue_url",
            "TargetRoleName": "target_role_name",
        }
        found: dict[str, object] = {field: outputs[key] for key, field in names.items() if key in outputs}
        for key, field in (("TargetAccounts", "target_accounts"), ("AllowedClusters", "allowed_clusters")):
            if outputs.get(key):
                found[field] = tuple(part for part in outputs[key].split(",") if part)
        # The stack's own account and Region, whatever account the caller's credentials are of:
        # a service's key (and so its history) is relative to them.
        home = of_arn(str(outputs.get("TopicArn", "")))
        if home is not None:
            found.update(account_id=home.account, region=home.region)
        return found

    def caller(self) -> str | None:
        from slipway.aws.clients import STANDARD_RETRIES, client
        from slipway.errors import AwsError

        try:
            return str(client("sts", self.session(), retries=STANDARD_RETRIES).get_caller_identity()["Arn"])
        except (AwsError, Exception):  # noqa: BLE001 - who ran it is informative, never required
            return None
