"""ADD of a URL: the build client downloads it (urllib), streamed to a file.

As moby's legacy builder (``downloadSource``): the file name is the last
element of the URL's path, the file's mode is 0600, its mtime the response's
``Last-Modified`` (the epoch without one), an HTTP error status is
``failed to GET <url> with status <status>: <body>``. ``--checksum`` (as
BuildKit's ``ADD --checksum=sha256:<hex>``) is verified while the data is
written; a mismatch removes the file. Loopback hosts are never proxied
(Go's net/http rule). Every socket operation has a timeout, and the whole
download a deadline.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import os
import posixpath
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from cli.buildscope import BuildContextError
from cli.buildtar import CHUNK, Source

__all__ = ["FetchedFile", "fetch_url", "is_url", "url_filename"]

_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}


def is_url(text: str) -> bool:
    """moby's urlutil.IsURL: an ``http://`` or ``https://`` source."""
    return text.startswith(("http://", "https://"))


def url_filename(url: str) -> str:
    """Go's ``filepath.Base`` of the URL's (unescaped) path; BuildContextError
    when it names no file."""
    path = urllib.parse.urlsplit(url).path
    base = posixpath.basename(urllib.parse.unquote(path).rstrip("/"))
    if base in ("", ".", ".."):
        raise BuildContextError(f"ADD failed: cannot determine filename from url: {url}")
    return base


@dataclass(frozen=True)
class FetchedFile:
    """A downloaded ADD source: the file on disk (mode 0600), the name it is
    copied under, its mtime (seconds), and its size."""

    url: str
    path: Path
    filename: str
    mtime: int
    size: int

    def source(self) -> Source:
        """The COPY/ADD source of this download (never extracted, even when a tar)."""
        return Source(name=self.filename, file=self.path, mode=0o600, mtime=self.mtime)


def _checksum(checksum: str | None) -> tuple[str, str] | None:
    if checksum is None:
        return None
    algorithm, _, hexsum = checksum.partition(":")
    if algorithm not in _ALGORITHMS:
        raise BuildContextError(f"invalid checksum {checksum!r}: unsupported digest algorithm")
    if not re.fullmatch(f"[a-f0-9]{{{_ALGORITHMS[algorithm]}}}", hexsum):
        raise BuildContextError(f"invalid checksum {checksum!r}: invalid checksum digest format")
    return algorithm, hexsum


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(url).hostname or ""
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    return urllib.request.build_opener(urllib.request.ProxyHandler({})) if loopback \
        else urllib.request.build_opener()


def _mtime(last_modified: str | None) -> int:
    if not last_modified:
        return 0
    try:
        return int(email.utils.parsedate_to_datetime(last_modified).timestamp())
    except (TypeError, ValueError, IndexError):
        return 0


def fetch_url(url: str, checksum: str | None, tmpdir: Path, *, timeout: float = 30.0,
              deadline: float = 3600.0) -> FetchedFile:
    """Download ``url`` into a new directory under ``tmpdir``. ``timeout``
    bounds each socket operation, ``deadline`` the whole download (seconds).
    Errors are BuildContextError with the complete message; nothing is left
    behind on failure."""
    want = _checksum(checksum)
    filename = url_filename(url)
    where = Path(tempfile.mkdtemp(prefix="add-", dir=tmpdir))
    path = where / filename
    try:
        mtime, size = _download(url, path, want, timeout, time.monotonic() + deadline)
        os.utime(path, (mtime, mtime))
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return FetchedFile(url, path, filename, mtime, size)


def _download(url: str, path: Path, want: tuple[str, str] | None, timeout: float,
              until: float) -> tuple[int, int]:
    request = urllib.request.Request(url, headers={"User-Agent": "barque-build"})
    hasher = hashlib.new(want[0]) if want else None
    size = 0
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            last_modified = response.headers.get("Last-Modified")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    if time.monotonic() > until:
                        raise BuildContextError(f"ADD failed: Get {url!r}: download took too long")
                    piece = response.read(CHUNK)
                    if not piece:
                        break
                    size += len(piece)
                    if hasher:
                        hasher.update(piece)
                    view = memoryview(piece)
                    while view:
                        view = view[os.write(fd, view):]
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
    except urllib.error.HTTPError as exc:
        body = exc.read(4096).decode("utf-8", "replace").strip()
        raise BuildContextError(
            f"ADD failed: failed to GET {url} with status {exc.code} {exc.reason}: {body}") from exc
    except urllib.error.URLError as exc:
        raise BuildContextError(f'ADD failed: Get "{url}": {exc.reason}') from exc
    except (HTTPException, OSError) as exc:
        raise BuildContextError(f'ADD failed: Get "{url}": {exc}') from exc
    if want and hasher and hasher.hexdigest() != want[1]:
        raise BuildContextError(f"ADD failed: checksum mismatch for {url}: expected "
                                f"{want[0]}:{want[1]}, got {want[0]}:{hasher.hexdigest()}")
    return _mtime(last_modified), size
