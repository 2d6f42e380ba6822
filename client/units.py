"""Docker's unit grammars: byte sizes, CPUs, durations, signals, env files.

One module for the CLI, the services and barque-oci alike, so it imports only
the standard library and :mod:`client.errors` (barque-oci loads it
and stays free of grpc and protobuf; ``fractions`` is imported only by
:func:`parse_cpus`). Every parser takes the text a user typed and returns a
plain number or list; what Docker would refuse raises
:class:`~client.errors.InvalidArgument` naming the value.

Sizes (go-units ``parseSize``, shared by ``RAMInBytes`` and ``FromHumanSize``)::

    size    = number [" "] [suffix]        one optional space, nothing around
    number  = ["+"|"-"] (digits ["." [digits]] | "." digits) [("e"|"E") ["+"|"-"] digits]
    suffix  = "b" | unit ["b" | "ib"]      case-insensitive
    unit    = "k" | "m" | "g" | "t" | "p"

The number is read as a float64 (Go's ``strconv.ParseFloat``; negative values
are refused), multiplied by the unit and truncated toward zero, as Go's
``int64(float64)``. The unit is a power of 1024 in :func:`ram_in_bytes`
(``-m``, ``--memory-swap``) and a power of 1000 in :func:`from_human_size`
(the json-file log driver's ``max-size``, which moby parses with
``units.FromHumanSize``); ``b``, ``ib`` only spell the unit and never change
its scale. Hexadecimal floats, which ParseFloat also reads, are refused.
"""

from __future__ import annotations

import os
import re
import signal as _signal
from collections.abc import Mapping

from client.errors import InvalidArgument

__all__ = [
    "ram_in_bytes", "from_human_size", "parse_memory_swap", "parse_cpus", "parse_duration",
    "parse_signal", "parse_env_file", "SIGNALS",
]

# Patterns are compiled on first use (re caches them): barque-oci imports this
# module for parse_signal alone and should not pay for the others.
_SIZE_PATTERN = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?) ?(?:([kmgtp])(?:b|ib)?|b)?"
_UNIT_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_INT64_LIMIT = float(1 << 63)


def _parse_size(text: str, base: int) -> int:
    match = re.fullmatch(_SIZE_PATTERN, text, re.IGNORECASE | re.ASCII)
    if not match:
        raise InvalidArgument(f"invalid size: {text!r}")
    number, unit = match.groups()
    size = float(number) * (base ** _UNIT_POWERS[unit.lower()] if unit else 1)
    if size < 0 or not size < _INT64_LIMIT:
        raise InvalidArgument(f"invalid size: {text!r}")
    return int(size)


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes``: ``"512m"`` -> 536870912; a bare number is bytes."""
    return _parse_size(text, 1024)


def from_human_size(text: str) -> int:
    """go-units ``FromHumanSize``: ``"10m"`` -> 10000000; a bare number is bytes."""
    return _parse_size(text, 1000)


def parse_memory_swap(text: str) -> int:
    """``--memory-swap``: exactly ``-1`` (unlimited swap), else a RAMInBytes size
    (the Docker CLI's ``opts.MemSwapBytes``)."""
    return -1 if text == "-1" else ram_in_bytes(text)


# big.Rat.SetString's forms (what opts.NanoCPUs parses): a decimal with an
# optional exponent, or an integer fraction "a/b".
_CPUS_PATTERN = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|\d+/0*[1-9]\d*)"


def parse_cpus(text: str) -> int:
    """``--cpus 1.5`` -> 1_500_000_000 nano CPUs; more than 9 decimals is refused."""
    from fractions import Fraction  # only here: barque-oci imports this module too

    if not re.fullmatch(_CPUS_PATTERN, text, re.ASCII):
        raise InvalidArgument(f"failed to parse {text!r} as a rational number")
    nano = Fraction(text) * 1_000_000_000
    if nano.denominator != 1:
        raise InvalidArgument(f"cpus value {text!r} is too precise")
    if nano < 0:
        raise InvalidArgument(f"cpus value {text!r} must not be negative")
    return int(nano)


