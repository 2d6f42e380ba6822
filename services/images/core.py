"""The image-store's domain core: pull, list, inspect, tag, remove, and the
snapshot calls the runtime needs.

Content lives in a :class:`ContentStore` by digest, layers in a
:class:`Snapshotter` by chain id, records in a :class:`MetadataDB`. Registry
access goes through a :class:`RegistrySource` (the registry-proxy, over gRPC
in the service), so this module has no grpc import and no HTTP.
"""

from __future__ import annotations

import contextvars
import queue
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol, cast

from client.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from client.imagespec import Descriptor, Platform
from client.reference import parse_reference
from services.common.content import ContentStore, SizeMismatch
from services.common.locks import KeyedLocks
from services.common.log import get_logger
from services.images import buildcache
from services.images.changes import Change, changes
from services.images.commit import CommitSpec, commit_snapshot
from services.images.compression import open_decompressed
from services.images.events import new_log
from services.images.gc import collect_garbage
from services.images.initlayer import make_init_layer
from services.images.budget import DEFAULT_BUDGET, ImageBudget, Meter
from services.images.budget import use as use_meter
from services.images.leases import Leases, current, leased, protect
from services.images.manifests import parse_config, parse_manifest
from services.images.metadata import ImageRecord, MetadataDB
from services.images.push import PushEvent, RegistryTarget, push_image
from services.images.snapshots import Mounts, Snapshotter, chain_ids
from services.images.spool import Spool, SpoolReader
from services.images.undo import Undo

__all__ = [
    "ImageStore",
    "RegistrySource",
    "Resolution",
    "PullEvent",
    "ImageView",
    "ImageNotFound",
    "ImageInUse",
]

log = get_logger()

#: largest image config accepted, as a config is read whole (containers/image: 4 MiB);
#: also the read limit for the configs and manifests already kept
MAX_CONFIG_SIZE = 8 << 20
DOWNLOAD_WORKERS = 3


class ImageNotFound(NotFound):
    """No kept image matches the reference."""


class ImageInUse(FailedPrecondition):
    """A container's snapshot holds the image."""


@dataclass(frozen=True)
class Resolution:
    name: str              # normalised reference, "docker.io/library/busybox:latest"
    repository: str        # "docker.io/library/busybox"
    target: Descriptor     # manifest or index the reference points at
    manifest: Descriptor   # platform manifest


class RegistrySource(Protocol):
    """Where pulls come from: the registry-proxy."""

    def resolve(self, reference: str, platform: Platform | None) -> Resolution: ...

    def get_manifest(self, repository: str, digest: str) -> bytes: ...

    def fetch_blob(self, repository: str, digest: str, offset: int = 0,
                   size: int | None = None) -> Iterator[bytes]:
        """Chunks of a blob from ``offset``; ``size`` (the descriptor's) bounds the download."""
        ...


@dataclass(frozen=True)
class ImageView:
    """An image record plus the names pointing at it and its raw config;
    ``parent`` is the record's parent while that image is kept (else ""),
    ``cache_key`` its build cache key while the cache holds it (else "")."""

    record: ImageRecord
    names: list[str]
    config_json: bytes
    name_digests: dict[str, str]
    parent: str = ""
    cache_key: str = ""


@dataclass(frozen=True)
class PullEvent:
    id: str
    status: str            # resolving|resolved|waiting|downloading|verifying|extracting|already_exists|done|image
    current: int = 0
    total: int = 0
    message: str = ""
    image: ImageView | None = None
    up_to_date: bool = False


_HEX_RE = re.compile(r"(sha256:)?[a-f0-9]{4,64}")


