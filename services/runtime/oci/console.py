"""Terminal for ``process.terminal``: a pty from the container's own devpts
whose master goes to the caller over ``--console-socket`` (SCM_RIGHTS, as
runc sends it) and whose slave becomes the process's stdio and /dev/console.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

from client.errors import FailedPrecondition

__all__ = ["ConsoleError", "connect_socket", "open_pty", "send_master", "make_controlling",
           "set_size"]

_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431


class ConsoleError(FailedPrecondition):
    """The pty or the console socket could not be set up."""


def connect_socket(path: str) -> socket.socket:
    """Connect to the caller's console socket (done before entering the container)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ConsoleError(f"connect console socket {path!r}: {exc.strerror}") from exc
    return sock


def open_pty(ptmx_path: str) -> tuple[int, int, str]:
    """Open a new pty through ``ptmx_path`` (the container's devpts ptmx).

    Returns (master fd, slave fd, slave path relative to the devpts mount,
    e.g. ``"0"``).
    """
    try:
        master = os.open(ptmx_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConsoleError(f"open {ptmx_path!r}: {exc.strerror}") from exc
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, struct.pack("I", 0)))[0]
        pts_dir = os.path.dirname(ptmx_path)
        slave = os.open(os.path.join(pts_dir, str(number)),
                        os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(master)
        raise ConsoleError(f"allocate pty through {ptmx_path!r}: {exc.strerror}") from exc
    return master, slave, str(number)


def set_size(master: int, size: dict | None) -> None:
    """``process.consoleSize`` ({"height", "width"}) onto the new pty, as runc
    sets it when it allocates the terminal (a zero or missing size is left)."""
    height, width = int((size or {}).get("height") or 0), int((size or {}).get("width") or 0)
    if height and width:
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        except OSError as exc:
            raise ConsoleError(f"set the terminal size to {height}x{width}: {exc.strerror}") from exc


def send_master(sock: socket.socket, master: int, name: str = "/dev/ptmx") -> None:
    try:
        socket.send_fds(sock, [name.encode()], [master])
    except OSError as exc:
        raise ConsoleError(f"send pty master over console socket: {exc.strerror}") from exc


def make_controlling(slave: int) -> None:
    """New session with ``slave`` as controlling terminal and stdio."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
