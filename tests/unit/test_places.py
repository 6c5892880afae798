"""Where services live: keys, AllowedClusters across accounts, the per-account credentials and the ECS routing."""

from __future__ import annotations

from typing import Any

import pytest

from slipway import budget
from slipway.aws.accounts import Accounts
from slipway.aws.fleet import EcsFleet
from slipway.aws.sts import Credentials
from slipway.errors import AwsError
from slipway.places import Place, Reach, cluster_allowed, of_arn, service_key, split_key

HOME = Place("111111111111", "eu-west-1")
STAGING = Place("222233334444", "eu-west-1")
PROD = Place("333344445555", "eu-west-2")


# -- keys -------------------------------------------------------------------------------------


def test_service_key_at_home_is_cluster_slash_service_and_qualified_elsewhere() -> None:
    assert service_key("prod", "web") == "prod/web"
    assert service_key("prod", "web", PROD) == "333344445555:eu-west-2:prod/web"


def test_split_key_reads_back_both_forms() -> None:
    assert split_key("prod/web") == (None, "prod/web")
    assert split_key("333344445555:eu-west-2:prod/web") == (PROD, "prod/web")


def test_of_arn_names_the_account_and_region_of_regional_arns_only() -> None:
    assert of_arn("arn:aws:ecs:eu-west-2:333344445555:service/prod/web") == PROD
    assert of_arn("arn:aws:iam::333344445555:role/x") is None  # IAM is global: no Region
    assert of_arn("prod") is None


# -- AllowedClusters and TargetAccounts --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "place", "patterns", "allowed"),
    [
        ("prod", HOME, ("prod",), True),
        ("prod", PROD, ("prod",), False),  # a name entry is a cluster of the stack's own account and Region
        ("prod", PROD, ("arn:aws:ecs:*:333344445555:cluster/prod*",), True),
        ("prod", PROD, ("arn:aws:ecs:eu-west-1:333344445555:cluster/*",), False),  # another Region
        ("prod", STAGING, ("arn:aws:ecs:*:333344445555:cluster/*",), False),  # another account
        ("prod", HOME, ("arn:aws:ecs:eu-west-1:111111111111:cluster/prod",), True),  # an ARN entry of the home
    ],
)
def test_cluster_allowed_by_name_at_home_and_by_arn_anywhere(
    name: str, place: Place, patterns: tuple[str, ...], allowed: bool
) -> None:
    assert cluster_allowed(name, place, HOME, patterns) is allowed


def test_reach_refuses_an_account_outside_target_accounts_before_its_clusters() -> None:
    reach = Reach(HOME, ("*", "arn:aws:ecs:*:*:cluster/*"), target_accounts=(STAGING.account,))

    refusal = reach.refusal("prod", PROD)

    assert refusal is not None and refusal.code == "AccountNotAllowed"
    assert "333344445555" in refusal.reason and "222233334444" in refusal.reason
    assert reach.refusal("prod", STAGING) is None
    assert reach.refusal("prod", HOME) is None


def test_reach_refuses_a_cluster_of_a_target_account_outside_allowed_clusters() -> None:
    reach = Reach(HOME, ("*", "arn:aws:ecs:*:222233334444:cluster/staging-*"), (STAGING.account,))

    refusal = reach.refusal("prod", STAGING)

    assert refusal is not None and refusal.code == "ClusterNotAllowed"
    assert "222233334444/eu-west-1" in refusal.reason
    assert reach.refusal("staging-1", STAGING) is None


# -- credentials: once per account and invocation ---------------------------------------------


class Roles:
    def __init__(self, denied: set[str] | None = None) -> None:
        self.assumed: list[str] = []
        self.denied = denied or set()

    def assume(self, account: str) -> Credentials:
        self.assumed.append(account)
        if account in self.denied:
            raise AwsError("AssumeRole", "AccessDenied", f"cannot assume arn:aws:iam::{account}:role/slipway-target")
        return Credentials(f"key-{account}-{len(self.assumed)}", "secret", "token")


class Adapter:
    """Stands for one place's EcsAdapter: records the calls it gets."""

    def __init__(self, place: Place, credentials: dict[str, str] | None) -> None:
        self.place = place
        self.credentials = credentials
        self.calls: list[tuple[str, Any]] = []

    def describe_services(self, cluster: str, names: Any) -> Any:
        self.calls.append(("DescribeServices", cluster))
        return self.place

    def describe_task_definition(self, arn: str) -> Any:
        self.calls.append(("DescribeTaskDefinition", arn))
        return self.place

    def register_task_definition(self, body: Any, tags: Any) -> str:
        self.calls.append(("RegisterTaskDefinition", body))
        return str(self.place)

    def describe_service_deployments(self, arns: Any) -> list[Any]:
        self.calls.append(("DescribeServiceDeployments", list(arns)))
        return [self.place]

    def forecast(self, operation: str, count: int) -> float:
        return 1.0 if self.place == PROD else 0.0


