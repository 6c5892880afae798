"""The rule-check function under moto: a rule edited in Parameter Store is checked at once.

Each test edits a parameter with moto's SSM, lets the template's EventBridge pattern
route the ``Parameter Store Change`` event (``world.rule_change``), invokes the real
handler with what was delivered, and reads what a subscriber queue received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox import bridge
from sandbox.faults import Faults
from sandbox.stack import ACCOUNT, REGION, LambdaContext, World
from tests.integration.test_deploy import fargate_web, push

WEB = {"cluster": "prod", "service": "web"}


@pytest.fixture
def check(faults: Faults) -> Any:
    """Invoke the real rule-check handler with a delivered event, as Lambda would."""
    from slipway.handlers import rules as handler

    context = LambdaContext(
        function_name="slipway-rules",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slipway-rules",
    )
    return lambda event: handler.handler(event, context)


@pytest.fixture
def prod(world: World) -> World:
    """prod/web on Fargate (containers app and envoy), no rules yet."""
    world.create_repository("web")
    fargate_web(world)
    world.notifications()
    return world


def changed(world: World, check: Any, name: str, operation: str, repository: str = "web") -> dict[str, Any]:
    """Route the change event of ``repository/name`` through the template's pattern and check it."""
    [event] = world.rule_change(repository, name, operation)
    return check(event)


def edit(world: World, check: Any, name: str, rule: dict[str, Any] | str, **put: Any) -> list[dict[str, Any]]:
    """Write a rule, deliver its change event, and return what the subscriber received."""
    operation = "Update" if _exists(world, name) else "Create"
    world.put_rule("web", name, rule, **put)
    changed(world, check, name, operation)
    return world.notifications()


def _exists(world: World, name: str) -> bool:
    assert world.stack is not None
    found = world.ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [f"{world.stack.rules_path}/web/{name}"]}]
    )
    return bool(found["Parameters"])


