"""Which pushes are container images: media types as ECR reports them, and cosign's tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slipway.artifacts import IMAGE_CONFIGS, IMAGE_MANIFESTS, artifact_kind

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DIGEST_HEX = "a" * 64


# -- container images ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "artifact"),
    [
        (DOCKER_MANIFEST, DOCKER_CONFIG),  # docker build && docker push
        (OCI_MANIFEST, OCI_CONFIG),  # buildx/buildah with OCI media types
        (OCI_MANIFEST, DOCKER_CONFIG),
        (DOCKER_MANIFEST, OCI_CONFIG),
        (OCI_INDEX, None),  # a multi-arch image index: no config of its own
        (DOCKER_LIST, None),
        (OCI_INDEX, OCI_INDEX),
        (DOCKER_MANIFEST, None),
        (None, None),  # ECR's published sample event carries neither media type
        ("", ""),
        ("Application/VND.OCI.Image.Manifest.v1+JSON", "application/vnd.oci.image.config.v1+json; charset=utf-8"),
    ],
)
def test_artifact_kind_image_media_types_are_deployable(manifest: str | None, artifact: str | None) -> None:
    assert artifact_kind(manifest, artifact, "1.4.2") is None


@pytest.mark.parametrize(
    "tag",
    [
        "1.4.2",
        "latest",
        None,
        "sha256-" + DIGEST_HEX[:63] + ".sig",  # one hex digit short: not cosign's tag
        "sha256-" + DIGEST_HEX + ".sig.bak",
        "sha256-" + DIGEST_HEX + ".sig\n",
        "sha256-" + DIGEST_HEX + ".signature",
        "v1-sha256-" + DIGEST_HEX + ".sig",
        "sha256-" + "A" * 64 + ".sig",  # cosign writes the digest's lower-case hex
        "sha512-" + DIGEST_HEX + ".sig",
    ],
)
def test_artifact_kind_ordinary_tag_of_an_image_is_deployable(tag: str | None) -> None:
    assert artifact_kind(OCI_MANIFEST, OCI_CONFIG, tag) is None


# -- artifacts by media type ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "artifact", "kind"),
    [
        # ECR's Helm guide: DescribeImages of a pushed chart
        (OCI_MANIFEST, "application/vnd.cncf.helm.config.v1+json", "Helm chart"),
        # Notation: an OCI manifest whose config (or artifactType) is the signature type
        (OCI_MANIFEST, "application/vnd.cncf.notary.signature", "Notary Project signature"),
        (OCI_MANIFEST, "application/vnd.dev.cosign.simplesigning.v1+json", "cosign signature"),
        (DOCKER_MANIFEST, "application/vnd.dev.cosign.simplesigning.v1+json", "cosign signature"),
        (OCI_MANIFEST, "application/vnd.dev.sigstore.bundle.v0.3+json", "Sigstore bundle"),
        (OCI_MANIFEST, "application/vnd.in-toto+json", "in-toto attestation"),
        (OCI_MANIFEST, "application/vnd.dsse.envelope.v1+json", "signed attestation"),
        (OCI_MANIFEST, "application/spdx+json", "SPDX SBOM"),
        (OCI_MANIFEST, "text/spdx", "SPDX SBOM"),
        (OCI_MANIFEST, "application/vnd.cyclonedx+json", "CycloneDX SBOM"),
        (OCI_MANIFEST, "application/vnd.oci.empty.v1+json", "OCI artifact"),  # OCI 1.1 artifact, no artifactType
        (OCI_MANIFEST, "application/vnd.example.thing.v1+json", "OCI artifact"),
        ("application/vnd.oci.artifact.manifest.v1+json", None, "OCI artifact"),  # OCI 1.1 rc artifact manifest
        ("application/vnd.cncf.oras.artifact.manifest.v1+json", None, "OCI artifact"),
    ],
)
def test_artifact_kind_non_image_media_type_names_the_artifact(
    manifest: str | None, artifact: str | None, kind: str
) -> None:
    described = artifact_kind(manifest, artifact, "1.4.2")

    assert described is not None
    assert described.startswith(kind + " (")
    assert (artifact or manifest or "") in described


def test_artifact_kind_media_type_parameters_and_case_are_ignored() -> None:
    assert artifact_kind(OCI_MANIFEST, "Application/VND.CNCF.Helm.Config.v1+json; x=1", "0.1.0") == (
        "Helm chart (application/vnd.cncf.helm.config.v1+json)"
    )


# -- cosign's tag-based storage and the OCI referrers tag schema --------------------------------


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [
        (".sig", "cosign signature (by cosign's tag convention)"),
        (".att", "cosign attestation (by cosign's tag convention)"),
        (".sbom", "cosign SBOM (by cosign's tag convention)"),
        ("", "referrers index (by the OCI referrers tag schema)"),
    ],
)
def test_artifact_kind_referrer_tag_is_an_artifact_even_with_image_media_types(suffix: str, kind: str) -> None:
    # GIVEN what cosign pushes under sha256-<hex>.sig: an OCI image manifest with an OCI image config
    tag = f"sha256-{DIGEST_HEX}{suffix}"

    # THEN only the tag tells it from an image, and it is not deployed
    assert artifact_kind(OCI_MANIFEST, OCI_CONFIG, tag) == kind
    assert artifact_kind(None, None, tag) == kind
    assert artifact_kind(OCI_INDEX, None, tag) == kind


# -- properties ---------------------------------------------------------------------------------

media_types = st.sampled_from(sorted(IMAGE_MANIFESTS | IMAGE_CONFIGS)) | st.from_regex(
    r"\A(application|text)/[a-z0-9.+-]{1,40}\Z"
)


@settings(max_examples=300, deadline=None)
@given(manifest=st.none() | media_types, artifact=st.none() | media_types, tag=st.none() | st.text(max_size=80))
def test_artifact_kind_is_an_image_iff_every_type_is_an_image_type_and_the_tag_is_no_referrer_tag(
    manifest: str | None, artifact: str | None, tag: str | None
) -> None:
    image_manifest = manifest is None or manifest in IMAGE_MANIFESTS
    image_payload = artifact is None or artifact in IMAGE_CONFIGS | IMAGE_MANIFESTS
    referrer_tag = tag is not None and tag.startswith("sha256-") and len(tag) >= 71
    described = artifact_kind(manifest, artifact, tag)

    if image_manifest and image_payload and not referrer_tag:
        assert described is None
    if not (image_manifest and image_payload):
        assert described is not None


@settings(max_examples=200, deadline=None)
@given(digest=st.from_regex(r"\A[0-9a-f]{64}\Z"), suffix=st.sampled_from(["", ".sig", ".att", ".sbom"]))
def test_artifact_kind_any_subject_digest_in_a_referrer_tag_is_an_artifact(digest: str, suffix: str) -> None:
    assert artifact_kind(DOCKER_MANIFEST, DOCKER_CONFIG, f"sha256-{digest}{suffix}") is not None
