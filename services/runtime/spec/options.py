"""Which fields of Docker's Config and HostConfig barque applies, and where.

Every spec option and engine behaviour that uses a field of ``runtime.v1``
``ContainerConfig``, ``HostConfig`` or ``NetworkingConfig`` says so with
:func:`applies`. Create refuses a request that sets any other field, with
INVALID_ARGUMENT naming it, so nothing a caller asks for is silently ignored.
Adding an option is then three changes: the proto field, one decorated spec
option or engine behaviour, and the CLI flag.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from google.protobuf.message import Message

from barque.runtime.v1 import runtime_pb2
from client.errors import InvalidArgument

__all__ = ["applies", "applied_fields", "refuse_unapplied", "MESSAGES"]

#: the messages whose fields are accounted for, by their Docker name
MESSAGES: dict[str, type[Message]] = {
    "Config": runtime_pb2.ContainerConfig,
    "HostConfig": runtime_pb2.HostConfig,
    "NetworkingConfig": runtime_pb2.NetworkingConfig,
}
_DESCRIPTOR_NAMES = {cls.DESCRIPTOR.name: docker for docker, cls in MESSAGES.items()}

#: "HostConfig.memory" -> the qualified name of what applies it
_APPLIED: dict[str, str] = {}

F = TypeVar("F", bound=Callable)


def applies(*names: str) -> Callable[[F], F]:
    """Mark a spec option or engine behaviour as the user of ``names``
    (``"HostConfig.memory"``); a name that is not a field fails at import."""
    for name in names:
        message, _, field = name.partition(".")
        if message not in MESSAGES or field not in MESSAGES[message].DESCRIPTOR.fields_by_name:
            raise ValueError(f"applies({name!r}): no such field")

    def mark(fn: F) -> F:
        for name in names:
            _APPLIED.setdefault(name, f"{fn.__module__}.{fn.__qualname__}")
        return fn

    return mark


def applied_fields() -> dict[str, str]:
    """Every applied field and what applies it."""
    return dict(_APPLIED)


def refuse_unapplied(*messages: Message) -> None:
    """Raise InvalidArgument naming the first set field that nothing applies.

    "Set" is proto3's: a scalar at its zero value, an empty list or map, and
    an unset optional or message are not set.
    """
    for message in messages:
        docker = _DESCRIPTOR_NAMES[message.DESCRIPTOR.name]
        for field, _ in message.ListFields():
            name = f"{docker}.{field.name}"
            if name not in _APPLIED:
                raise InvalidArgument(f"{name} is not supported by barque yet")
