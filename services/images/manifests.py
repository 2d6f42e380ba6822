"""The two documents an image is pulled by, read from the content store:
its manifest (the config and layer descriptors) and its config (the diff
ids the layers unpack to). Pure checks over bytes already verified against
their digest, so a pull fails on a bad document before it downloads a layer.
"""

from __future__ import annotations

import json

from client.errors import InvalidArgument
from client.imagespec import (
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    MediaType,
    validate_digest,
)

__all__ = ["parse_manifest", "parse_config"]


def parse_manifest(data: bytes, digest: str) -> tuple[Descriptor, list[Descriptor]]:
    """(config descriptor, layer descriptors) of the image manifest ``data``;
    InvalidArgument for an index, another document type, a document that is
    both a manifest and an index or whose ``mediaType`` names the other
    (CVE-2021-41190), a malformed digest (CVE-2024-3727: digests become file
    names), or a layer type barque cannot unpack."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"manifest {digest} is not JSON") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"manifest {digest} is not a JSON object")
    # CVE-2021-41190: a document read as a manifest here and as an index elsewhere
    if "manifests" in doc and ("layers" in doc or "config" in doc):
        raise InvalidArgument(f"manifest {digest}: ambiguous document has both manifests and layers/config")
    if doc.get("mediaType") in MANIFEST_TYPES and "manifests" in doc:
        raise InvalidArgument(f"manifest {digest}: media type {doc['mediaType']} does not match the document")
    media_type = doc.get("mediaType") or (
        MediaType.OCI_MANIFEST if "config" in doc else MediaType.OCI_INDEX if "manifests" in doc else ""
    )
    if media_type in INDEX_TYPES:
        raise InvalidArgument(f"manifest {digest} is an index, not an image manifest")
    if media_type not in MANIFEST_TYPES:
        raise InvalidArgument(f"manifest {digest} has unsupported media type {media_type!r}")
    config = Descriptor.from_json(doc.get("config") or {})
    layers = [Descriptor.from_json(x) for x in doc.get("layers") or []]
    for layer in layers:
        if layer.media_type not in LAYER_TYPES:
            raise InvalidArgument(f"layer {layer.digest} has unsupported media type {layer.media_type!r}")
    return config, layers


def parse_config(data: bytes, digest: str) -> dict:
    """The image config ``data``, whose ``rootfs.diff_ids`` are digests;
    InvalidArgument when it is not JSON or they are not."""
    try:
        config = json.loads(data)
        diff_ids = config["rootfs"]["diff_ids"]
        for d in diff_ids:
            validate_digest(d)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"image config {digest} is malformed: {exc}") from exc
    return config
