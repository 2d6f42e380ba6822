"""Platform selection and manifest media-type checks (pure logic)."""

from __future__ import annotations

import json

import pytest

from client.errors import FailedPrecondition, NotFound
from client.imagespec import Descriptor, MediaType, Platform
from services.registry.manifest import (
    index_entries,
    manifest_media_type,
    select_platform,
)


def digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def entry(n: int, os_: str | None, arch: str = "", variant: str = "",
          media_type: str = MediaType.OCI_MANIFEST, annotations: dict | None = None) -> dict:
    out: dict = {"mediaType": media_type, "digest": digest(n), "size": 100 + n}
    if os_ is not None:
        out["platform"] = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
    if annotations:
        out["annotations"] = annotations
    return out


INDEX = [
    entry(1, "linux", "arm", "v6"),
    entry(2, "linux", "arm", "v7"),
    entry(3, "linux", "arm64", "v8"),
    entry(4, "unknown", "unknown", annotations={"vnd.docker.reference.type": "attestation-manifest"}),
    entry(5, "linux", "amd64"),
    entry(6, "linux", "amd64", annotations={"vnd.docker.reference.type": "attestation-manifest"}),
    entry(7, "windows", "amd64"),
    entry(8, "linux", "riscv64", media_type="application/vnd.example.unknown"),
    entry(9, None),
    entry(10, "linux", "amd64"),  # a later duplicate: the first match wins
]


def entries() -> list[Descriptor]:
    return index_entries(json.dumps({"manifests": INDEX}).encode(), "idx")


@pytest.mark.parametrize("platform,expected", [
    (Platform("linux", "amd64"), 5),
    (Platform("windows", "amd64"), 7),
    (Platform("linux", "arm", "v7"), 2),
    (Platform("linux", "arm", "v6"), 1),
    (Platform("linux", "arm"), 1),            # no variant asked: first arm entry
    (Platform("linux", "arm64"), 3),          # arm64 v8 is arm64
    (Platform("linux", "arm64", "v8"), 3),
    (Platform("linux", "aarch64"), 3),
    (Platform("linux", "x86_64"), 5),
])
def test_select_platform(platform, expected):
    assert select_platform(entries(), platform, "idx").digest == digest(expected)


@pytest.mark.parametrize("platform", [Platform("linux", "s390x"), Platform("linux", "arm", "v5"),
                                      Platform("linux", "riscv64"), Platform("darwin", "amd64")])
def test_select_platform_no_match_names_available(platform):
    with pytest.raises(NotFound) as info:
        select_platform(entries(), platform, "manifest r.io/a:b")
    msg = str(info.value)
    assert "manifest r.io/a:b" in msg
    assert f"platform {platform}" in msg
    assert "available: linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/amd64, windows/amd64" in msg
    assert "unknown/unknown" not in msg


def test_select_platform_empty_index():
    with pytest.raises(NotFound) as info:
        select_platform([], Platform(), "idx")
    assert "available: none" in str(info.value)


def test_index_entries_malformed():
    with pytest.raises(FailedPrecondition):
        index_entries(b'{"manifests": [{"digest": "sha256:short", "size": 1}]}', "idx")


def doc(**fields) -> bytes:
    return json.dumps({"schemaVersion": 2, **fields}).encode()


@pytest.mark.parametrize("body,ctype,expected", [
    (doc(mediaType=MediaType.DOCKER_MANIFEST, config={}, layers=[]), "", MediaType.DOCKER_MANIFEST),
    (doc(mediaType=MediaType.DOCKER_LIST, manifests=[]), "", MediaType.DOCKER_LIST),
    (doc(config={}, layers=[]), MediaType.OCI_MANIFEST, MediaType.OCI_MANIFEST),
    (doc(config={}, layers=[]), "", MediaType.OCI_MANIFEST),
    (doc(manifests=[]), "application/json", MediaType.OCI_INDEX),
    (doc(manifests=[]), MediaType.DOCKER_LIST, MediaType.DOCKER_LIST),
])
def test_manifest_media_type(body, ctype, expected):
    assert manifest_media_type(body, ctype, "m") == expected


@pytest.mark.parametrize("body,ctype,needle", [
    (b'{"schemaVersion": 1, "fsLayers": []}', "", "schema 1 manifests are not supported"),
    (doc(config={}, layers=[]), MediaType.DOCKER_SCHEMA1_SIGNED, "schema 1 manifests are not supported"),
    (doc(manifests=[], layers=[]), "", "ambiguous"),
    (doc(mediaType=MediaType.OCI_INDEX, layers=[]), "", "does not match"),
    (doc(mediaType=MediaType.OCI_MANIFEST, manifests=[]), "", "does not match"),
    (doc(mediaType="application/vnd.example", layers=[]), "", "unsupported manifest media type"),
    (doc(), "", "neither"),
    (b"\xff\xfe", "", "not valid json"),
    (b"[1, 2]", "", "not a json object"),
])
def test_manifest_media_type_refusals(body, ctype, needle):
    with pytest.raises(FailedPrecondition) as info:
        manifest_media_type(body, ctype, "manifest x/y:z")
    assert needle in str(info.value)
    assert "manifest x/y:z" in str(info.value)
