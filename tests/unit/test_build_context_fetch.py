"""cli.buildfetch: ADD of a URL against a loopback http.server in this process."""

from __future__ import annotations

import hashlib
import http.server
import os
import stat
import threading
from pathlib import Path

import pytest

from cli.buildcontext import BuildContextError, fetch_url
from cli.buildfetch import url_filename

BODY = b"payload\n" * 1000
MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/missing"):
            self.send_response(404)
            body = b"no such thing"
        else:
            self.send_response(200)
            body = BODY
            if self.path.startswith("/dated"):
                self.send_header("Last-Modified", MODIFIED)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_fetch_checksum_match_and_last_modified(server: str, tmp_path: Path):
    want = "sha256:" + hashlib.sha256(BODY).hexdigest()
    got = fetch_url(f"{server}/dated/file.tar.gz", want, tmp_path)
    assert got.filename == "file.tar.gz" and got.path.read_bytes() == BODY and got.size == len(BODY)
    assert stat.S_IMODE(os.stat(got.path).st_mode) == 0o600
    assert got.mtime == 1445412480 == int(os.stat(got.path).st_mtime)
    src = got.source()
    assert (src.kind, src.mode, src.mtime) == ("url", 0o600, 1445412480)
    plain = fetch_url(f"{server}/plain/x", None, tmp_path)
    assert plain.mtime == 0 and plain.path.read_bytes() == BODY


def test_fetch_checksum_mismatch_leaves_nothing(server: str, tmp_path: Path):
    with pytest.raises(BuildContextError, match="^ADD failed: checksum mismatch for .*/f: expected sha256:0+, got sha256:"):
        fetch_url(f"{server}/f", "sha256:" + "0" * 64, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BuildContextError, match="unsupported digest algorithm"):
        fetch_url(f"{server}/f", "md5:abc", tmp_path)
    with pytest.raises(BuildContextError, match="invalid checksum digest format"):
        fetch_url(f"{server}/f", "sha256:xyz", tmp_path)


def test_fetch_errors_as_docker_words_them(server: str, tmp_path: Path):
    with pytest.raises(BuildContextError) as err:
        fetch_url(f"{server}/missing/f", None, tmp_path)
    assert str(err.value) == f"ADD failed: failed to GET {server}/missing/f with status 404 Not Found: no such thing"
    with pytest.raises(BuildContextError, match='^ADD failed: Get "http://127.0.0.1:1/x": '):
        fetch_url("http://127.0.0.1:1/x", None, tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_url_filename():
    assert url_filename("http://h/a/b.tar?x=1") == "b.tar"
    assert url_filename("https://h/dir/") == "dir"
    assert url_filename("http://h/a%20b") == "a b"
    for bad in ("http://h", "http://h/"):
        with pytest.raises(BuildContextError, match="cannot determine filename from url"):
            url_filename(bad)
