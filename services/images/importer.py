"""``docker import``: a filesystem tar made into a one-layer image.

The tar arrives as chunks (plain, gzip, bzip2, xz or zstd, told apart by
their magic bytes as moby's ``DetectCompression`` does) and is decompressed
as it streams; the uncompressed tar goes through one pass
(:func:`services.images.layerwrite.write_tar`) that gzips it into the
content store and applies it, through the store's vetted apply path
(:mod:`services.common.safetar`: ``..`` names, links and writes out of the
root refused), into a staged snapshot whose hash of every byte is the
layer's diff id. Nothing is held whole in memory.

The config is what docker 20.10's ``ImageService.ImportImage`` writes: the
caller's ``config`` object (``--change`` applied; docker's zero
``container.Config`` when none is given), the host's os and architecture or
the request's platform, ``created`` now, ``comment`` and a single history
entry whose comment is the ``-m`` message or else ``Imported from -`` /
``Imported from <URL>``; Docker schema 2 media types, as docker pushes an
imported image. An untagged import is kept until removed by id, as docker
keeps it. A refused or failed import leaves no blob, snapshot or record of
its own behind.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, cast

from client.errors import InvalidArgument, Unavailable
from client.imagespec import Descriptor, MediaType, Platform
from client.reference import parse_reference
from client.version import go_arch
from services.common.log import get_logger
from services.common.safetar.errors import MalformedLayer, UnsafeLayer
from services.images.budget import metered
from services.images.commit import descriptor_json, put_blob, rfc3339_nano, undo_created
from services.images.compression import CorruptLayerData, detect_archive, open_archive_stream
from services.images.layerwrite import LayerBlob, write_tar
from services.images.leases import leased
from services.images.metadata import ImageRecord

if TYPE_CHECKING:
    from services.images.core import ImageStore, ImageView

__all__ = ["ImportSpec", "ZERO_CONFIG", "detect_archive", "import_config", "import_image", "open_archive"]

log = get_logger()

#: docker 20.10's zero ``container.Config``, as its import writes it with no --change
ZERO_CONFIG: dict = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImportSpec:
    reference: str = ""           # repository[:tag]; "" leaves the image untagged
    config_json: bytes = b""      # the config's "config" object; empty: docker's zero Config
    message: str = ""             # ``-m``: the comment; empty: "Imported from <source>"
    platform: Platform | None = None  # os/architecture recorded; None: the host's
    source: str = "-"             # "-" or the URL the tar came from


class _ChunkReader(io.RawIOBase):
    """A binary stream over an iterator of chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = memoryview(chunk)
        n = min(len(b), len(self._rest))
        b[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def open_archive(chunks: Iterable[bytes]) -> BinaryIO:
    """The uncompressed tar of ``chunks`` (plain, gzip, bzip2, xz or zstd), read as it streams."""
    return open_archive_stream(cast(BinaryIO, _ChunkReader(chunks)))


def _tar_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def import_config(spec: ImportSpec, diff_id: str, created: str) -> dict:
    """The image config docker 20.10 writes for an import (see the module doc)."""
    if spec.config_json:
        try:
            config = json.loads(spec.config_json)
        except ValueError as exc:
            raise InvalidArgument(f"import config is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise InvalidArgument("import config must be a JSON object")
    else:
        config = dict(ZERO_CONFIG)
    platform = spec.platform or Platform("linux", go_arch(os.uname().machine))
    comment = spec.message or f"Imported from {spec.source or '-'}"
    doc: dict = {"architecture": platform.architecture or go_arch(os.uname().machine), "comment": comment,
                 "config": config, "created": created, "history": [{"created": created, "comment": comment}],
                 "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    if platform.variant:
        doc["variant"] = platform.variant
    return doc


def _check(spec: ImportSpec) -> None:
    if spec.reference and parse_reference(spec.reference).digest:
        raise InvalidArgument("cannot import digest reference")
    if spec.platform is not None and (spec.platform.os or "linux") != "linux":
        raise InvalidArgument(f"import: operating system {spec.platform.os!r} is not supported (linux only)")


def _write(store: ImageStore, chunks: Iterable[bytes]) -> LayerBlob:
    try:
        return write_tar(_tar_chunks(open_archive(chunks)), store.content, stage=store.snapshots.stage)
    except MalformedLayer as exc:
        raise InvalidArgument(f"error processing tar file: {exc}") from exc
    except UnsafeLayer as exc:
        raise InvalidArgument(f"refusing the tar file: {exc}") from exc
    except CorruptLayerData as exc:
        raise InvalidArgument(f"error processing tar file: {exc}") from exc


@leased("import")
def import_image(store: ImageStore, spec: ImportSpec, chunks: Iterable[bytes]) -> ImageView:
    """Make the image of the tar ``chunks``; tagged ``spec.reference`` when given."""
    _check(spec)
    ref = parse_reference(spec.reference) if spec.reference else None
    began = time.monotonic()
    with metered(store.budget, "the imported image"):
        blob = _write(store, chunks)
    staged = blob.staged
    new_blobs = [blob.digest]
    new_chain: str | None = None
    try:
        created = rfc3339_nano(time.time_ns())
        config = import_config(spec, blob.diff_id, created)
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        layer = Descriptor(MediaType.DOCKER_LAYER_GZIP, blob.digest, blob.size)
        with store.db.lock:  # from here on garbage collection cannot take what is being built
            if not store.content.has(layer.digest):
                raise Unavailable(f"layer {layer.digest} was collected during the import; retry")
            config_desc = Descriptor(MediaType.DOCKER_CONFIG, put_blob(store, config_bytes, new_blobs),
                                     len(config_bytes))
            manifest = {"schemaVersion": 2, "mediaType": MediaType.DOCKER_MANIFEST,
                        "config": descriptor_json(config_desc), "layers": [descriptor_json(layer)]}
            manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
            manifest_desc = Descriptor(MediaType.DOCKER_MANIFEST, put_blob(store, manifest_bytes, new_blobs),
                                       len(manifest_bytes))
            chain = blob.diff_id  # one layer: its chain id is its diff id
            if staged is None:  # write_tar's contract: the layer has its staged tree
                raise RuntimeError("import: the layer's snapshot was not staged")
            # False: the same tar imported before: shared, not ours to undo
            if store.snapshots.publish_staged(staged, chain, None, blob.diff_id):
                new_chain = chain
            record = ImageRecord(
                id=config_desc.digest, target=manifest_desc, manifest=manifest_desc, config=config_desc,
                layers=[layer], diff_ids=[blob.diff_id], chain_id=chain, created=created,
                size=store.snapshots.usage(chain),
                platform=Platform("linux", config["architecture"], config.get("variant", "")),
                pulled_at=time.time(), diff_sizes=[blob.file_bytes], committed=True)
            store.db.images[record.id] = record
            if ref is not None:
                store.db.names[str(ref)] = record.id
            store.db.save()
            view = store.inspect(record.id)
    except BaseException:
        undo_created(store, new_blobs, new_chain)
        raise
    finally:
        if staged is not None:
            staged.discard()  # unpublished (an error before publish_staged): dropped
    if ref is not None:  # moby's ImportImage: the tag, then the import
        store.events.emit("tag", record.id, event_type="image", name=ref.familiar())
    store.events.emit("import", record.id, event_type="image", name=record.id)
    log.info("image.imported", id=record.id, reference=str(ref or ""), source=spec.source, layer=layer.digest,
             tar_bytes=blob.tar_size, seconds=round(time.monotonic() - began, 3))
    return view
