"""The load's reading of an archive's documents (services.images.load), on a
real store in a temp dir: each inconsistent archive is refused with one line
before any layer is applied, and leaves the store empty."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from client.errors import DigestMismatch, InvalidArgument
from services.images.core import ImageStore
from services.images.load import load_archive

_LAYER = b"not read: the archive is refused first"
_DIFF = "sha256:" + hashlib.sha256(_LAYER).hexdigest()
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _config(diff_ids: list[str]) -> tuple[str, bytes]:
    data = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    return hashlib.sha256(data.encode()).hexdigest(), data.encode()


def _docker(entry: dict, config: bytes | None = None) -> bytes:
    hexid, cfg = _config([_DIFF])
    files = {f"{hexid}.json": config or cfg, "l0/layer.tar": _LAYER}
    files["manifest.json"] = json.dumps([{"Config": f"{hexid}.json", "Layers": ["l0/layer.tar"], **entry}]).encode()
    return _tar(files)


def _oci(manifest_size_delta: int = 0, platform: dict | None = None) -> bytes:
    hexid, cfg = _config([_DIFF])
    layer_hex = hashlib.sha256(_LAYER).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": _OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + hexid, "size": len(cfg)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": "sha256:" + layer_hex, "size": len(_LAYER)}]}).encode()
    mhex = hashlib.sha256(manifest).hexdigest()
    inner = {"mediaType": _OCI_MANIFEST, "digest": "sha256:" + mhex, "size": len(manifest) + manifest_size_delta}
    files = {f"blobs/sha256/{hexid}": cfg, f"blobs/sha256/{layer_hex}": _LAYER, f"blobs/sha256/{mhex}": manifest}
    top = inner
    if platform is not None:
        nested = json.dumps({"schemaVersion": 2, "manifests": [{**inner, "platform": platform}]}).encode()
        nhex = hashlib.sha256(nested).hexdigest()
        files[f"blobs/sha256/{nhex}"] = nested
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + nhex,
               "size": len(nested)}
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()
    return _tar(files)


CASES = {
    "tag with a digest": (_docker({"RepoTags": ["a@sha256:" + "0" * 64]}), InvalidArgument, "digest reference"),
    "bad tag": (_docker({"RepoTags": ["UPPER:case"]}), InvalidArgument, "UPPER"),
    "layers and diff ids differ": (_docker({"Layers": []}), InvalidArgument, "0 layers for 1 diff ids"),
    "config named by another digest": (_docker({}, config=b'{"rootfs":{"diff_ids":[]}}'), DigestMismatch,
                                       "hashes to"),
    "manifest.json not a list": (_tar({"manifest.json": b"{}"}), InvalidArgument, "is not a list"),
    "manifest.json not JSON": (_tar({"manifest.json": b"[{"}), InvalidArgument, "is not JSON"),
    "no image": (_tar({"manifest.json": b"[]"}), InvalidArgument, "holds no image"),
    "descriptor size": (_oci(manifest_size_delta=1), DigestMismatch, "descriptor says"),
    "no manifest for this platform": (_oci(platform={"os": "linux", "architecture": "s390x"}), InvalidArgument,
                                      "holds no manifest for linux/"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_inconsistent_archives_refused(tmp_path: Path, case: str) -> None:
    data, error, text = CASES[case]
    store = ImageStore(tmp_path / "store", None)  # type: ignore[arg-type]  # no registry: nothing is pulled
    with pytest.raises(error, match=text):
        load_archive(store, iter([data]))
    assert store.db.images == {} and store.db.names == {}
    assert list(store.content.list()) == []
    assert list((tmp_path / "store" / "content" / "ingest").iterdir()) == []
    assert store.snapshots.committed() == []
