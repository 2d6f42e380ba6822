"""``docker commit``: an active snapshot's changes become a new image.

The writable layer is tarred (OCI whiteouts and opaque markers) and gzipped
into the content store as it is walked (:mod:`services.images.layerwrite`);
the new config is the parent's with the request's ``config`` object, the new
diff id appended and a history entry added, as moby's ``NewChildImage``
writes it; then the manifest, a committed snapshot of the new chain (the
layer applied by the pull's apply path from the very tar bytes the blob
gzips, in the same pass, so ``run`` of the image works at once) and the
image record, tagged when asked.

An unchanged container or ``empty_layer`` gives no layer, only a history
entry marked ``empty_layer``; with ``empty_layer`` the snapshot key may be
empty (a build's metadata step, no container). An empty parent is scratch:
a config of the host's os and architecture only, OCI media types, no layers.
A commit that fails leaves no blob, snapshot or record of its own behind.

For a build: ``created_nanos`` fixes the config's and history entry's time,
``clamp_mtime`` caps the layer's mtimes, and ``cache_key`` records the image
in the build cache's index (replacing what the key held) instead of marking
it a ``docker commit`` (which keeps an untagged image until removed by id).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from client.errors import InvalidArgument, NotFound, Unavailable
from client.imagespec import Descriptor, MediaType, Platform, sha256_digest
from client.reference import parse_reference
from client.version import go_arch
from services.common.log import get_logger
from services.images.layerwrite import LayerBlob, write_layer
from services.images.metadata import ImageRecord
from services.images.snapshots import Staged, chain_ids

if TYPE_CHECKING:
    from services.images.core import ImageStore, ImageView

__all__ = ["CommitSpec", "commit_snapshot", "descriptor_json", "put_blob", "rfc3339_nano", "scratch_config",
           "undo_created"]

log = get_logger()

_DOCKER_TYPES = (MediaType.DOCKER_MANIFEST, MediaType.DOCKER_CONFIG, MediaType.DOCKER_LAYER_GZIP)
_OCI_TYPES = (MediaType.OCI_MANIFEST, MediaType.OCI_CONFIG, MediaType.OCI_LAYER_GZIP)
_MAX_CONFIG = 8 << 20
_MAX_CACHE_KEY = 1024


@dataclass(frozen=True)
class CommitSpec:
    key: str                   # active snapshot (container id); "" only with empty_layer
    parent: str                # image the snapshot sits on; "" is scratch
    config_json: bytes = b""   # the new config's "config" object; empty keeps the parent's
    reference: str = ""
    author: str = ""
    comment: str = ""
    created_by: str = ""
    container_id: str = ""
    empty_layer: bool = False
    created_nanos: int = 0              # the config's "created"; 0 is now
    clamp_mtime: int | None = None      # seconds: later layer mtimes are written as this
    cache_key: str = ""                 # build cache key recorded for the image


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def _child_config(parent: dict, spec: CommitSpec, diff_id: str | None, created: str) -> dict:
    config = dict(parent)
    if spec.config_json:
        try:
            new = json.loads(spec.config_json)
        except ValueError as exc:
            raise InvalidArgument(f"commit config is not JSON: {exc}") from exc
        if not isinstance(new, dict):
            raise InvalidArgument("commit config must be a JSON object")
        config["config"] = new
    config["created"] = created
    if spec.container_id:
        config["container"] = spec.container_id
    else:
        config.pop("container", None)
    if spec.author:
        config["author"] = spec.author
    else:
        config.pop("author", None)
    config.pop("container_config", None)  # the parent's; moby 25+ writes none
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + ([diff_id] if diff_id else [])
    config["rootfs"] = rootfs
    entry: dict = {"created": created}
    if spec.author:
        entry["author"] = spec.author
    if spec.created_by:
        entry["created_by"] = spec.created_by
    if spec.comment:
        entry["comment"] = spec.comment
    if diff_id is None:
        entry["empty_layer"] = True
    config["history"] = list(config.get("history") or []) + [entry]
    return config


def scratch_config() -> dict:
    """What docker writes for ``FROM scratch``: the host's platform, no layers, no history."""
    return {"architecture": go_arch(os.uname().machine), "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


def _check(spec: CommitSpec) -> None:
    if not spec.key and not spec.empty_layer:
        raise InvalidArgument("commit: a snapshot key is required unless empty_layer is set")
    if spec.created_nanos < 0:
        raise InvalidArgument(f"commit: created_nanos {spec.created_nanos} is negative")
    if spec.clamp_mtime is not None and spec.clamp_mtime < 0:
        raise InvalidArgument(f"commit: clamp_mtime {spec.clamp_mtime} is negative")
    if len(spec.cache_key) > _MAX_CACHE_KEY:
        raise InvalidArgument(f"commit: cache key longer than {_MAX_CACHE_KEY} characters")


def put_blob(store: ImageStore, data: bytes, created: list[str]) -> str:
    """Keep a small blob (config, manifest); its digest is appended to ``created`` when new."""
    digest = sha256_digest(data)
    if not store.content.has(digest):
        with store.content.writer(digest, len(data)) as w:
            w.write(data)
        created.append(digest)
    return digest


def commit_snapshot(store: ImageStore, spec: CommitSpec) -> tuple[ImageView, Descriptor | None]:
    """Make the image; returns it and the new layer (None when there is none)."""
    _check(spec)
    parent = store.find(spec.parent) if spec.parent else None
    ref = parse_reference(spec.reference) if spec.reference else None
    if ref is not None and ref.digest:
        raise InvalidArgument(f"refusing to create a tag with a digest reference: {spec.reference!r}")
    mounts = store.snapshots.mounts(spec.key) if spec.key else None  # NotFound: no such snapshot
    began = time.monotonic()
    blob: LayerBlob | None = None
    if not spec.empty_layer and mounts is not None:
        # the new snapshot is applied from the same tar bytes as they are gzipped,
        # not from the stored blob afterwards; published below, under the lock
        blob = write_layer(Path(mounts.upperdir), store.content, stage=store.snapshots.stage,
                           clamp_mtime=spec.clamp_mtime)
    staged: Staged | None = blob.staged if blob else None
    new_blobs: list[str] = [blob.digest] if blob and blob.digest else []
    new_chain: str | None = None
    try:
        parent_config = (json.loads(store.content.read_bytes(parent.config.digest, max_size=_MAX_CONFIG))
                         if parent is not None else scratch_config())
        docker = parent is not None and parent.manifest.media_type == MediaType.DOCKER_MANIFEST
        manifest_type, config_type, layer_type = _DOCKER_TYPES if docker else _OCI_TYPES
        has_layer = blob is not None and bool(blob.digest)
        layer = Descriptor(layer_type, blob.digest, blob.size) if has_layer and blob else None
        created = rfc3339_nano(spec.created_nanos or time.time_ns())
        config = _child_config(parent_config, spec, blob.diff_id if layer and blob else None, created)
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        with store.db.lock:  # from here on garbage collection cannot take what is being built
            if layer is not None and not store.content.has(layer.digest):
                raise Unavailable(f"layer {layer.digest} was collected during the commit; retry")
            config_digest = put_blob(store, config_bytes, new_blobs)
            config_desc = Descriptor(config_type, config_digest, len(config_bytes))
            layers = (list(parent.layers) if parent else []) + ([layer] if layer else [])
            manifest = {
                "schemaVersion": 2,
                "mediaType": manifest_type,
                "config": descriptor_json(config_desc),
                "layers": [descriptor_json(x) for x in layers],
            }
            manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
            manifest_desc = Descriptor(manifest_type, put_blob(store, manifest_bytes, new_blobs), len(manifest_bytes))
            diff_ids = list(config["rootfs"]["diff_ids"])
            chains = chain_ids(diff_ids)
            diff_sizes = _parent_sizes(store, parent) if parent else []
            if layer is not None and blob is not None:
                parent_chain = (parent.chain_id if parent else "") or None
                if staged is None:  # write_layer's contract: a layer with a stage has its staged tree
                    raise RuntimeError("commit: the layer's snapshot was not staged")
                # False: the same change committed before: shared, not ours to undo
                ours = store.snapshots.publish_staged(staged, chains[-1], parent_chain, blob.diff_id)
                new_chain = chains[-1] if ours else None
                diff_sizes.append(blob.file_bytes)
            record = ImageRecord(
                id=config_digest, target=manifest_desc, manifest=manifest_desc, config=config_desc,
                layers=layers, diff_ids=diff_ids, chain_id=chains[-1] if chains else "",
                created=created, size=sum(store.snapshots.usage(c) for c in chains),
                platform=parent.platform if parent else _platform(config), pulled_at=time.time(),
                diff_sizes=diff_sizes, committed=not spec.cache_key, parent=parent.id if parent else "",
                cache_key=spec.cache_key,
            )
            old = store.db.images.get(record.id)
            if old is not None:
                # the same image made again (a build with fixed times): what kept it still does
                record.repo_digests = old.repo_digests
                record.committed = record.committed or old.committed
                record.cache_key = spec.cache_key or old.cache_key
            store.db.images[record.id] = record
            if spec.cache_key:
                store.db.build_cache[spec.cache_key] = record.id
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
    log.info("image.committed", id=record.id, key=spec.key, reference=str(ref or ""),
             layer=layer.digest if layer else "", seconds=round(time.monotonic() - began, 3))
    return view, layer


def _platform(config: dict) -> Platform:
    return Platform(str(config.get("os") or "linux"), str(config.get("architecture") or ""),
                    str(config.get("variant") or ""))


def _parent_sizes(store: ImageStore, parent: ImageRecord) -> list[int]:
    if len(parent.diff_sizes) == len(parent.diff_ids):
        return list(parent.diff_sizes)
    return [store.snapshots.diff_size(c) for c in chain_ids(parent.diff_ids)]


def undo_created(store: ImageStore, blobs: list[str], chain: str | None) -> None:
    """Drop what a failed commit made, unless an image took it meanwhile."""
    with store.db.lock:
        used: set[str] = set()
        for r in store.db.images.values():
            used.update([r.manifest.digest, r.config.digest, *(x.digest for x in r.layers)])
        for digest in blobs:
            if digest not in used:
                try:
                    store.content.delete(digest)
                except NotFound:
                    pass
        if chain is not None and store.snapshots.exists(chain):
            try:
                store.snapshots.remove_committed(chain)
            except Exception:  # logged, not raised over the commit's own error: gc takes it later
                log.exception("commit.undo_failed", chain=chain)


def descriptor_json(d: Descriptor) -> dict:
    """A descriptor as a manifest writes it."""
    return {"mediaType": d.media_type, "digest": d.digest, "size": d.size}
