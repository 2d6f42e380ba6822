"""``network ls``: Docker's filters over the networks, and the predefined
host and none networks, which have no bridge and no state of their own."""

from __future__ import annotations

import hashlib
from pathlib import Path

from client.errors import InvalidArgument
from services.runtime.network.manager import PREDEFINED
from services.runtime.network.state import Network

__all__ = ["filter_networks", "labelled", "predefined"]


def predefined(root: Path, name: str) -> Network:
    """host or none, as Docker lists them: an id stable for this engine."""
    nid = hashlib.sha256(f"{root}:{name}".encode()).hexdigest()
    return Network(nid, name, "", "", "", builtin=True, driver="null" if name == "none" else "host")


def labelled(net: Network, want: str) -> bool:
    """``want`` is "key" or "key=value"."""
    key, sep, value = want.partition("=")
    return key in net.labels and (not sep or net.labels[key] == value)


def filter_networks(nets: list[tuple[Network, int]], filters: list[str]) -> list[tuple[Network, int]]:
    """(network, containers on it) matching every filter key (values of one key are alternatives)."""
    wanted: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
        wanted.setdefault(key, []).append(value)
    for key, values in wanted.items():
        nets = [(n, c) for n, c in nets if any(_matches(n, c, key, v) for v in values)]
    return nets


def _matches(net: Network, containers: int, key: str, value: str) -> bool:
    if key == "name":
        return value in net.name
    if key == "id":
        return net.id.startswith(value)
    if key == "driver":
        return net.driver == value
    if key == "label":
        return labelled(net, value)
    if key == "type":
        if value not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'")
        return (net.name in PREDEFINED) == (value == "builtin")
    if key == "dangling":
        if value not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        return (containers == 0 and net.name not in PREDEFINED) == (value in ("true", "1"))
    raise InvalidArgument(f"invalid filter '{key}'")
