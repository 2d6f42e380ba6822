"""JSON for the shim without the ``json`` package.

``import json`` pulls in ``re`` and ``enum`` (about 1 MiB of private memory per
process); every running container has a shim, so the shim encodes and decodes
with the C accelerator ``_json`` that CPython always builds, plus a small
encoder for the flat values it writes (status files, log records, frames).

Contract: :func:`dumps` accepts dict (str keys), list/tuple, str, int, float,
bool and None and returns compact JSON (``,`` and ``:`` separators, non-ASCII
kept as UTF-8 text); :func:`loads` accepts one JSON value with optional
surrounding whitespace and raises :class:`ValueError` on anything else.
"""

from __future__ import annotations

import _json

__all__ = ["dumps", "loads", "encode_string"]

#: ``"..."`` with JSON escapes; control characters as ``\\uXXXX``.
encode_string = _json.encode_basestring


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = None
    memo: dict = {}


def _refuse_constant(name: str) -> float:
    raise ValueError(f"json constant {name!r} is not allowed")


_ScanContext.parse_constant = staticmethod(_refuse_constant)  # type: ignore[assignment]
_scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
_WHITESPACE = " \t\r\n"


def loads(text: str | bytes) -> object:
    """Decode one JSON document."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"json is not utf-8: {exc}") from exc
    start = 0
    while start < len(text) and text[start] in _WHITESPACE:
        start += 1
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"invalid json at offset {exc.value}") from None
    while end < len(text) and text[end] in _WHITESPACE:
        end += 1
    if end != len(text):
        raise ValueError(f"extra data after json value at offset {end}")
    return value


def dumps(value: object) -> str:
    """Encode ``value`` compactly; raises TypeError for other types."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(encode_string(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"json cannot encode {value!r}")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"json object keys must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(encode_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"json cannot encode {type(value).__name__}")
