"""``docker push``: a kept image sent to its registry through the registry-proxy.

For each tag pushed: every layer is announced ("Preparing"), those past the
upload concurrency wait ("Waiting"); each is checked with a HEAD
(:meth:`RegistryTarget.blob_exists`) and, when missing, handed to the proxy
(:meth:`RegistryTarget.push_blob`) straight from the content store, as it was
pulled or committed: compressed once, never again. The proxy is asked first
for the copy in its own cache (``cached``: no bytes cross the socket), and
gets the bytes only when it has none. Repositories of the same registry that
the store knows hold the blob (the repo digests of the images it sits in) are
offered for a cross-repository mount. Then the config, the same way but
silently, as docker does, and the manifest, byte for byte as kept, under the
tag. The store records the repo digest, as a pull does.

What is pushed for an image pulled through an index: the index (its manifests
by digest, then the index under the tag) only when the store holds every
manifest it lists with their configs and layers; otherwise the platform
manifest the image was pulled as, which is what docker 20.10 pushes.

Progress ids are the layers' diff ids, as docker's push prints them.
"""

from __future__ import annotations

import contextvars
import json
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

from client.errors import BarqueError, FailedPrecondition, InvalidArgument, NotFound
from client.imagespec import INDEX_TYPES, Descriptor
from client.reference import parse_name, parse_reference, registry_host
from services.common.log import get_logger
from services.images.leases import protect_image
from services.images.manifests import parse_manifest
from services.images.metadata import ImageRecord

if TYPE_CHECKING:
    from services.images.core import ImageStore

__all__ = ["BlobUpload", "PushEvent", "RegistryTarget", "push_image", "UPLOAD_WORKERS", "READ_CHUNK"]

log = get_logger()

#: layers uploaded at once (docker's max-concurrent-uploads default)
UPLOAD_WORKERS = 5
#: bytes per message when the proxy needs the blob's bytes
READ_CHUNK = 1 << 20
_MAX_DOC = 8 << 20


@dataclass(frozen=True)
class BlobUpload:
    """One progress report of :meth:`RegistryTarget.push_blob`; the last has an outcome
    ("uploaded", "exists" or "mounted", with ``mounted_from``)."""

    uploaded: int
    total: int
    outcome: str = ""
    mounted_from: str = ""


class RegistryTarget(Protocol):
    """Where pushes go: the registry-proxy."""

    def blob_exists(self, repository: str, digest: str) -> bool: ...

    def push_blob(self, repository: str, desc: Descriptor, chunks: Iterator[bytes] | None,
                  mount_from: list[str]) -> Iterator[BlobUpload]:
        """Upload a blob; ``chunks`` None asks the proxy to use its cached copy
        (NotFound when it has none)."""
        ...

    def put_manifest(self, repository: str, tag: str, media_type: str, content: bytes) -> str: ...

    def tag_digest(self, repository: str, tag: str) -> str:
        """The manifest digest the registry's tag points at; "" for none."""
        ...


@dataclass(frozen=True)
class PushEvent:
    id: str        # short diff id of a layer, "" for the image
    status: str    # info|preparing|waiting|pushing|pushed|exists|mounted|tag_done
    current: int = 0
    total: int = 0
    message: str = ""
    tag: str = ""
    digest: str = ""
    size: int = 0


def _tags(store: ImageStore, reference: str, all_tags: bool) -> tuple[str, list[tuple[str, str]]]:
    """(repository, [(tag, image id)]) to push, sorted by tag."""
    ref = parse_reference(reference)
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference: {reference!r}")
    if all_tags and ":" in reference.rsplit("/", 1)[-1]:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    with store.db.lock:
        if all_tags:
            found = [(parse_reference(n).tag or "latest", i) for n, i in store.db.names.items()
                     if parse_reference(n).name == ref.name and i in store.db.images]
        else:
            image_id = store.db.names.get(str(ref))
            found = [(ref.tag or "latest", image_id)] if image_id in store.db.images and image_id else []
    return ref.name, sorted(found)


def _mount_sources(store: ImageStore, repository: str, digest: str) -> list[str]:
    """Other repositories of ``repository``'s registry the store knows hold ``digest``."""
    host = registry_host(repository)
    out: list[str] = []
    with store.db.lock:
        for record in store.db.images.values():
            if digest not in {x.digest for x in record.layers} | {record.config.digest}:
                continue
            for repo_digest in record.repo_digests:
                name = repo_digest.partition("@")[0]
                if name != repository and registry_host(name) == host and name not in out:
                    out.append(name)
    return out


