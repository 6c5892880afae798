"""What a service revision carries, read off moto's service, and what DescribeServices shows of it.

A service revision is the task definition and the service settings one deployment runs
(Developer Guide, "Amazon ECS service revisions"). ECS records the digest of each
container's image when the revision is created, so a tag pushed later does not change
it: ``container_images`` resolves tags through moto's ECR once, at that moment.
"""

from __future__ import annotations

import re
from typing import Any

from moto.ecr.models import ecr_backends

from sandbox.service_deployments import ServiceDeployment

ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+):(.+)$")


def revision_settings(backend: Any, service: Any, deployment: dict[str, Any]) -> dict[str, Any]:
    """The ServiceRevision fields that come from the service and its moto deployment."""
    strategy = deployment.get("capacityProviderStrategy") or getattr(service, "capacity_provider_strategy", None)
    settings: dict[str, Any] = (
        {"capacityProviderStrategy": strategy} if strategy else {"launchType": service.launch_type}
    )
    settings.update(
        platformVersion=deployment.get("platformVersion") or service.platform_version,
        platformFamily=deployment.get("platformFamily"),
        loadBalancers=list(service.load_balancers or []),
        serviceRegistries=list(service.service_registries or []),
        networkConfiguration=deployment.get("networkConfiguration") or service.network_configuration or None,
        containerImages=container_images(backend, str(deployment.get("taskDefinition"))),
    )
    return settings


def container_images(backend: Any, task_definition: str) -> list[dict[str, str]]:
    """Each container's name, image and, where ECS could resolve it, the image's digest."""
    definition = _definition(backend, task_definition)
    if definition is None:
        return []
    images = []
    for container in definition.container_definitions:
        image = {"containerName": str(container.get("name")), "image": str(container.get("image"))}
        digest = image_digest(image["image"])
        if digest:
            image["imageDigest"] = digest
        images.append(image)
    return images


def _definition(backend: Any, arn: str) -> Any:
    """moto's task definition for an ARN, or None (deregistered ones stay until deleted, as in ECS)."""
    family_revision = arn.rsplit("/", 1)[-1]
    family, _, number = family_revision.partition(":")
    return (backend.task_definitions.get(family) or {}).get(int(number)) if number.isdigit() else None


def image_digest(image: str) -> str | None:
    """The digest an image reference names, or that moto's ECR holds for its tag."""
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    match = ECR_IMAGE.match(image)
    if match is None:
        return None
    account, region, repository_name, tag = match.groups()
    repository = ecr_backends[account][region].repositories.get(repository_name)
    if repository is None:
        return None
    found = next((i for i in repository.images if tag in i.image_tags), None)
    return str(found.get_image_digest()) if found is not None else None


def show(service: Any, record: ServiceDeployment) -> None:
    """DescribeServices' ``currentServiceRevisions``: the revisions of its current deployment with tasks."""
    if getattr(service, "current_service_deployment", None) != record.arn:
        return
    revisions = [r for r in (record.target, *record.sources) if any(record.tasks.get(r.arn, [0, 0, 0]))]
    service.current_service_revisions = [
        {
            "arn": r.arn,
            "requestedTaskCount": record.tasks[r.arn][0],
            "runningTaskCount": record.tasks[r.arn][1],
            "pendingTaskCount": record.tasks[r.arn][2],
        }
        for r in revisions or [record.target]
        if r.arn in record.tasks
    ]
