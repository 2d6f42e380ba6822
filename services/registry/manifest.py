"""Manifest documents: media type, confusion and schema 1 checks, platform choice.

Pure logic over bytes already verified against their digest.
"""

from __future__ import annotations

import json

from client.errors import FailedPrecondition, InvalidArgument, NotFound
from client.imagespec import INDEX_TYPES, MANIFEST_TYPES, Descriptor, MediaType, Platform

__all__ = [
    "ACCEPT",
    "MAX_MANIFEST_SIZE",
    "SCHEMA1_TYPES",
    "manifest_media_type",
    "refuse_schema1",
    "select_platform",
    "index_entries",
]

#: the four document types barque understands, for the Accept header
ACCEPT = ", ".join([MediaType.OCI_INDEX, MediaType.DOCKER_LIST,
                    MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST])
#: documents above 4 MiB are refused, as containers/image and distribution do
MAX_MANIFEST_SIZE = 4 << 20
SCHEMA1_TYPES = frozenset({MediaType.DOCKER_SCHEMA1, MediaType.DOCKER_SCHEMA1_SIGNED})
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"

_SCHEMA1_MESSAGE = ("schema 1 manifests are not supported; "
                    "push the image again with a current client (Docker v2 schema 2 or OCI)")


def refuse_schema1(content_type: str, what: str) -> None:
    """FailedPrecondition when the server labels ``what`` as a schema 1 manifest."""
    if content_type.split(";", 1)[0].strip() in SCHEMA1_TYPES:
        raise FailedPrecondition(f"{what}: {_SCHEMA1_MESSAGE}")


def manifest_media_type(data: bytes, content_type: str, what: str) -> str:
    """The media type of a manifest document, after checking it is one we accept.

    The body's ``mediaType`` wins; without one (allowed by OCI) the shape
    decides. A document that is both an index and a manifest is refused
    (CVE-2021-41190), and so are schema 1 documents.
    """
    refuse_schema1(content_type, what)
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FailedPrecondition(f"{what}: manifest is not valid json: {exc}") from exc
    if not isinstance(obj, dict):
        raise FailedPrecondition(f"{what}: manifest is not a json object")
    if obj.get("schemaVersion") == 1 or "fsLayers" in obj or obj.get("mediaType") in SCHEMA1_TYPES:
        raise FailedPrecondition(f"{what}: {_SCHEMA1_MESSAGE}")
    is_index = "manifests" in obj
    is_manifest = "layers" in obj or "config" in obj
    if is_index and is_manifest:
        raise FailedPrecondition(f"{what}: ambiguous document has both manifests and layers/config")
    declared = obj.get("mediaType")
    if declared:
        if declared in INDEX_TYPES and is_manifest or declared in MANIFEST_TYPES and is_index:
            raise FailedPrecondition(f"{what}: media type {declared} does not match the document")
        if declared not in INDEX_TYPES | MANIFEST_TYPES:
            raise FailedPrecondition(f"{what}: unsupported manifest media type {declared!r}")
        return declared
    ctype = content_type.split(";", 1)[0].strip()
    if is_index:
        return ctype if ctype in INDEX_TYPES else MediaType.OCI_INDEX
    if is_manifest:
        return ctype if ctype in MANIFEST_TYPES else MediaType.OCI_MANIFEST
    raise FailedPrecondition(f"{what}: document is neither an image manifest nor an index")


def index_entries(data: bytes, what: str) -> list[Descriptor]:
    """Descriptors of an index, skipping entries that are not usable manifests.

    Unknown media types must not fail (image-index.md); malformed entries do.
    """
    try:
        raw = json.loads(data).get("manifests") or []
        entries = [Descriptor.from_json(item) for item in raw]
    except (ValueError, AttributeError, TypeError, InvalidArgument) as exc:
        # the registry's document is at fault, not the caller's argument
        raise FailedPrecondition(f"{what}: malformed index: {exc}") from exc
    return entries


def _is_attestation(desc: Descriptor) -> bool:
    plat = desc.platform
    return ATTESTATION_ANNOTATION in desc.annotations or (
        plat is not None and plat.os == "unknown" and plat.architecture == "unknown"
    )


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}


def _normal(platform: Platform) -> Platform:
    arch = _ARCH_ALIASES.get(platform.architecture, platform.architecture)
    variant = platform.variant
    if arch == "arm64" and variant == "v8":
        variant = ""  # arm64 v8 is arm64 without a variant (containerd platforms)
    return Platform(platform.os, arch, variant)


def select_platform(entries: list[Descriptor], platform: Platform, what: str) -> Descriptor:
    """The first entry for ``platform`` (os, architecture, and variant if asked).

    Attestations and non-manifest entries are skipped. No match is NotFound
    naming the platform and the available ones.
    """
    want = _normal(platform)
    usable = [e for e in entries
              if e.platform is not None and not _is_attestation(e)
              and e.media_type in MANIFEST_TYPES | INDEX_TYPES]
    for entry in usable:
        assert entry.platform is not None
        have = _normal(entry.platform)
        if (have.os, have.architecture) != (want.os, want.architecture):
            continue
        if want.variant and have.variant != want.variant:
            continue
        return entry
    available = ", ".join(str(e.platform) for e in usable) or "none"
    raise NotFound(f"{what}: no manifest for platform {platform}; available: {available}")
