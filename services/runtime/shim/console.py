"""The shim's end of a --tty container's terminal: the console socket the
runtime sends the pty master on (runc's ``--console-socket``: SCM_RIGHTS over
a unix stream socket), and the master's window size.

Stdlib-lean like the rest of the shim: ``fcntl`` is imported only when a
window size is set.
"""

from __future__ import annotations

import _socket
import os
import sys

from .ocirun import OciFailed
from .statedir import CONSOLE_FILE
from .unixsock import SUN_PATH_MAX, accept_unix, listen_unix

__all__ = ["ConsoleSocket", "set_window_size"]

#: ioctl that sets a terminal's window size (struct winsize)
_TIOCSWINSZ = 0x5414


class ConsoleSocket:
    """``console.sock`` in the state dir, or, when that path is too long for
    a unix socket, in a private ``/tmp/barque-console-*`` dir (runc resolves
    a relative name against the bundle, so that is no way out)."""

    def __init__(self, state_dir: str) -> None:
        self.dir = ""
        self.path = os.path.join(state_dir, CONSOLE_FILE)
        if len(self.path.encode()) > SUN_PATH_MAX:
            self.dir = f"/tmp/barque-console-{os.getpid()}-{os.urandom(4).hex()}"
            os.mkdir(self.dir, 0o700)
            self.path = os.path.join(self.dir, CONSOLE_FILE)
        self._listener: _socket.socket | None = listen_unix(self.path, 1)

    def receive_master(self) -> int:
        """The pty master (non-blocking) that ``runtime create`` sent: it
        connected and sent before exiting, so the connection waits in the
        backlog. The socket is closed and removed either way."""
        assert self._listener is not None
        try:
            conn = accept_unix(self._listener)
        except OSError as exc:
            raise OciFailed("runtime create sent no terminal over the console socket",
                                125) from exc
        finally:
            self.close()
        try:
            conn.settimeout(5.0)
            _, ancdata, _, _ = conn.recvmsg(1024, _socket.CMSG_SPACE(16),
                                            _socket.MSG_CMSG_CLOEXEC)
        except OSError as exc:
            raise OciFailed(f"receive the terminal from the runtime: {exc}", 125) from exc
        finally:
            conn.close()
        fds = [int.from_bytes(data[i:i + 4], sys.byteorder)
               for level, kind, data in ancdata
               if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
               for i in range(0, len(data) - len(data) % 4, 4)]
        if not fds:
            raise OciFailed("runtime create sent no terminal over the console socket", 125)
        for extra in fds[1:]:
            os.close(extra)
        os.set_blocking(fds[0], False)
        return fds[0]

    def close(self) -> None:
        """Close and remove the socket (and its private dir); idempotent."""
        if self._listener is None:
            return
        self._listener.close()
        self._listener = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:  # the setup worker removed the name once create was done
            pass
        if self.dir:
            os.rmdir(self.dir)


def set_window_size(fd: int, height: int, width: int) -> None:
    """TIOCSWINSZ on a pty master (the kernel then signals SIGWINCH to the
    terminal's foreground process group); errors are ignored."""
    import fcntl

    winsize = height.to_bytes(2, sys.byteorder) + width.to_bytes(2, sys.byteorder) + bytes(4)
    try:
        fcntl.ioctl(fd, _TIOCSWINSZ, winsize)
    except OSError:
        pass
