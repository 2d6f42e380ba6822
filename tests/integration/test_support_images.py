"""The test-image builders produce what they claim.

Layer builders are checked by reading their tars back; pushed images by asking
skopeo and the registry API, never our own helpers alone; the seed script by
pushing with it and pulling back with skopeo.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import zstandard

from client.imagespec import MediaType, sha256_digest
from tests.support import layers
from tests.support.images import (
    SEED_SCRIPT,
    PushedImage,
    RegistryClient,
    describe,
    push_image,
    push_manifest_bytes,
    skopeo_push,
)
from tests.support.registry import Registry

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def members(tar: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        return {m.name: m for m in archive.getmembers()}


def raw_names(tar: bytes) -> list[str]:
    """Member names as written, from the ustar name field (tarfile would normalise them)."""
    names = []
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        for member in archive.getmembers():
            header = tar[member.offset:member.offset + 512]
            names.append(header[:100].rstrip(b"\0").decode())
    return names


def skopeo_inspect(ref: str, *extra: str) -> dict:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def decompress(blob: bytes, media_type: str) -> bytes:
    if media_type.endswith("gzip"):
        return gzip.decompress(blob)
    if media_type.endswith("zstd"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


def assert_layers_match(registry: Registry, image: PushedImage) -> None:
    """Each layer blob decompresses (per its media type) to its config diff ID."""
    client = RegistryClient(registry)
    assert len(image.layer_digests) == len(image.diff_ids) > 0
    for digest, media_type, diff_id in zip(image.layer_digests, image.layer_media_types, image.diff_ids):
        blob = client.get_blob(image.repo, digest)
        assert sha256_digest(decompress(blob, media_type)) == diff_id


# --- hand-built layers (pure) ---------------------------------------------------


def test_layers_are_deterministic() -> None:
    assert layers.base_layer() == layers.base_layer()
    assert layers.big_layer(1) == layers.big_layer(1)
    assert layers.big_layer(1, seed=2) != layers.big_layer(1)


def test_benign_layers_hold_claimed_entries() -> None:
    base = members(layers.base_layer())
    assert {"etc/os-release", "data/keep", "data/gone", "data/dir/a", "data/dir/b", "data/opaque/x"} <= set(base)
    assert base["bin/keep-abs"].issym() and base["bin/keep-abs"].linkname == "/data/keep"

    wh = layers.whiteout_layer()
    assert raw_names(wh).index("data/opaque/new") < raw_names(wh).index("data/opaque/.wh..wh..opq")
    assert "data/.wh.gone" in members(wh)

    hard = members(layers.hardlink_layer())
    assert hard["hard/link"].islnk() and hard["hard/link"].linkname == "hard/file"

    perm = members(layers.setuid_layer())
    assert perm["perm/setuid"].mode == 0o4755 and perm["perm/setgid"].mode == 0o2755
    assert perm["perm/sticky"].isdir() and perm["perm/sticky"].mode == 0o1777
    assert (perm["perm/owned"].uid, perm["perm/owned"].gid) == (1000, 1000)

    xattr = members(layers.xattr_layer())
    assert xattr["xattr/file"].pax_headers["SCHILY.xattr.user.test"] == "barque"

    dev = members(layers.device_layer())
    assert dev["devices/null"].ischr() and (dev["devices/null"].devmajor, dev["devices/null"].devminor) == (1, 3)
    assert dev["devices/fifo"].isfifo()


def test_big_layer_is_incompressible() -> None:
    tar = layers.big_layer(2)
    assert members(tar)["big/random"].size == 2 * 1024 * 1024
    assert len(gzip.compress(tar, compresslevel=1)) > 0.99 * len(tar)


def test_hostile_layers_keep_hostile_names() -> None:
    assert raw_names(layers.dotdot_layer()) == ["../escape"]
    assert raw_names(layers.abs_layer()) == ["/abs-escape"]
    sym = members(layers.symlink_escape_layer("/etc"))
    assert sym["evil"].issym() and sym["evil"].linkname == "/etc" and sym["evil/pwned"].isfile()
    first, second = layers.symlink_escape_two_layers("/tmp")
    assert members(first)["evil"].linkname == "/tmp" and list(members(second)) == ["evil/pwned"]
    hard = members(layers.hardlink_escape_layer())
    assert hard["passwd-link"].linkname == "/etc/passwd" and hard["outside-link"].linkname == "../outside"
    dots = members(layers.dotdot_symlink_layer())
    assert dots["evil"].linkname == "../../../.." and "evil/x" in dots


# --- pushed test images ----------------------------------------------------------


@pytest.mark.integration
@pytest.mark.root
def test_skopeo_images_have_claimed_formats(registry: Registry, test_images: dict[str, PushedImage]) -> None:
    expected = {
        "oci-gzip": (MediaType.OCI_MANIFEST, MediaType.OCI_LAYER_GZIP, GZIP_MAGIC),
        "docker-gzip": (MediaType.DOCKER_MANIFEST, MediaType.DOCKER_LAYER_GZIP, GZIP_MAGIC),
        "oci-zstd": (MediaType.OCI_MANIFEST, MediaType.OCI_LAYER_ZSTD, ZSTD_MAGIC),
    }
    client = RegistryClient(registry)
    for name, (manifest_type, layer_type, magic) in expected.items():
        image = test_images[name]
        raw = skopeo_inspect(image.ref, "--raw")
        assert [layer["mediaType"] for layer in raw["layers"]] == [layer_type]
        inspected = skopeo_inspect(image.ref)
        assert inspected["Digest"] == image.manifest_digest
        assert inspected["Layers"] == image.layer_digests
        assert inspected["Architecture"] == "amd64" and "PATH=" in inspected["Env"][0]
        _, content_type = client.get_manifest(image.repo, image.tag)
        assert content_type == manifest_type == image.media_type
        assert client.get_blob(image.repo, image.layer_digests[0]).startswith(magic)
        assert_layers_match(registry, image)
    # Same content, three encodings: one diff ID, the zstd blob differs from gzip.
    assert test_images["oci-gzip"].diff_ids == test_images["oci-zstd"].diff_ids == test_images["docker-gzip"].diff_ids
    assert test_images["oci-zstd"].layer_digests != test_images["oci-gzip"].layer_digests


@pytest.mark.integration
@pytest.mark.root
def test_busybox_rootfs_has_users_and_shell(registry: Registry, test_images: dict[str, PushedImage]) -> None:
    image = test_images["oci-gzip"]
    tar = gzip.decompress(RegistryClient(registry).get_blob(image.repo, image.layer_digests[0]))
    entries = members(tar)
    assert entries["bin/busybox"].isfile() and entries["bin/busybox"].mode == 0o755
    for applet in ("bin/sh", "bin/ls", "bin/cat", "bin/echo", "bin/true", "bin/sleep", "usr/bin/id",
                   "bin/hostname", "usr/bin/env"):
        assert entries[applet].issym() and entries[applet].linkname == "/bin/busybox", applet
    assert entries["tmp"].mode == 0o1777
    assert (entries["home/app"].uid, entries["home/app"].gid) == (1000, 1000)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        passwd = archive.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        group = archive.extractfile("etc/group").read().decode()  # type: ignore[union-attr]
    assert "app:x:1000:1000:" in passwd and passwd.startswith("root:x:0:0:") and "nobody:x:65534:" in passwd
    assert "staff:x:50:app" in group.splitlines() and "app:x:1000:" in group.splitlines()


@pytest.mark.integration
@pytest.mark.root
def test_indexes_list_both_platforms(registry: Registry, test_images: dict[str, PushedImage]) -> None:
    client = RegistryClient(registry)
    for name, index_type, child_type in (
        ("multi-platform", MediaType.OCI_INDEX, MediaType.OCI_MANIFEST),
        ("docker-multi", MediaType.DOCKER_LIST, MediaType.DOCKER_MANIFEST),
    ):
        index = test_images[name]
        body, content_type = client.get_manifest(index.repo, index.tag)
        assert content_type == index_type == index.media_type
        raw = json.loads(body)
        assert [(m["platform"]["architecture"], m["mediaType"]) for m in raw["manifests"]] == [
            ("amd64", child_type), ("arm64", child_type)]
        # skopeo picks the child by platform; its Digest stays the index's own.
        for arch in ("arm64", "amd64"):
            picked = skopeo_inspect(index.ref, "--override-arch", arch)
            assert picked["Digest"] == index.manifest_digest
            assert picked["Architecture"] == arch
            assert picked["Layers"] == index.platforms[f"linux/{arch}"].layer_digests
        marker = gzip.decompress(client.get_blob(index.repo, index.platforms["linux/arm64"].layer_digests[0]))
        assert members(marker)["etc/barque-marker"].size == len(b"linux/arm64\n")
    assert test_images["multi-platform"].platforms["linux/amd64"].manifest_digest == \
        test_images["oci-gzip"].manifest_digest


@pytest.mark.integration
@pytest.mark.root
def test_layers_and_big_images(registry: Registry, test_images: dict[str, PushedImage]) -> None:
    layered = test_images["layers"]
    assert len(layered.layer_digests) == 6
    assert layered.diff_ids[0] == sha256_digest(layers.base_layer())
    assert layered.diff_ids[-1] == sha256_digest(layers.device_layer())
    assert_layers_match(registry, layered)

    big = test_images["big"]
    inspected = skopeo_inspect(big.ref)
    assert inspected["Layers"] == big.layer_digests and len(big.layer_digests) == 2
    assert big.diff_ids[0] == test_images["oci-gzip"].diff_ids[0]
    assert big.diff_ids[1] == sha256_digest(layers.big_layer(40))
    config = json.loads(RegistryClient(registry).get_blob(big.repo, big.config_digest))
    assert config["config"]["Cmd"] == ["sh"]
    raw = skopeo_inspect(big.ref, "--raw")
    assert raw["layers"][1]["size"] > 40 * 1024 * 1024


@pytest.mark.integration
@pytest.mark.root
def test_auth_image_needs_credentials(auth_registry: Registry, test_images: dict[str, PushedImage]) -> None:
    image = test_images["auth"]
    assert image.host == auth_registry.host
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{auth_registry.url}/v2/{image.repo}/manifests/{image.tag}", timeout=5)
    assert err.value.code == 401
    err.value.close()
    denied = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{image.ref}"],
                            capture_output=True, text=True)
    assert denied.returncode != 0
    inspected = skopeo_inspect(image.ref, "--creds", "barque:s3cret")
    assert inspected["Digest"] == image.manifest_digest


# --- push helpers ----------------------------------------------------------------


@pytest.mark.integration
def test_push_image_compressions_and_verbatim_media_type(registry: Registry) -> None:
    tar = layers.marker_layer("compress")
    for compress, layer_type, check in (
        ("none", MediaType.OCI_LAYER, lambda b: b == tar),
        ("zstd", MediaType.OCI_LAYER_ZSTD, lambda b: b.startswith(ZSTD_MAGIC)),
        ("gzip", MediaType.OCI_LAYER_GZIP, lambda b: b.startswith(GZIP_MAGIC)),
    ):
        image = push_image(registry, "unit/compress", compress, [tar], compress=compress)  # type: ignore[arg-type]
        assert image.layer_media_types == [layer_type]
        assert check(RegistryClient(registry).get_blob(image.repo, image.layer_digests[0]))
        assert image.diff_ids == [sha256_digest(tar)]
    lying = push_image(registry, "unit/compress", "lie", [tar], compress="zstd",
                       layer_media_type=MediaType.OCI_LAYER_GZIP)
    assert lying.layer_media_types == [MediaType.OCI_LAYER_GZIP]
    assert RegistryClient(registry).get_blob(lying.repo, lying.layer_digests[0]).startswith(ZSTD_MAGIC)
    wrong = push_image(registry, "unit/compress", "wrong-diff", [tar],
                       config={"os": "linux", "architecture": "amd64",
                               "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}})
    assert wrong.diff_ids == ["sha256:" + "0" * 64]


@pytest.mark.integration
def test_push_manifest_bytes_is_verbatim(registry: Registry) -> None:
    image = push_image(registry, "unit/raw", "base", [layers.marker_layer("raw")])
    body, _ = RegistryClient(registry).get_manifest(image.repo, image.tag)
    odd = body.replace(b"\n", b"\n  ")  # same JSON, different bytes: a different digest
    digest = push_manifest_bytes(registry, "unit/raw", "odd", odd, MediaType.OCI_MANIFEST)
    assert digest == sha256_digest(odd) != image.manifest_digest
    assert RegistryClient(registry).get_manifest("unit/raw", digest)[0] == odd
    assert describe(registry, "unit/raw", "odd").manifest_digest == digest


@pytest.mark.integration
@pytest.mark.root
def test_skopeo_push_uncompressed(registry: Registry, busybox_oci_layout: Path) -> None:
    image = skopeo_push(f"oci:{busybox_oci_layout}:latest", registry, "unit/busybox:none", compress="none")
    assert image.layer_media_types == [MediaType.OCI_LAYER]
    assert skopeo_inspect(image.ref)["Digest"] == image.manifest_digest
    assert_layers_match(registry, image)
    with pytest.raises(ValueError):
        skopeo_push(f"oci:{busybox_oci_layout}:latest", registry, "unit/busybox:bad", format="v2s2", compress="zstd")


# --- deploy/seed-image.sh --------------------------------------------------------


@pytest.mark.integration
@pytest.mark.root
def test_seed_script_pushes_idempotently_and_pulls_back(registry: Registry, tmp_path: Path) -> None:
    digests = []
    for _ in range(2):
        subprocess.run([str(SEED_SCRIPT), registry.host, "seed/busybox:v1"], check=True, capture_output=True)
        digests.append(skopeo_inspect(f"{registry.host}/seed/busybox:v1")["Digest"])
    assert digests[0] == digests[1]
    out = tmp_path / "pulled"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                    f"docker://{registry.host}/seed/busybox:v1", f"dir:{out}"], check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sha256_digest((out / "manifest.json").read_bytes()) == digests[0]
    config = json.loads((out / manifest["config"]["digest"].split(":")[1]).read_text())
    assert config["config"]["Cmd"] == ["sh"] and config["os"] == "linux"
    layer = gzip.decompress((out / manifest["layers"][0]["digest"].split(":")[1]).read_bytes())
    assert sha256_digest(layer) == config["rootfs"]["diff_ids"][0]
    assert members(layer)["bin/sh"].linkname == "/bin/busybox"

    default = subprocess.run([str(SEED_SCRIPT), registry.host], check=True, capture_output=True, text=True)
    assert "library/busybox:latest" in default.stdout
    assert skopeo_inspect(f"{registry.host}/library/busybox:latest")["Digest"] == digests[0]


@pytest.mark.integration
@pytest.mark.root
def test_skopeo_push_schema1(schema1_registry: Registry, registry: Registry, busybox_oci_layout: Path) -> None:
    src = f"oci:{busybox_oci_layout}:latest"
    image = skopeo_push(src, schema1_registry, "unit/busybox:v2s1", format="v2s1")
    assert image.media_type == MediaType.DOCKER_SCHEMA1_SIGNED
    body, _ = RegistryClient(schema1_registry).get_manifest(image.repo, image.tag)
    raw = json.loads(body)
    assert raw["schemaVersion"] == 1 and raw["signatures"]
    # The registry files signed schema1 under the payload digest, not the body's.
    assert image.manifest_digest != sha256_digest(body)
    assert describe(schema1_registry, image.repo, image.manifest_digest).layer_digests == image.layer_digests
    # A default registry refuses schema1 outright.
    with pytest.raises(RuntimeError, match="http 400|http 500"):
        push_manifest_bytes(registry, "unit/schema1", "v1", body, MediaType.DOCKER_SCHEMA1_SIGNED)