class ImageStore:
    def __init__(self, root: Path, source: RegistrySource, budget: ImageBudget = DEFAULT_BUDGET) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.budget = budget  # bomb caps per layer and per image (pull, load, import)
        self.content = ContentStore(root / "content")
        self.snapshots = Snapshotter(root / "snapshots")
        self.db = MetadataDB(root / "metadata.json")
        self.source = source
        self.events = new_log()  # pull, tag, untag, delete; commit (type container)
        self.leases = Leases()  # operations in progress: what they hold is never collected
        self.leases.on_idle = self.collect_garbage  # what they held back goes when the last one ends
        self._blob_locks = KeyedLocks()
        self._pool = ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS * 2, thread_name_prefix="pull")
        self.content.clean_ingest()
        self.snapshots.clean_tmp()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- pull ---------------------------------------------------------------

    @leased("pull")
    def pull(self, reference: str, platform: Platform | None = None) -> Iterator[PullEvent]:
        """Pull ``reference``, yielding progress; the last event carries the image.
        A failed pull drops every blob and snapshot it made (:mod:`services.images.undo`)."""
        undo = Undo(self, f"pull {reference}", lease=current())
        try:
            yield from self._pull(reference, platform, undo)
        except Exception:
            undo.run()
            raise

    def _pull(self, reference: str, platform: Platform | None, undo: Undo) -> Iterator[PullEvent]:
        ref = parse_reference(reference)
        yield PullEvent("", "resolving", message=str(ref))
        res = self.source.resolve(reference, platform)
        yield PullEvent("", "resolved", message=f"Digest: {res.target.digest}")
        protect(res.target.digest, res.manifest.digest)
        undo.note_blobs(res.target.digest, res.manifest.digest)
        manifest_bytes = self._fetch_small(res.repository, res.manifest, manifest=True)
        if res.target.digest != res.manifest.digest:
            self._fetch_small(res.repository, res.target, manifest=True)
        config_desc, layers = parse_manifest(manifest_bytes, res.manifest.digest)
        protect(config_desc.digest, *(layer.digest for layer in layers))
        undo.note_blobs(config_desc.digest, *(layer.digest for layer in layers))
        config_bytes = self._fetch_small(res.repository, config_desc, manifest=False)
        config = parse_config(config_bytes, config_desc.digest)
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) != len(layers):
            raise InvalidArgument(
                f"image {res.name}: config lists {len(diff_ids)} diff ids for {len(layers)} layers"
            )
        chains = chain_ids(diff_ids)
        protect(*chains)
        undo.note_chains(*chains)
        meter = Meter(self.budget, f"image {res.name}")
        previous_id = self.db.names.get(res.name)
        events: queue.Queue[PullEvent | BaseException | None] = queue.Queue()
        worker = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._pull_layers, res.repository, layers, diff_ids, chains, events, meter),
            name="pull-apply",
            daemon=True,
        )
        worker.start()
        downloaded = False
        while True:
            item = events.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                worker.join()
                raise item
            if item.status == "downloading":
                downloaded = True
            yield item
        worker.join()
        size = sum(self.snapshots.usage(c) for c in chains)
        record = ImageRecord(
            id=config_desc.digest,
            target=res.target,
            manifest=res.manifest,
            config=config_desc,
            layers=layers,
            diff_ids=list(diff_ids),
            chain_id=chains[-1] if chains else "",
            created=str(config.get("created") or ""),
            size=size,
            platform=Platform(
                str(config.get("os") or "linux"), str(config.get("architecture") or ""),
                str(config.get("variant") or ""),
            ),
            pulled_at=time.time(),
            extra_blobs=[res.target.digest] if res.target.digest != res.manifest.digest else [],
            diff_sizes=[self.snapshots.diff_size(c) for c in chains],
        )
        repo_digest = f"{res.repository}@{res.target.digest}"
        with self.db.lock:
            old = self.db.images.get(record.id)
            if old:
                record.repo_digests = old.repo_digests
                record.extra_blobs = sorted(set(old.extra_blobs) | set(record.extra_blobs))
            if repo_digest not in record.repo_digests:
                record.repo_digests.append(repo_digest)
            self.db.images[record.id] = record
            if ref.tag is not None or ref.digest is None:
                self.db.names[res.name] = record.id
                self.db.name_digests[res.name] = res.target.digest
            self.db.save()
            previous_holder = previous_id and previous_id != record.id
        if previous_holder:
            self._collect_garbage()
        pulled = parse_reference(res.name)
        self.events.emit("pull", pulled.familiar(), event_type="image", name=pulled.familiar_name)
        log.info("image.pulled", image=res.name, id=record.id, layers=len(layers), downloaded=downloaded)
        yield PullEvent(
            "", "image", message=res.name, image=self._view(record),
            up_to_date=(previous_id == record.id and not downloaded),
        )

    def _fetch_small(self, repository: str, desc: Descriptor, *, manifest: bool) -> bytes:
        if not self.content.has(desc.digest):
            if manifest:
                data = self.source.get_manifest(repository, desc.digest)
                with self.content.writer(desc.digest, desc.size) as w:
                    w.write(data)
            else:
                self._fetch_config(repository, desc)
        return self.content.read_bytes(desc.digest, max_size=MAX_CONFIG_SIZE)

    def _fetch_config(self, repository: str, desc: Descriptor) -> None:
        """Stream an image config into the content store, bounded by its descriptor.

        Nothing is buffered but the chunk in hand: the first chunk that would
        run past ``desc.size`` fails the pull before it is written, as does a
        body that ends short of it; either way the ingest file is removed. The
        size also goes to the source, so that the proxy stops reading there.
        """
        what = f"image config {desc.digest}"
        if desc.size > MAX_CONFIG_SIZE:
            raise InvalidArgument(f"{what} is {desc.size} bytes, over the {MAX_CONFIG_SIZE}-byte limit")
        writer = self.content.begin(desc.digest, desc.size)
        try:
            with _closing(self.source.fetch_blob(repository, desc.digest, 0, size=desc.size)) as chunks:
                for chunk in chunks:
                    if writer.written + len(chunk) > desc.size:
                        raise SizeMismatch(f"{what}: the registry sent more than the {desc.size} bytes "
                                           f"of its descriptor")
                    writer.write(chunk)
            if writer.written != desc.size:
                raise SizeMismatch(f"{what}: the registry sent {writer.written} of the {desc.size} bytes "
                                   f"of its descriptor")
        except BaseException:
            writer.abort()
            raise
        writer.commit(what="image config")

    def _pull_layers(self, repository, layers, diff_ids, chains, events, meter: Meter) -> None:
        """Download layers concurrently and unpack them in order, each while it
        downloads (see :mod:`services.images.spool`), under the image's budget;
        report through ``events``. On an error the downloads stop before it is
        reported, so nothing is written after the pull's undo."""
        downloads: list[Future | None] = []
        spools: list[Spool | None] = []
        stop = threading.Event()
        use_meter(meter)
        try:
            for layer, chain in zip(layers, chains):
                if self.snapshots.exists(chain):
                    events.put(PullEvent(layer.digest, "already_exists"))
                    downloads.append(None)
                    spools.append(None)
                    continue
                events.put(PullEvent(layer.digest, "waiting"))
                new_spool = Spool()
                spools.append(new_spool)
                downloads.append(
                    self._pool.submit(
                        contextvars.copy_context().run, self._download, repository, layer, events, new_spool, stop
                    )
                )
            parent: str | None = None
            for layer, diff_id, chain, fut, spool in zip(layers, diff_ids, chains, downloads, spools):
                if fut is not None and spool is not None:
                    if not self.snapshots.exists(chain):
                        # unpacking overlaps the download; "extracting" is reported
                        # once the download is verified, as docker's phases read
                        with SpoolReader(spool) as raw:
                            with open_decompressed(cast(BinaryIO, raw), layer.media_type) as tar_stream:
                                self.snapshots.unpack(chain, parent, diff_id, tar_stream)
                    fut.result()
                    events.put(PullEvent(layer.digest, "done"))
                parent = chain
            events.put(None)
        except BaseException as exc:  # handed to the consuming RPC thread
            stop.set()
            for fut in downloads:
                if fut is not None:
                    fut.cancel()
            wait([f for f in downloads if f is not None])
            events.put(exc)

    def _download(self, repository: str, layer: Descriptor, events, spool: Spool,
                  stop: threading.Event) -> None:
        try:
            with self._blob_locks.hold(layer.digest):
                if self.content.has(layer.digest):
                    spool.finish(self.content.path(layer.digest))
                    events.put(PullEvent(layer.digest, "verifying", layer.size, layer.size))
                    events.put(PullEvent(layer.digest, "extracting", layer.size, layer.size))
                    return
                done = 0
                last_report = 0.0
                with self.content.writer(layer.digest, layer.size) as w:
                    assert w.path is not None
                    spool.begin(w.path)
                    with _closing(self.source.fetch_blob(repository, layer.digest, 0,
                                                         size=layer.size)) as chunks:
                        for chunk in chunks:
                            if stop.is_set():
                                raise FailedPrecondition(f"layer {layer.digest}: the pull failed")
                            w.write(chunk)  # refuses bytes past layer.size
                            done += len(chunk)
                            spool.advance(len(chunk))
                            now = time.monotonic()
                            if now - last_report > 0.1 or done == layer.size:
                                events.put(PullEvent(layer.digest, "downloading", done, layer.size))
                                last_report = now
                    events.put(PullEvent(layer.digest, "verifying", done, layer.size))
                spool.finish(self.content.path(layer.digest))
                events.put(PullEvent(layer.digest, "extracting", layer.size, layer.size))
        except BaseException as exc:
            spool.fail(exc)
            raise

    # ---- push ---------------------------------------------------------------

    @leased("push")
    def push(self, reference: str, all_tags: bool = False) -> Iterator[PushEvent]:
        """``docker push`` (:mod:`services.images.push`) through the source, which must also
        be a :class:`RegistryTarget` (the registry-proxy is both)."""
        yield from push_image(self, cast(RegistryTarget, self.source), reference, all_tags)
        ref = parse_reference(reference)
        shown = ref.familiar() if not all_tags else ref.familiar_name
        self.events.emit("push", shown, event_type="image", name=shown)

    # ---- queries ------------------------------------------------------------

    def _view(self, record: ImageRecord) -> ImageView:
        try:
            config_json = self.content.read_bytes(record.config.digest, max_size=MAX_CONFIG_SIZE)
        except NotFound:
            config_json = b"{}"
        names = self.db.names_of(record.id)
        digests = {n: self.db.name_digests[n] for n in names if n in self.db.name_digests}
        parent = record.parent if record.parent in self.db.images else ""
        cache_key = record.cache_key if self.db.build_cache.get(record.cache_key) == record.id else ""
        return ImageView(record, names, config_json, digests, parent, cache_key)

    def images(self) -> list[ImageView]:
        with self.db.lock:
            records = sorted(self.db.images.values(), key=lambda r: (r.created, r.pulled_at), reverse=True)
            return [self._view(r) for r in records]

    def find(self, reference: str) -> ImageRecord:
        """The image a user means by a name, an id, an id prefix or a repo digest."""
        with self.db.lock:
            text = reference.strip()
            if _HEX_RE.fullmatch(text):
                hexpart = text.removeprefix("sha256:")
                matches = [i for i in self.db.images if i.removeprefix("sha256:").startswith(hexpart)]
                if len(matches) == 1:
                    return self.db.images[matches[0]]
                if len(matches) > 1:
                    raise InvalidArgument(f"image id prefix {text!r} is ambiguous")
                if text.startswith("sha256:"):
                    raise ImageNotFound(f"no such image: {reference}")
            try:
                ref = parse_reference(text)
            except InvalidArgument:
                raise ImageNotFound(f"no such image: {reference}") from None
            if ref.digest:
                wanted = f"{ref.name}@{ref.digest}"
                for record in self.db.images.values():
                    if wanted in record.repo_digests or record.id == ref.digest:
                        return record
            else:
                image_id = self.db.names.get(str(ref))
                if image_id and image_id in self.db.images:
                    return self.db.images[image_id]
            raise ImageNotFound(f"no such image: {reference}")

    def inspect(self, reference: str) -> ImageView:
        return self._view(self.find(reference))

    def tag(self, source: str, target: str) -> ImageView:
        ref = parse_reference(target)
        if ref.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target!r}")
        with self.db.lock:
            record = self.find(source)
            self.db.names[str(ref)] = record.id
            self.db.save()
        self.events.emit("tag", record.id, event_type="image", name=ref.familiar())
        return self.inspect(record.id)

    # ---- removal and garbage collection --------------------------------------

    def remove(self, reference: str, force: bool = False) -> tuple[list[str], list[str]]:
        """Untag, and delete the image when no name is left; returns (untagged, deleted)."""
        with self.db.lock:
            record = self.find(reference)
            names = self.db.names_of(record.id)
            by_name = None
            try:
                ref = parse_reference(reference)
                if not ref.digest and str(ref) in names:
                    by_name = str(ref)
            except InvalidArgument:
                pass
            holders = sorted(k for k, i in self.db.holders.items() if i == record.id)
            if by_name and len(names) > 1:
                del self.db.names[by_name]
                self.db.save()
                self.events.emit("untag", record.id, event_type="image", name=record.id)
                return [by_name], []
            if holders and not force:
                raise ImageInUse(
                    f"conflict: unable to remove repository reference {reference!r} (must force) - "
                    f"container {holders[0][:12]} is using its referenced image {record.id[7:19]}"
                )
            if not by_name and len(names) > 1 and not force:
                raise FailedPrecondition(
                    f"conflict: unable to delete {record.id[7:19]} (must be forced) - "
                    f"image is referenced in multiple repositories"
                )
            for name in names:
                del self.db.names[name]
            untagged = names + [d for d in record.repo_digests]
            deleted = [record.id]
            del self.db.images[record.id]
            for key in [k for k, i in self.db.build_cache.items() if i == record.id]:
                del self.db.build_cache[key]  # removed by hand: the cache lets it go too
            self.db.save()
        deleted += self._collect_garbage()
        for _ in untagged:  # docker: an untag per reference, then the delete
            self.events.emit("untag", record.id, event_type="image", name=record.id)
        self.events.emit("delete", record.id, event_type="image", name=record.id)
        log.info("image.removed", id=record.id, untagged=untagged)
        return untagged, deleted

    def _collect_garbage(self) -> list[str]:
        return self.collect_garbage()[0]

    def collect_garbage(self) -> tuple[list[str], int]:
        """:func:`services.images.gc.collect_garbage` of this store: the
        snapshots deleted and the bytes freed."""
        return collect_garbage(self.db, self.content, self.snapshots, self.leases)

    # ---- snapshots for the runtime -------------------------------------------

    def prepare_snapshot(self, key: str, image: str) -> tuple[Mounts, str]:
        with self.db.lock:
            record = self.find(image)
            # a zero-layer image (a commit on scratch) gives a rootfs of its upper dir alone
            mounts = self.snapshots.prepare(key, record.chain_id, init=make_init_layer)
            self.db.holders[key] = record.id
            self.db.save()
        log.info("snapshot.prepared", key=key, image=record.id)
        return mounts, record.id

    def changes(self, key: str) -> list[Change]:
        """``docker diff``: the active snapshot's changes against the layers under it."""
        mounts = self.snapshots.mounts(key)
        return changes(mounts.upperdir, mounts.lowerdirs)

    @leased("commit")
    def commit(self, spec: CommitSpec) -> tuple[ImageView, Descriptor | None]:
        """``docker commit`` (see :mod:`services.images.commit`), with its events."""
        view, layer = commit_snapshot(self, spec)
        if spec.container_id or spec.key:  # a build's metadata step has no container
            self.events.emit("commit", spec.container_id or spec.key, comment=spec.comment,
                             imageID=view.record.id, imageRef=spec.reference)
        if spec.reference:
            self.events.emit("tag", view.record.id, event_type="image",
                             name=parse_reference(spec.reference).familiar())
        return view, layer

    def lookup_build_cache(self, key: str) -> ImageView | None:
        """The image a build step made under ``key`` (:mod:`services.images.buildcache`)."""
        return buildcache.lookup(self, key)

    def prune_build_cache(self, filters: list[str]) -> buildcache.PruneResult:
        """``docker builder prune`` (:mod:`services.images.buildcache`)."""
        return buildcache.prune(self, filters)

    def remove_snapshot(self, key: str) -> None:
        with self.db.lock:
            self.snapshots.remove(key)
            self.db.holders.pop(key, None)
            self.db.save()
        log.info("snapshot.removed", key=key)


@contextmanager
def _closing(chunks: Iterator[bytes]) -> Iterator[Iterator[bytes]]:
    """Close a source's chunk stream (cancelling its transfer) however the reader stops."""
    try:
        yield chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