def _short(name: str) -> str:
    """"library/busybox" for "docker.io/library/busybox": docker's "Mounted from" wording."""
    try:
        return parse_name(name).path
    except InvalidArgument:
        return name


class _Pusher:
    def __init__(self, store: ImageStore, target: RegistryTarget, repository: str,
                 events: queue.Queue, origins: list[str]) -> None:
        self.store = store
        self.target = target
        self.repository = repository
        self.events = events
        self.origins = origins  # the image's repo digests

    def chunks(self, digest: str) -> Iterator[bytes]:
        with open(self.store.content.path(digest), "rb") as f:
            while chunk := f.read(READ_CHUNK):
                yield chunk

    def blob(self, desc: Descriptor, report: Callable[[BlobUpload], None] | None) -> BlobUpload:
        """Send one blob unless the repository has it; returns the outcome."""
        if self.target.blob_exists(self.repository, desc.digest):
            return BlobUpload(desc.size, desc.size, "exists")
        mount_from = _mount_sources(self.store, self.repository, desc.digest)
        try:
            return self._upload(desc, None, mount_from, report)
        except NotFound:
            if not self.store.content.has(desc.digest):
                self._fetch(desc)
            return self._upload(desc, self.chunks(desc.digest), mount_from, report)

    def _fetch(self, desc: Descriptor) -> None:
        """Bring a blob the store never downloaded into the content store, from a
        repository the image was pulled from: a pull skips the download of a layer
        whose snapshot another image had made from a blob of another digest."""
        origins = [d.partition("@")[0] for d in self.origins]
        for repository in origins:
            try:
                with self.store.content.writer(desc.digest, desc.size) as w:
                    for chunk in self.store.source.fetch_blob(repository, desc.digest, 0, size=desc.size):
                        w.write(chunk)
                log.info("push.blob_fetched", digest=desc.digest, repository=repository, size=desc.size)
                return
            except NotFound:
                continue
        raise FailedPrecondition(f"blob {desc.digest} of the image is not kept and no repository it was "
                                 f"pulled from has it: pull the image again")

    def _upload(self, desc, chunks, mount_from, report) -> BlobUpload:
        last = BlobUpload(0, desc.size)
        for progress in self.target.push_blob(self.repository, desc, chunks, mount_from):
            last = progress
            if not progress.outcome and report is not None:
                report(progress)
        if not last.outcome:
            raise FailedPrecondition(f"push of blob {desc.digest}: the registry-proxy gave no outcome")
        return last

    def layer(self, lid: str, desc: Descriptor) -> None:
        def report(p: BlobUpload) -> None:
            self.events.put(PushEvent(lid, "pushing", p.uploaded, p.total or desc.size))

        done = self.blob(desc, report)
        if done.outcome == "mounted":
            self.events.put(PushEvent(lid, "mounted", message=f"Mounted from {_short(done.mounted_from)}"))
        elif done.outcome == "exists":
            self.events.put(PushEvent(lid, "exists"))
        else:
            self.events.put(PushEvent(lid, "pushed"))


def _index_children(store: ImageStore, record: ImageRecord) -> tuple[bytes, list[tuple[Descriptor, bytes]]] | None:
    """The index and its manifests, when the store holds every one with its
    config and layers; None otherwise (push the platform manifest)."""
    if record.target.media_type not in INDEX_TYPES or not store.content.has(record.target.digest):
        return None
    index = store.content.read_bytes(record.target.digest, max_size=_MAX_DOC)
    children = []
    for entry in json.loads(index).get("manifests") or []:
        desc = Descriptor.from_json(entry)
        if not store.content.has(desc.digest):
            return None
        data = store.content.read_bytes(desc.digest, max_size=_MAX_DOC)
        try:
            config, layers = parse_manifest(data, desc.digest)
        except InvalidArgument:
            return None
        if not all(store.content.has(x.digest) for x in [config, *layers]):
            return None
        children.append((desc, data))
    return index, children


def push_image(store: ImageStore, target: RegistryTarget, reference: str,
               all_tags: bool = False) -> Iterator[PushEvent]:
    """Push ``reference`` (or every tag of its repository), yielding docker's progress."""
    with store.db.lock:  # what it reads is kept from here on (the push's lease)
        repository, tags = _tags(store, reference, all_tags)
        for _, image_id in tags:
            protect_image(store.db.images[image_id])
    yield PushEvent("", "info", message=f"The push refers to repository [{repository}]")
    if not tags:
        raise NotFound(f"An image does not exist locally with the tag: {parse_reference(reference).familiar_name}")
    for tag, image_id in tags:
        yield from _push_tag(store, target, repository, tag, store.db.images[image_id])


