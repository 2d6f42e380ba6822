"""``docker load``: images from an archive into the store, every digest verified.

Reads what :mod:`services.images.save` writes and what docker writes:
docker's format (``manifest.json``; docker 20.10's ``<id>/layer.tar`` and
docker 25's ``blobs/sha256/<hex>`` layers alike) and an OCI image layout
(``index.json``, nested indexes resolved to the host's platform). The
archive is spooled to disk first (:mod:`services.images.archive`: members
come in any order; nothing is held whole in memory), then per layer:

* the config's bytes hash to the image id (and to its file name when that
  is a digest), every ``blobs/sha256`` member to its name, a descriptor's
  size is its member's;
* a layer is unpacked through the snapshotter's apply path (the same vetted
  code as a pull's, which refuses hostile content and checks the tar hashes
  to the config's diff id); a layer whose snapshot is kept already is hashed
  against its diff id all the same;
* layers are kept compressed as pulled ones: a compressed member is kept as
  is, a plain tar gzipped once (or the blob the store already keeps for the
  same diff id reused), in a thread beside its unpack.

An OCI manifest whose layers were all kept as they came is kept as is;
otherwise the manifest is written anew (Docker schema 2 for docker's format,
OCI for a layout). Records are written for all images at once, at the end:
an error anywhere removes every blob and snapshot this load made that no
image holds, and the spool, so a refused archive leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, cast

from client.errors import DigestMismatch, InvalidArgument, Unavailable
from client.imagespec import INDEX_TYPES, Descriptor, MediaType, Platform, sha256_digest
from client.reference import parse_reference
from client.version import go_arch
from services.common.log import get_logger
from services.images.archive import BadArchive, ChunkReader, Spooled, spool_archive
from services.images.budget import metered
from services.images.compression import open_decompressed
from services.images.commit import descriptor_json
from services.images.layerwrite import GZIP_LEVEL, write_tar
from services.images.leases import current, leased
from services.images.manifests import parse_config, parse_manifest
from services.images.metadata import ImageRecord
from services.images.snapshots import chain_ids
from services.images.undo import Undo

if TYPE_CHECKING:
    from services.images.core import ImageStore, ImageView

__all__ = ["LoadEvent", "load_archive"]

log = get_logger()

_CONFIG_NAME = re.compile(r"(?:blobs/sha256/)?([a-f0-9]{64})(?:\.json)?")
_REF_NAME = "org.opencontainers.image.ref.name"
_IMAGE_NAME = "io.containerd.image.name"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LoadEvent:
    """A line for the user; ``image`` set on the lines naming a loaded image."""

    message: str
    image: ImageView | None = None


@dataclass
class _Plan:
    config: bytes
    config_id: str
    config_type: str
    diff_ids: list[str]
    members: list[str]          # archive paths of the layers, in order
    media_types: list[str]      # declared layer media types ("" in docker's format)
    names: list[str]            # full references
    manifest: bytes | None      # an OCI layout's manifest, kept when its layers are
    oci: bool


@leased("load")
def load_archive(store: ImageStore, chunks: Iterator[bytes]) -> list[LoadEvent]:
    """Load the archive whose bytes ``chunks`` yields; the lines docker prints."""
    began = time.monotonic()
    spooled = spool_archive(cast(BinaryIO, ChunkReader(chunks)), store.content.ingest_dir / f"load.{uuid.uuid4().hex}",
                            store.budget)
    loader = _Loader(store, spooled)
    try:
        plans = _plans(spooled)
        events = loader.load(plans)
    except BaseException:
        loader.undo()
        raise
    finally:
        spooled.close()
    log.info("images.loaded", images=len(plans), seconds=round(time.monotonic() - began, 3))
    return events


# ---- reading the archive's documents --------------------------------------------


def _json(data: bytes, what: str):
    try:
        return json.loads(data)
    except ValueError as exc:
        raise BadArchive(f"archive {what} is not JSON: {exc}") from exc


def _names(tags, what: str) -> list[str]:
    out = []
    for tag in tags or []:
        if not isinstance(tag, str):
            raise BadArchive(f"archive {what}: repo tag {tag!r} is not a string")
        ref = parse_reference(tag)
        if ref.digest:
            raise BadArchive(f"archive {what}: repo tag {tag!r} is a digest reference")
        out.append(str(ref))
    return out


def _plans(sp: Spooled) -> list[_Plan]:
    if sp.has("manifest.json"):
        plans = _docker_plans(sp)
    elif sp.has("index.json"):
        plans = _oci_plans(sp)
    else:
        raise BadArchive("archive holds neither manifest.json (docker save) nor index.json (an OCI layout)")
    if not plans:
        raise BadArchive("archive holds no image")
    return plans


def _docker_plans(sp: Spooled) -> list[_Plan]:
    doc = _json(sp.read("manifest.json", "manifest"), "manifest.json")
    if not isinstance(doc, list):
        raise BadArchive("archive manifest.json is not a list")
    plans = []
    for entry in doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers") or [], list):
            raise BadArchive(f"archive manifest.json entry {entry!r} is malformed")
        config_name = entry["Config"]
        config = sp.read(config_name, "config")
        config_id = sha256_digest(config)
        m = _CONFIG_NAME.fullmatch(config_name)
        if m and "sha256:" + m.group(1) != config_id:
            raise DigestMismatch(f"archive config {config_name} hashes to {config_id}")
        diff_ids = _diff_ids(config, config_id)
        layers = [str(x) for x in entry.get("Layers") or []]
        if len(layers) != len(diff_ids):
            raise BadArchive(f"archive image {config_id}: {len(layers)} layers for {len(diff_ids)} diff ids")
        members = [sp.resolve(x, "layer") for x in layers]
        plans.append(_Plan(config, config_id, MediaType.DOCKER_CONFIG, diff_ids, members, [""] * len(members),
                           _names(entry.get("RepoTags"), "manifest.json"), None, oci=False))
    return plans


def _diff_ids(config: bytes, config_id: str) -> list[str]:
    try:
        return list(parse_config(config, config_id)["rootfs"]["diff_ids"])
    except InvalidArgument as exc:
        raise BadArchive(f"archive {exc}") from exc


def _blob(sp: Spooled, desc: Descriptor, what: str) -> str:
    """The member of ``desc`` (its bytes were checked against the name when spooled)."""
    member = sp.resolve(f"blobs/sha256/{desc.digest.removeprefix('sha256:')}", what)
    if sp.size(member) != desc.size:
        raise DigestMismatch(f"archive {what} {desc.digest}: {sp.size(member)} bytes, descriptor says {desc.size}")
    return member


def _oci_plans(sp: Spooled) -> list[_Plan]:
    index = _json(sp.read("index.json", "index"), "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise BadArchive("archive index.json has no manifests list")
    plans = []
    for raw in index["manifests"]:
        desc = _descriptor(raw)
        plans.append(_oci_plan(sp, _platform_manifest(sp, desc), _oci_names(desc.annotations)))
    return plans


def _descriptor(raw) -> Descriptor:
    try:
        return Descriptor.from_json(raw if isinstance(raw, dict) else {})
    except InvalidArgument as exc:
        raise BadArchive(f"archive {exc}") from exc


def _platform_manifest(sp: Spooled, desc: Descriptor, depth: int = 0) -> Descriptor:
    """``desc`` itself, or from the index it names the manifest of the host's platform."""
    if desc.media_type not in INDEX_TYPES:
        return desc
    if depth > 4:
        raise BadArchive("archive indexes nest too deep")
    doc = _json(sp.read(_blob(sp, desc, "index"), "index"), f"index {desc.digest}")
    arch = go_arch(os.uname().machine)
    for raw in doc.get("manifests") or []:
        child = _descriptor(raw)
        if child.platform is None or (child.platform.os == "linux" and child.platform.architecture == arch):
            if child.media_type in INDEX_TYPES or sp.has(f"blobs/sha256/{child.digest[7:]}"):
                return _platform_manifest(sp, child, depth + 1)
    raise BadArchive(f"archive index {desc.digest} holds no manifest for linux/{arch}")


