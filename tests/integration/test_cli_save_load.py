"""``barque save`` and ``barque load`` through the real CLI and engine (busybox
from the session registry, a committed layer on it):

* a round trip of two images in one archive (docker's format): removed, then
  loaded, they come back with the same ids and tags and run; stdout/stdin;
* ``--format oci``: ``skopeo inspect oci:DIR:TAG`` reads the layout barque
  wrote (the index's digest, the kept layers); a layout skopeo wrote
  (``oci-archive:``) loads as the same image;
* hostile or inconsistent archives (hand-built) are each refused with one
  line, exit 1, and the store's blobs, snapshots and records are unchanged,
  with no spool or ingest file left;
* docker's errors: no such image, a terminal refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pty
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.engine import CLI, REPO, Engine

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def _tar(files: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A tar of ``links`` (written first) and ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            t.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run_cli(engine: Engine, *args: str, stdin=None, stdout=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], stdin=stdin, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300, check=False, env={**os.environ, **engine.env}, cwd=REPO)


def _store_state(engine: Engine) -> tuple:
    root = engine.state("images")
    return (sorted(p.name for p in (root / "content" / "blobs" / "sha256").iterdir()),
            sorted(p.name for p in (root / "snapshots" / "snapshots").iterdir()),
            (root / "metadata.json").read_bytes())


def _leftovers(engine: Engine) -> list[str]:
    root = engine.state("images")
    return [str(p) for d in (root / "content" / "ingest", root / "snapshots" / "tmp") for p in d.iterdir()]


def test_round_trip_two_images_multi_layer(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    cid = engine.ok("run", "-d", busybox, "sh", "-c", "echo saved-layer > /marker && exec sleep 600").stdout.strip()
    engine.ok("exec", cid, "test", "-s", "/marker")
    engine.ok("commit", cid, "saveload/multi:1")
    engine.ok("rm", "-f", cid)
    base_id = engine.ok("image", "inspect", "-f", "{{.Id}}", busybox).stdout.strip()
    multi_id = engine.ok("image", "inspect", "-f", "{{.Id}}", "saveload/multi:1").stdout.strip()
    archive = tmp_path / "two.tar"
    engine.ok("save", "-o", str(archive), busybox, "saveload/multi:1")
    files = _members(archive)
    manifest = json.loads(files["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [[busybox], ["saveload/multi:1"]]
    assert [m["Config"] for m in manifest] == [base_id[7:] + ".json", multi_id[7:] + ".json"]
    assert len(manifest[1]["Layers"]) == len(manifest[0]["Layers"]) + 1
    config = json.loads(files[manifest[1]["Config"]])
    for layer, diff_id in zip(manifest[1]["Layers"], config["rootfs"]["diff_ids"]):
        assert "sha256:" + hashlib.sha256(files[layer]).hexdigest() == diff_id  # uncompressed, as docker's
    assert json.loads(files["repositories"])["saveload/multi"] == {"1": manifest[1]["Layers"][-1].split("/")[0]}

    engine.ok("rmi", busybox, "saveload/multi:1")
    assert engine.cli("image", "inspect", multi_id).returncode != 0
    res = engine.ok("load", "-i", str(archive))
    assert res.lines == [f"Loaded image: {busybox}", "Loaded image: saveload/multi:1"]
    assert engine.ok("image", "inspect", "-f", "{{.Id}}", busybox).stdout.strip() == base_id
    assert engine.ok("image", "inspect", "-f", "{{.Id}}", "saveload/multi:1").stdout.strip() == multi_id
    assert engine.ok("run", "--rm", "saveload/multi:1", "cat", "/marker").stdout == "saved-layer\n"
    # loading again changes nothing and says the same
    before = _store_state(engine)
    assert engine.ok("image", "load", "-q", "-i", str(archive)).lines == res.lines
    assert _store_state(engine)[:2] == before[:2]
    assert _leftovers(engine) == []
    engine.ok("rmi", "saveload/multi:1")


def test_stdout_and_stdin(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    engine.ok("tag", busybox, "saveload/piped:1")
    out = tmp_path / "piped.tar"
    with open(out, "wb") as f:
        res = _run_cli(engine, "image", "save", "saveload/piped:1", stdout=f)
    assert res.returncode == 0, res.stderr
    engine.ok("save", "-o", str(tmp_path / "file.tar"), "saveload/piped:1")
    assert out.read_bytes() == (tmp_path / "file.tar").read_bytes()  # the same archive either way
    engine.ok("rmi", "saveload/piped:1")
    with open(out, "rb") as f:
        res = _run_cli(engine, "load", stdin=f)
    assert (res.returncode, res.stdout.decode()) == (0, "Loaded image: saveload/piped:1\n"), res.stderr
    # a gzipped archive loads too
    (tmp_path / "piped.tar.gz").write_bytes(gzip.compress(out.read_bytes()))
    assert engine.ok("load", "-i", str(tmp_path / "piped.tar.gz")).lines == ["Loaded image: saveload/piped:1"]
    engine.ok("rmi", "saveload/piped:1")


def test_by_id_untagged_and_a_moved_tag(clean, busybox, tmp_path: Path) -> None:
    """Saved by id: no RepoTags, loaded as docker's "Loaded image ID:" and kept
    untagged; a load moving a tag says docker's renaming line."""
    engine = clean
    cid = engine.ok("run", "-d", busybox, "sh", "-c", "echo x > /x && exec sleep 600").stdout.strip()
    engine.ok("exec", cid, "test", "-s", "/x")
    image_id = engine.ok("commit", cid).stdout.strip()
    engine.ok("rm", "-f", cid)
    archive = tmp_path / "byid.tar"
    engine.ok("save", "-o", str(archive), image_id[7:19])
    assert json.loads(_members(archive)["manifest.json"])[0]["RepoTags"] is None
    engine.ok("rmi", image_id)
    assert engine.ok("load", "-i", str(archive)).lines == [f"Loaded image ID: {image_id}"]
    assert engine.ok("image", "inspect", "-f", "{{.RepoTags}}", image_id).stdout.strip() == "[]"  # kept, no name
    # a tag on busybox moved by a load of the commit tagged the same
    engine.ok("tag", busybox, "saveload/moved:1")
    engine.ok("tag", image_id, "saveload/moved:1")
    engine.ok("save", "-o", str(archive), "saveload/moved:1")
    engine.ok("tag", busybox, "saveload/moved:1")
    base_id = engine.ok("image", "inspect", "-f", "{{.Id}}", busybox).stdout.strip()
    assert engine.ok("load", "-i", str(archive)).lines == [
        f"The image saveload/moved:1 already exists, renaming the old one with ID {base_id} to empty string",
        "Loaded image: saveload/moved:1"]
    assert engine.ok("image", "inspect", "-f", "{{.Id}}", "saveload/moved:1").stdout.strip() == image_id
    engine.ok("rmi", "saveload/moved:1")  # its last name: the image goes too
    assert engine.cli("image", "inspect", image_id).returncode != 0


