"""The pull path end to end: real registry, images made by skopeo/umoci or by
hand, barque's services as processes, the real CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest


pytestmark = [pytest.mark.integration, pytest.mark.root]


def _snapshots(engine) -> list[Path]:
    root = engine.state("images") / "snapshots" / "snapshots"
    return sorted(root.iterdir()) if root.exists() else []


def _snapshot_fs(engine, chain_id: str) -> Path:
    return engine.state("images") / "snapshots" / "snapshots" / chain_id.removeprefix("sha256:") / "fs"


def _inspect(engine, ref: str) -> dict:
    out = json.loads(engine.ok("image", "inspect", ref).stdout)
    assert len(out) == 1
    return out[0]


PHASES = ["Pulling fs layer", "Downloading", "Verifying Checksum", "Extracting", "Pull complete"]


def _assert_phase_order(lines: list[str]) -> None:
    """Each layer's plain progress lines come in docker's order, or "Already exists"."""
    per_layer: dict[str, list[str]] = {}
    for line in lines:
        lid, sep, phase = line.partition(": ")
        if sep and len(lid) == 12 and all(c in "0123456789abcdef" for c in lid):
            per_layer.setdefault(lid, []).append(phase)
    assert per_layer, lines
    for lid, phases in per_layer.items():
        if phases == ["Already exists"]:
            continue
        assert phases[-1] == "Pull complete", (lid, phases)
        assert [PHASES.index(p) for p in phases] == sorted(PHASES.index(p) for p in phases), (lid, phases)


@pytest.mark.parametrize("name", ["oci-gzip", "docker-gzip", "oci-zstd"])
def test_pull_formats(engine, test_images, name):
    img = test_images[name]
    res = engine.ok("pull", img.ref)
    assert f"Digest: {img.manifest_digest}" in res.lines
    assert res.lines[-1] == img.ref
    assert any("Status: Downloaded newer image" in line or "up to date" in line for line in res.lines)
    _assert_phase_order(res.lines)
    info = _inspect(engine, img.ref)
    assert info["Id"] == img.config_digest
    assert info["RootFS"]["Layers"] == img.diff_ids
    assert info["Os"] == "linux" and info["Architecture"] == "amd64"
    assert info["Config"]["Cmd"]
    # the busybox tree is unpacked: a real executable in the top snapshot chain
    fs_dirs = [p / "fs" for p in _snapshots(engine)]
    assert any((d / "bin" / "busybox").is_file() for d in fs_dirs)


def test_image_inspect_prints_the_image_stores_document(engine, test_images):
    """The image-store's Inspect carries Docker's ImageInspect; the CLI prints it."""
    from barque.images.v1 import images_pb2

    img = test_images["oci-gzip"]
    engine.ok("pull", img.ref)
    with engine.client("images") as images:
        resp = images.Inspect(images_pb2.InspectRequest(reference=img.ref), timeout=30)
    doc = json.loads(resp.image_json)
    assert doc["Id"] == resp.image.id == img.config_digest
    assert doc["RootFS"]["Layers"] == img.diff_ids
    assert _inspect(engine, img.ref) == doc
    assert json.loads(engine.ok("inspect", "--type", "image", img.ref).stdout) == [doc]
    fmt = engine.ok("image", "inspect", "-f", "{{.Id}} {{.Os}}", img.ref).stdout
    assert fmt == f"{img.config_digest} linux\n"


def test_second_pull_is_up_to_date(engine, test_images):
    img = test_images["oci-gzip"]
    engine.ok("pull", img.ref)
    res = engine.ok("pull", img.ref)
    assert any(line.startswith("Status: Image is up to date for") for line in res.lines)
    assert not any("Downloading" in line for line in res.lines)


def test_multi_platform_index(engine, test_images):
    idx = test_images["multi-platform"]
    res = engine.ok("pull", idx.ref)
    assert f"Digest: {idx.manifest_digest}" in res.lines
    amd = _inspect(engine, idx.ref)
    assert amd["Id"] == idx.platforms["linux/amd64"].config_digest
    res = engine.ok("pull", "--platform", "linux/arm64", idx.ref)
    arm = _inspect(engine, idx.ref)
    assert arm["Architecture"] == "arm64"
    assert arm["Id"] == idx.platforms["linux/arm64"].config_digest
    chain = arm["RootFS"]["Layers"][0]  # one layer: chain id == diff id
    assert (_snapshot_fs(engine, chain) / "etc" / "barque-marker").read_text() == "linux/arm64\n"
    bad = engine.cli("pull", "--platform", "linux/s390x", idx.ref)
    assert bad.returncode == 125
    assert "s390x" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_docker_manifest_list(engine, test_images):
    idx = test_images["docker-multi"]
    engine.ok("pull", idx.ref)
    assert _inspect(engine, idx.ref)["Id"] == idx.platforms["linux/amd64"].config_digest


def test_layer_semantics_survive_unpack(engine, test_images):
    """whiteouts, opaque dirs, hardlinks, setuid/setgid/sticky, owners, xattrs, devices."""
    img = test_images["layers"]
    engine.ok("pull", img.ref)
    from services.images.snapshots import chain_ids

    chains = chain_ids(img.diff_ids)
    base, wh, hard, perm, xattr, dev = (_snapshot_fs(engine, c) for c in chains)
    assert (base / "data" / "gone").read_text() == "gone\n"
    gone = os.lstat(wh / "data" / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0  # overlay whiteout
    assert os.getxattr(wh / "data" / "opaque", "trusted.overlay.opaque") == b"y"
    assert (wh / "data" / "opaque" / "new").read_text() == "new\n"
    assert os.stat(hard / "hard" / "file").st_ino == os.stat(hard / "hard" / "link").st_ino
    assert stat.S_IMODE(os.stat(perm / "perm" / "setuid").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(perm / "perm" / "setgid").st_mode) == 0o2755
    assert stat.S_IMODE(os.stat(perm / "perm" / "sticky").st_mode) == 0o1777
    owned = os.stat(perm / "perm" / "owned")
    assert (owned.st_uid, owned.st_gid) == (1000, 1000)
    assert os.getxattr(xattr / "xattr" / "file", "user.test") == b"barque"
    null = os.lstat(dev / "devices" / "null")
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(dev / "devices" / "fifo").st_mode)
    assert (base / "bin" / "keep-abs").is_symlink() and os.readlink(base / "bin" / "keep-abs") == "/data/keep"


def test_images_listing(engine, test_images):
    img = test_images["oci-gzip"]
    engine.ok("pull", img.ref)
    res = engine.ok("images")
    header = res.lines[0].split()
    assert header == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    repo = f"{img.host}/{img.repo}"
    row = next(line for line in res.lines if line.startswith(repo + " ") and " oci-gzip " in line)
    assert img.config_digest[7:19] in row
    ids = engine.ok("images", "-q").lines
    assert img.config_digest[7:19] in ids and len(ids) == len(set(ids))
    digests = engine.ok("images", "--digests").lines
    assert digests[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    assert any(img.manifest_digest in line for line in digests)
    rows = [json.loads(line) for line in engine.ok("images", "--format", "json").lines]
    mine = [r for r in rows if r["Repository"] == repo and r["Tag"] == "oci-gzip"]
    assert mine and mine[0]["ID"] == img.config_digest[7:19] and mine[0]["Digest"] == img.manifest_digest
    tpl = engine.ok("images", "--format", "{{.Repository}}:{{.Tag}}").lines
    assert f"{repo}:oci-gzip" in tpl


def test_tag_and_rmi_reclaim(fresh_engine, test_images):
    eng = fresh_engine
    img = test_images["big"]
    eng.ok("pull", img.ref)
    content = eng.state("images") / "content"

    def usage(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    before = usage(content)
    assert before > 40 << 20
    eng.ok("tag", img.ref, "mine/big:v1")
    res = eng.ok("rmi", "mine/big:v1")
    assert res.lines == ["Untagged: mine/big:v1"]
    assert _snapshots(eng)  # still held by the first name
    res = eng.ok("rmi", img.ref)
    assert f"Untagged: {img.ref}" in res.lines
    assert f"Deleted: {img.config_digest}" in res.lines
    assert usage(content) < 1 << 20
    assert _snapshots(eng) == []
    assert eng.ok("images", "-q").stdout.strip() == ""
    missing = eng.cli("rmi", img.ref)
    assert missing.returncode == 125 and "no such image" in missing.stderr.lower()


def test_invalid_reference_is_one_line_125(engine):
    res = engine.cli("pull", "UPPER/Case:tag")
    assert res.returncode == 125
    assert res.stderr.count("\n") == 1 and "UPPER/Case:tag" in res.stderr


def test_unknown_image_is_one_line_125(engine, registry):
    res = engine.cli("pull", f"{registry.host}/does/not-exist:latest")
    assert res.returncode == 125
    assert res.stderr.count("\n") == 1 and "not-exist" in res.stderr


def test_service_down_is_named(engine, tmp_path):
    res = engine.cli("images", env={"BARQUE_IMAGES_ADDRESS": f"unix://{tmp_path}/nothing.sock"})
    assert res.returncode == 125
    assert "images service" in res.stderr and "make up" in res.stderr


def test_concurrent_pulls_fetch_once(fresh_engine, test_images):
    import concurrent.futures

    img = test_images["big"]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: fresh_engine.cli("pull", img.ref), range(3)))
    for res in results:
        assert res.returncode == 0, res.stderr
    assert len(_snapshots(fresh_engine)) == len(img.diff_ids)
    blobs = fresh_engine.state("images") / "content" / "blobs" / "sha256"
    assert {f"sha256:{p.name}" for p in blobs.iterdir()} >= set(img.layer_digests)


def test_restart_between_pulls(fresh_engine, test_images):
    img = test_images["oci-gzip"]
    fresh_engine.ok("pull", img.ref)
    fresh_engine.restart("images")
    fresh_engine.restart("registry")
    res = fresh_engine.ok("pull", img.ref)
    assert any("Image is up to date" in line for line in res.lines)
    assert _inspect(fresh_engine, img.ref)["Id"] == img.config_digest


def test_proxy_cache_serves_without_upstream(tmp_path, test_images):
    """One registry-proxy, two image-stores: the second pull costs no upstream traffic."""
    from tests.support.images import skopeo_push
    from tests.support.registry import start_registry

    upstream = start_registry(tmp_path / "upstream")
    from tests.support.engine import Engine

    eng = Engine.create()
    try:
        src = test_images["oci-gzip"]
        pushed = skopeo_push(f"docker://{src.ref}", upstream, "cache/busybox:v1", format="oci")
        eng.ok("pull", pushed.ref)
        upstream.stop()
        # a second image-store (another host) sharing the same proxy, upstream gone
        eng.stop_service("images")
        import shutil

        shutil.rmtree(eng.state("images"))
        eng.start("images")
        res = eng.ok("pull", pushed.digest_ref)
        assert any("Downloaded newer image" in line for line in res.lines)
        assert _inspect(eng, pushed.digest_ref)["Id"] == pushed.config_digest
    finally:
        upstream.stop()
        eng.close()


def test_login_and_auth_pull(fresh_engine, test_images, auth_registry):
    from tests.conftest import AUTH_PASSWORD, AUTH_USER

    img = test_images["auth"]
    denied = fresh_engine.cli("pull", img.ref)
    assert denied.returncode == 125 and "auth" in denied.stderr.lower()
    bad = fresh_engine.cli("login", "-u", AUTH_USER, "-p", "wrong", auth_registry.host)
    assert bad.returncode == 125
    good = fresh_engine.ok("login", "-u", AUTH_USER, "--password-stdin", auth_registry.host,
                           input=AUTH_PASSWORD + "\n")
    assert "Login Succeeded" in good.stdout
    creds = fresh_engine.state("registry") / "auth.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    fresh_engine.ok("pull", img.ref)
    out = fresh_engine.ok("logout", auth_registry.host)
    assert f"Removing login credentials for {auth_registry.host}" in out.stdout
    assert AUTH_PASSWORD not in creds.read_text()


def test_registry_down_is_not_reported_as_service_down(engine):
    from tests.support.registry import free_port

    res = engine.cli("pull", f"127.0.0.1:{free_port()}/nobody/home:latest")
    assert res.returncode == 125
    assert len(res.stderr.strip().splitlines()) == 1
    assert "images service" not in res.stderr and "127.0.0.1" in res.stderr