def _oci_names(annotations: dict[str, str]) -> list[str]:
    """The name a layout's entry gives: containerd's full name, else a ref.name that is a reference."""
    text = annotations.get(_IMAGE_NAME) or annotations.get(_REF_NAME) or ""
    if not text or not any(c in text for c in ":/"):
        return []  # a bare tag names no repository: the image loads untagged
    try:
        return _names([text], "index.json")
    except InvalidArgument:
        return []


def _oci_plan(sp: Spooled, desc: Descriptor, names: list[str]) -> _Plan:
    manifest = sp.read(_blob(sp, desc, "manifest"), "manifest")
    try:
        config_desc, layers = parse_manifest(manifest, desc.digest)
    except InvalidArgument as exc:
        raise BadArchive(f"archive {exc}") from exc
    config = sp.read(_blob(sp, config_desc, "config"), "config")
    diff_ids = _diff_ids(config, config_desc.digest)
    if len(layers) != len(diff_ids):
        raise BadArchive(f"archive image {config_desc.digest}: {len(layers)} layers for {len(diff_ids)} diff ids")
    members = [_blob(sp, layer, "layer") for layer in layers]
    return _Plan(config, config_desc.digest, config_desc.media_type or MediaType.OCI_CONFIG, diff_ids, members,
                 [x.media_type for x in layers], names, manifest, oci=True)


