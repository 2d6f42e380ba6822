"""The client's side of an attached container: its terminal in raw mode, the
window size sent at start and on every SIGWINCH, stdin forwarded with Docker's
detach keys (Ctrl-P Ctrl-Q unless ``--detach-keys`` says otherwise), output
written as it comes.

One function, :func:`stream_session`, serves ``run``, ``start -a`` and
``attach``. The terminal is restored before it returns, on every path (exit,
error, detach, KeyboardInterrupt, SIGTERM or SIGHUP): the CLI ends with
``os._exit``, so atexit handlers would never run.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from typing import Any

from client.errors import InvalidArgument

__all__ = [
    "DEFAULT_DETACH_KEYS", "DETACHED", "DetachScanner", "RawTerminal", "parse_detach_keys",
    "stream_session", "terminal_size",
]

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
#: what :func:`stream_session` returns when the user detached
DETACHED = -1
_CTRL_SPECIALS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(text: str) -> bytes:
    """Docker's syntax: comma-separated keys, each one character or
    ``ctrl-<a-z, @, [, \\, ], ^, _>``: "ctrl-p,ctrl-q" is b"\\x10\\x11"."""
    keys = bytearray()
    for part in text.split(","):
        low = part.lower()
        if len(part) == 1:
            keys += part.encode()
        elif low.startswith("ctrl-") and len(low) == 6 and "a" <= low[5] <= "z":
            keys.append(ord(low[5]) - ord("a") + 1)
        elif low.startswith("ctrl-") and len(low) == 6 and low[5] in _CTRL_SPECIALS:
            keys.append(_CTRL_SPECIALS[low[5]])
        else:
            raise InvalidArgument(f"invalid detach keys ({text!r}): unknown character {part!r}")
    if not keys:
        raise InvalidArgument("invalid detach keys: empty sequence")
    return bytes(keys)


class DetachScanner:
    """Finds the detach sequence in stdin: bytes that may begin it are held
    back, and sent on once the sequence breaks (as Docker's escape proxy)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, detached)."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._held]:
                self._held += 1
                if self._held == len(self.keys):
                    self._held = 0
                    return bytes(out), True
                continue
            out += self.keys[:self._held]
            self._held = 0
            if byte == self.keys[0]:
                self._held = 1
                if len(self.keys) == 1:
                    self._held = 0
                    return bytes(out), True
            else:
                out.append(byte)
        return bytes(out), False


class RawTerminal:
    """The terminal on ``fd`` in raw mode until :meth:`restore`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def enter(self) -> None:
        self._saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self._saved is not None:
            saved, self._saved = self._saved, None
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``; None if it is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _pump_responses(responses: Iterator[Any], events: queue.Queue) -> None:
    """Every response as an event, then ``end``; a failure is handed to the
    main thread as an ``error`` event, which raises it."""
    try:
        for resp in responses:
            events.put(("response", resp))
    except BaseException as exc:
        events.put(("error", exc))
    events.put(("end", None))


def _pump_stdin(in_fd: int, keys: bytes, wrap_stdin: Callable[[bytes, bool], Any], requests: queue.Queue,
                events: queue.Queue) -> None:
    """stdin as requests until EOF (sent as such), or until the detach keys,
    which become a ``detach`` event and are not sent."""
    scanner = DetachScanner(keys) if keys else None
    while True:
        try:
            data = os.read(in_fd, 65536)
        except OSError:
            data = b""
        if not data:
            requests.put(wrap_stdin(b"", True))
            return
        if scanner is not None:
            data, detached = scanner.feed(data)
            if data:
                requests.put(wrap_stdin(data, False))
            if detached:
                events.put(("detach", None))
                return
        else:
            requests.put(wrap_stdin(data, False))


def stream_session(open_call: Callable[[Iterator[Any]], Iterator[Any]], first: Any, *,
                   wrap_stdin: Callable[[bytes, bool], Any], wrap_resize: Callable[[int, int], Any],
                   on_response: Callable[[Any], int | None], stdin: bool, tty_mode: bool,
                   detach_keys: str = DEFAULT_DETACH_KEYS, stdin_after_first: bool = False) -> int:
    """Run one attached stream: ``open_call(requests)`` gives the responses,
    ``on_response`` handles each and returns the exit status once known.
    Returns that status, or :data:`DETACHED` when the user typed the detach
    keys (the container keeps running). With ``stdin_after_first`` nothing is
    read from stdin before the first response (Run's ``created``), so a
    stream refused up front (no such image) consumed none of it."""
    keys = parse_detach_keys(detach_keys) if tty_mode else b""
    in_fd = sys.stdin.fileno() if stdin else -1
    size_fd = next((fd for fd in (0, 1) if tty_mode and _isatty(fd)), -1)
    requests: queue.Queue = queue.Queue()
    events: queue.Queue = queue.Queue()
    terminal = RawTerminal(in_fd) if tty_mode and stdin and _isatty(in_fd) else None
    previous: dict[int, Any] = {}

    def send_size(*_: object) -> None:
        size = terminal_size(size_fd)
        if size is not None:
            requests.put(wrap_resize(*size))

    def request_stream() -> Iterator[Any]:
        yield first
        while (req := requests.get()) is not None:
            yield req

    def hang_up(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below

    def read_stdin() -> None:
        _pump_stdin(in_fd, keys, wrap_stdin, requests, events)

    try:
        if terminal is not None:
            # SIGTERM or SIGHUP must not leave the terminal raw either
            for sig in (signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, hang_up)
            terminal.enter()
        if size_fd >= 0:
            send_size()
            previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, send_size)
        responses = open_call(request_stream())
        threading.Thread(target=_pump_responses, args=(responses, events), daemon=True).start()
        pump_stdin = stdin
        if pump_stdin and not stdin_after_first:
            threading.Thread(target=read_stdin, daemon=True).start()
            pump_stdin = False
        status = 0
        while True:
            kind, value = events.get()
            if kind == "response" and pump_stdin:
                threading.Thread(target=read_stdin, daemon=True).start()
                pump_stdin = False
            if kind == "response":
                code = on_response(value)
                if code is not None:
                    status = code
            elif kind == "error":
                raise value
            elif kind == "detach":
                return DETACHED
            else:
                return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if terminal is not None:
            terminal.restore()
        requests.put(None)
