"""The terminal of a foreground ``run``/``exec`` whose process has
``terminal: true`` and no ``--console-socket`` was given, as runc 1.1 does it
(``tty.go``, ``setupIO`` in ``utils_linux.go``).

barque-oci makes a socket pair and hands one end to the container's process
as if it were the console socket: the pty is still allocated in the
container's devpts and its slave is the process's stdio and /dev/console.
The master comes back here, and :meth:`PtyRelay.wait` copies our stdin to
it and its output to our stdout until the process exits, with our own
terminal (the first of stderr, stdout, stdin that is a tty, else
``/dev/tty``) in raw mode, restored by :meth:`PtyRelay.close`. The
window size is copied from that terminal at the start and on each
SIGWINCH. The master's ONLCR is cleared, as runc does, so the output is
the process's bytes unchanged.

Without any terminal (no tty among stdio and no controlling terminal) this
fails, as runc does: a raw relay needs one.

Everything here runs in the runtime's own (single-threaded) process after
the container process has been forked: one poll loop, no threads.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import termios
import time
import tty

from client.errors import InvalidArgument

from .console import ConsoleError

__all__ = ["PtyRelay", "check_terminal", "host_console"]

#: after the process exits, output still buffered is read until the pty
#: reports hangup (every slave closed) or nothing came for this long
_DRAIN_QUIET = 0.1
#: and at most this long in all (a background process still writing)
_DRAIN_MAX = 2.0
#: how long the container's process may take to send the master
_RECEIVE_TIMEOUT = 10.0
_CHUNK = 65536


def check_terminal(terminal: bool, detach: bool, console_socket: str | None) -> None:
    """runc's ``checkTerminal``, the half barque-oci enforces: a detached
    container (``create``, ``run -d``, ``exec -d``) with a terminal needs a
    console socket, nobody else would hold the master.

    (runc also refuses a console socket for a foreground process; barque's
    engine relies on a foreground ``exec --console-socket``, so that stays
    accepted.)"""
    if detach and terminal and not console_socket:
        raise InvalidArgument("cannot allocate tty if runc will detach without setting "
                              "console socket")


def host_console() -> tuple[int, bool]:
    """(fd, whether we opened it): the terminal runc would set raw, the first
    of stderr, stdout, stdin that is a tty, else the controlling terminal."""
    for fd in (2, 1, 0):
        if os.isatty(fd):
            return fd, False
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC), True
    except OSError as exc:
        raise ConsoleError(f"process.terminal needs a terminal to relay: stdin, stdout and "
                           f"stderr are not terminals and open /dev/tty: {exc.strerror}") from exc


def _clear_onlcr(fd: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[1] &= ~termios.ONLCR
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _copy_winsize(src: int, dst: int) -> None:
    """The host terminal's size onto the pty (errors ignored, as runc's resize)."""
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    """Blocking write of every byte (stdout may be a full pipe: we wait, as runc's io.Copy)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])


class PtyRelay:
    """One foreground process's terminal: make it before the process is
    started, hand :attr:`child_socket` to it as its console socket, call
    :meth:`receive` once it reported ready, then :meth:`wait`, and always
    :meth:`close`."""

    def __init__(self, stdin: int = 0, stdout: int = 1):
        self.host, self._host_owned = host_console()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ours: socket.socket | None = ours
        #: the end the container's process sends the master on (closed by the caller once forked)
        self.child_socket: socket.socket | None = theirs
        self.stdin, self.stdout = stdin, stdout
        self.master = -1
        self._stdout_gone = False  # our stdout refused a write: output is read and dropped
        self._saved: list | None = None
        self._old_winch: signal._HANDLER = None  # the SIGWINCH handler to restore

    def receive(self) -> None:
        """Take the master, clear its ONLCR, set our terminal raw, copy its size."""
        assert self._ours is not None
        self._ours.settimeout(_RECEIVE_TIMEOUT)
        try:
            _, fds, _, _ = socket.recv_fds(self._ours, 1024, 1)
        except (OSError, socket.timeout) as exc:
            raise ConsoleError(f"receive the terminal of the container's process: {exc}") from exc
        finally:
            self._ours.close()
            self._ours = None
        if not fds:
            raise ConsoleError("the container's process sent no terminal")
        self.master = fds[0]
        os.set_blocking(self.master, False)
        _clear_onlcr(self.master)
        try:
            self._saved = termios.tcgetattr(self.host)
            tty.setraw(self.host, termios.TCSANOW)
        except termios.error as exc:
            self._saved = None
            raise ConsoleError(f"set the terminal raw: {exc}") from exc
        _copy_winsize(self.host, self.master)
        self._old_winch = signal.signal(signal.SIGWINCH,
                                        lambda _s, _f: _copy_winsize(self.host, self.master))

    def wait(self, pid: int) -> int:
        """Relay until ``pid`` (our child) exits; its wait status. Then the
        output it left in the pty is drained to stdout."""
        pidfd = os.pidfd_open(pid)
        pending = b""  # stdin read, not yet taken by the master
        stdin_open, master_open = True, True
        try:
            while True:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                if master_open:
                    poller.register(self.master, select.POLLIN | (select.POLLOUT if pending else 0))
                if stdin_open and not pending:
                    poller.register(self.stdin, select.POLLIN)
                events = dict(poller.poll())
                if master_open and events.get(self.master):
                    master_open = self._pump_out()
                    if master_open and pending and events[self.master] & select.POLLOUT:
                        pending = self._feed(pending)
                if stdin_open and events.get(self.stdin):
                    data = self._read(self.stdin)
                    if data is None:
                        pass
                    elif not data:
                        stdin_open = False  # as runc: the pty gets no EOF, stdin just ends
                    else:
                        pending = self._feed(data)
                if events.get(pidfd):
                    break
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(pidfd)
        if master_open:
            self._drain()
        return status

    def _read(self, fd: int) -> bytes | None:
        """Up to a chunk; b"" at its end (EOF, EIO), None if nothing yet."""
        try:
            return os.read(fd, _CHUNK)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF):
                return b""
            raise

    def _feed(self, data: bytes) -> bytes:
        """Write what the master takes now; the rest waits for POLLOUT."""
        try:
            return data[os.write(self.master, data):]
        except BlockingIOError:
            return data
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def _pump_out(self) -> bool:
        """Copy what the master has to stdout; False once it hung up (EIO)."""
        try:
            data = os.read(self.master, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno == errno.EIO:
                return False
            raise
        if not data:
            return False
        if not self._stdout_gone:
            try:
                _write_all(self.stdout, data)
            except OSError:  # EPIPE, a closed stdout: the process runs on, as under runc
                self._stdout_gone = True
        return True

    def _drain(self) -> None:
        deadline = time.monotonic() + _DRAIN_MAX
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        while time.monotonic() < deadline:
            if not poller.poll(int(_DRAIN_QUIET * 1000)):
                return
            if not self._pump_out():
                return

    def close(self) -> None:
        """Restore our terminal and SIGWINCH; close the master and sockets."""
        if self._old_winch is not None:
            signal.signal(signal.SIGWINCH, self._old_winch)
            self._old_winch = None
        if self._saved is not None:
            try:
                termios.tcsetattr(self.host, termios.TCSANOW, self._saved)
            except termios.error:
                pass
            self._saved = None
        for sock in (self._ours, self.child_socket):
            if sock is not None:
                sock.close()
        self._ours = self.child_socket = None
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        if self._host_owned:
            os.close(self.host)
            self._host_owned = False