# ---- into the store ----------------------------------------------------------------


def _compressor():
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)


class _Loader:
    def __init__(self, store: ImageStore, sp: Spooled) -> None:
        self.store = store
        self.sp = sp
        self.new_blobs: list[str] = []
        self.new_chains: list[str] = []
        self.lease = current()  # the load's own: its protection keeps nothing from the undo

    def load(self, plans: list[_Plan]) -> list[LoadEvent]:
        made: list[tuple[_Plan, list[Descriptor], Descriptor, Descriptor]] = []
        for plan in plans:
            with metered(self.store.budget, f"image {', '.join(plan.names) or plan.config_id}"):
                layers = self._layers(plan)
            config_desc = Descriptor(plan.config_type, self._put(plan.config), len(plan.config))
            kept = plan.manifest is not None and all(
                a.digest == self.sp.digest(m) for a, m in zip(layers, plan.members))
            if kept and plan.manifest is not None:
                manifest, manifest_type = plan.manifest, MediaType.OCI_MANIFEST
            else:
                manifest_type = MediaType.OCI_MANIFEST if plan.oci else MediaType.DOCKER_MANIFEST
                manifest = json.dumps({
                    "schemaVersion": 2, "mediaType": manifest_type,
                    "config": descriptor_json(config_desc), "layers": [descriptor_json(x) for x in layers],
                }, separators=(",", ":")).encode()
            made.append((plan, layers, config_desc, Descriptor(manifest_type, self._put(manifest), len(manifest))))
        return self._record(made)

    def _put(self, data: bytes) -> str:
        digest = sha256_digest(data)
        if not self.store.content.has(digest):
            with self.store.content.writer(digest, len(data)) as w:
                w.write(data)
            self.new_blobs.append(digest)
        return digest

    def _layers(self, plan: _Plan) -> list[Descriptor]:
        out = []
        parent: str | None = None
        for member, media_type, diff_id, chain in zip(plan.members, plan.media_types, plan.diff_ids,
                                                     chain_ids(plan.diff_ids)):
            out.append(self._layer(member, media_type, diff_id, chain, parent, plan.oci))
            parent = chain
        return out

    def _layer(self, member: str, media_type: str, diff_id: str, chain: str, parent: str | None,
               oci: bool) -> Descriptor:
        path = self.sp.path(member)
        with open(path, "rb") as f:
            head = f.read(4)
        if head.startswith(_GZIP_MAGIC) or head.startswith(_ZSTD_MAGIC):
            gz = head.startswith(_GZIP_MAGIC)
            kind = media_type or (MediaType.DOCKER_LAYER_GZIP if gz else MediaType.DOCKER_LAYER_ZSTD)
            self._unpack_or_verify(path, kind, diff_id, chain, parent)
            digest, size = self.sp.digest(member), self.sp.size(member)
            if not self.store.content.has(digest):
                with self.store.content.writer(digest, size) as w, open(path, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        w.write(chunk)
                self.new_blobs.append(digest)
            return Descriptor(kind, digest, size)
        kind = MediaType.OCI_LAYER_GZIP if oci else MediaType.DOCKER_LAYER_GZIP
        kept = self._kept_blob(diff_id)
        if kept is not None:
            self._unpack_or_verify(path, "", diff_id, chain, parent)
            return Descriptor(kind, *kept)
        if self.store.snapshots.exists(chain):
            self._unpack_or_verify(path, "", diff_id, chain, parent)
            return Descriptor(kind, *self._gzip(path))
        # gzipped in the same pass as the snapshot is staged from the very bytes
        blob = write_tar(_file_chunks(path), self.store.content, stage=self.store.snapshots.stage)
        self.new_blobs.append(blob.digest)
        if blob.staged is None:
            raise RuntimeError("load: the layer's snapshot was not staged")
        if self.store.snapshots.publish_staged(blob.staged, chain, parent, diff_id):  # checks the diff id
            self.new_chains.append(chain)
        return Descriptor(kind, blob.digest, blob.size)

    def _unpack_or_verify(self, path, media_type: str, diff_id: str, chain: str, parent: str | None) -> None:
        snapshots = self.store.snapshots
        with open(path, "rb") as f, open_decompressed(f, media_type) as tar:
            if not snapshots.exists(chain):
                snapshots.unpack(chain, parent, diff_id, tar)  # checks the diff id
                self.new_chains.append(chain)
                return
            h = hashlib.sha256()
            while chunk := tar.read(_CHUNK):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != diff_id:
            raise DigestMismatch(f"archive layer: diff id {diff_id} expected, tar hashed to sha256:{h.hexdigest()}")

    def _gzip(self, path) -> tuple[str, int]:
        writer = self.store.content.begin(None)
        try:
            gz = _compressor()
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    writer.write(gz.compress(chunk))
            writer.write(gz.flush())
            digest, size = writer.digest, writer.written
            existed = self.store.content.has(digest)
            writer.commit(what="layer")
        except BaseException:
            writer.abort()
            raise
        if not existed:
            self.new_blobs.append(digest)
        return digest, size

    def _kept_blob(self, diff_id: str) -> tuple[str, int] | None:
        """A gzip blob the store keeps for the same diff id: a layer is compressed once."""
        with self.store.db.lock:
            for r in self.store.db.images.values():
                for layer, d in zip(r.layers, r.diff_ids):
                    if d == diff_id and layer.media_type.endswith("gzip") and self.store.content.has(layer.digest):
                        return layer.digest, layer.size
        return None

    def _record(self, made) -> list[LoadEvent]:
        store, db = self.store, self.store.db
        done: list[tuple[str, list[str], list[str]]] = []  # (image id, names, renaming lines)
        with db.lock:
            for plan, layers, config_desc, manifest_desc in made:
                record = self._new_record(plan, layers, config_desc, manifest_desc)
                old = db.images.get(record.id)
                if old is not None:  # loaded again: the record keeps what it had
                    record.repo_digests = old.repo_digests
                    record.committed = old.committed or record.committed
                    record.target, record.manifest, record.layers = old.target, old.manifest, old.layers
                db.images[record.id] = record
                renamed = []
                for name in plan.names:
                    previous = db.names.get(name)
                    if previous and previous != record.id:
                        renamed.append(f"The image {parse_reference(name).familiar()} already exists, "
                                       f"renaming the old one with ID {previous} to empty string")
                    db.names[name] = record.id
                    db.name_digests.pop(name, None)
                done.append((record.id, plan.names, renamed))
            db.save()
            self.new_blobs.clear()
            self.new_chains.clear()
        out: list[LoadEvent] = []
        for image_id, names, renamed in done:
            view = store.inspect(image_id)
            store.events.emit("load", image_id, event_type="image", name=image_id)
            out += [LoadEvent(line) for line in renamed]
            lines = [f"Loaded image: {parse_reference(n).familiar()}" for n in names] or [f"Loaded image ID: {image_id}"]
            out += [LoadEvent(line, view) for line in lines]
        if any(renamed for _, _, renamed in done):
            store.collect_garbage()
        return out

    def _new_record(self, plan: _Plan, layers: list[Descriptor], config_desc: Descriptor,
                    manifest_desc: Descriptor) -> ImageRecord:
        """The image's record; called with the db's lock held, after checking garbage
        collection took none of what the load made."""
        store = self.store
        chains = chain_ids(plan.diff_ids)
        for blob in [*layers, config_desc, manifest_desc]:
            if not store.content.has(blob.digest):
                raise Unavailable(f"blob {blob.digest} was collected during the load; retry")
        if chains and not store.snapshots.exists(chains[-1]):
            raise Unavailable(f"snapshot {chains[-1]} was collected during the load; retry")
        config = json.loads(plan.config)
        return ImageRecord(
            id=plan.config_id, target=manifest_desc, manifest=manifest_desc, config=config_desc,
            layers=layers, diff_ids=plan.diff_ids, chain_id=chains[-1] if chains else "",
            created=str(config.get("created") or ""), size=sum(store.snapshots.usage(c) for c in chains),
            platform=Platform(str(config.get("os") or "linux"), str(config.get("architecture") or ""),
                              str(config.get("variant") or "")),
            pulled_at=time.time(), diff_sizes=[store.snapshots.diff_size(c) for c in chains],
            committed=not plan.names,
        )

    def undo(self) -> None:
        """Drop what this load made, unless an image or another operation's lease holds it."""
        undo = Undo(self.store, "load", lease=self.lease)
        for digest in self.new_blobs:
            undo.made_blob(digest)
        for chain in self.new_chains:
            undo.made_chain(chain)
        undo.run()
        self.new_blobs.clear()
        self.new_chains.clear()


def _file_chunks(path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk
