from sandbox.stack import World


def test_push_rolls_out_to_fargate_service(world: World, deploy) -> None:
    world.create_repository("web")
    world.cluster("prod")
    td = world.task_definition(
        "web",
        [{"name": "app", "image": world.image_uri("web", "1.0.0")}, {"name": "envoy", "image": "envoy:1"}],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
    )
    world.service("prod", "web", td, launchType="FARGATE")
    world.put_rule("web", "prod", {"targets": [{"cluster": "prod", "service": "web"}], "tags": ["1.*"]})
    digest = world.push_image("web", "1.1.0")
    [event] = world.route(world.push_event("web", digest, "1.1.0"))
    result = deploy(event)
    print(result)
    assert world.images("prod", "web")["app"] == world.image_uri("web", digest)
    print(world.notifications())