# Go's time.ParseDuration units, in nanoseconds (µ as U+00B5 and U+03BC).
_DURATION_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_TERM_PATTERN = r"(\d*)(?:\.(\d*))?([^\d.]*)"


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds: ``"1h30m"``, ``"1.5s"``,
    ``"-300ms"``, ``"2us"``; ``"0"`` is the only number without a unit.
    Fractions are truncated to the nanosecond."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0
    term_re = re.compile(_DURATION_TERM_PATTERN, re.ASCII)
    total, pos = 0, 0
    while pos < len(body):
        term = term_re.match(body, pos)
        assert term is not None  # every group may be empty
        whole, frac, unit = term.groups()
        if not (whole or frac) or unit not in _DURATION_UNITS:
            raise InvalidArgument(f"invalid duration: {text!r}")
        scale = _DURATION_UNITS[unit]
        total += int(whole or 0) * scale + int(frac or 0) * scale // 10 ** len(frac or "")
        pos = term.end()
    if not body or total > (1 << 63) - 1:
        raise InvalidArgument(f"invalid duration: {text!r}")
    return -total if text.startswith("-") else total


def _signal_table() -> dict[str, int]:
    # moby/sys/signal SignalMap for Linux: the classic names (with the
    # aliases IOT, CLD, POLL), RTMIN..RTMIN+15, RTMAX-14..RTMAX with glibc's
    # RTMIN of 34 and RTMAX of 64 (the numbers a container's libc sees).
    table = {name[3:]: int(sig) for name, sig in _signal.Signals.__members__.items()
             if name.startswith("SIG") and not name.startswith("SIG_") and name not in ("SIGRTMIN", "SIGRTMAX")}
    table.update({"IOT": 6, "CLD": 17, "POLL": 29, "RTMIN": 34, "RTMAX": 64})
    for i in range(1, 16):
        table[f"RTMIN+{i}"] = 34 + i
    for i in range(1, 15):
        table[f"RTMAX-{i}"] = 64 - i
    return table


#: signal name (without SIG) -> number, as Docker's SignalMap on Linux
SIGNALS: dict[str, int] = _signal_table()


def parse_signal(value: str | int) -> int:
    """``SIGTERM``, ``TERM``, ``term``, ``15`` (or the int 15), ``SIGRTMIN+3``
    -> the signal's number, 1 to 64."""
    text = str(value).strip()
    if text.isdecimal() and text.isascii():
        if 1 <= int(text) <= 64:
            return int(text)
        raise InvalidArgument(f"invalid signal: {value!r}")
    upper = text.upper()
    name = upper[3:] if upper.startswith("SIG") else upper
    if name not in SIGNALS:
        raise InvalidArgument(f"invalid signal: {value!r}")
    return SIGNALS[name]


def parse_env_file(path: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Entries of an ``--env-file``, by Docker's rules (``opts/envfile.go``).

    Blank lines and lines starting with ``#`` (after leading whitespace) are
    skipped; ``KEY=VALUE`` is kept verbatim (only leading whitespace of the
    key is trimmed); a bare ``KEY`` takes its value from ``environ``
    (default ``os.environ``) and is dropped when unset. A key containing
    whitespace, an empty key, or bytes that are not UTF-8 are errors.
    """
    env = os.environ if environ is None else environ
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InvalidArgument(f"open env file {path!r}: {exc.strerror}") from exc
    out: list[str] = []
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        if number == 1 and line_bytes.startswith(b"\xef\xbb\xbf"):
            line_bytes = line_bytes[3:]
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"env file {path!r} contains invalid utf8 bytes at line {number}") from exc
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        key = key.lstrip(" \t")
        if any(c in key for c in " \t"):
            raise InvalidArgument(f"env file {path!r} line {number}: variable {key!r} contains whitespaces")
        if not key:
            raise InvalidArgument(f"env file {path!r} line {number}: no variable name on line {line!r}")
        if has_value:
            out.append(f"{key}={value}")
        elif key in env:
            out.append(f"{key}={env[key]}")
    return out
