"""The steps of a build, done by the services, as Docker's legacy builder does them.

Each step of :mod:`client.dockerfile.dispatch` becomes an image:

* metadata (ENV, CMD, LABEL...): one ``Commit`` with ``empty_layer`` and no
  container at all;
* RUN: a container run by the runtime (``Run``, output streamed), then
  ``Commit`` of its snapshot, then ``Delete``;
* COPY/ADD/WORKDIR: a container created (never started), the files streamed
  in with ``CopyTo`` (``make_parents``), then ``Commit`` and ``Delete``.

Every step is first looked up in the build cache under a key made of the
parent image, the step's created_by (which names the copied content's
digest), its config and the copy options; a hit is reused (``Using cache``).
A failed step removes its container before the error is raised.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

from barque.images.v1 import images_pb2, images_pb2_grpc
from barque.runtime.v1 import runtime_pb2
from cli.buildfrom import parse_chown, retar
from cli.leases import LeaseHolder
from client.channels import RemoteStub, connect
from client.dockerfile.dispatch import BuildError, CopyPlan, Step
from client.errors import BarqueError, NotFound

__all__ = ["BuildServices", "StepRunner", "StepFailed", "StepResult"]

_EMPTY_TAR = b"\0" * 1024


class StepFailed(BuildError):
    """A RUN exited non-zero: docker's message, and its status as the build's."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class StepResult:
    image: images_pb2.Image
    cached: bool


class BuildServices:
    """The image-store and runtime calls a build makes."""

    def __init__(self, ctx) -> None:
        from cli.cp import FilesClient

        self.ctx = ctx
        self.images = RemoteStub(images_pb2_grpc.ImagesStub(connect(ctx.config, "images")), "images")
        self.runtime = ctx.runtime()
        self.files = FilesClient(ctx.config)
        # every image the build reuses or makes is held from prunes until the build ends (cli/leases.py)
        self.lease = LeaseHolder(self.images, "build")

    def lookup(self, key: str) -> Optional[images_pb2.Image]:
        resp = self.images.LookupBuildCache(images_pb2.LookupBuildCacheRequest(key=key))
        if not resp.found:
            return None
        held = self.lease.hold(resp.image.id)
        if self.lease.active and resp.image.id not in held:
            return None  # pruned between the lookup and the hold: a miss
        return resp.image

    def commit(self, request: images_pb2.CommitRequest) -> images_pb2.Image:
        image = self.images.Commit(request).image
        self.lease.hold(image.id)
        return image

    def inspect(self, reference: str) -> images_pb2.Image:
        self.lease.hold(reference)  # held before it is read, so no prune takes it in between
        image = self.images.Inspect(images_pb2.InspectRequest(reference=reference)).image
        self.lease.hold(image.id)
        return image


def image_config(image: Optional[images_pb2.Image]) -> dict:
    """The image config's "config" object."""
    if image is None or not image.config_json:
        return {}
    return dict(json.loads(image.config_json).get("config") or {})


def cache_key(parent: str, step: Step, created_by: str, extra: str = "") -> str:
    material = json.dumps([parent, created_by, step.config, step.author, extra], sort_keys=True)
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()