def test_oci_layout_read_by_skopeo_and_skopeo_archive_loaded(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    engine.ok("tag", busybox, "saveload/oci:1")
    archive = tmp_path / "oci.tar"
    engine.ok("save", "--format", "oci", "-o", str(archive), "saveload/oci:1")
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(layout)], check=True)
    index = json.loads((layout / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["annotations"] == {"io.containerd.image.name": "docker.io/saveload/oci:1",
                                    "org.opencontainers.image.ref.name": "1"}
    inspected = json.loads(subprocess.run(["skopeo", "inspect", f"oci:{layout}:1"], capture_output=True, text=True,
                                          check=True).stdout)
    assert inspected["Digest"] == entry["digest"]
    kept = json.loads(engine.ok("image", "inspect", "-f", "{{json .RootFS.Layers}}", "saveload/oci:1").stdout)
    assert len(inspected["Layers"]) == len(kept)
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{layout}:1"], capture_output=True,
                                       text=True, check=True).stdout)
    assert config["rootfs"]["diff_ids"] == kept
    engine.ok("rmi", "saveload/oci:1")

    # what skopeo writes: an oci-archive of the registry's image
    made = tmp_path / "skopeo.tar"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{busybox}",
                    f"oci-archive:{made}:saveload/skopeo:1"], check=True, capture_output=True)
    assert engine.ok("load", "-i", str(made)).lines == ["Loaded image: saveload/skopeo:1"]
    assert engine.ok("image", "inspect", "-f", "{{.Id}}", "saveload/skopeo:1").stdout == \
        engine.ok("image", "inspect", "-f", "{{.Id}}", busybox).stdout
    assert engine.ok("run", "--rm", "saveload/skopeo:1", "echo", "from-skopeo").stdout == "from-skopeo\n"
    engine.ok("rmi", "saveload/skopeo:1")


