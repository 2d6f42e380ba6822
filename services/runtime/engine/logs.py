"""Container logs: the formats, the writer (run by the shim) and the reader
(run by the runtime service for ``logs``).

The writer and the format definitions live in
:mod:`services.runtime.shim.logfile` so the shim imports nothing outside its
package; they are re-exported here as the one public surface of logs.

Reading: :func:`read_logs` yields :class:`LogRecord` s (stream, the output bytes
exactly as the container wrote them, nanosecond time) from the rotated files
oldest first (FILE.N ... FILE.1, FILE). ``tail`` keeps the last N records that
pass the stream and time filters (Docker counts before filtering; counting
after is what a user asking ``--since X --tail 5`` means). ``since_ns`` and
``until_ns`` are inclusive bounds, 0 for none. ``follow`` then polls the
current file for appended records, notices rotation by a new inode at FILE,
reads files rotated away between two polls (found by the inode it was
reading), and returns once ``stop()`` is true and everything written so far
was read.
Lines that do not parse (a record cut by a crash) are skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator

from client.errors import InvalidArgument
from services.runtime.shim.leanjson import loads
from services.runtime.shim.logfile import (
    DRIVERS, JSON_FILE, K8S_FILE, MAX_RECORD, STREAMS, LogWriter, format_timestamp,
)

__all__ = [
    "JSON_FILE", "K8S_FILE", "DRIVERS", "STREAMS", "MAX_RECORD",
    "LogWriter", "LogRecord", "InvalidLogOption",
    "format_timestamp", "parse_timestamp", "parse_record",
    "log_files", "read_logs",
]

#: seconds between polls of a followed log file
FOLLOW_INTERVAL = 0.1
_BLOCK = 64 * 1024


class InvalidLogOption(InvalidArgument):
    """A log read option (driver, time, follow) that cannot be used."""


class LogRecord:
    """One record: ``data`` ends in b"\\n" unless the line was cut or unfinished."""

    __slots__ = ("stream", "data", "time_ns")

    def __init__(self, stream: str, data: bytes, time_ns: int):
        self.stream = stream
        self.data = data
        self.time_ns = time_ns

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogRecord):
            return NotImplemented
        return (self.stream, self.data, self.time_ns) == (other.stream, other.data, other.time_ns)

    def __hash__(self) -> int:
        return hash((self.stream, self.data, self.time_ns))

    def __repr__(self) -> str:
        return f"LogRecord({self.stream!r}, {self.data!r}, {self.time_ns})"


def _is_digits(text: str) -> bool:
    return bool(text) and all(c in "0123456789" for c in text)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``Z`` or ``±HH:MM``,
    0 to 9 fractional digits)."""
    try:
        date, clock = text[:10], text[11:]
        if len(date) != 10 or date[4] != "-" or date[7] != "-" or text[10] not in "Tt ":
            raise ValueError("bad date")
        if clock[2] != ":" or clock[5] != ":":
            raise ValueError("bad clock")
        fields = (date[0:4], date[5:7], date[8:10], clock[0:2], clock[3:5], clock[6:8])
        if not all(_is_digits(field) for field in fields):
            raise ValueError("bad digits")
        hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
        rest = clock[8:]
        nanos = 0
        if rest.startswith("."):
            digits = 1
            while digits < len(rest) and rest[digits].isdigit():
                digits += 1
            frac = rest[1:digits]
            if not frac or len(frac) > 9:
                raise ValueError("bad fraction")
            nanos = int(frac.ljust(9, "0"))
            rest = rest[digits:]
        if rest in ("Z", "z"):
            offset = 0
        elif (len(rest) == 6 and rest[0] in "+-" and rest[3] == ":"
              and _is_digits(rest[1:3]) and _is_digits(rest[4:6])):
            offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * 60 * (1 if rest[0] == "+" else -1)
        else:
            raise ValueError("bad zone")
        days = _days_from_civil(int(date[0:4]), int(date[5:7]), int(date[8:10]))
    except (ValueError, IndexError) as exc:
        raise InvalidLogOption(f"invalid timestamp {text!r}") from exc
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000_000 + nanos


def parse_record(line: bytes, driver: str) -> LogRecord | None:
    """One line of a log file (without its newline), or None if it is damaged."""
    try:
        if driver == JSON_FILE:
            obj = loads(line)
            if not isinstance(obj, dict):
                return None
            text, stream, stamp = obj["log"], obj["stream"], obj["time"]
            if not isinstance(text, str) or stream not in STREAMS:
                return None
            return LogRecord(stream, text.encode("utf-8"), parse_timestamp(stamp))
        stamp, stream, tag, message = line.split(b" ", 3)
        if stream not in (b"stdout", b"stderr") or tag not in (b"F", b"P"):
            return None
        data = message + b"\n" if tag == b"F" else message
        return LogRecord(stream.decode(), data, parse_timestamp(stamp.decode("ascii")))
    except (ValueError, KeyError, TypeError, InvalidLogOption):
        return None


def log_files(path: str) -> list[str]:
    """The files of one log, oldest first: FILE.N ... FILE.1, FILE."""
    rotated = []
    index = 1
    while os.path.exists(f"{path}.{index}"):
        rotated.append(f"{path}.{index}")
        index += 1
    rotated.reverse()
    if os.path.exists(path):
        rotated.append(path)
    return rotated