def only(notes: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(notes) == 1, notes
    return notes[0]


# -- valid rules -----------------------------------------------------------------------


def test_rule_check_valid_rule_publishes_rule_accepted_with_version(prod: World, check) -> None:
    # GIVEN a rule whose every target exists, including its named container
    rule = {"targets": [{**WEB, "container": "app"}], "tags": ["v*"]}

    # WHEN it is created
    note = only(edit(prod, check, "prod", rule))

    # THEN subscribers hear RULE_ACCEPTED with the parameter and its version
    message = note["message"]
    assert message["status"] == "RULE_ACCEPTED"
    assert (message["repository"], message["rule"]) == ("web", "prod")
    assert message["parameter"] == "/slipway/rules/web/prod"
    assert message["version"] == 1
    assert message["modified_at"]
    assert "problems" not in message or message["problems"] == []
    assert "RULE_ACCEPTED" in note["subject"]
    assert "rule prod" in note["subject"]


def test_rule_check_update_reports_new_version(prod: World, check) -> None:
    edit(prod, check, "prod", {"targets": [WEB]})

    note = only(edit(prod, check, "prod", {"targets": [WEB], "tags": ["1.*"]}))

    assert note["message"]["status"] == "RULE_ACCEPTED"
    assert note["message"]["version"] == 2


def test_rule_check_handler_result_names_status_and_parameter(prod: World, check) -> None:
    prod.put_rule("web", "prod", {"targets": [WEB]})

    result = changed(prod, check, "prod", "Create")

    assert result == {"status": "RULE_ACCEPTED", "parameter": "/slipway/rules/web/prod"}


def test_rule_check_attributes_are_status_repository_rule_only(prod: World, check) -> None:
    accepted = only(edit(prod, check, "prod", {"targets": [WEB]}))
    invalid = only(edit(prod, check, "prod", {"targets": [WEB, {"cluster": "prod", "service": "orders"}]}))

    # filter policies select on these; a rule names no single cluster or service
    assert accepted["attributes"] == {"status": "RULE_ACCEPTED", "repository": "web", "rule": "prod"}
    assert invalid["attributes"] == {"status": "RULE_INVALID", "repository": "web", "rule": "prod"}
    assert set(invalid["attribute_types"].values()) == {"String"}


def test_rule_check_secure_string_rule_is_read_decrypted(prod: World, check) -> None:
    note = only(edit(prod, check, "prod", {"targets": [WEB]}, secure=True))

    assert note["message"]["status"] == "RULE_ACCEPTED"


def test_rule_check_modifier_is_reported_when_parameter_store_tells(prod: World, check) -> None:
    # GIVEN Parameter Store knows who changed the parameter (moto says "N/A"; AWS names the principal)
    from slipway import app

    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"

    def named(parsed: dict[str, Any], **_: Any) -> None:
        for parameter in parsed.get("Parameters", []):
            parameter["LastModifiedUser"] = alice

    app.app().session.events.register("after-call.ssm.DescribeParameters", named)

    # WHEN the rule changes
    note = only(edit(prod, check, "prod", {"targets": [WEB]}))

    # THEN the message says who
    assert note["message"]["modified_by"] == alice


def test_rule_check_modifier_unknown_is_left_out(prod: World, check) -> None:
    note = only(edit(prod, check, "prod", {"targets": [WEB]}))

    assert "modified_by" not in note["message"]


# -- invalid and dangerous rules -------------------------------------------------------


def test_rule_check_unknown_key_is_invalid_with_suggestion(prod: World, check) -> None:
    note = only(edit(prod, check, "prod", {"targets": [WEB], "tag": ["v*"]}))

    message = note["message"]
    assert message["status"] == "RULE_INVALID"
    assert message["version"] == 1
    assert message["parameter"] == "/slipway/rules/web/prod"
    assert any('unknown key "tag" (did you mean "tags"?)' in p for p in message["problems"])
    assert 'unknown key "tag" (did you mean "tags"?)' in message["reason"]


def test_rule_check_missing_service_is_invalid_at_its_target_path(prod: World, check) -> None:
    rule = {"targets": [WEB, {"cluster": "prod", "service": "orders"}]}

    note = only(edit(prod, check, "prod", rule))

    assert note["message"]["status"] == "RULE_INVALID"
    assert note["message"]["problems"] == ['targets[1].service: no service "orders" in cluster "prod"']
    assert 'targets[1].service: no service "orders" in cluster "prod"' in note["message"]["reason"]


def test_rule_check_missing_cluster_is_invalid_at_its_target_path(prod: World, check) -> None:
    rule = {"targets": [{"cluster": "nope", "service": "web"}, WEB]}

    note = only(edit(prod, check, "prod", rule))

    assert note["message"]["status"] == "RULE_INVALID"
    assert note["message"]["problems"] == ['targets[0].cluster: no cluster "nope"']


def test_rule_check_inactive_service_is_invalid(prod: World, check) -> None:
    prod.ecs.update_service(cluster="prod", service="web", desiredCount=0)
    prod.ecs.delete_service(cluster="prod", service="web")

    note = only(edit(prod, check, "prod", {"targets": [WEB]}))

    assert note["message"]["status"] == "RULE_INVALID"
    [problem] = note["message"]["problems"]
    assert problem.startswith('targets[0].service: no service "web" in cluster "prod"')


def test_rule_check_container_absent_from_task_definition_is_invalid(prod: World, check) -> None:
    rule = {"targets": [{**WEB, "container": "sidecar"}]}

    note = only(edit(prod, check, "prod", rule))

    assert note["message"]["status"] == "RULE_INVALID"
    assert note["message"]["problems"] == [
        'targets[0].container: no container "sidecar" in task definition web:1 (has: app, envoy)'
    ]


def test_rule_check_promote_from_missing_rule_is_invalid(prod: World, check) -> None:
    note = only(edit(prod, check, "prod", {"targets": [WEB], "promote_from": "staging", "soak_minutes": 30}))

    assert note["message"]["status"] == "RULE_INVALID"
    [problem] = note["message"]["problems"]
    assert problem.startswith('promote_from: no rule "staging" in repository web')


def test_rule_check_promote_from_existing_rule_is_accepted(prod: World, check) -> None:
    fargate_web(prod, cluster="staging")
    prod.put_rule("web", "staging", {"targets": [{"cluster": "staging", "service": "web"}]})

    note = only(edit(prod, check, "prod", {"targets": [WEB], "promote_from": "staging"}))

    assert note["message"]["status"] == "RULE_ACCEPTED", note["message"].get("problems")


def test_rule_check_promote_from_rule_created_after_first_check_is_accepted(prod: World, check) -> None:
    # GIVEN prod promotes from staging, which does not exist yet: rightly RULE_INVALID
    assert only(edit(prod, check, "prod", {"targets": [WEB], "promote_from": "staging"}))["message"]["status"] == (
        "RULE_INVALID"
    )
    # WHEN staging is created, and prod is edited again seconds later
    fargate_web(prod, cluster="staging")
    edit(prod, check, "staging", {"targets": [{"cluster": "staging", "service": "web"}]})
    note = only(edit(prod, check, "prod", {"targets": [WEB], "promote_from": "staging", "tags": ["v*"]}))

    # THEN the check sees the rules as they are now
    assert note["message"]["status"] == "RULE_ACCEPTED", note["message"].get("problems")


def test_rule_check_promote_from_itself_is_invalid(prod: World, check) -> None:
    note = only(edit(prod, check, "prod", {"targets": [WEB], "promote_from": "prod"}))

    assert note["message"]["problems"] == ['promote_from: a rule cannot promote from itself ("prod")']


def test_rule_check_two_rules_fighting_over_a_service_is_invalid(prod: World, check) -> None:
    prod.put_rule("web", "main", {"targets": [WEB], "tags": ["v*"]})

    note = only(edit(prod, check, "prod", {"targets": [WEB], "tags": ["v*"]}))

    assert note["message"]["status"] == "RULE_INVALID"
    [problem] = note["message"]["problems"]
    assert problem.startswith('targets: prod/web also deployed by rule "main"')


def test_rule_check_cluster_of_other_account_is_invalid(prod: World, check) -> None:
    foreign = "arn:aws:ecs:eu-west-1:999999999999:cluster/prod"

    note = only(edit(prod, check, "prod", {"targets": [{"cluster": foreign, "service": "web"}]}))

    [problem] = note["message"]["problems"]
    assert problem == (
        "targets[0].cluster: cluster prod is in account 999999999999, which is not in TargetAccounts (none)"
    )


def test_rule_check_bad_json_is_invalid_with_position(prod: World, check) -> None:
    note = only(edit(prod, check, "prod", '{"targets": [}'))

    assert note["message"]["status"] == "RULE_INVALID"
    [problem] = note["message"]["problems"]
    assert problem.startswith("$: not valid JSON")
    assert "line 1" in problem


def test_rule_check_every_problem_is_listed(prod: World, check) -> None:
    rule = {"targets": [{"cluster": "prod"}], "tag": ["v*"], "max_parallel": 0}

    note = only(edit(prod, check, "prod", rule))

    problems = note["message"]["problems"]
    assert "targets[0].service: required" in problems
    assert '$: unknown key "tag" (did you mean "tags"?)' in problems
    assert any(p.startswith("max_parallel: ") for p in problems)


def test_rule_check_problems_are_what_the_deploy_function_reports(prod: World, check, deploy) -> None:
    # GIVEN a rule the checker finds invalid
    [note] = edit(prod, check, "prod", {"targets": [WEB], "tag": ["v*"]})
    [problem] = note["message"]["problems"]

    # WHEN a push reaches the deploy function under that rule
    deploy(push(prod, "web", "v1.1.0"))

    # THEN the deploy function refuses it with the very same words (the same validation code)
    [error] = prod.notifications()
    assert error["message"]["status"] == "ERROR"
    assert error["message"]["error_code"] == "InvalidRule"
    assert problem in error["message"]["reason"]


# -- deletions and events that are not rule edits ------------------------------------------


def test_rule_check_deleted_rule_publishes_rule_deleted(prod: World, check) -> None:
    parameter = prod.put_rule("web", "prod", {"targets": [WEB]})
    prod.ssm.delete_parameter(Name=parameter)

    result = changed(prod, check, "prod", "Delete")

    note = only(prod.notifications())
    assert result["status"] == "RULE_DELETED"
    assert note["message"]["status"] == "RULE_DELETED"
    assert note["message"]["parameter"] == parameter
    assert note["message"]["rule"] == "prod"
    assert note["attributes"] == {"status": "RULE_DELETED", "repository": "web", "rule": "prod"}


def test_rule_check_create_of_parameter_deleted_meanwhile_publishes_nothing(prod: World, check) -> None:
    # the Delete event that follows reports it; a Create for a parameter already gone says nothing
    parameter = prod.put_rule("web", "prod", {"targets": [WEB]})
    prod.ssm.delete_parameter(Name=parameter)

    result = changed(prod, check, "prod", "Create")

    assert result["status"] == "IGNORED"
    assert prod.notifications() == []


@pytest.mark.parametrize("name", ["/other/web/prod", "/slipway/rules-old/web/prod", "/slipway/rulesweb/prod"])
def test_rule_check_parameter_outside_rules_path_is_not_routed(world: World, name: str) -> None:
    world.ssm.put_parameter(Name=name, Value="{}", Type="String")

    delivered = world.route(bridge.parameter_change_event(name, "Update", account=world.account, region=world.region))

    assert delivered == []


def test_rule_check_label_change_is_not_routed(world: World) -> None:
    assert world.stack is not None
    name = f"{world.stack.rules_path}/web/prod"
    event = bridge.parameter_change_event(name, "LabelParameterVersion", account=world.account, region=world.region)

    assert world.route(event) == []


def test_rule_check_nested_repository_is_named_in_full(prod: World, check) -> None:
    prod.put_rule("team/web", "prod", {"targets": [WEB]})

    changed(prod, check, "prod", "Create", repository="team/web")

    note = only(prod.notifications())
    assert note["attributes"] == {"status": "RULE_ACCEPTED", "repository": "team/web", "rule": "prod"}
    assert note["message"]["parameter"] == "/slipway/rules/team/web/prod"


def test_rule_check_parameter_under_rules_path_is_routed(world: World) -> None:
    # the same routing as above, so the test above cannot pass because nothing is ever routed
    [delivered] = world.rule_change("web", "prod", "Update")

    assert delivered["detail"]["name"] == "/slipway/rules/web/prod"


def test_rule_check_parameter_outside_rules_path_invoked_directly_is_ignored(
    world: World, check, faults: Faults
) -> None:
    world.ssm.put_parameter(Name="/other/web/prod", Value="{}", Type="String")
    event = bridge.parameter_change_event("/other/web/prod", "Update", account=world.account, region=world.region)

    result = check(event)

    assert result == {"status": "IGNORED", "parameter": "/other/web/prod"}
    assert world.notifications() == []
    assert faults.count("ssm.") == 0
    assert faults.count("sns.") == 0


def test_rule_check_non_parameter_store_event_is_rejected(world: World, check, faults: Faults) -> None:
    event = bridge.ecr_push_event("web", "sha256:" + "a" * 64, "1.0.0")

    assert check(event) == {"status": "REJECTED"}
    assert world.notifications() == []


# -- subscribers ---------------------------------------------------------------------------


def test_rule_check_filter_policy_drops_rule_accepted(prod: World, check) -> None:
    # GIVEN a team subscribed to everything except RULE_ACCEPTED
    assert prod.stack is not None
    team = prod.queue("team-rules")
    prod.subscribe(prod.stack.topic_arn, team, {"status": [{"anything-but": ["RULE_ACCEPTED"]}]})

    # WHEN a valid edit, an invalid edit and a deletion happen
    prod.put_rule("web", "prod", {"targets": [WEB]})
    changed(prod, check, "prod", "Create")
    prod.put_rule("web", "prod", {"targets": [WEB], "tag": ["v*"]})
    changed(prod, check, "prod", "Update")
    prod.ssm.delete_parameter(Name="/slipway/rules/web/prod")
    changed(prod, check, "prod", "Delete")

    # THEN the team hears only the invalid edit and the deletion, the default subscriber all three
    assert [n["message"]["status"] for n in prod.notifications(team)] == ["RULE_INVALID", "RULE_DELETED"]
    assert [n["message"]["status"] for n in prod.notifications()] == ["RULE_ACCEPTED", "RULE_INVALID", "RULE_DELETED"]


def test_rule_check_message_body_is_json_with_contract_keys(prod: World, check) -> None:
    assert prod.stack is not None
    prod.put_rule("web", "prod", {"targets": [WEB, {"cluster": "prod", "service": "orders"}]})
    changed(prod, check, "prod", "Create")

    [raw] = prod.drain(prod.stack.subscriber_url)
    message = json.loads(json.loads(raw["Body"])["Message"])

    for key in ("status", "repository", "rule", "parameter", "version", "problems", "reason", "time"):
        assert key in message, key
