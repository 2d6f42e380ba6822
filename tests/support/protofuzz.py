"""Hypothesis strategies for any protobuf message, built from its descriptor.

``message_strategy(descriptor)`` walks the message's fields and draws each
one from a strategy of its type: strings from hostile values ('', '../', NUL,
new lines, unicode, very long) mixed with arbitrary text and with the
*known* values a caller names by field (an existing container id, an image
reference), so that some requests get past the lookup and reach the
validation behind it; integers from their type's edges (0, -1, the largest
and smallest) and any value between; enums from their numbers and unknown
ones; bytes, bools, doubles, repeated fields, maps and nested messages (to a
depth); of a ``oneof`` at most one member.

The RPC fuzzer (``tests/fuzz``) is its user; nothing here talks to a service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

__all__ = [
    "HOSTILE_STRINGS",
    "HOSTILE_BYTES",
    "MAX_REQUEST_BYTES",
    "Known",
    "message_strategy",
    "walk_strings",
]

#: requests stay under gRPC's default message size limit (4 MiB)
MAX_REQUEST_BYTES = 4 << 20

#: strings every string field is tried with
HOSTILE_STRINGS: tuple[str, ...] = (
    "", " ", ".", "..", "../", "../../../../etc/passwd", "/", "/etc/passwd", "//", "./x/../../y",
    "\x00", "a\x00b", "\n", "a\nb", "\r\n", "\t", "\x1b[31m", "é", "ŝ\u0301", "😀", "\u202e", "\ufeff",
    "-", "--help", "-1", "0", "1", "99999999999999999999", "1e309", "nan", "true", "null", "{}", "[]",
    '{"a":', "%s%n", "{0}", "${HOME}", "$(id)", "`id`", ";", "|", "*", "?", ":", "::", "@", "#",
    "=", "a=b", "=b", "a=", "sha256:", "sha256:" + "0" * 64, "sha256:" + "g" * 64, "sha512:" + "0" * 128,
    "a:b:c", "a@b@c", "UPPER", "a" * 64, "0" * 64, "a" * 255, "a" * 4097, "x" * (1 << 20),
    "/" * 300, "a/" * 200, "\\", "C:\\", "%2e%2e%2f", "127.0.0.1", "127.0.0.1:1/x:y", "localhost:0/a",
    "[::1]:1/a", "0.0.0.0/0", "host", "none", "bridge", "container:", "container:x", "default",
    "on-failure:-1", "always", "SIGKILL", "9", "65", "SIGRTMAX+1", "tmpfs", "bind", "volume",
)

#: byte strings every bytes field is tried with
HOSTILE_BYTES: tuple[bytes, ...] = (
    b"", b"\x00", b"\x00" * 1024, b"{}", b"null", b"[]", b'{"a":', b'{"config":1}', b"\xff\xfe",
    b"\x1f\x8b\x08\x00", b"(\xb5/\xfd", b"BZh9", b"ustar\x00", b"\x00" * 512 * 3, b"x" * 65536,
)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_SINT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_INT64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_SINT64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_UINT32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_FIXED32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_UINT64: (0, (1 << 64) - 1),
    FieldDescriptor.TYPE_FIXED64: (0, (1 << 64) - 1),
}

#: field name -> values that exist in the engine under test (ids, names, references)
Known = Mapping[str, Sequence[str]]


def _strings(known: Sequence[str]) -> st.SearchStrategy[str]:
    parts = [st.sampled_from(HOSTILE_STRINGS), st.text(max_size=24),
             st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-/:@=", max_size=40)]
    if known:
        parts.insert(0, st.sampled_from(list(known)))
    return st.one_of(parts)


def _scalar(field: FieldDescriptor, known: Known) -> st.SearchStrategy[Any]:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return _strings(known.get(field.name, ()))
    if t == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.sampled_from(HOSTILE_BYTES), st.binary(max_size=256))
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-3, 1 << 20))
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=64 if t == FieldDescriptor.TYPE_DOUBLE else 32)
    lo, hi = _INT_RANGES[t]
    edges = sorted({v for v in (0, 1, -1, 2, 1 << 20, lo, hi, lo + 1, hi - 1, (1 << 31) - 1, 1 << 31) if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def _single(field: FieldDescriptor, known: Known, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_strategy(field.message_type, known, depth + 1)
    return _scalar(field, known)


def _field(field: FieldDescriptor, known: Known, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        key_f = field.message_type.fields_by_name["key"]
        value_f = field.message_type.fields_by_name["value"]
        return st.dictionaries(_single(key_f, known, depth), _single(value_f, known, depth), max_size=3)
    if field.is_repeated:
        return st.lists(_single(field, known, depth), max_size=3)
    return _single(field, known, depth)


def _as_kwarg(name: str) -> Callable[[Any], dict[str, Any]]:
    return lambda value: {name: value}


def message_strategy(descriptor: Descriptor, known: Known | None = None, depth: int = 0,
                     max_depth: int = 6, lead: bool = False) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``'s type with any subset of their fields set.

    Half the time few fields are set (at most three), so a request with many
    fields reaches past the first one the service refuses. ``known`` maps a
    field name to real values drawn beside the hostile ones. Past
    ``max_depth`` nested messages are left empty. ``lead``: each ``oneof``
    is set to its first member (a stream's opening message: its spec or
    header).
    """
    known = known or {}
    cls = GetMessageClass(descriptor)
    if depth > max_depth:
        return st.just(cls())
    in_oneof = {f.name for o in descriptor.oneofs for f in o.fields}
    plain = [f for f in descriptor.fields if f.name not in in_oneof]
    optional = {f.name: _field(f, known, depth) for f in plain}
    oneofs: list[st.SearchStrategy[dict]] = []
    for o in descriptor.oneofs:
        members = [_field(f, known, depth).map(_as_kwarg(f.name)) for f in o.fields]
        oneofs.append(members[0] if lead else st.one_of(st.just({}), *members))

    def build(parts: tuple[dict, ...]) -> Message:
        kwargs: dict[str, Any] = {}
        for part in parts:
            kwargs.update(part)
        return cls(**kwargs)

    dense = st.fixed_dictionaries({}, optional=optional)
    if len(plain) > 3:
        def few(names: list[str]) -> st.SearchStrategy[dict]:
            return st.fixed_dictionaries({n: optional[n] for n in names})
        sparse = st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True).flatmap(few)
        dense = st.one_of(sparse, dense)
    return st.tuples(dense, *oneofs).map(build)


def walk_strings(msg: Message, fn: Callable[[Message, FieldDescriptor, str, str | None], str | None]) -> None:
    """Call ``fn(message, field, value, key)`` on every set string of ``msg``
    (map keys excepted; ``key`` is the map key of a map's value, else None),
    nested messages and map values included; a returned string replaces the
    value. Used to steer fuzzed values away from the host."""
    for field, value in msg.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                value_f = field.message_type.fields_by_name["value"]
                for key in list(value):
                    if value_f.type == FieldDescriptor.TYPE_MESSAGE:
                        walk_strings(value[key], fn)
                    elif value_f.type == FieldDescriptor.TYPE_STRING:
                        new = fn(msg, field, value[key], key)
                        if new is not None:
                            value[key] = new
            else:
                for sub in (value if field.is_repeated else [value]):
                    walk_strings(sub, fn)
        elif field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                for i, item in enumerate(value):
                    new = fn(msg, field, item, None)
                    if new is not None:
                        value[i] = new
            else:
                new = fn(msg, field, value, None)
                if new is not None:
                    setattr(msg, field.name, new)
