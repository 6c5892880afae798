"""Which ECR pushes are container images ECS can run, and which are other artifacts.

ECR stores signatures, SBOMs, attestations, Helm charts and other OCI artifacts beside
images, and reports each push with two media types: ``manifest-media-type`` (the
manifest's own type; ``imageManifestMediaType`` in DescribeImages) and
``artifact-media-type`` (the type of what the manifest carries; ``artifactMediaType``).
For an image that is its config's type, Docker's or OCI's image config; ECR's guide to
pushing a Helm chart shows a chart as an OCI image manifest with the artifact media type
``application/vnd.cncf.helm.config.v1+json``. Everything here is pure and independent
of the event model, so the push intake and a job reading DescribeImages decide alike.
"""

from __future__ import annotations

import re

# Manifests and indexes that hold container images (Docker's distribution formats, the OCI
# image spec's manifest and index). A multi-arch push tags the index, which has no config:
# ECR may report no artifact media type for it, or the index's own type.
IMAGE_MANIFESTS = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
# What an image manifest carries: an image configuration, Docker's or OCI's.
IMAGE_CONFIGS = frozenset(
    {
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.config.v1+json",
    }
)
# Words in a media type that name the artifact, for a reason people can read; any other
# type that is neither an image manifest nor an image config is "an OCI artifact".
_KINDS = (
    ("helm", "Helm chart"),
    ("notary", "Notary Project signature"),
    ("cosign", "cosign signature"),
    ("sigstore", "Sigstore bundle"),
    ("in-toto", "in-toto attestation"),
    ("dsse", "signed attestation"),
    ("spdx", "SPDX SBOM"),
    ("cyclonedx", "CycloneDX SBOM"),
)
# cosign's tag-based storage (its SIGNATURE_SPEC: the subject's digest with ":" made "-",
# then ".sig"; ".att" for attestations and ".sbom" for SBOMs). Those objects are OCI image
# manifests with an OCI image config, so their media types are an image's: only the tag
# tells them apart. The bare "sha256-<hex>" is the OCI distribution spec's referrers tag
# schema, an index of a subject's referrers on registries without the referrers API.
_REFERRER_TAG = re.compile(r"^sha256-[0-9a-f]{64}(?:\.(?P<suffix>sig|att|sbom))?$")
_REFERRER_KINDS = {
    "sig": "cosign signature (by cosign's tag convention)",
    "att": "cosign attestation (by cosign's tag convention)",
    "sbom": "cosign SBOM (by cosign's tag convention)",
    None: "referrers index (by the OCI referrers tag schema)",
}


def artifact_kind(manifest_media_type: str | None, artifact_media_type: str | None, tag: str | None) -> str | None:
    """None for a container image; otherwise what the pushed object is, in a few words.

    Missing media types count as an image (ECR's own sample event has neither), so only
    what ECR reports as something else, or cosign's and the OCI referrers' tags, is set aside.
    """
    referrer = _REFERRER_TAG.fullmatch(tag or "")
    if referrer:
        return _REFERRER_KINDS[referrer.group("suffix")]
    artifact, manifest = _bare(artifact_media_type), _bare(manifest_media_type)
    if artifact and artifact not in IMAGE_CONFIGS and artifact not in IMAGE_MANIFESTS:
        return _described(artifact)
    if manifest and manifest not in IMAGE_MANIFESTS:
        return _described(manifest)
    return None


def _bare(media_type: str | None) -> str:
    """The type without parameters, lower case (media types are case-insensitive)."""
    return (media_type or "").split(";", 1)[0].strip().lower()


def _described(media_type: str) -> str:
    kind = next((name for word, name in _KINDS if word in media_type), "OCI artifact")
    return f"{kind} ({media_type})"
