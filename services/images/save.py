"""``docker save``: kept images as one tar stream, in docker's format or as an OCI image layout.

Docker's format is what docker 20.10 writes and reads: per layer a
``<layer id>/`` directory with ``VERSION``, ``json`` and ``layer.tar`` (the
uncompressed layer), the config as ``<config hex>.json``, ``manifest.json``
(``[{Config, RepoTags, Layers}]``) and ``repositories``. The store keeps
layers gzipped, so each layer is decompressed twice while streaming: once to
learn its tar's size for the header (and check it hashes to the config's diff
id), once to send it. Nothing is held whole in memory.

The OCI layout (``--format oci``, which docker 20.10 has not) holds the blobs
as kept (compressed) under ``blobs/sha256/``, an OCI manifest per image (a
Docker schema 2 manifest is rewritten with OCI media types; the config, so
the image id, is unchanged), ``oci-layout`` and ``index.json`` whose entries
carry ``org.opencontainers.image.ref.name`` (the tag, as skopeo's
``oci:DIR:TAG`` reads it) and ``io.containerd.image.name`` (the full name, as
docker 25 and containerd write it).

References are resolved before the first byte, so an unknown image fails
the call with nothing sent. Names follow docker's rules: a name with a tag
saves that tag, a name without one every tag of the repository, an id none.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.errors import DataLoss, InvalidArgument
from client.imagespec import Descriptor, MediaType, digest_hex, sha256_digest
from client.reference import parse_reference
from services.images.compression import open_decompressed
from services.images.leases import leased, protect_image
from services.images.metadata import ImageRecord
from services.images.snapshots import chain_ids

if TYPE_CHECKING:
    from services.images.core import ImageStore

__all__ = ["FORMAT_DOCKER", "FORMAT_OCI", "save_archive", "SavedImage", "resolve_images"]

FORMAT_DOCKER = "docker"
FORMAT_OCI = "oci"

_CHUNK = 1 << 20
_MAX_DOC = 8 << 20
_REF_NAME = "org.opencontainers.image.ref.name"
_IMAGE_NAME = "io.containerd.image.name"
_OCI_LAYER_OF = {
    MediaType.DOCKER_LAYER_GZIP: MediaType.OCI_LAYER_GZIP,
    MediaType.DOCKER_LAYER_ZSTD: MediaType.OCI_LAYER_ZSTD,
}
_EMPTY_V1 = "1970-01-01T00:00:00Z"


@dataclass
class SavedImage:
    record: ImageRecord
    names: list[str]   # full references, "docker.io/library/busybox:latest"


def resolve_images(store: ImageStore, references: list[str]) -> list[SavedImage]:
    """The images ``references`` name, in order, one entry per image, with the tags to save."""
    if not references:
        raise InvalidArgument("save: no image given")
    out: dict[str, SavedImage] = {}
    for text in references:
        record = store.find(text)
        names: list[str] = []
        try:
            ref = parse_reference(text)
        except InvalidArgument:
            ref = None
        if ref is not None and not ref.digest and not _looks_like_id(text, record):
            if ref.tag and _has_explicit_tag(text):
                names = [str(ref)]
            else:  # a bare name: every tag of the repository the image has
                names = [n for n in store.db.names_of(record.id) if parse_reference(n).name == ref.name]
                names = names or [str(ref)]
        entry = out.setdefault(record.id, SavedImage(record, []))
        entry.names += [n for n in names if n not in entry.names]
    return list(out.values())


def _looks_like_id(text: str, record: ImageRecord) -> bool:
    hexpart = text.removeprefix("sha256:")
    return len(hexpart) >= 4 and record.id.removeprefix("sha256:").startswith(hexpart)


def _has_explicit_tag(text: str) -> bool:
    last = text.rsplit("/", 1)[-1]
    return ":" in last.split("@", 1)[0]


def save_archive(store: ImageStore, references: list[str], fmt: str = FORMAT_DOCKER) -> Iterator[bytes]:
    """Chunks (about 1 MiB each) of the archive of ``references``; raises before
    the first chunk when one names no kept image."""
    if fmt not in (FORMAT_DOCKER, FORMAT_OCI):
        raise InvalidArgument(f"unknown save format {fmt!r}: want docker or oci")
    return _leased_chunks(store, resolve_images(store, references), fmt)


@leased("save")
def _leased_chunks(store: ImageStore, images: list[SavedImage], fmt: str) -> Iterator[bytes]:
    """The archive's chunks, read under a lease that keeps the images' blobs and layers."""
    for image in images:
        protect_image(image.record)
    yield from _rechunk(_docker_parts(store, images) if fmt == FORMAT_DOCKER else _oci_parts(store, images))


def _rechunk(parts: Iterator[bytes]) -> Iterator[bytes]:
    buf = bytearray()
    for part in parts:
        if len(part) >= _CHUNK and not buf:
            yield part
            continue
        buf += part
        if len(buf) >= _CHUNK:
            yield bytes(buf)
            buf.clear()
    buf += b"\0" * 1024  # the end-of-archive blocks
    yield bytes(buf)


def _header(name: str, size: int, *, directory: bool = False, mtime: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    if directory:
        info.type, info.mode, info.size = tarfile.DIRTYPE, 0o755, 0
    else:
        info.mode, info.size = 0o644, size
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _file(name: str, data: bytes) -> Iterator[bytes]:
    yield _header(name, len(data))
    yield data
    if len(data) % 512:
        yield b"\0" * (512 - len(data) % 512)


def _stream(name: str, size: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A member whose ``size`` bytes come from ``chunks``; DataLoss when they are not that many."""
    yield _header(name, size)
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        if sent > size:
            raise DataLoss(f"{name}: more than the {size} bytes measured")
        yield chunk
    if sent != size:
        raise DataLoss(f"{name}: {sent} of the {size} bytes measured")
    if size % 512:
        yield b"\0" * (512 - size % 512)


