"""Thin gRPC servicer of the image-store: proto in, one domain call, proto out."""

from __future__ import annotations

import itertools
import json

from barque.images.v1 import images_pb2, images_pb2_grpc
from barque.types.v1 import types_pb2
from client.errors import InvalidArgument
from client.protoconv import descriptor_to_pb, platform_from_pb, platform_to_pb
from services.images.commit import CommitSpec
from services.images.core import ImageStore, ImageView, PullEvent
from services.images.diskusage import disk_usage
from services.images.events import select
from services.images.importer import ImportSpec, import_image
from services.images.info import store_info
from services.images.inspect import image_json
from services.images.leases import hold_images
from services.images.load import load_archive
from services.images.prune import prune_images
from services.images.push import PushEvent
from services.images.save import FORMAT_DOCKER, FORMAT_OCI, save_archive

__all__ = ["ImagesServicer", "image_to_pb"]

_CHANGE_KIND = {"C": images_pb2.CHANGE_KIND_MODIFIED, "A": images_pb2.CHANGE_KIND_ADDED,
                "D": images_pb2.CHANGE_KIND_DELETED}

_STATUS = {
    "resolving": images_pb2.PULL_STATUS_RESOLVING,
    "resolved": images_pb2.PULL_STATUS_RESOLVED,
    "waiting": images_pb2.PULL_STATUS_WAITING,
    "downloading": images_pb2.PULL_STATUS_DOWNLOADING,
    "verifying": images_pb2.PULL_STATUS_VERIFYING,
    "extracting": images_pb2.PULL_STATUS_EXTRACTING,
    "already_exists": images_pb2.PULL_STATUS_ALREADY_EXISTS,
    "done": images_pb2.PULL_STATUS_DONE,
    "image": images_pb2.PULL_STATUS_DONE,
}

_PUSH_STATUS = {
    "info": images_pb2.PUSH_STATUS_INFO,
    "preparing": images_pb2.PUSH_STATUS_PREPARING,
    "waiting": images_pb2.PUSH_STATUS_WAITING,
    "pushing": images_pb2.PUSH_STATUS_PUSHING,
    "pushed": images_pb2.PUSH_STATUS_PUSHED,
    "exists": images_pb2.PUSH_STATUS_EXISTS,
    "mounted": images_pb2.PUSH_STATUS_MOUNTED,
    "tag_done": images_pb2.PUSH_STATUS_TAG_DONE,
}


def _push_to_pb(ev: PushEvent) -> images_pb2.PushResponse:
    return images_pb2.PushResponse(id=ev.id, status=_PUSH_STATUS[ev.status], current=ev.current, total=ev.total,
                                   message=ev.message, tag=ev.tag, digest=ev.digest, size=ev.size)


def image_to_pb(view: ImageView) -> images_pb2.Image:
    r = view.record
    return images_pb2.Image(
        id=r.id,
        repo_tags=view.names,
        repo_digests=r.repo_digests,
        target=descriptor_to_pb(r.target),
        manifest=descriptor_to_pb(r.manifest),
        config=descriptor_to_pb(r.config),
        layers=[descriptor_to_pb(x) for x in r.layers],
        diff_ids=r.diff_ids,
        created=r.created,
        size=r.size,
        config_json=view.config_json,
        platform=platform_to_pb(r.platform),
        chain_id=r.chain_id,
        tag_digests=view.name_digests,
        diff_sizes=r.diff_sizes,
        parent=view.parent,
        cache_key=view.cache_key,
    )


def _event_to_pb(ev: PullEvent) -> images_pb2.PullResponse:
    return images_pb2.PullResponse(
        id=ev.id, status=_STATUS[ev.status], current=ev.current, total=ev.total, message=ev.message,
        image=image_to_pb(ev.image) if ev.image else None, up_to_date=ev.up_to_date,
    )


