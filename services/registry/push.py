"""The registry-proxy's push side: blob checks, blob uploads, manifest PUTs.

A blob to push first enters the proxy's cache exactly as a pulled one does
(:meth:`BlobPusher.receive`: an ingest file, size and sha256 verified, renamed
into place; DigestMismatch and nothing kept otherwise). :meth:`BlobPusher.push`
then uploads it from the cache (Registry HTTP API v2, distribution-spec):

1. ``HEAD /v2/NAME/blobs/DIGEST``: 200 means EXISTS and nothing is uploaded;
2. ``POST /v2/NAME/blobs/uploads/?mount=DIGEST&from=REPO`` for each
   ``mount_from`` of the same registry: 201 means MOUNTED; a 202 is an upload
   the registry opened instead, used for step 3 (a further one is cancelled);
3. ``POST /v2/NAME/blobs/uploads/``, then one ``PUT ?digest=`` with the whole
   blob when it is small (or chunk_size asks for it), else ``PATCH`` chunks
   with ``Content-Range: START-END`` and a closing, bodiless ``PUT ?digest=``.

Resume: a 5xx or a dropped connection during step 3 is followed, after a
backoff, by ``GET`` of the upload URL, whose ``Range: 0-N`` says the registry
holds N+1 bytes; the upload goes on from there. An upload the registry no
longer knows (404) or an offset it refuses (416) starts over with a new POST.
At most ``len(backoff)`` resumptions, then Unavailable. A closing PUT that
failed may still have committed the blob: a HEAD settles it.

Every request asks scope ``repository:NAME:push,pull`` (a mount adds
``repository:FROM:pull``), so a Bearer realm issues a push token; Basic
credentials come from ``barque login``. 401 is Unauthenticated, 403
PermissionDenied (the transport's one mapping).

No grpc here: the servicer converts messages to these calls and back.
"""

from __future__ import annotations

import enum
import os
import re
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3