def accounts(roles: Roles) -> tuple[Accounts, list[Adapter]]:
    made: list[Adapter] = []

    def make(place: Place, credentials: dict[str, str] | None) -> Any:
        made.append(Adapter(place, credentials))
        return made[-1]

    return Accounts(HOME, roles, make), made  # type: ignore[arg-type]


def test_accounts_assume_each_target_role_once_per_invocation_for_every_region() -> None:
    roles = Roles()
    reach, made = accounts(roles)

    with budget.running(budget.Budget(deadline=None)):
        first = reach.reach(PROD)
        again = reach.reach(PROD)
        other_region = reach.reach(Place(PROD.account, "us-east-1"))
    with budget.running(budget.Budget(deadline=None)):
        next_invocation = reach.reach(PROD)

    assert roles.assumed == [PROD.account, PROD.account]  # once per invocation, shared by its Regions
    assert first is again and first is not next_invocation
    assert other_region.credentials == first.credentials  # type: ignore[attr-defined]
    assert next_invocation.credentials != first.credentials  # type: ignore[attr-defined]
    assert len(made) == 3


def test_accounts_home_account_needs_no_role_in_any_region() -> None:
    roles = Roles()
    reach, made = accounts(roles)

    reach.reach(HOME)
    reach.reach(Place(HOME.account, "us-east-1"))

    assert roles.assumed == []
    assert [a.credentials for a in made] == [None, None]


def test_accounts_denied_role_raises_its_error_and_other_accounts_are_unaffected() -> None:
    roles = Roles(denied={PROD.account})
    reach, _ = accounts(roles)

    with budget.running(budget.Budget(deadline=None)):
        with pytest.raises(AwsError) as raised:
            reach.reach(PROD)
        assert reach.reach(STAGING).place == STAGING  # type: ignore[attr-defined]

    assert raised.value.code == "AccessDenied" and "333344445555" in raised.value.message


# -- the fleet: each call where its ARN says ---------------------------------------------------


def fleet() -> tuple[EcsFleet, dict[Place, Adapter]]:
    adapters: dict[Place, Adapter] = {}

    def reach(place: Place) -> Any:
        return adapters.setdefault(place, Adapter(place, None))

    return EcsFleet(HOME, reach), adapters


def test_fleet_routes_names_home_and_arns_to_their_place() -> None:
    ecs, adapters = fleet()

    ecs.describe_services("prod", ["web"])
    ecs.describe_services("arn:aws:ecs:eu-west-2:333344445555:cluster/prod", ["web"])
    ecs.describe_task_definition("arn:aws:ecs:eu-west-1:222233334444:task-definition/web:3")

    assert adapters[HOME].calls == [("DescribeServices", "prod")]
    assert adapters[PROD].calls == [("DescribeServices", "arn:aws:ecs:eu-west-2:333344445555:cluster/prod")]
    assert adapters[STAGING].calls == [
        ("DescribeTaskDefinition", "arn:aws:ecs:eu-west-1:222233334444:task-definition/web:3")
    ]


def test_fleet_registers_where_the_service_is_and_forecasts_its_buckets() -> None:
    ecs, adapters = fleet()

    assert ecs.register_task_definition({"family": "web"}, (), PROD) == str(PROD)
    assert adapters[PROD].calls == [("RegisterTaskDefinition", {"family": "web"})]
    assert ecs.register_task_definition({"family": "web"}, ()) == str(HOME)
    assert (ecs.forecast("UpdateService", 5, PROD), ecs.forecast("UpdateService", 5)) == (1.0, 0.0)


def test_fleet_describes_service_deployments_per_place() -> None:
    ecs, adapters = fleet()
    arns = [
        "arn:aws:ecs:eu-west-2:333344445555:service-deployment/prod/web/a",
        "arn:aws:ecs:eu-west-1:222233334444:service-deployment/staging/web/b",
        "arn:aws:ecs:eu-west-2:333344445555:service-deployment/prod/api/c",
    ]

    found = ecs.describe_service_deployments(arns)

    assert sorted(found) == sorted([PROD, STAGING])
    assert adapters[PROD].calls == [("DescribeServiceDeployments", [arns[0], arns[2]])]