class StepRunner:
    """Runs steps for one build; ``write`` prints docker's progress lines."""

    def __init__(self, services: BuildServices, write: Callable[[str], None], *, no_cache: bool,
                 network: str, created_nanos: int, clamp_mtime: Optional[int], context=None,
                 stage_image: Optional[Callable[[str], str]] = None, tmpdir: Optional[str] = None) -> None:
        self.svc = services
        self.write = write
        self.no_cache = no_cache
        self.network = network
        self.created_nanos = created_nanos
        self.clamp_mtime = clamp_mtime
        self.context = context
        self.stage_image = stage_image  # COPY --from=<stage name or index> -> image id, waiting for the stage
        self.tmpdir = tmpdir
        self._lock = threading.Lock()
        self._scratch_id: Optional[str] = None
        self._reaper: Optional[ThreadPoolExecutor] = None
        self._pending: List[Future] = []

    # ---- the cache and the commit -------------------------------------------

    def _cached(self, key: str) -> Optional[images_pb2.Image]:
        if self.no_cache:
            return None
        image = self.svc.lookup(key)
        if image is not None:
            self.write(" ---> Using cache\n")
        return image

    def _commit(self, parent: str, step: Step, created_by: str, key: str, *, container: str = "",
                empty: bool = False) -> images_pb2.Image:
        request = images_pb2.CommitRequest(
            key=container, parent=parent, config_json=json.dumps(step.config).encode(),
            author=step.author, created_by=created_by, empty_layer=empty, cache_key=key,
            created_nanos=self.created_nanos)
        if self.clamp_mtime is not None:
            request.clamp_mtime = self.clamp_mtime
        return self.svc.commit(request)

    # ---- steps --------------------------------------------------------------

    def run_step(self, parent: str, step: Step) -> StepResult:
        for note in step.notes:
            self.write(note + "\n")
        if step.kind == "meta":
            key = cache_key(parent, step, step.created_by)
            hit = self._cached(key)
            if hit is not None:
                return StepResult(hit, True)
            return StepResult(self._commit(parent, step, step.created_by, key, empty=True), False)
        if step.kind == "run":
            key = cache_key(parent, step, step.created_by)
            hit = self._cached(key)
            if hit is not None:
                return StepResult(hit, True)
            return StepResult(self._run(parent, step, key), False)
        if step.kind == "workdir":
            key = cache_key(parent, step, step.created_by)
            hit = self._cached(key)
            if hit is not None:
                return StepResult(hit, True)
            return StepResult(self._in_container(parent, step, step.created_by, key,
                                                  self._workdir_maker(step.workdir)), False)
        if step.kind == "copy":
            assert step.copy is not None
            return self._copy(parent, step, step.copy)
        raise BuildError(f"unknown step kind {step.kind}")

    def _scratch(self) -> str:
        """A zero-layer image for containers of steps on ``FROM scratch``; the
        step's commit still names parent "" (scratch), so it is not in the history."""
        with self._lock:
            if self._scratch_id is None:
                self._scratch_id = self.svc.commit(images_pb2.CommitRequest(
                    parent="", empty_layer=True, cache_key="barque-build-scratch-base")).id
            return self._scratch_id

    def _container_config(self, parent: str, step: Step, cmd: List[str]) -> runtime_pb2.ContainerConfig:
        cfg = step.config
        return runtime_pb2.ContainerConfig(
            image=parent or self._scratch(), cmd=cmd, env=step.env or list(cfg.get("Env") or []),
            working_dir=cfg.get("WorkingDir") or "", user=cfg.get("User") or "",
            entrypoint=runtime_pb2.StrSlice(values=[]),
            healthcheck=runtime_pb2.HealthConfig(test=["NONE"]))

    def _run(self, parent: str, step: Step, key: str) -> images_pb2.Image:
        request = runtime_pb2.CreateRequest(
            config=self._container_config(parent, step, step.argv),
            host_config=runtime_pb2.HostConfig(network_mode=self.network))
        done = threading.Event()

        def requests() -> Iterator[runtime_pb2.RunRequest]:
            yield runtime_pb2.RunRequest(spec=runtime_pb2.RunSpec(create=request, attach=True))
            done.wait()

        cid = ""
        code: Optional[int] = None
        error = ""
        try:
            for resp in self.svc.runtime.run(requests()):
                which = resp.WhichOneof("msg")
                if which == "created":
                    cid = resp.created.id
                    self.write(f" ---> Running in {cid[:12]}\n")
                elif which == "output":
                    self.write(resp.output.data.decode("utf-8", "replace"))
                elif which == "exited":
                    code, error = resp.exited.exit_code, resp.exited.error
                    break
        finally:
            done.set()
        try:
            if code is None or error or code != 0:
                message = f"The command '{' '.join(step.argv)}' returned a non-zero code: {code}"
                if error:
                    message = f"failed to run '{' '.join(step.argv)}': {error}"
                raise StepFailed(message, code if code else 1)
            image = self._commit(parent, step, step.created_by, key, container=cid)
        finally:
            if cid:
                self._remove_later(cid)
                self.write(f"Removing intermediate container {cid[:12]}\n")
        return image

    def _delete(self, cid: str) -> None:
        try:
            self.svc.runtime.delete(cid, force=True)
        except NotFound:
            pass

    def _remove_later(self, cid: str) -> None:
        """A step's container is removed while the next step runs (the commit
        is done: nothing reads it any more); :meth:`drain` waits for them."""
        with self._lock:
            if self._reaper is None:
                self._reaper = ThreadPoolExecutor(2, thread_name_prefix="build-rm")
            self._pending.append(self._reaper.submit(self._delete, cid))

    def drain(self) -> None:
        """Wait until every step container is removed; the first failure is raised."""
        with self._lock:
            pending, self._pending = self._pending, []
            reaper, self._reaper = self._reaper, None
        errors = [exc for exc in (f.exception() for f in pending) if exc is not None]
        if reaper is not None:
            reaper.shutdown(wait=True)
        if errors:
            raise errors[0]

    def _in_container(self, parent: str, step: Step, created_by: str, key: str,
                      work: Callable[[str], None]) -> images_pb2.Image:
        request = runtime_pb2.CreateRequest(
            config=self._container_config(parent, step, ["/bin/sh", "-c", "#(nop) " + step.text]),
            host_config=runtime_pb2.HostConfig(network_mode="none"))
        cid = self.svc.runtime.create(request)
        try:
            work(cid)
            return self._commit(parent, step, created_by, key, container=cid)
        finally:
            self._remove_later(cid)

    def _copy_to(self, cid: str, path: str, chunks: Iterator[bytes], owner: Tuple[int, int]) -> None:
        def requests() -> Iterator[runtime_pb2.CopyToRequest]:
            yield runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(
                id=cid, path=path, copy_uid_gid=True, make_parents=True,
                parents_uid=owner[0], parents_gid=owner[1]))
            for chunk in chunks:
                if chunk:
                    yield runtime_pb2.CopyToRequest(data=chunk)

        self.svc.files._stub.CopyTo(requests())

    def _workdir_maker(self, path: str) -> Callable[[str], None]:
        return lambda cid: self._copy_to(cid, path, iter([_EMPTY_TAR]), (0, 0))

    # ---- COPY and ADD -------------------------------------------------------

    def _copy(self, parent: str, step: Step, plan: CopyPlan) -> StepResult:
        if plan.from_:
            return self._copy_from(parent, step, plan)
        sources = self._sources(plan)
        digest = self._digest(plan, sources)
        created_by = step.created_by.replace("{src}", digest)
        extra = json.dumps([plan.chmod, plan.link, plan.dest_path, plan.from_])
        key = cache_key(parent, step, created_by, extra)
        hit = self._cached(key)
        if hit is not None:
            return StepResult(hit, True)
        return StepResult(self._in_container(parent, step, created_by, key,
                                              lambda cid: self._do_copy(cid, plan, sources)), False)

    def _sources(self, plan: CopyPlan) -> list:
        """The step's sources (heredocs, downloads, context paths) as the context's Source."""
        from pathlib import Path

        from cli.buildfetch import fetch_url, is_url
        from cli.buildtar import Source

        if plan.from_:
            return []
        out = [Source.inline(doc.name, doc.content.encode()) for doc in plan.heredocs]
        urls = [s for s in plan.sources if plan.add and is_url(s)]
        local = [s for s in plan.sources if s not in urls]
        if plan.checksum and (local or len(urls) != 1):
            raise BuildError("checksum can't be specified for non-HTTP(S) sources")
        for url in urls:
            out.append(fetch_url(url, plan.checksum, Path(self.tmpdir or "/tmp")).source())
        if local:
            out.extend(self.context.sources(local, "ADD" if plan.add else "COPY"))
        if not out:
            raise BuildError(f"{'ADD' if plan.add else 'COPY'} failed: no source files were specified")
        return out

    def _digest(self, plan: CopyPlan, sources: list) -> str:
        return str(self.context.digest(sources))

    def _owner(self, cid: str, plan: CopyPlan) -> Optional[Tuple[int, int]]:
        if not plan.chown:
            return None

        def read(path: str) -> str:
            try:
                _, chunks = self.svc.files.copy_from(cid, path, True)
                data = b"".join(retar(chunks, contents=False, rename=None, owner=None, chmod=None))
            except NotFound:
                return ""
            import io
            import tarfile
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                for m in tf:
                    if m.isreg():
                        f = tf.extractfile(m)
                        return f.read().decode("utf-8", "replace") if f else ""
            return ""

        return parse_chown(plan.chown, read)

    def _is_dir(self, cid: str, path: str) -> bool:
        try:
            st = self.svc.files.stat_path(cid, path)
        except (NotFound, BarqueError):
            return False
        return _is_dir(st.mode)

    def _do_copy(self, cid: str, plan: CopyPlan, sources: list) -> None:
        """moby's performCopyForInfo per source: a directory's contents into
        the destination, ADD's local archives extracted there, a file into the
        destination directory (a trailing slash or an existing directory) or
        as the destination path itself."""
        from cli.buildcontext import archive_stream

        owner = self._owner(cid, plan)
        own = owner or (0, 0)
        chmod = int(plan.chmod, 8) if plan.chmod else None
        dest = plan.dest_path
        dest_dir = dest.rstrip("/") or "/"
        into_dir = dest.endswith("/") or self._is_dir(cid, dest_dir)
        for src in sources:
            if src.is_dir:
                self._copy_to(cid, dest_dir, self.context.tar_stream(
                    [src], rename=None, uid=own[0], gid=own[1], chmod=chmod), own)
                continue
            if plan.add and src.kind == "context":
                archive = archive_stream(self.context, src)
                if archive is not None:
                    self._copy_to(cid, dest_dir, archive, own)
                    continue
            if into_dir:
                target, leaf = dest_dir, None
            else:
                target, leaf = posixpath.split(dest)
            self._copy_to(cid, target or "/", self.context.tar_stream(
                [src], rename=leaf, uid=own[0], gid=own[1], chmod=chmod), own)

    def _copy_from(self, parent: str, step: Step, plan: CopyPlan) -> StepResult:
        """COPY --from: the sources read from a container of the stage's (or
        image's) image; the history hash names that image and the paths, which
        fixes the content as the image id is its config's digest."""
        source = plan.from_ or ""
        image = self.stage_image(source) if self.stage_image else source
        src_cid = self.svc.runtime.create(runtime_pb2.CreateRequest(
            config=runtime_pb2.ContainerConfig(image=image, cmd=["#(nop) copy source"],
                                               entrypoint=runtime_pb2.StrSlice(values=[])),
            host_config=runtime_pb2.HostConfig(network_mode="none")))
        try:
            kinds = []
            for path in plan.sources:
                try:
                    kinds.append("dir" if _is_dir(self.svc.files.stat_path(src_cid, path).mode) else "file")
                except NotFound:
                    raise BuildError(f"COPY failed: stat {path}: file does not exist") from None
            h = hashlib.sha256(json.dumps([image, plan.sources, kinds]).encode()).hexdigest()
            created_by = step.created_by.replace("{src}", f"{kinds[0] if len(kinds) == 1 else 'multi'}:{h}")
            key = cache_key(parent, step, created_by, json.dumps([plan.chmod, plan.link, plan.dest_path]))
            hit = self._cached(key)
            if hit is not None:
                return StepResult(hit, True)
            return StepResult(self._in_container(parent, step, created_by, key,
                                                  lambda cid: self._do_copy_from(cid, plan, src_cid)), False)
        finally:
            self._remove_later(src_cid)

    def _do_copy_from(self, cid: str, plan: CopyPlan, src_cid: str) -> None:
        owner = self._owner(cid, plan)
        chmod = int(plan.chmod, 8) if plan.chmod else None
        dest = plan.dest_path
        dest_dir = dest.rstrip("/") or "/"
        into_dir = dest.endswith("/") or self._is_dir(cid, dest_dir)
        for path in plan.sources:
            st, chunks = self.svc.files.copy_from(src_cid, path, True)
            # moby keeps the source's owners when no --chown is given
            if _is_dir(st.mode):
                target, stream = dest_dir, retar(chunks, contents=True, rename=None, owner=owner, chmod=chmod)
            elif into_dir:
                target, stream = dest_dir, retar(chunks, contents=False, rename=None, owner=owner, chmod=chmod)
            else:
                target_dir, leaf = posixpath.split(dest)
                target, stream = target_dir or "/", retar(chunks, contents=False, rename=leaf,
                                                           owner=owner, chmod=chmod)
            self._copy_to(cid, target, stream, owner or (0, 0))


def _is_dir(mode: int) -> bool:
    """A PathStat mode (Go's FileMode: ModeDir is bit 31) names a directory."""
    return bool((mode >> 31) & 1) or (mode & 0o170000) == 0o040000
