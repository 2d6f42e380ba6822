"""``ps --filter``: Docker's name=, status=, id= and label= filters over container views."""

from __future__ import annotations

import re

from client.errors import InvalidArgument
from services.runtime.engine.pausing import state_name
from services.runtime.engine.runtimestate import ContainerView
from services.runtime.spec.options import applies

__all__ = ["parse_filters", "matches"]

_KEYS = ("name", "status", "id", "label")


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    """``["name=web", "status=exited"]`` -> ``{"name": ["web"], "status": ["exited"]}``;
    values of one key are alternatives, keys must all hold."""
    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in _KEYS:
            raise InvalidArgument(f"invalid filter {f!r}")
        out.setdefault(key, []).append(value)
    return out


@applies("Config.labels")
def matches(view: ContainerView, key: str, value: str) -> bool:
    """``label=KEY`` holds when the label exists, ``label=KEY=VALUE`` when it has that value."""
    r = view.record
    if key == "label":
        label, sep, wanted = value.partition("=")
        return label in r.config.labels and (not sep or r.config.labels[label] == wanted)
    if key == "id":
        return r.id.startswith(value)
    if key == "name":
        return re.search(value, r.name) is not None
    return state_name(r, view.running) == value