class ImagesServicer(images_pb2_grpc.ImagesServicer):
    def __init__(self, store: ImageStore) -> None:
        self._store = store

    def Pull(self, request, context):
        platform = platform_from_pb(request.platform) if request.HasField("platform") else None
        for event in self._store.pull(request.reference, platform):
            yield _event_to_pb(event)

    def Push(self, request, context):
        for event in self._store.push(request.reference, request.all_tags):
            yield _push_to_pb(event)

    def List(self, request, context):
        return images_pb2.ListResponse(images=[image_to_pb(v) for v in self._store.images()])

    def Inspect(self, request, context):
        view = self._store.inspect(request.reference)
        return images_pb2.InspectResponse(image=image_to_pb(view), image_json=json.dumps(image_json(view)))

    def Tag(self, request, context):
        return images_pb2.TagResponse(image=image_to_pb(self._store.tag(request.source, request.target)))

    def Remove(self, request, context):
        untagged, deleted = self._store.remove(request.reference, request.force)
        return images_pb2.RemoveResponse(untagged=untagged, deleted=deleted)

    def PrepareSnapshot(self, request, context):
        mounts, image_id = self._store.prepare_snapshot(request.key, request.image)
        return images_pb2.PrepareSnapshotResponse(
            mounts=[types_pb2.Mount(type="overlay", source="overlay", options=mounts.overlay_options())],
            lowerdirs=mounts.lowerdirs, upperdir=mounts.upperdir, workdir=mounts.workdir, image_id=image_id,
        )

    def RemoveSnapshot(self, request, context):
        self._store.remove_snapshot(request.key)
        return images_pb2.RemoveSnapshotResponse()

    def Info(self, request, context):
        info = store_info(self._store)
        return images_pb2.InfoResponse(
            build=types_pb2.BuildInfo(**vars(info.build)), images=info.images, driver=info.driver,
            driver_status=[images_pb2.DriverStatus(key=k, value=v) for k, v in info.driver_status])

    def Events(self, request, context):
        for e in select(self._store.events, request.since_nanos, request.until_nanos, list(request.filters),
                        context.is_active):
            yield images_pb2.EventsResponse(type=e.type, action=e.action, id=e.id, attributes=e.attributes,
                                            time_nanos=e.time_ns)

    def Changes(self, request, context):
        return images_pb2.ChangesResponse(changes=[
            images_pb2.Change(path=c.path, kind=_CHANGE_KIND[c.kind.value]) for c in self._store.changes(request.key)])

    def Commit(self, request, context):
        view, layer = self._store.commit(CommitSpec(
            key=request.key, parent=request.parent, config_json=request.config_json, reference=request.reference,
            author=request.author, comment=request.comment, created_by=request.created_by,
            container_id=request.container_id, empty_layer=request.empty_layer, created_nanos=request.created_nanos,
            clamp_mtime=request.clamp_mtime if request.HasField("clamp_mtime") else None,
            cache_key=request.cache_key))
        return images_pb2.CommitResponse(image=image_to_pb(view), layer=descriptor_to_pb(layer) if layer else None)

    def LookupBuildCache(self, request, context):
        view = self._store.lookup_build_cache(request.key)
        if view is None:
            return images_pb2.LookupBuildCacheResponse(found=False)
        return images_pb2.LookupBuildCacheResponse(found=True, image=image_to_pb(view))

    def PruneBuildCache(self, request, context):
        result = self._store.prune_build_cache(list(request.filters))
        return images_pb2.PruneBuildCacheResponse(entries=result.entries, deleted=result.deleted,
                                                  reclaimed_bytes=result.reclaimed_bytes)

    def Import(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "header":
            raise InvalidArgument("the first Import message must carry the header")
        h = first.header
        view = import_image(self._store, ImportSpec(
            reference=h.reference, config_json=h.config_json, message=h.message,
            platform=platform_from_pb(h.platform) if h.HasField("platform") else None, source=h.source or "-"),
            (m.data for m in request_iterator))
        return images_pb2.ImportResponse(image=image_to_pb(view))

    def Save(self, request, context):
        fmt = FORMAT_OCI if request.format == images_pb2.SAVE_FORMAT_OCI else FORMAT_DOCKER
        for chunk in save_archive(self._store, list(request.references), fmt):
            yield images_pb2.SaveResponse(data=chunk)

    def Load(self, request_iterator, context):
        for event in load_archive(self._store, (m.data for m in request_iterator)):
            yield images_pb2.LoadResponse(message=event.message,
                                          image=image_to_pb(event.image) if event.image else None)

    def DiskUsage(self, request, context):
        du = disk_usage(self._store)
        images = [images_pb2.ImageUsage(image=image_to_pb(u.view), shared_size=u.shared_size,
                                        unique_size=u.unique_size, containers=u.containers) for u in du.images]
        for pb, u in zip(images, du.images):
            pb.image.size = u.size  # measured now, as shared and unique are
        return images_pb2.DiskUsageResponse(
            images=images,
            layers_size=du.layers_size, content_size=du.content_size,
            build_cache=[images_pb2.BuildCacheUsage(
                id=c.id, cache_type="regular", size=c.size, created=c.created, last_used=c.last_used, usage_count=1,
                in_use=c.in_use, shared=c.shared, description=c.description) for c in du.build_cache])

    def PruneImages(self, request, context):
        report = prune_images(self._store, request.all, list(request.filters))
        return images_pb2.PruneImagesResponse(
            deleted=[images_pb2.ImageDeleteEntry(**{kind: value}) for kind, value in report.deleted],
            space_reclaimed=report.reclaimed)

    def HoldLease(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None:
            return
        with self._store.leases.hold(first.what or "client") as lease:
            for request in itertools.chain([first], request_iterator):
                yield images_pb2.HoldLeaseResponse(held=hold_images(self._store, lease, list(request.images)))
