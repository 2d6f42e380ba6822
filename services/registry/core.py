"""The registry-proxy domain core: resolve references, serve manifests and blobs.

A pull-through cache by digest. Content fetched once is served from disk to
every later caller with no upstream traffic; tags always go upstream (tags
move) but cheaply: a HEAD, and a GET only when the digest is not cached.
Every byte handed out is verified against its digest: manifests before they
are returned, blobs before they enter the cache (a streamed blob that fails
verification raises DigestMismatch after its last chunk and is not kept).
A blob fetched with its descriptor's size is read at most size+1 bytes from
the registry: a body that runs past the size, or ends short of it, raises
SizeMismatch and leaves nothing in the cache.

Thread-safe: called concurrently from the gRPC server's thread pool.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import urllib3
from urllib3.exceptions import HTTPError

from client.config import Config
from client.errors import (
    DigestMismatch,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)
from client.imagespec import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    Platform,
    sha256_digest,
    validate_digest,
)
from client.reference import Reference, parse_name, parse_reference, registry_host
from services.common.content import SizeMismatch
from services.common.log import get_logger
from services.registry.auth import Credentials, CredentialStore
from services.registry.cache import CHUNK_SIZE, BlobCache, Ingest
from services.registry.manifest import (
    ACCEPT,
    MAX_MANIFEST_SIZE,
    index_entries,
    manifest_media_type,
    refuse_schema1,
    select_platform,
)
from services.registry.push import BlobPusher
from services.registry.transport import BACKOFF, Transport, discard

__all__ = ["Resolved", "RegistryProxy"]

log = get_logger("barque.registry.proxy")

_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)")
_DECIMAL = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Resolved:
    name: str              # normalised reference, e.g. "docker.io/library/busybox:latest"
    top: Descriptor        # what the tag/digest points at (index or manifest), verified
    manifest: Descriptor   # image manifest for the chosen platform (== top for a manifest)


class _Dropped(Exception):
    """The connection broke while reading a blob body (resumable)."""


def _network_chunks(resp: urllib3.BaseHTTPResponse, limit: int | None) -> Iterator[bytes]:
    """The raw body in chunks of at most CHUNK_SIZE, and at most ``limit`` bytes in all.

    Nothing past ``limit`` is read off the connection, however long the body.
    """
    # Only errors of the network read become _Dropped; disk errors of the
    # caller's writes must not be mistaken for a resumable drop.
    try:
        while limit is None or limit > 0:
            chunk = resp.read(CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit),
                              decode_content=False)
            if not chunk:
                return
            if limit is not None:
                limit -= len(chunk)
            yield chunk
    except (HTTPError, OSError) as exc:
        raise _Dropped(str(exc)) from exc


def _content_length(value: str | None) -> int | None:
    """A Content-Length header as a number, None unless it is plain ASCII digits
    (``str.isdigit`` takes ``"\u00b2"``, which ``int`` then refuses)."""
    return int(value) if value and _DECIMAL.fullmatch(value) else None


def _check_cached_size(digest: str, cached: int, size: int | None) -> None:
    if size is not None and cached != size:
        raise SizeMismatch(f"blob {digest}: descriptor gives {size} bytes, the verified blob has {cached}")


def _scope(ref: Reference) -> str:
    return f"repository:{ref.path}:pull"


def _read_manifest_body(resp: urllib3.BaseHTTPResponse, what: str) -> bytes:
    """The body, refused before reading past the 4 MiB cap."""
    length = _content_length(resp.headers.get("Content-Length"))
    if length is not None and length > MAX_MANIFEST_SIZE:
        raise FailedPrecondition(
            f"{what}: manifest of {length} bytes is over the {MAX_MANIFEST_SIZE}-byte limit")
    buf = bytearray()
    try:
        for chunk in resp.stream(64 << 10):
            buf += chunk
            if len(buf) > MAX_MANIFEST_SIZE:
                raise FailedPrecondition(
                    f"{what}: manifest is over the {MAX_MANIFEST_SIZE}-byte limit")
    except (HTTPError, OSError) as exc:
        raise Unavailable(f"{what}: reading manifest: {exc}") from exc
    return bytes(buf)


class RegistryProxy:
    def __init__(self, state_dir: Path, config: Config, *, user_agent: str = "barque/0.1") -> None:
        self.state_dir = Path(state_dir)
        self.cache = BlobCache(self.state_dir)
        self.credentials = CredentialStore(self.state_dir / "auth.json")
        self.transport = Transport(config, self.credentials, user_agent=user_agent)
        self.backoff = BACKOFF
        #: the push side (BlobExists, PushBlob, PutManifest), on the same cache and transport
        self.pusher = BlobPusher(self.cache, self.transport)

    def close(self) -> None:
        """Close pooled connections (for orderly shutdown and tests)."""
        self.transport.close()

    # -- manifests ------------------------------------------------------------

    def resolve(self, reference: str, platform: Platform | None = None) -> Resolved:
        ref = parse_reference(reference)
        platform = platform or Platform()
        what = f"manifest {ref}"
        if ref.digest:
            top, data = self.get_manifest(ref.name, ref.digest)
        else:
            top, data = self._resolve_tag(ref)
        if top.media_type not in INDEX_TYPES:
            return Resolved(str(ref), top, top)
        entry = select_platform(index_entries(data, what), platform, what)
        desc, _ = self.get_manifest(ref.name, entry.digest)
        if desc.media_type not in MANIFEST_TYPES:
            raise FailedPrecondition(
                f"{what}: entry {entry.digest} for {platform} is a nested index, not an image manifest")
        manifest = Descriptor(desc.media_type, desc.digest, desc.size, entry.platform,
                              dict(entry.annotations))
        log.info("registry.resolved", reference=str(ref), top=top.digest,
                 manifest=manifest.digest, platform=str(platform))
        return Resolved(str(ref), top, manifest)

    def get_manifest(self, name: str, digest: str) -> tuple[Descriptor, bytes]:
        ref = parse_name(name)
        validate_digest(digest)
        what = f"manifest {ref.name}@{digest}"
        data = self.cache.read_bytes(digest, MAX_MANIFEST_SIZE)
        if data is not None:
            return Descriptor(manifest_media_type(data, "", what), digest, len(data)), data
        data, ctype, _ = self._get_manifest(ref, digest, what)
        got = sha256_digest(data)
        if got != digest:
            raise DigestMismatch(f"{what}: got {got}")
        media_type = manifest_media_type(data, ctype, what)
        self.cache.put_bytes(digest, data, "manifest")
        return Descriptor(media_type, digest, len(data)), data

    def _get_manifest(self, ref: Reference, tag_or_digest: str,
                      what: str) -> tuple[bytes, str, str | None]:
        """GET a manifest: (body, Content-Type, Docker-Content-Digest)."""
        resp = self.transport.request(ref.domain, "GET", f"/v2/{ref.path}/manifests/{tag_or_digest}",
                                      scope=_scope(ref), headers={"Accept": ACCEPT}, what=what)
        try:
            ctype = resp.headers.get("Content-Type", "")
            refuse_schema1(ctype, what)
            data = _read_manifest_body(resp, what)
            return data, ctype, resp.headers.get("Docker-Content-Digest")
        finally:
            discard(resp)

    def _resolve_tag(self, ref: Reference) -> tuple[Descriptor, bytes]:
        """Tag to verified document: HEAD for the digest, GET only when not cached."""
        what = f"manifest {ref}"
        path = f"/v2/{ref.path}/manifests/{ref.tag}"
        resp = self.transport.request(ref.domain, "HEAD", path, scope=_scope(ref),
                                      headers={"Accept": ACCEPT}, what=what)
        try:
            head_digest = resp.headers.get("Docker-Content-Digest", "")
            head_type = resp.headers.get("Content-Type", "")
            head_length = resp.headers.get("Content-Length", "")
        finally:
            discard(resp)
        refuse_schema1(head_type, what)
        declared = _content_length(head_length)
        if declared is not None and declared > MAX_MANIFEST_SIZE:
            raise FailedPrecondition(
                f"{what}: manifest of {head_length} bytes is over the {MAX_MANIFEST_SIZE}-byte limit")
        if head_digest:
            try:
                validate_digest(head_digest)
            except InvalidArgument:
                head_digest = ""
        if head_digest:
            data = self.cache.read_bytes(head_digest, MAX_MANIFEST_SIZE)
            if data is not None:
                log.debug("registry.tag_cached", reference=str(ref), digest=head_digest)
                desc = Descriptor(manifest_media_type(data, head_type, what), head_digest, len(data))
                return desc, data
        data, ctype, header_digest = self._get_manifest(ref, ref.tag or "latest", what)
        got = sha256_digest(data)
        # a registry's Docker-Content-Digest is trusted only once verified (distribution-spec)
        if header_digest and header_digest != got:
            raise DigestMismatch(f"{what}: Docker-Content-Digest says {header_digest}, got {got}")
        media_type = manifest_media_type(data, ctype, what)
        self.cache.put_bytes(got, data, "manifest")
        return Descriptor(media_type, got, len(data)), data

    # -- blobs ----------------------------------------------------------------

    def blob_size(self, name: str, digest: str) -> int:
        ref = parse_name(name)
        validate_digest(digest)
        size = self.cache.size(digest)
        if size is not None:
            return size
        what = f"blob {digest} in {ref.name}"
        resp = self.transport.request(ref.domain, "HEAD", f"/v2/{ref.path}/blobs/{digest}",
                                      scope=_scope(ref), what=what)
        try:
            length = resp.headers.get("Content-Length", "")
        finally:
            discard(resp)
        size = _content_length(length)
        if size is None:
            raise Unavailable(f"{what}: {ref.domain} sent no usable Content-Length ({length!r})")
        return size

    def fetch_blob(self, name: str, digest: str, offset: int = 0,
                   size: int | None = None) -> Iterator[bytes]:
        """Chunks of the blob from ``offset``; see the module docstring.

        ``size`` is the size the blob's descriptor gives, when known: the
        download is bounded by it, and a cached blob of another size is refused.
        Arguments are checked here, before the first chunk is asked for.
        """
        ref = parse_name(name)
        validate_digest(digest)
        if offset < 0:
            raise InvalidArgument(f"blob {digest}: negative offset {offset}")
        if size is not None and size < 0:
            raise InvalidArgument(f"blob {digest}: negative size {size}")
        cached = self.cache.size(digest)
        if cached is not None:
            _check_cached_size(digest, cached, size)
            if offset > cached:
                raise InvalidArgument(f"blob {digest}: offset {offset} is past its size {cached}")
            return self.cache.read_from(digest, offset)
        return self._fetch_locked(ref, digest, offset, size)

    def _fetch_locked(self, ref: Reference, digest: str, offset: int,
                      size: int | None) -> Iterator[bytes]:
        # One download per digest: a second caller waits here, then finds the
        # blob cached. The lock is held while the first caller consumes its
        # chunks; closing the generator releases it.
        self.cache.locks.acquire(digest)
        try:
            cached = self.cache.size(digest)
            if cached is not None:
                log.debug("registry.blob_cached_while_waiting", digest=digest)
                _check_cached_size(digest, cached, size)
                yield from self.cache.read_from(digest, offset)
                return
            what = f"blob {digest} from {ref.name}"
            ingest = self.cache.ingest(digest, size)
            try:
                yield from self._download(ingest, ref, digest, offset, size, what)
                ingest.commit(what=what)
            except BaseException:
                ingest.abort()
                raise
            log.info("registry.blob_cached", name=ref.name, digest=digest, size=ingest.size)
            if offset > ingest.size:
                raise InvalidArgument(f"blob {digest}: offset {offset} is past its size {ingest.size}")
        finally:
            self.cache.locks.release(digest)

    def _download(self, ingest: Ingest, ref: Reference, digest: str, offset: int,
                  size: int | None, what: str) -> Iterator[bytes]:
        """Stream the blob into ``ingest``, yielding bytes past ``offset``.

        A dropped connection resumes with ``Range: bytes=<received>-``; a 206
        must start exactly there, and a 200 (Range ignored) is skipped up to
        it. What is written is what gets verified, so a resumed blob is as
        trustworthy as one read in a single pass. With a known ``size`` each
        response is read up to one byte past the blob's end, and that byte
        fails the download before it is written or handed out.
        """
        path = f"/v2/{ref.path}/blobs/{digest}"
        headers: dict[str, str] = {}
        drops = 0
        while True:
            resp = self.transport.request(ref.domain, "GET", path, scope=_scope(ref),
                                          headers=headers, ok=(200, 206), what=what)
            try:
                skip = self._resume_skip(resp, ingest.size, what)
                limit = None if size is None else skip + size - ingest.size + 1
                for chunk in _network_chunks(resp, limit):
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                        if not chunk:
                            continue
                    start = ingest.size
                    if size is not None and start + len(chunk) > size:
                        raise SizeMismatch(
                            f"{what}: the registry sent more than the {size} bytes of its descriptor")
                    ingest.write(chunk)
                    if ingest.size > offset:
                        yield chunk[max(0, offset - start):]
                if size is not None and ingest.size != size:
                    raise SizeMismatch(
                        f"{what}: the registry sent {ingest.size} of the {size} bytes of its descriptor")
                return
            except _Dropped as exc:
                drops += 1
                if drops > len(self.backoff):
                    raise Unavailable(f"{what}: connection lost {drops} times, "
                                      f"last at byte {ingest.size}: {exc}") from exc
                log.info("registry.blob_resume", name=ref.name, digest=digest,
                         received=ingest.size, attempt=drops, error=str(exc))
                time.sleep(self.backoff[drops - 1])
                headers = {"Range": f"bytes={ingest.size}-"}
            finally:
                discard(resp)

    @staticmethod
    def _resume_skip(resp: urllib3.BaseHTTPResponse, received: int, what: str) -> int:
        """Bytes of this response to drop so that it continues at ``received``."""
        if resp.status != 206:
            if received:
                log.info("registry.range_ignored", what=what, received=received)
            return received
        crange = resp.headers.get("Content-Range", "")
        match = _CONTENT_RANGE.fullmatch(crange)
        # an invalid Content-Range must not be recombined (RFC 9110)
        if not match or int(match.group(1)) != received or int(match.group(2)) < received:
            raise Unavailable(f"{what}: resume at byte {received} got Content-Range {crange!r}")
        return 0

    # -- credentials ----------------------------------------------------------

    def login(self, registry: str, username: str, password: str) -> str:
        host = registry_host(registry)
        if not username:
            raise InvalidArgument(f"login to {host}: empty username")
        creds = Credentials(username, password)
        self.transport.check_login(host, creds)
        self.credentials.put(host, creds)
        # tokens fetched before were issued to another identity
        self.transport.tokens.clear()
        log.info("registry.login", host=host, username=username)
        return host

    def logout(self, registry: str) -> bool:
        host = registry_host(registry)
        removed = self.credentials.remove(host)
        self.transport.tokens.clear()
        log.info("registry.logout", host=host, removed=removed)
        return removed