from client.errors import (
    BarqueError,
    DigestMismatch,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from client.imagespec import sha256_digest, validate_digest
from client.reference import Reference, parse_name
from services.common.log import get_logger
from services.registry.cache import BlobCache
from services.registry.manifest import ACCEPT, MAX_MANIFEST_SIZE
from services.registry.transport import Transport, discard, endpoints_for

__all__ = [
    "BlobPusher",
    "BlobUpload",
    "PushOutcome",
    "PushProgress",
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "UPLOAD_BACKOFF",
    "parse_upload_range",
]

log = get_logger("barque.registry.push")

#: PATCH chunk when the caller names none; a blob up to this size goes in one PUT
DEFAULT_CHUNK_SIZE = 8 << 20
#: a chunk is held in memory while it is sent: larger ones are refused
MAX_CHUNK_SIZE = 64 << 20
#: pauses before each resumption of an upload (their count bounds the attempts)
UPLOAD_BACKOFF: tuple[float, ...] = (0.2, 0.4, 0.8, 1.6, 3.2)

_RANGE = re.compile(r"(?:bytes=)?([0-9]+)-([0-9]+)")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_OCTETS = "application/octet-stream"


class PushOutcome(enum.Enum):
    UPLOADED = "uploaded"
    EXISTS = "exists"
    MOUNTED = "mounted"


@dataclass(frozen=True)
class BlobUpload:
    """What to push: PushBlob's header."""

    repository: str
    digest: str
    size: int
    mount_from: tuple[str, ...] = ()
    chunk_size: int = 0


@dataclass(frozen=True)
class PushProgress:
    """Bytes the registry holds so far; the last one carries the outcome."""

    uploaded: int
    total: int
    outcome: PushOutcome | None = None
    mounted_from: str = ""
    resumed: int = 0


class _Restart(Exception):
    """The registry lost the upload or refused its offset: start a new one."""


def parse_upload_range(value: str | None) -> int | None:
    """Bytes an upload holds from its ``Range: 0-N`` header (N+1), None if absent or odd.

    distribution answers ``0-0`` both for an empty upload and for one byte;
    it is read as empty, and a wrong guess costs one 416 and a new upload.
    """
    match = _RANGE.fullmatch((value or "").strip())
    if not match or int(match.group(1)) != 0:
        return None
    end = int(match.group(2))
    return 0 if end == 0 else end + 1


def _push_scope(ref: Reference) -> str:
    return f"repository:{ref.path}:push,pull"


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class BlobPusher:
    """Pushes blobs from the cache and manifests to registries. Thread-safe."""

    def __init__(self, cache: BlobCache, transport: Transport,
                 backoff: Sequence[float] = UPLOAD_BACKOFF) -> None:
        self.cache = cache
        self.transport = transport
        self.backoff = tuple(backoff)

    # -- checks ---------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str, for_push: bool = False) -> tuple[bool, int]:
        """(exists, size) from ``HEAD /v2/NAME/blobs/DIGEST`` on the upstream."""
        ref = parse_name(repository)
        validate_digest(digest)
        scope = _push_scope(ref) if for_push else f"repository:{ref.path}:pull"
        return self._head(ref, digest, scope)

    def _head(self, ref: Reference, digest: str, scope: str) -> tuple[bool, int]:
        resp = self.transport.upstream(ref.domain, "HEAD", f"/v2/{ref.path}/blobs/{digest}",
                                       scope=scope, ok=(200, 404), what=f"blob {digest} in {ref.name}")
        try:
            if resp.status == 404:
                return False, 0
            length = resp.headers.get("Content-Length", "")
            return True, int(length) if length.isascii() and length.isdigit() else 0
        finally:
            discard(resp)

    # -- receiving ------------------------------------------------------------

    def check(self, upload: BlobUpload) -> Reference:
        """Validate a header before any byte is read; the repository parsed."""
        ref = parse_name(upload.repository)
        validate_digest(upload.digest)
        if upload.size < 0:
            raise InvalidArgument(f"blob {upload.digest}: negative size {upload.size}")
        if not 0 <= upload.chunk_size <= MAX_CHUNK_SIZE:
            raise InvalidArgument(f"blob {upload.digest}: chunk size {upload.chunk_size} is outside "
                                  f"0..{MAX_CHUNK_SIZE}")
        for source in upload.mount_from:
            parse_name(source)
        return ref

    def receive(self, upload: BlobUpload, chunks: Iterable[bytes]) -> None:
        """Put the streamed blob in the cache, verified (DigestMismatch, nothing kept)."""
        self.check(upload)
        what = f"push to {upload.repository}: blob"  # the writer adds the digest
        ingest = self.cache.ingest(upload.digest, upload.size)
        try:
            for chunk in chunks:
                ingest.write(chunk)
        except BaseException:
            ingest.abort()
            raise
        ingest.commit(upload.size, what)
        log.info("registry.push_blob_received", repository=upload.repository, digest=upload.digest,
                 bytes=upload.size)

    def require_cached(self, upload: BlobUpload) -> None:
        """NotFound unless the cache holds the blob, DataLoss if of another size."""
        self.check(upload)
        size = self.cache.size(upload.digest)
        if size is None:
            raise NotFound(f"blob {upload.digest}: not in the registry-proxy's cache")
        if size != upload.size:
            raise DigestMismatch(f"blob {upload.digest}: the cache holds {size} bytes, "
                                 f"the push names {upload.size}")

    # -- pushing --------------------------------------------------------------

    def push(self, upload: BlobUpload) -> Iterator[PushProgress]:
        """Upload a cached blob (see the module docstring); progress, outcome last."""
        ref = self.check(upload)
        self.require_cached(upload)
        scope = _push_scope(ref)
        started = time.monotonic()
        exists, _ = self._head(ref, upload.digest, scope)
        if exists:
            yield self._done(upload, PushOutcome.EXISTS, started)
            return
        location = None
        for source in upload.mount_from:
            mounted, location = self._mount(ref, upload, source, location)
            if mounted:
                yield self._done(upload, PushOutcome.MOUNTED, started, mounted_from=source)
                return
        resumed = 0
        for progress in self._upload(ref, upload, scope, location):
            resumed = progress.resumed
            yield progress
        yield self._done(upload, PushOutcome.UPLOADED, started, resumed=resumed)

    def _done(self, upload: BlobUpload, outcome: PushOutcome, started: float, *,
              mounted_from: str = "", resumed: int = 0) -> PushProgress:
        log.info("registry.push_blob", repository=upload.repository, digest=upload.digest,
                 bytes=upload.size, outcome=outcome.value, resumed=resumed,
                 mounted_from=mounted_from or None, seconds=round(time.monotonic() - started, 3))
        return PushProgress(upload.size, upload.size, outcome, mounted_from, resumed)

    def _mount(self, ref: Reference, upload: BlobUpload, source: str,
               held: str | None) -> tuple[bool, str | None]:
        """Try one cross-repository mount: (mounted, the upload URL to use if not)."""
        src = parse_name(source)
        if src.domain != ref.domain or src.path == ref.path:
            log.info("registry.mount_skipped", repository=ref.name, source=source,
                     reason="other registry" if src.domain != ref.domain else "same repository")
            return False, held
        what = f"mount of blob {upload.digest} from {src.name} into {ref.name}"
        query = urlencode({"mount": upload.digest, "from": src.path})
        try:
            resp = self.transport.upstream(
                ref.domain, "POST", f"/v2/{ref.path}/blobs/uploads/?{query}",
                scope=f"{_push_scope(ref)} repository:{src.path}:pull",
                headers={"Content-Length": "0"}, ok=(201, 202), what=what)
        except (NotFound, InvalidArgument) as exc:
            log.info("registry.mount_failed", repository=ref.name, source=src.name, error=str(exc))
            return False, held
        try:
            if resp.status == 201:
                if held:
                    self._cancel(ref, held)
                return True, None
            opened = self._location(ref, resp, what)
        finally:
            discard(resp)
        log.info("registry.mount_declined", repository=ref.name, source=src.name, digest=upload.digest)
        if held:
            self._cancel(ref, opened)
            return False, held
        return False, opened

    def _cancel(self, ref: Reference, location: str) -> None:
        """Best effort: an upload left open expires on the registry anyway."""
        try:
            discard(self.transport.upstream(ref.domain, "DELETE", location, scope=_push_scope(ref),
                                            ok=(204, 404), what=f"cancel upload to {ref.name}",
                                            retry=False))
        except BarqueError as exc:
            log.info("registry.upload_cancel_failed", repository=ref.name, error=str(exc))

    def _location(self, ref: Reference, resp: urllib3.BaseHTTPResponse, what: str) -> str:
        """The upload URL a response names, absolute (a relative one is on the registry)."""
        location = resp.headers.get("Location")
        if not location:
            raise Unavailable(f"{what}: the registry answered {resp.status} without a Location")
        base = endpoints_for(ref.domain, self.transport.config)[-1].base_url
        return urljoin(base + "/", location)

    def _start(self, ref: Reference, scope: str, what: str) -> str:
        resp = self.transport.upstream(ref.domain, "POST", f"/v2/{ref.path}/blobs/uploads/",
                                       scope=scope, headers={"Content-Length": "0"}, ok=(202,),
                                       what=what)
        try:
            return self._location(ref, resp, what)
        finally:
            discard(resp)

    def _upload(self, ref: Reference, upload: BlobUpload, scope: str,
                location: str | None) -> Iterator[PushProgress]:
        what = f"upload of blob {upload.digest} to {ref.name}"
        size = upload.size
        chunk = upload.chunk_size or DEFAULT_CHUNK_SIZE
        monolithic = upload.chunk_size == 0 and size <= DEFAULT_CHUNK_SIZE
        offset, resumed, sync = 0, 0, False
        with open(self.cache.blob_path(upload.digest), "rb") as blob:
            while True:
                closing = False
                try:
                    if sync and location is not None:
                        location, offset = self._status(ref, location, scope, what)
                        yield PushProgress(offset, size, resumed=resumed)
                    sync = True
                    if location is None:
                        location, offset = self._start(ref, scope, what), 0
                    if monolithic and offset == 0:
                        closing = True
                        self._put(ref, location, upload.digest, scope, what,
                                  os.pread(blob.fileno(), size, 0))
                        return
                    while offset < size:
                        data = os.pread(blob.fileno(), min(chunk, size - offset), offset)
                        location, offset = self._patch(ref, location, scope, offset, data, what)
                        yield PushProgress(offset, size, resumed=resumed)
                    closing = True
                    self._close(ref, location, upload.digest, scope, what)
                    return
                except _Restart as exc:
                    if closing and self._committed(ref, upload.digest, scope):
                        return
                    log.info("registry.upload_restart", repository=ref.name, digest=upload.digest,
                             offset=offset, error=str(exc))
                    location, offset = None, 0
                    failure: BarqueError = Unavailable(f"{what}: {exc}")
                except Unavailable as exc:
                    if closing and self._committed(ref, upload.digest, scope):
                        return
                    failure = exc
                if resumed >= len(self.backoff):
                    raise Unavailable(f"{what}: gave up after {resumed} resumptions, "
                                      f"{offset} of {size} bytes accepted: {failure}") from failure
                log.info("registry.upload_resume", repository=ref.name, digest=upload.digest,
                         offset=offset, attempt=resumed + 1, error=str(failure))
                time.sleep(self.backoff[resumed])
                resumed += 1

    def _committed(self, ref: Reference, digest: str, scope: str) -> bool:
        """Whether a PUT ?digest= that failed on the wire committed the blob anyway."""
        try:
            return self._head(ref, digest, scope)[0]
        except BarqueError:
            return False

    def _status(self, ref: Reference, location: str, scope: str, what: str) -> tuple[str, int]:
        """Where an interrupted upload stands: (its URL, bytes the registry holds)."""
        resp = self.transport.upstream(ref.domain, "GET", location, scope=scope, ok=(204, 404),
                                       what=f"{what}: status", retry=False)
        try:
            if resp.status == 404:
                raise _Restart("the registry no longer knows the upload")
            held = parse_upload_range(resp.headers.get("Range"))
            if held is None:
                raise _Restart(f"upload status without a usable Range ({resp.headers.get('Range')!r})")
            return self._location(ref, resp, what), held
        finally:
            discard(resp)

    def _patch(self, ref: Reference, location: str, scope: str, offset: int, data: bytes,
               what: str) -> tuple[str, int]:
        end = offset + len(data) - 1
        resp = self.transport.upstream(
            ref.domain, "PATCH", location, scope=scope, body=data,
            headers={"Content-Type": _OCTETS, "Content-Range": f"{offset}-{end}",
                     "Content-Length": str(len(data))},
            ok=(202, 404, 416), what=f"{what}: bytes {offset}-{end}", retry=False)
        try:
            if resp.status in (404, 416):
                raise _Restart(f"PATCH of bytes {offset}-{end} answered {resp.status}")
            held = parse_upload_range(resp.headers.get("Range"))
            # after an accepted PATCH the registry holds at least one byte: "0-0" is one
            return self._location(ref, resp, what), end + 1 if not held else held
        finally:
            discard(resp)

    def _put(self, ref: Reference, location: str, digest: str, scope: str, what: str,
             data: bytes) -> None:
        resp = self.transport.upstream(
            ref.domain, "PUT", _with_query(location, digest=digest), scope=scope, body=data,
            headers={"Content-Type": _OCTETS, "Content-Length": str(len(data))},
            ok=(201, 404, 416), what=what, retry=False)
        try:
            if resp.status in (404, 416):
                raise _Restart(f"PUT answered {resp.status}")
        finally:
            discard(resp)

    def _close(self, ref: Reference, location: str, digest: str, scope: str, what: str) -> None:
        self._put(ref, location, digest, scope, what, b"")

    # -- manifests ------------------------------------------------------------

    def tag_digest(self, repository: str, tag: str) -> str:
        """The digest ``tag`` points at on the registry itself (a HEAD of the
        manifest, push access), "" when there is no such tag."""
        ref = parse_name(repository)
        if not _TAG.fullmatch(tag):
            raise InvalidArgument(f"manifest {ref.name}:{tag}: invalid tag {tag!r}")
        resp = self.transport.upstream(
            ref.domain, "HEAD", f"/v2/{ref.path}/manifests/{tag}", scope=_push_scope(ref),
            headers={"Accept": ACCEPT}, ok=(200, 404), what=f"manifest {ref.name}:{tag}")
        try:
            digest = resp.headers.get("Docker-Content-Digest", "") if resp.status == 200 else ""
        finally:
            discard(resp)
        try:
            validate_digest(digest)
        except InvalidArgument:
            return ""
        return digest

    def put_manifest(self, repository: str, tag: str, media_type: str, content: bytes) -> str:
        """PUT a manifest or index under ``tag`` (or its digest); its verified digest."""
        ref = parse_name(repository)
        digest = sha256_digest(content)
        what = f"manifest {ref.name}:{tag}" if tag else f"manifest {ref.name}@{digest}"
        if tag and not _TAG.fullmatch(tag):
            raise InvalidArgument(f"{what}: invalid tag {tag!r}")
        if not media_type:
            raise InvalidArgument(f"{what}: no media type")
        if not content:
            raise InvalidArgument(f"{what}: empty manifest")
        if len(content) > MAX_MANIFEST_SIZE:
            raise InvalidArgument(f"{what}: {len(content)} bytes is over the {MAX_MANIFEST_SIZE}-byte limit")
        resp = self.transport.upstream(
            ref.domain, "PUT", f"/v2/{ref.path}/manifests/{tag or digest}", scope=_push_scope(ref),
            body=content, headers={"Content-Type": media_type, "Content-Length": str(len(content))},
            ok=(200, 201), what=what)
        try:
            reported = resp.headers.get("Docker-Content-Digest") or digest
        finally:
            discard(resp)
        if reported != digest:
            raise DigestMismatch(f"{what}: the registry reports {reported}, the content is {digest}")
        self.cache.put_bytes(digest, content, "manifest")
        log.info("registry.put_manifest", repository=ref.name, tag=tag or None, digest=digest,
                 media_type=media_type, bytes=len(content))
        return digest
