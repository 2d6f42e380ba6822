"""Unix stream sockets as the shim, the zygote and their client use them:
a private listener, an accepted connection, one newline-ended message.

Stdlib-lean like the rest of the shim: only ``_socket`` and ``os``, so the
long-lived shim does not load the ``socket`` module.
"""

from __future__ import annotations

import _socket
import os

__all__ = ["SUN_PATH_MAX", "listen_unix", "accept_unix", "recv_line"]

#: longest path a unix socket address holds (sun_path is 108 bytes with its NUL)
SUN_PATH_MAX = 107
#: bind's errno for a path that exists (errno.EADDRINUSE, without importing errno)
_EADDRINUSE = 98


def listen_unix(path: str, backlog: int, *, blocking: bool = False) -> _socket.socket:
    """A unix stream listener at ``path`` (a stale socket there is replaced),
    mode 0600: only its owner may connect. Non-blocking unless ``blocking``."""
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    umask = os.umask(0o177)
    try:
        try:
            listener.bind(path)
        except OSError as exc:  # only then unlink: no exception on the common path (the shim's memory)
            if exc.errno != _EADDRINUSE:
                raise
            os.unlink(path)
            listener.bind(path)
    except BaseException:
        listener.close()
        raise
    finally:
        os.umask(umask)
    listener.listen(backlog)
    listener.setblocking(blocking)
    return listener


def accept_unix(listener: _socket.socket) -> _socket.socket:
    """The next connection on ``listener``, blocking and close-on-exec;
    BlockingIOError when none waits on a non-blocking listener."""
    fd, _ = listener._accept()  # type: ignore[attr-defined]
    return _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)


def recv_line(sock: _socket.socket, limit: int | None = None) -> bytes:
    """What ``sock`` sends up to and including the first newline, or until
    EOF when none comes; ValueError once more than ``limit`` bytes arrived
    without one. Reads past the newline are not expected: each side sends
    one line and then waits for the other."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if limit is not None and len(buf) > limit:
            raise ValueError(f"more than {limit} bytes without a newline")
    return buf