def test_docker25_combined_layout_loads(clean, busybox, tmp_path: Path) -> None:
    """docker 25's archive: manifest.json naming ``blobs/sha256/<hex>`` (plain layer
    tars, the config) beside an OCI index; rebuilt here from barque's docker-format save."""
    engine = clean
    engine.ok("save", "-o", str(tmp_path / "v1.tar"), busybox)
    files = _members(tmp_path / "v1.tar")
    [entry] = json.loads(files["manifest.json"])
    blobs = {f"blobs/sha256/{hashlib.sha256(files[x]).hexdigest()}": files[x]
             for x in [entry["Config"], *entry["Layers"]]}
    config_path, *layer_paths = blobs
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + config_path.rsplit("/", 1)[1],
                                      "size": len(blobs[config_path])},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": "sha256:" + p.rsplit("/", 1)[1], "size": len(blobs[p])}
                                      for p in layer_paths]}).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + manifest_digest,
        "size": len(manifest), "annotations": {"io.containerd.image.name": "docker.io/saveload/d25:1",
                                               "org.opencontainers.image.ref.name": "1"}}]}
    archive = tmp_path / "d25.tar"
    archive.write_bytes(_tar({**blobs, f"blobs/sha256/{manifest_digest}": manifest,
                              "oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode(),
                              "manifest.json": json.dumps([{"Config": config_path, "RepoTags": ["saveload/d25:1"],
                                                            "Layers": layer_paths}]).encode()}))
    assert engine.ok("load", "-i", str(archive)).lines == ["Loaded image: saveload/d25:1"]
    assert engine.ok("image", "inspect", "-f", "{{.Id}}", "saveload/d25:1").stdout == \
        engine.ok("image", "inspect", "-f", "{{.Id}}", busybox).stdout
    assert engine.ok("run", "--rm", "saveload/d25:1", "echo", "combined").stdout == "combined\n"
    engine.ok("rmi", "saveload/d25:1")
    # the OCI index alone (no manifest.json) loads the same image
    del_manifest = _tar({**blobs, f"blobs/sha256/{manifest_digest}": manifest,
                         "oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode()})
    archive.write_bytes(del_manifest)
    assert engine.ok("load", "-i", str(archive)).lines == ["Loaded image: saveload/d25:1"]
    engine.ok("rmi", "saveload/d25:1")


def _image_archive(layers: list[bytes], tag: str = "saveload/hostile:1", *, config_extra: dict | None = None,
                   extra: dict[str, bytes] | None = None, links=None, layer_names: list[str] | None = None) -> bytes:
    diff_ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}, **(config_extra or {})}).encode()
    names = layer_names or [f"l{i}/layer.tar" for i in range(len(layers))]
    cfg = hashlib.sha256(config).hexdigest() + ".json"
    files = {cfg: config, **{n: x for n, x in zip(names, layers) if not n.startswith("gone/")}, **(extra or {})}
    files["manifest.json"] = json.dumps([{"Config": cfg, "RepoTags": [tag], "Layers": names}]).encode()
    return _tar(files, links)


def _layer(entries: dict[str, bytes], links=None) -> bytes:
    return _tar(entries, links)


