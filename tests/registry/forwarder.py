"""The fault-injecting test server in front of a real ``docker-registry``.

:class:`Forwarder` is :class:`FaultServer` (every request recorded in
``seen``) answering with what the real registry behind it answers, so the
registry's upload state is real; a test's ``fault`` hook sees each request
first and may answer it itself (a 503), or forward part of a body and hang up
(a connection dropped mid-PATCH). The ``Host`` header is forwarded as the
client sent it, so the registry's ``Location`` URLs point back here.
"""

from __future__ import annotations

import http.client
import socket
from typing import Callable

from tests.registry.test_registry_proxy_faults import FaultServer, _Handler

__all__ = ["Forwarder", "read_body", "drop", "Upstream"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _AllVerbs(_Handler):
    do_POST = _Handler._dispatch
    do_PUT = _Handler._dispatch
    do_PATCH = _Handler._dispatch
    do_DELETE = _Handler._dispatch


def read_body(h: _Handler, limit: int | None = None) -> bytes:
    """The request body (its first ``limit`` bytes when given)."""
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length if limit is None else min(limit, length))


def drop(h: _Handler) -> None:
    """Hang up without an answer."""
    h.connection.shutdown(socket.SHUT_RDWR)
    h.close_connection = True


#: (status, headers, body) of the registry's answer
Upstream = tuple[int, list[tuple[str, str]], bytes]


class Forwarder(FaultServer):
    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.httpd.RequestHandlerClass = _AllVerbs
        self.upstream = upstream
        #: called first with each request; True means it answered the request itself
        self.fault: Callable[[_Handler], bool] | None = None
        self.serve(self._app)

    def _app(self, h: _Handler) -> None:
        if self.fault is not None and self.fault(h):
            return
        self.reply(h, self.forward(h, read_body(h)))

    def forward(self, h: _Handler, body: bytes, headers: dict[str, str] | None = None,
                path: str | None = None) -> Upstream:
        """Send the request (with ``body``, header overrides, another path) to the registry."""
        hdrs = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        hdrs.update(headers or {})
        hdrs["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            conn.request(h.command, path or h.path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    @staticmethod
    def reply(h: _Handler, answer: Upstream) -> None:
        status, headers, data = answer
        h.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP | {"date", "server"}:
                h.send_header(key, value)
        length = dict((k.lower(), v) for k, v in headers).get("content-length", str(len(data)))
        h.send_header("Content-Length", length if h.command == "HEAD" else str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def methods(self) -> list[str]:
        return [s.method for s in self.seen]
