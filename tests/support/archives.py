"""Image archives built by hand for ``barque load`` (docker's and the OCI
layout's form) and the image-store's state a refused operation must leave as
it found it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from tests.support.engine import Engine

__all__ = ["docker_archive", "oci_archive", "store_state"]


def store_state(engine: Engine) -> tuple:
    """What an image-store keeps: blob digests, snapshot chain ids, image ids, names,
    and whatever sits in its ingest and staging directories (empty when idle)."""
    root = engine.state("images")
    leftovers = [str(p) for d in (root / "content" / "ingest", root / "snapshots" / "tmp") if d.exists()
                 for p in d.iterdir()]
    images = json.loads((root / "metadata.json").read_text()) if (root / "metadata.json").exists() else {}
    return (sorted(p.name for p in (root / "content" / "blobs" / "sha256").glob("*")),
            sorted(p.name for p in (root / "snapshots" / "snapshots").glob("*")),
            sorted(images.get("images", {})), sorted(images.get("names", {})), leftovers)


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _config(layers: list[bytes]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers",
                                  "diff_ids": ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]}}).encode()


def docker_archive(images: dict[str, list[bytes]], *, gzipped: bool = False) -> bytes:
    """A ``docker save`` archive (20.10's form) of ``{tag: [layer tar, ...]}``;
    ``gzipped``: each ``layer.tar`` member gzipped (as docker loads them too)."""
    files: dict[str, bytes] = {}
    manifest = []
    for tag, layers in images.items():
        config = _config(layers)
        cfg = hashlib.sha256(config).hexdigest() + ".json"
        names = []
        for tar in layers:
            name = hashlib.sha256(tar).hexdigest() + "/layer.tar"
            files[name] = gzip.compress(tar, mtime=0) if gzipped else tar
            names.append(name)
        files[cfg] = config
        manifest.append({"Config": cfg, "RepoTags": [tag], "Layers": names})
    files["manifest.json"] = json.dumps(manifest).encode()
    return _tar(files)


def oci_archive(images: dict[str, list[bytes]], *, gzipped: bool = False) -> bytes:
    """An OCI image layout archive of ``{tag: [layer tar, ...]}``, the layers
    uncompressed or ``gzipped``."""
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        blobs["blobs/sha256/" + digest] = data
        return {"digest": "sha256:" + digest, "size": len(data)}

    index = []
    for tag, layers in images.items():
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(_config(layers))},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzipped else ""),
                                **put(gzip.compress(x, mtime=0) if gzipped else x)} for x in layers]}
        index.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                      **put(json.dumps(manifest).encode()),
                      "annotations": {"io.containerd.image.name": tag,
                                      "org.opencontainers.image.ref.name": tag.rsplit(":", 1)[1]}})
    return _tar({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
                 "index.json": json.dumps({"schemaVersion": 2, "manifests": index}).encode(), **blobs})
