"""One push through the Deployer: rule matching, every target's outcome, notifications, metrics."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from slipway.model import Status
from slipway.outcome import Outcome
from slipway.report import PushReport
from tests.unit.fakes import (
    REGISTRY,
    app_container,
    cluster_arn,
    digest,
    fargate_body,
    make_state,
    sidecar,
)
from tests.unit.fakes import (
    DeployerWorld as World,
)

WEB = {"cluster": "prod", "service": "web"}
API = {"cluster": "prod", "service": "api"}
STAGING = {"cluster": "staging", "service": "web"}


@pytest.fixture
def world() -> World:
    return World()


def by_target(report: PushReport) -> dict[str, Outcome]:
    return {o.target.key: o for o in report.outcomes if o.target}


def statuses(report: PushReport) -> Counter[Status]:
    return Counter(o.status for o in report.outcomes)


# -- nothing to do -----------------------------------------------------------------------


def test_deployer_push_without_tag_deploys_nothing_and_sends_nothing(world: World) -> None:
    world.rules.put("main", {"targets": [WEB]})

    report = world.deploy(tag=None)

    assert report.outcomes == []
    assert world.ecs.calls == []
    assert world.notifier.calls == 0
    assert world.rules.loads == []
    assert (world.metric("PushesReceived"), world.metric("PushesUnmatched")) == (1, 1)


def test_deployer_unmatched_push_deploys_nothing_and_sends_nothing(world: World) -> None:
    world.rules.put("main", {"targets": [WEB], "tags": ["release-*"]})

    report = world.deploy(tag="1.5.0")

    assert report.outcomes == []
    assert report.matched_rules == []
    assert "does not match release-*" in report.unmatched_rules["main"]
    assert world.ecs.calls == []
    assert world.notifier.calls == 0
    assert world.metric("PushesUnmatched") == 1


def test_deployer_no_rules_for_repository_sends_nothing(world: World) -> None:
    world.rules.put("main", {"targets": [WEB]}, repository="other")

    report = world.deploy()

    assert report.outcomes == []
    assert world.rules.loads == ["web"]
    assert world.notifier.calls == 0


# -- deploying ----------------------------------------------------------------------------


def test_deployer_matching_rule_deploys_every_target_and_notifies_each(world: World) -> None:
    world.rules.put("main", {"targets": [WEB, STAGING], "semver": "^1.4"})

    report = world.deploy()

    assert {k: o.status for k, o in by_target(report).items()} == {
        "prod/web": Status.DEPLOYING,
        "staging/web": Status.DEPLOYING,
    }
    assert world.ecs.count("UpdateService") == 2
    assert sorted((n.status, n.cluster, n.service) for n in world.notifier.published) == [
        ("DEPLOYING", "prod", "web"),
        ("DEPLOYING", "staging", "web"),
    ]
    pinned = f"{REGISTRY}/web@{digest('b')}"
    assert all(n.image == pinned and n.tag == "1.5.0" for n in world.notifier.published)
    assert report.matched_rules == ["main"]


def test_deployer_two_rules_for_one_service_deploy_it_once(world: World) -> None:
    world.rules.put("a-canary", {"targets": [WEB]})
    world.rules.put("b-main", {"targets": [WEB], "tags": ["1.*"]})

    report = world.deploy(max_concurrency=1)

    assert sorted(o.status for o in report.outcomes) == [Status.DEPLOYING, Status.SKIPPED]
    assert world.ecs.count("RegisterTaskDefinition") == 1
    assert world.ecs.count("UpdateService") == 1


def test_deployer_invalid_rule_beside_valid_one_reports_error_and_deploys_valid(world: World) -> None:
    broken = world.rules.put("broken", {"targets": [WEB], "tag": ["v*"]})
    world.rules.put("main", {"targets": [WEB]})

    report = world.deploy()

    errors = [o for o in report.outcomes if o.status is Status.ERROR]
    assert len(errors) == 1
    (error,) = errors
    assert error.parameter == broken == "/slipway/rules/web/broken"
    assert error.error_code == "InvalidRule"
    assert broken in error.reason
    assert 'unknown key "tag" (did you mean "tags"?)' in error.reason
    assert by_target(report)["prod/web"].status is Status.DEPLOYING
    assert sorted(n.status for n in world.notifier.published) == ["DEPLOYING", "ERROR"]


def test_deployer_only_invalid_rule_still_reports_its_error(world: World) -> None:
    world.rules.put("broken", "{not json")

    report = world.deploy()

    assert [(o.status, o.rule) for o in report.outcomes] == [(Status.ERROR, "broken")]
    (notice,) = world.notifier.published
    assert notice.parameter == "/slipway/rules/web/broken"
    assert "not valid JSON" in notice.reason
    assert world.ecs.count("RegisterTaskDefinition") == 0


def test_deployer_disabled_rule_skips_each_target_without_touching_ecs(world: World) -> None:
    world.rules.put("main", {"targets": [WEB, API], "enabled": False})

    report = world.deploy()

    assert [(o.target.key, o.status, o.reason) for o in report.outcomes if o.target] == [
        ("prod/web", Status.SKIPPED, "rule is disabled"),
        ("prod/api", Status.SKIPPED, "rule is disabled"),
    ]
    assert world.ecs.calls == []
    assert sorted((n.status, n.service) for n in world.notifier.published) == [("SKIPPED", "api"), ("SKIPPED", "web")]


# -- per-target errors -------------------------------------------------------------------


def test_deployer_missing_service_errors_with_aws_code_while_others_deploy(world: World) -> None:
    world.rules.put("main", {"targets": [WEB, {"cluster": "prod", "service": "gone"}, STAGING]})

    report = world.deploy()

    outcomes = by_target(report)
    assert outcomes["prod/gone"].status is Status.ERROR
    assert outcomes["prod/gone"].error_code == "MISSING"
    assert "gone" in outcomes["prod/gone"].reason
    assert outcomes["prod/web"].status is Status.DEPLOYING
    assert outcomes["staging/web"].status is Status.DEPLOYING
    notices = {n.service: n for n in world.notifier.published}
    assert notices["gone"].status == "ERROR"
    assert notices["gone"].error_code == "MISSING"


def test_deployer_missing_cluster_errors_each_of_its_targets(world: World) -> None:
    world.rules.put(
        "main", {"targets": [WEB, {"cluster": "nowhere", "service": "a"}, {"cluster": "nowhere", "service": "b"}]}
    )

    report = world.deploy()

    outcomes = by_target(report)
    assert {outcomes[k].error_code for k in ("nowhere/a", "nowhere/b")} == {"ClusterNotFoundException"}
    assert outcomes["prod/web"].status is Status.DEPLOYING


def test_deployer_inactive_service_errors(world: World) -> None:
    world.ecs.add_service("prod", "draining", world.web, status="DRAINING")
    world.rules.put("main", {"targets": [{"cluster": "prod", "service": "draining"}]})

    (outcome,) = world.deploy().outcomes

    assert outcome.status is Status.ERROR
    assert outcome.error_code == "ServiceNotActiveException"
    assert world.ecs.count("RegisterTaskDefinition") == 0


def test_deployer_unreadable_task_definition_errors_with_code(world: World) -> None:
    world.ecs.add_service("prod", "orphan", "arn:aws:ecs:eu-west-1:123456789012:task-definition/gone:1")
    world.rules.put("main", {"targets": [{"cluster": "prod", "service": "orphan"}, WEB]})

    outcomes = by_target(world.deploy())

    assert outcomes["prod/orphan"].status is Status.ERROR
    assert outcomes["prod/orphan"].error_code == "ClientException"
    assert outcomes["prod/web"].status is Status.DEPLOYING


def test_deployer_unsupported_controller_errors_and_registers_nothing(world: World) -> None:
    world.ecs.add_service("prod", "bluegreen", world.web, controller="CODE_DEPLOY")
    world.rules.put("main", {"targets": [{"cluster": "prod", "service": "bluegreen"}]})

    (outcome,) = world.deploy().outcomes

    assert outcome.status is Status.ERROR
    assert "unsupported deployment controller" in outcome.reason
    assert world.ecs.count("RegisterTaskDefinition") == 0


@pytest.mark.parametrize(
    ("cluster", "code"),
    [
        (cluster_arn("prod", account="210987654321"), "AccountNotAllowed"),  # not in TargetAccounts
        (cluster_arn("prod", region="us-east-1"), "ClusterNotAllowed"),  # "*" names this Region's clusters only
    ],
)
def test_deployer_cluster_arn_of_other_account_or_region_is_refused(world: World, cluster: str, code: str) -> None:
    world.rules.put("main", {"targets": [{"cluster": cluster, "service": "web"}, STAGING]})

    report = world.deploy()

    foreign = next(o for o in report.outcomes if o.target and o.target.cluster == cluster)
    assert foreign.status is Status.ERROR
    assert foreign.error_code == code
    assert all(call["cluster"] != cluster for call in world.ecs.calls_of("DescribeServices"))
    assert by_target(report)["staging/web"].status is Status.DEPLOYING


def test_deployer_cluster_arn_of_own_account_deploys(world: World) -> None:
    world.rules.put("main", {"targets": [{"cluster": cluster_arn("prod"), "service": "web"}]})

    (outcome,) = world.deploy().outcomes

    assert outcome.status is Status.DEPLOYING


def test_deployer_allowed_clusters_patterns_are_enforced(world: World) -> None:
    world.ecs.add_service("prod-eu", "web", world.web)
    world.rules.put("main", {"targets": [{"cluster": "prod-eu", "service": "web"}, STAGING, WEB]})

    report = world.deploy(allowed_clusters=("prod-*",))

    outcomes = by_target(report)
    assert outcomes["prod-eu/web"].status is Status.DEPLOYING
    for key in ("staging/web", "prod/web"):
        assert outcomes[key].status is Status.ERROR
        assert outcomes[key].error_code == "ClusterNotAllowed"
    described = {call["cluster"] for call in world.ecs.calls_of("DescribeServices")}
    assert described == {"prod-eu"}


def test_deployer_allowed_clusters_match_case_sensitively(world: World) -> None:
    world.rules.put("main", {"targets": [WEB]})

    (outcome,) = world.deploy(allowed_clusters=("PROD",)).outcomes

    assert outcome.error_code == "ClusterNotAllowed"


def test_deployer_allowed_clusters_match_arn_targets_by_name(world: World) -> None:
    world.rules.put("main", {"targets": [{"cluster": cluster_arn("prod"), "service": "web"}]})

    (outcome,) = world.deploy(allowed_clusters=("prod",)).outcomes

    assert outcome.status is Status.DEPLOYING


# -- how much it asks of ECS ----------------------------------------------------------------


def test_deployer_describes_services_at_most_once_per_ten_of_a_cluster(world: World) -> None:
    # GIVEN 25 services in prod and 3 in staging, all targets of one rule
    wanted: dict[str, set[str]] = {"prod": set(), "staging": set()}
    for cluster, count in (("prod", 25), ("staging", 3)):
        for i in range(count):
            world.ecs.add_service(cluster, f"svc-{i:02d}", world.web)
            wanted[cluster].add(f"svc-{i:02d}")
    targets = [{"cluster": c, "service": s} for c, names in wanted.items() for s in sorted(names)]
    world.rules.put("main", {"targets": targets})

    report = world.deploy()

    assert statuses(report) == Counter({Status.DEPLOYING: 28})
    calls: dict[str, list[list[str]]] = defaultdict(list)
    for call in world.ecs.calls_of("DescribeServices"):
        calls[call["cluster"]].append(call["names"])
    for cluster, names in wanted.items():
        assert len(calls[cluster]) <= math.ceil(len(names) / 10), cluster
        assert {n for batch in calls[cluster] for n in batch} == names


def test_deployer_describes_each_distinct_task_definition_once(world: World) -> None:
    other = world.ecs.add_task_definition(fargate_body(family="api"))
    world.ecs.add_service("prod", "api2", other)
    world.ecs.add_service("staging", "api2", other)
    world.rules.put("main", {"targets": [WEB, API, STAGING, {"cluster": "prod", "service": "api2"}]})
    world.rules.put("more", {"targets": [{"cluster": "staging", "service": "api2"}]})

    report = world.deploy()

    assert statuses(report) == Counter({Status.DEPLOYING: 5})
    described = Counter(call["arn"] for call in world.ecs.calls_of("DescribeTaskDefinition"))
    assert described == Counter({world.web: 1, other: 1})


def test_deployer_reads_every_service_state_in_one_batch(world: World) -> None:
    world.rules.put("main", {"targets": [WEB, API, STAGING]})

    report = world.deploy()

    assert statuses(report) == Counter({Status.DEPLOYING: 3})
    assert world.store.calls["BatchGetItem"] == 1
    assert world.store.calls["GetItem"] == 0


def test_deployer_failed_batch_read_falls_back_to_each_target_reading_its_state(world: World) -> None:
    # GIVEN a service Slipway is already deploying the pushed digest to, and a batch read that fails
    world.store.states["prod/api"] = make_state(key="prod/api", image_digest=digest("b"), status="DEPLOYING")
    world.store.fail("BatchGetItem", "AccessDeniedException")
    world.rules.put("main", {"targets": [WEB, API, STAGING]})

    report = world.deploy()

    # THEN every target read its own state, so the in-flight one is still seen
    assert world.store.calls["GetItem"] == 3
    outcomes = by_target(report)
    assert outcomes["prod/web"].status is Status.DEPLOYING
    assert outcomes["staging/web"].status is Status.DEPLOYING
    assert outcomes["prod/api"].status is Status.SKIPPED
    assert "was rolled out (DEPLOYING)" in outcomes["prod/api"].reason


def test_deployer_cluster_named_by_name_and_by_arn_is_described_once(world: World) -> None:
    world.rules.put("by-name", {"targets": [WEB]})
    world.rules.put("by-arn", {"targets": [{"cluster": cluster_arn("prod"), "service": "api"}]})

    report = world.deploy()

    assert statuses(report) == Counter({Status.DEPLOYING: 2})
    assert world.ecs.count("DescribeServices") == 1


def test_deployer_only_containers_from_pushed_repository_change(world: World) -> None:
    body = fargate_body(
        family="multi",
        containers=[
            app_container(f"{REGISTRY}/web:1.4.0", "app"),
            sidecar(),
            app_container(f"{REGISTRY}/web:1.4.0", "jobs"),
        ],
    )
    world.ecs.add_service("prod", "multi", world.ecs.add_task_definition(body))
    world.rules.put("main", {"targets": [{"cluster": "prod", "service": "multi"}]})

    (outcome,) = world.deploy().outcomes

    assert outcome.containers == ("app", "jobs")
    (registered,) = world.ecs.calls_of("RegisterTaskDefinition")
    images = {c["name"]: c["image"] for c in registered["body"]["containerDefinitions"]}
    assert images == {
        "app": f"{REGISTRY}/web@{digest('b')}",
        "log-router": sidecar()["image"],
        "jobs": f"{REGISTRY}/web@{digest('b')}",
    }


# -- retries, notifications and metrics ------------------------------------------------------


def test_deployer_retryable_failure_is_not_published_and_retry_deploys_once(world: World) -> None:
    # GIVEN two services on revisions of their own
    world.ecs.clusters["staging"]["web"] = replace(
        world.ecs.service("staging", "web"), task_definition=world.ecs.add_task_definition()
    )
    world.rules.put("main", {"targets": [WEB, STAGING]})
    world.ecs.fail("UpdateService", "ThrottlingException")

    first = world.deploy(max_concurrency=1)

    assert [o.error_code for o in first.retryable] == ["ThrottlingException"]
    assert [n.status for n in world.notifier.published] == ["DEPLOYING"]

    # WHEN the same event comes again
    second = world.deploy(max_concurrency=1)

    assert second.retryable == []
    assert world.ecs.count("RegisterTaskDefinition") == 2  # one revision per service, none twice
    notified = Counter((n.cluster, n.service) for n in world.notifier.published if n.status == "DEPLOYING")
    assert notified[("prod", "web")] == 1
    assert notified[("staging", "web")] >= 1
    assert all(n.status == "DEPLOYING" for n in world.notifier.published)


def test_deployer_counts_metrics_through_callback(world: World) -> None:
    world.ecs.add_service("prod", "bluegreen", world.web, controller="EXTERNAL")
    world.rules.put(
        "main", {"targets": [WEB, {"cluster": "prod", "service": "bluegreen"}, {"cluster": "prod", "service": "gone"}]}
    )
    world.rules.put("off", {"targets": [API], "enabled": False})

    world.deploy()

    assert world.metric("PushesReceived") == 1
    assert world.metric("TargetsDeployed") == 1
    assert world.metric("TargetsSkipped") == 1
    assert world.metric("TargetsErrored") == 2
    assert world.metric("PushesUnmatched") == 0
    assert world.metric("NotificationFailures") == 0


def test_deployer_notification_failures_are_reported_and_counted(world: World) -> None:
    world.rules.put("main", {"targets": [WEB, STAGING]})
    world.notifier.failing = True

    report = world.deploy()

    assert len(report.notification_failures) == 2
    assert all("[DEPLOYING]" in failure for failure in report.notification_failures)
    assert world.metric("NotificationFailures") == 2


def test_deployer_summary_lists_outcomes_per_target(world: World) -> None:
    world.rules.put("main", {"targets": [WEB]})
    world.rules.put("other", {"targets": [API], "tags": ["release-*"]})

    summary = world.deploy().summary()

    assert summary["matched_rules"] == ["main"]
    assert set(summary["unmatched_rules"]) == {"other"}
    (outcome,) = summary["outcomes"]
    assert (outcome["status"], outcome["rule"], outcome["target"]) == ("DEPLOYING", "main", "prod/web")
    assert outcome["task_definition"] == world.ecs.service("prod", "web").task_definition


# -- the ECS adapter's share of the batching contract (botocore Stubber, no network) -----------------


def test_ecs_adapter_describe_services_sends_batches_of_ten() -> None:
    import boto3
    from botocore.stub import Stubber

    from slipway.aws.ecs import EcsAdapter

    client = boto3.session.Session().client("ecs", region_name="eu-west-1")
    names = [f"svc-{i:02d}" for i in range(25)]
    with Stubber(client) as stub:
        for start in (0, 10, 20):
            batch = names[start : start + 10]
            services = [
                {
                    "serviceArn": f"arn:aws:ecs:eu-west-1:123456789012:service/prod/{n}",
                    "serviceName": n,
                    "clusterArn": cluster_arn("prod"),
                    "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1",
                    "status": "ACTIVE",
                }
                for n in batch
                if n != "svc-13"
            ]
            failures = [{"arn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/svc-13", "reason": "MISSING"}]
            stub.add_response(
                "describe_services",
                {"services": services, "failures": failures if "svc-13" in batch else []},
                {"cluster": "prod", "services": batch},
            )

        lookup = EcsAdapter(client).describe_services("prod", names + names[:5])

        stub.assert_no_pending_responses()
    assert len(lookup.found) == 24
    assert lookup.missing["svc-13"].code == "MISSING"