def _push_tag(store: ImageStore, target: RegistryTarget, repository: str, tag: str,
              record: ImageRecord) -> Iterator[PushEvent]:
    events: queue.Queue[PushEvent | BaseException | None] = queue.Queue()
    pusher = _Pusher(store, target, repository, events, list(record.repo_digests))
    layers = list(zip(record.layers, record.diff_ids))[::-1]  # docker lists the top layer first
    ids = [d[7:19] for _, d in layers]
    for lid in ids:
        yield PushEvent(lid, "preparing")
    if record.target.digest == record.manifest.digest and _already_there(target, repository, tag, record):
        # the registry's tag points at this very manifest: its blobs are there
        # (a registry accepts a manifest only once it holds them) and so is it
        content = store.content.read_bytes(record.manifest.digest, max_size=_MAX_DOC)
        for lid in ids:
            yield PushEvent(lid, "exists")
        digest = record.manifest.digest
        _record_repo_digest(store, record.id, f"{repository}:{tag}", f"{repository}@{digest}", digest)
        log.info("image.pushed", repository=repository, tag=tag, id=record.id, digest=digest, index=False,
                 unchanged=True)
        yield PushEvent("", "tag_done", message=f"{tag}: digest: {digest} size: {len(content)}",
                        tag=tag, digest=digest, size=len(content))
        return
    for lid in ids[UPLOAD_WORKERS:]:
        yield PushEvent(lid, "waiting")
    # the config goes beside the layers, silently (docker prints no line for it)
    worker = threading.Thread(target=contextvars.copy_context().run,
                              args=(_upload_all, pusher, layers, ids, record.config), name="push", daemon=True)
    worker.start()
    while (item := events.get()) is not None:
        if isinstance(item, BaseException):
            worker.join()
            raise item
        yield item
    worker.join()
    children = _index_children(store, record)
    if children is not None:
        index, manifests = children
        for desc, data in manifests:
            if desc.digest != record.manifest.digest:
                config, blobs = parse_manifest(data, desc.digest)
                for blob in [*blobs, config]:
                    pusher.blob(blob, None)
            target.put_manifest(repository, "", desc.media_type, data)
        content, media_type = index, record.target.media_type
    else:
        content = store.content.read_bytes(record.manifest.digest, max_size=_MAX_DOC)
        media_type = record.manifest.media_type
    digest = target.put_manifest(repository, tag, media_type, content)
    _record_repo_digest(store, record.id, f"{repository}:{tag}", f"{repository}@{digest}", digest)
    log.info("image.pushed", repository=repository, tag=tag, id=record.id, digest=digest,
             index=children is not None)
    yield PushEvent("", "tag_done", message=f"{tag}: digest: {digest} size: {len(content)}",
                    tag=tag, digest=digest, size=len(content))


def _already_there(target: RegistryTarget, repository: str, tag: str, record: ImageRecord) -> bool:
    """One HEAD instead of one per blob and a PUT: the tag already names this manifest."""
    try:
        return target.tag_digest(repository, tag) == record.manifest.digest
    except BarqueError:  # the check is only a shortcut: the full push decides
        return False


def _upload_all(pusher: _Pusher, layers: list[tuple[Descriptor, str]], ids: list[str], config: Descriptor) -> None:
    try:
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS + 1, thread_name_prefix="push") as pool:
            # the config first, on the extra worker, so that UPLOAD_WORKERS layers go at once
            futures: list[Future[object]] = [
                pool.submit(contextvars.copy_context().run, pusher.blob, config, None)]
            futures += [pool.submit(contextvars.copy_context().run, pusher.layer, lid, desc)
                        for lid, (desc, _) in zip(ids, layers)]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        pusher.events.put(None)
    except BaseException as exc:  # handed to the consuming RPC thread
        pusher.events.put(exc)


def _record_repo_digest(store: ImageStore, image_id: str, name: str, repo_digest: str, digest: str) -> None:
    with store.db.lock:
        record = store.db.images.get(image_id)
        if record is None:
            return
        changed = repo_digest not in record.repo_digests
        if changed:
            record.repo_digests.append(repo_digest)
        if store.db.names.get(name) == image_id and store.db.name_digests.get(name) != digest:
            store.db.name_digests[name] = digest
            changed = True
        if changed:  # a push of what the registry already had under the tag writes nothing
            store.db.save()