def _hostile_archives() -> dict[str, tuple[bytes, str]]:
    good = _layer({"ok.txt": b"fine\n"})
    other = _layer({"other.txt": b"else\n"})
    diff_good = "sha256:" + hashlib.sha256(good).hexdigest()
    bad_config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_good]}}).encode()
    return {
        "member path out": (_tar({"../escape": b"x", "manifest.json": b"[]"}), "points outside the archive"),
        "absolute member": (_tar({"/tmp/escape": b"x"}), "is an absolute path"),
        "symlink out": (_tar({"manifest.json": b"[]"}, {"l0": (tarfile.SYMTYPE, "../../etc")}),
                        "points outside the archive"),
        "hardlink out": (_tar({"manifest.json": b"[]"}, {"l0": (tarfile.LNKTYPE, "/etc/passwd")}),
                         "is an absolute path"),
        "layer path out": (_image_archive([_layer({"../../escape": b"x"})]), "escape"),
        "layer symlink then write through it": (
            _image_archive([_layer({"l/x": b"x"}, {"l": (tarfile.SYMTYPE, "/tmp")})]), "symlink"),
        "diff id mismatch": (_image_archive([good], layer_names=["l0/layer.tar"])
                             .replace(b"fine\n", b"FINE\n"), "diff id"),
        "config digest mismatch": (_tar({"0" * 64 + ".json": bad_config, "l0/layer.tar": good,
                                         "manifest.json": json.dumps([{"Config": "0" * 64 + ".json",
                                                                       "Layers": ["l0/layer.tar"]}]).encode()}),
                                   "hashes to"),
        "missing layer": (_image_archive([good, other], layer_names=["l0/layer.tar", "gone/layer.tar"]),
                          "holds no such file"),
        "missing config": (_tar({"manifest.json": json.dumps([{"Config": "nope.json", "Layers": []}]).encode()}),
                           "holds no such file"),
        "not an image archive": (_tar({"hello": b"x"}), "neither manifest.json"),
    }


@pytest.mark.parametrize("case", sorted(_hostile_archives()))
def test_hostile_archive_refused_and_store_unchanged(clean, busybox, tmp_path: Path, case: str) -> None:
    engine = clean
    data, text = _hostile_archives()[case]
    archive = tmp_path / "hostile.tar"
    archive.write_bytes(data)
    before = _store_state(engine)
    res = engine.cli("load", "-i", str(archive))
    if res.returncode == 0:
        engine.ok("rmi", "saveload/hostile:1")
    assert res.returncode == 1, res.stdout
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("Error response from daemon: "), res.stderr
    assert text in res.stderr
    assert _store_state(engine) == before
    assert _leftovers(engine) == []
    assert not any(p.name == "escape" for p in Path("/").iterdir())


def test_a_good_layer_then_a_bad_one_leaves_nothing(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    good = _layer({"first.txt": b"first layer of a refused image\n"})
    bad = _layer({"../../../escape": b"x"})
    archive = tmp_path / "half.tar"
    archive.write_bytes(_image_archive([good, bad]))
    before = _store_state(engine)
    res = engine.cli("load", "-i", str(archive))
    assert res.returncode == 1 and "escape" in res.stderr
    assert _store_state(engine) == before
    assert _leftovers(engine) == []


def test_errors(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    res = engine.cli("save", "-o", str(tmp_path / "x.tar"), "nosuch:1")
    assert (res.returncode, res.stderr.strip()) == (1, "Error response from daemon: no such image: nosuch:1")
    assert list(tmp_path.iterdir()) == []
    res = engine.cli("load", "-i", str(tmp_path / "missing.tar"))
    assert res.returncode == 1 and "no such file or directory" in res.stderr
    controller, terminal = pty.openpty()
    try:
        res = subprocess.run([*CLI, "save", busybox], stdout=terminal, stderr=subprocess.PIPE, timeout=60,
                             check=False, env={**os.environ, **engine.env}, cwd=REPO)
    finally:
        os.close(terminal)
        os.close(controller)
    assert (res.returncode, res.stderr.decode().strip()) == (
        1, "cowardly refusing to save to a terminal. Use the -o flag or redirect")