def _blob_chunks(store: ImageStore, digest: str) -> Iterator[bytes]:
    with store.content.open(digest) as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def _layer_chunks(store: ImageStore, layer: Descriptor) -> Iterator[bytes]:
    with store.content.open(layer.digest) as raw, open_decompressed(raw, layer.media_type) as tar:
        while chunk := tar.read(_CHUNK):
            yield chunk


def _measure_layer(store: ImageStore, layer: Descriptor, diff_id: str) -> int:
    """The uncompressed layer's size, checking it hashes to ``diff_id`` (a corrupt
    blob is refused rather than saved)."""
    h = hashlib.sha256()
    size = 0
    for chunk in _layer_chunks(store, layer):
        h.update(chunk)
        size += len(chunk)
    if "sha256:" + h.hexdigest() != diff_id:
        raise DataLoss(f"kept layer {layer.digest} does not decompress to its diff id {diff_id}")
    return size


def _v1_id(parent: str, chain: str) -> str:
    """A layer directory's name: one per chain (so shared layers are written once)."""
    return hashlib.sha256(f"{parent} {chain}".encode()).hexdigest()


def _familiar_tag(name: str) -> tuple[str, str]:
    ref = parse_reference(name)
    return ref.familiar_name, ref.tag or "latest"


def _docker_parts(store: ImageStore, images: list[SavedImage]) -> Iterator[bytes]:
    written: set[str] = set()
    manifest: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    for image in images:
        r = image.record
        layer_paths: list[str] = []
        parent = ""
        for layer, diff_id, chain in zip(r.layers, r.diff_ids, chain_ids(r.diff_ids)):
            layer_id = _v1_id(parent, chain)
            if layer_id not in written:
                written.add(layer_id)
                size = _measure_layer(store, layer, diff_id)
                v1 = {"id": layer_id, "created": _EMPTY_V1, "container_config": {}, "os": "linux"}
                if parent:
                    v1["parent"] = parent
                yield _header(f"{layer_id}/", 0, directory=True)
                yield from _file(f"{layer_id}/VERSION", b"1.0")
                yield from _file(f"{layer_id}/json", json.dumps(v1, separators=(",", ":")).encode())
                yield from _stream(f"{layer_id}/layer.tar", size, _layer_chunks(store, layer))
            layer_paths.append(f"{layer_id}/layer.tar")
            parent = layer_id
        config_name = f"{digest_hex(r.config.digest)}.json"
        if config_name not in written:
            written.add(config_name)
            yield from _file(config_name, store.content.read_bytes(r.config.digest, max_size=_MAX_DOC))
        tags = []
        for name in image.names:
            repo, tag = _familiar_tag(name)
            tags.append(f"{repo}:{tag}")
            if parent:
                repositories.setdefault(repo, {})[tag] = parent
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": layer_paths})
    yield from _file("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
    if repositories:
        yield from _file("repositories", json.dumps(repositories, separators=(",", ":")).encode())


def _oci_manifest(store: ImageStore, r: ImageRecord) -> tuple[bytes, list[Descriptor]]:
    """The image's manifest in OCI media types, and the blobs it names."""
    data = store.content.read_bytes(r.manifest.digest, max_size=_MAX_DOC)
    if r.manifest.media_type == MediaType.OCI_MANIFEST:
        return data, [r.config, *r.layers]
    doc = json.loads(data)
    doc["mediaType"] = MediaType.OCI_MANIFEST
    doc["config"]["mediaType"] = MediaType.OCI_CONFIG
    for layer in doc.get("layers") or []:
        layer["mediaType"] = _OCI_LAYER_OF.get(layer["mediaType"], layer["mediaType"])
    return json.dumps(doc, separators=(",", ":")).encode(), [r.config, *r.layers]


def _oci_parts(store: ImageStore, images: list[SavedImage]) -> Iterator[bytes]:
    written: set[str] = set()
    index: list[dict] = []
    yield _header("blobs/", 0, directory=True)
    yield _header("blobs/sha256/", 0, directory=True)
    for image in images:
        manifest, blobs = _oci_manifest(store, image.record)
        for blob in blobs:
            if blob.digest not in written:
                written.add(blob.digest)
                yield from _stream(f"blobs/sha256/{digest_hex(blob.digest)}", store.content.size(blob.digest),
                                   _blob_chunks(store, blob.digest))
        digest = sha256_digest(manifest)
        if digest not in written:
            written.add(digest)
            yield from _file(f"blobs/sha256/{digest_hex(digest)}", manifest)
        base = {"mediaType": MediaType.OCI_MANIFEST, "digest": digest, "size": len(manifest)}
        for name in image.names:
            ref = parse_reference(name)
            index.append({**base, "annotations": {_IMAGE_NAME: str(ref), _REF_NAME: ref.tag or "latest"}})
        if not image.names:
            index.append(base)
    yield from _file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    doc = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": index}
    yield from _file("index.json", json.dumps(doc, separators=(",", ":")).encode())