def read_logs(path: str, driver: str, *, follow: bool, since_ns: int = 0, until_ns: int = 0,
              tail: int = -1, stdout: bool = True, stderr: bool = True,
              stop: Callable[[], bool] | None = None) -> Iterator[LogRecord]:
    """Records of the log at ``path`` (see the module docstring)."""
    if driver not in DRIVERS:
        raise InvalidLogOption(f"log driver {driver!r} is not one of {', '.join(DRIVERS)}")
    if follow and stop is None:
        raise InvalidLogOption("following a log needs a stop condition")
    streams = {name for name, wanted in (("stdout", stdout), ("stderr", stderr)) if wanted}

    def keep(rec: LogRecord) -> bool:
        return rec.stream in streams and rec.time_ns >= since_ns

    def past_until(rec: LogRecord) -> bool:
        return bool(until_ns) and rec.time_ns > until_ns

    current = _open_current(path)
    try:
        end = _complete_end(current) if current is not None else 0
        files = [f for f in log_files(path) if f != path]
        chosen: Iterable[LogRecord]
        if tail >= 0:
            chosen = _tail(files, current, end, driver, tail, keep, past_until)
        else:
            chosen = _forward(files, current, end, driver, keep)
        for rec in chosen:
            if past_until(rec):
                return
            yield rec
        if follow:
            assert stop is not None
            yield from _follow(path, current, end, driver, keep, past_until, stop)
    finally:
        if current is not None:
            current.close()


def _open_current(path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _complete_end(f) -> int:
    """Offset just past the last newline of ``f`` (a writer may be mid-line)."""
    size = os.fstat(f.fileno()).st_size
    pos = size
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        chunk = f.read(pos - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        pos = start
    return 0


def _lines_forward(f, start: int, end: int) -> Iterator[bytes]:
    f.seek(start)
    left = end - start
    rest = b""
    while left > 0:
        chunk = f.read(min(_BLOCK, left))
        if not chunk:
            break
        left -= len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def _lines_backward(f, end: int) -> Iterator[bytes]:
    pos = end
    rest = b""
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        lines = (f.read(pos - start) + rest).split(b"\n")
        pos = start
        rest = lines[0]
        yield from reversed(lines[1:])
    if rest:
        yield rest


def _forward(files: list[str], current, end: int, driver: str,
             keep: Callable[[LogRecord], bool]) -> Iterator[LogRecord]:
    for name in files:
        try:
            with open(name, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                yield from _parsed(_lines_forward(f, 0, size), driver, keep)
        except FileNotFoundError:
            continue
    if current is not None:
        yield from _parsed(_lines_forward(current, 0, end), driver, keep)


def _tail(files: list[str], current, end: int, driver: str, count: int,
          keep: Callable[[LogRecord], bool],
          past_until: Callable[[LogRecord], bool]) -> list[LogRecord]:
    """The last ``count`` kept records up to ``until``, read from the newest file back."""
    out: list[LogRecord] = []
    if count == 0:
        return out

    def take(lines: Iterator[bytes]) -> bool:
        for rec in _parsed(lines, driver, keep):
            if past_until(rec):
                continue
            out.append(rec)
            if len(out) == count:
                return True
        return False

    done = current is not None and take(_lines_backward(current, end))
    for name in reversed(files):
        if done:
            break
        try:
            with open(name, "rb") as f:
                done = take(_lines_backward(f, os.fstat(f.fileno()).st_size))
        except FileNotFoundError:
            continue
    out.reverse()
    return out


def _parsed(lines, driver: str, keep: Callable[[LogRecord], bool]) -> Iterator[LogRecord]:
    for line in lines:
        if line:
            rec = parse_record(line, driver)
            if rec is not None and keep(rec):
                yield rec


def _follow(path: str, current, pos: int, driver: str, keep: Callable[[LogRecord], bool],
            past_until: Callable[[LogRecord], bool],
            stop: Callable[[], bool]) -> Iterator[LogRecord]:
    """Poll for appended lines; switch to a new FILE once the old one is drained.
    ``current`` belongs to the caller; files opened here are closed here."""
    rest = b""
    opened = None
    try:
        while True:
            finishing = stop()
            if current is None:
                current = opened = _open_current(path)
                pos, rest = 0, b""
            if current is not None:
                current.seek(pos)
                chunk = current.read()
                pos += len(chunk)
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for rec in _parsed(lines, driver, keep):
                    if past_until(rec):
                        return
                    yield rec
                if not chunk and _replaced(path, current):
                    missed = _rotated_since(path, os.fstat(current.fileno()).st_ino)
                    if opened is not None:
                        opened.close()
                    current = opened = None
                    for rec in _forward(missed, None, 0, driver, keep):
                        if past_until(rec):
                            return
                        yield rec
                    continue
            if finishing:
                return
            time.sleep(FOLLOW_INTERVAL)
    finally:
        if opened is not None:
            opened.close()


def _rotated_since(path: str, inode: int) -> list[str]:
    """Rotated files newer than the one with ``inode`` (several rotations may
    happen between two polls), oldest first; none if that file is gone."""
    rotated = log_files(path)[:-1] if os.path.exists(path) else log_files(path)
    for index, name in enumerate(rotated):
        try:
            if os.stat(name).st_ino == inode:
                return rotated[index + 1:]
        except FileNotFoundError:
            continue
    return []


def _replaced(path: str, f) -> bool:
    """True when FILE now names another inode than ``f`` (rotated or removed)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True
    return st.st_ino != os.fstat(f.fileno()).st_ino
