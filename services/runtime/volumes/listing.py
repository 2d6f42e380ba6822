"""``volume ls`` filters and ``volume prune``'s choice, and Docker's Volume
JSON (``volume inspect``), over :class:`~services.runtime.volumes.store.Volume`
and the containers that use each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from client.errors import InvalidArgument

from .store import Volume

__all__ = ["filter_volumes", "prunable", "volume_json", "parse_filters"]

_LS_KEYS = ("name", "driver", "label", "dangling")
_PRUNE_KEYS = ("label", "label!", "all")


def parse_filters(filters: Iterable[str], allowed: Sequence[str]) -> dict[str, list[str]]:
    """``["k=v", ...]`` -> {k: [v...]}; an unknown key is refused as Docker does."""
    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        out.setdefault(key, []).append(value)
    return out


def _labelled(volume: Volume, want: str) -> bool:
    key, sep, value = want.partition("=")
    return key in volume.labels and (not sep or volume.labels[key] == value)


def _bool(value: str, key: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid filter '{key}={value}'")


def filter_volumes(volumes: Iterable[Volume], users: Mapping[str, Sequence[str]],
                   filters: Iterable[str]) -> list[Volume]:
    """Docker's ``volume ls`` filters: ``name`` (substring), ``driver``,
    ``label`` (``k`` or ``k=v``, all must hold), ``dangling`` (used by no
    container); several values of name or driver are alternatives."""
    parsed = parse_filters(filters, _LS_KEYS)
    out = []
    for v in volumes:
        if "name" in parsed and not any(n in v.name for n in parsed["name"]):
            continue
        if "driver" in parsed and not any(d == v.driver for d in parsed["driver"]):
            continue
        if "label" in parsed and not all(_labelled(v, want) for want in parsed["label"]):
            continue
        if "dangling" in parsed:
            dangling = _bool(parsed["dangling"][-1], "dangling")
            if dangling == bool(users.get(v.name)):
                continue
        out.append(v)
    return sorted(out, key=lambda v: v.name)


def prunable(volumes: Iterable[Volume], users: Mapping[str, Sequence[str]], filters: Iterable[str],
             all_: bool) -> list[Volume]:
    """The volumes ``volume prune`` removes: unused, anonymous unless
    ``all_`` (Docker 23's rule; ``all=true`` as a filter too), and matching
    every ``label=`` and no ``label!=`` filter."""
    parsed = parse_filters(filters, _PRUNE_KEYS)
    if "all" in parsed:
        all_ = all_ or _bool(parsed["all"][-1], "all")
    out = []
    for v in volumes:
        if users.get(v.name) or not (all_ or v.anonymous):
            continue
        if not all(_labelled(v, want) for want in parsed.get("label", [])):
            continue
        if any(_labelled(v, want) for want in parsed.get("label!", [])):
            continue
        out.append(v)
    return out


def volume_json(volume: Volume) -> dict[str, Any]:
    """Docker 20.10's ``volume inspect`` of one volume, keys in its order;
    empty labels and options are null."""
    return {
        "CreatedAt": volume.created_at,
        "Driver": volume.driver,
        "Labels": dict(sorted(volume.labels.items())) or None,
        "Mountpoint": volume.mountpoint,
        "Name": volume.name,
        "Options": dict(sorted(volume.options.items())) or None,
        "Scope": "local",
    }
