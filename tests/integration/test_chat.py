"""The chat topic under moto: each notification also reaches the chat topic's subscriber in the schema of
AWS's chat integration, and the main topic's subscriber gets exactly what it got before."""

from __future__ import annotations

from sandbox.deployments import Deployments
from sandbox.stack import World
from tests.integration.test_deploy import fargate_web, push
from tests.integration.test_track import PULL_ERROR


def chat_notifications(world: World) -> list[dict[str, object]]:
    assert world.stack is not None and world.stack.chat_subscriber_url, "the sandbox stack has no chat topic"
    return world.notifications(world.stack.chat_subscriber_url)


def test_chat_deploying_and_failed_reach_the_chat_subscriber_in_the_schema(
    world: World, deploy, track, ecs_life: Deployments
) -> None:
    # GIVEN a rule deploying web to prod/web
    world.create_repository("web")
    fargate_web(world)
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}]})

    # WHEN a push rolls out and ECS's circuit breaker fails the deployment
    deploy(push(world, "web", "1.1.0"))
    [main_deploying] = world.notifications()
    deployment = main_deploying["message"]["deployment_id"]
    track(ecs_life.fail("prod", "web", deployment, stopped=[PULL_ERROR]))

    # THEN the main subscriber gets FAILED as ever: its Subject, attributes and JSON Message
    [main_failed] = world.notifications()
    assert main_failed["subject"] == "[FAILED] web:1.1.0 -> prod/web"
    assert main_failed["message"]["status"] == "FAILED" and main_failed["attributes"]["status"] == "FAILED"
    assert "version" not in main_failed["message"] and "content" not in main_failed["message"]

    # AND the chat subscriber got both, as custom notifications in one thread, with the same attributes
    deploying, failed = chat_notifications(world)
    rollout_id = main_deploying["message"]["rollout_id"]
    for note, main in ((deploying, main_deploying), (failed, main_failed)):
        message = note["message"]
        assert isinstance(message, dict)
        assert (message["version"], message["source"]) == ("1.0", "custom")
        assert message["content"]["textType"] == "client-markdown"
        assert message["metadata"]["threadId"] == rollout_id
        assert note["attributes"] == main["attributes"]
    assert deploying["message"]["content"]["title"] == "DEPLOYING web:1.1.0 on prod/web"
    assert deploying["message"]["content"]["nextSteps"] == ["slipway history prod/web"]
    content = failed["message"]["content"]
    assert content["title"] == "FAILED web:1.1.0 on prod/web"
    assert "CannotPullContainerError" in content["description"]
    assert content["nextSteps"] == ["slipway history prod/web", "slipway rollback prod/web"]


def test_chat_topic_is_made_from_the_template_and_in_the_functions_environment(world: World) -> None:
    import os

    assert world.stack is not None
    assert os.environ["SLIPWAY_CHAT_TOPIC_ARN"] == world.stack.chat_topic_arn
    topics = {t["TopicArn"] for t in world.sns.list_topics()["Topics"]}
    assert {world.stack.topic_arn, world.stack.chat_topic_arn} <= topics
