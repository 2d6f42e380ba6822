"""Docker's ImageInspect built by the image-store (services/images/inspect.py)."""

from __future__ import annotations

import json

from client.imagespec import Descriptor, Platform
from services.images.core import ImageView
from services.images.inspect import image_json
from services.images.metadata import ImageRecord

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _desc(media_type: str, char: str, size: int = 100) -> Descriptor:
    return Descriptor(media_type=media_type, digest="sha256:" + char * 64, size=size)


def _view(config: dict | bytes, platform: Platform = Platform("linux", "arm64", "v8")) -> ImageView:
    record = ImageRecord(
        id="sha256:" + "c" * 64, target=_desc(INDEX, "a", 321), manifest=_desc(MANIFEST, "b"),
        config=_desc("application/vnd.oci.image.config.v1+json", "c"),
        layers=[_desc("application/vnd.oci.image.layer.v1.tar+gzip", "e")], diff_ids=["sha256:" + "f" * 64],
        chain_id="sha256:" + "f" * 64, created="2024-01-01T00:00:00Z", size=4096, platform=platform,
        repo_digests=["docker.io/library/busybox@sha256:" + "a" * 64, "localhost:5000/app@sha256:" + "a" * 64],
    )
    raw = config if isinstance(config, bytes) else json.dumps(config).encode()
    return ImageView(record, ["docker.io/library/busybox:latest", "localhost:5000/app:v1"], raw, {})


CONFIG = {
    "architecture": "arm64", "os": "linux", "author": "someone", "docker_version": "24.0.7",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"a": "b"}},
    "history": [{"comment": "first"}, {"created_by": "RUN x", "comment": "buildkit.dockerfile.v0"}],
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "f" * 64]},
}


def test_image_json_has_dockers_fields():
    doc = image_json(_view(CONFIG))
    assert list(doc) == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion",
                         "Author", "Config", "Architecture", "Variant", "Os", "Size", "VirtualSize",
                         "GraphDriver", "RootFS", "Metadata", "Descriptor"]
    assert doc["Id"] == "sha256:" + "c" * 64
    assert doc["RepoTags"] == ["busybox:latest", "localhost:5000/app:v1"]
    assert doc["RepoDigests"] == ["busybox@sha256:" + "a" * 64, "localhost:5000/app@sha256:" + "a" * 64]
    assert doc["Created"] == "2024-01-01T00:00:00Z" and doc["Size"] == doc["VirtualSize"] == 4096
    assert (doc["Architecture"], doc["Variant"], doc["Os"]) == ("arm64", "v8", "linux")
    assert doc["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + "f" * 64]}
    assert doc["Descriptor"] == {"mediaType": INDEX, "digest": "sha256:" + "a" * 64, "size": 321}
    assert doc["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    assert doc["GraphDriver"] == {"Name": "overlay", "Data": None}


def test_values_from_the_image_config():
    doc = image_json(_view(CONFIG))
    assert doc["Config"] == CONFIG["config"]
    assert (doc["Author"], doc["DockerVersion"]) == ("someone", "24.0.7")
    assert doc["Comment"] == "buildkit.dockerfile.v0"  # the last history entry's


def test_a_bare_config_gives_empty_values():
    doc = image_json(_view({"rootfs": {"type": "layers", "diff_ids": []}}, Platform("linux", "amd64", "")))
    assert (doc["Config"], doc["Comment"], doc["Author"], doc["DockerVersion"]) == ({}, "", "", "")
    assert doc["Variant"] is None


def test_an_unreadable_config_is_shown_empty():
    for raw in (b"{}", b"", b"not json", b"[]"):
        doc = image_json(_view(raw))
        assert doc["Config"] == {} and doc["Comment"] == ""
    assert image_json(_view({"history": ["odd"]}))["Comment"] == ""
