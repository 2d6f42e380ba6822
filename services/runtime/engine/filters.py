"""``ps --filter`` as moby's daemon/list.go reads it: values of one key are
alternatives and keys must all hold, except ``label`` whose values must all
hold (MatchKVList).

- ``id=`` / ``name=``: a regular expression searched in the id / name (moby's Match);
- ``status=``: moby's state strings (created, restarting, running, removing,
  paused, exited, dead); any status filter lists stopped containers too;
- ``label=KEY`` / ``label=KEY=VALUE``;
- ``exited=N``: containers that ran and exited with N;
- ``ancestor=``: containers of that image (a name, id or id prefix the
  image-store resolves; an unknown one matches none, as moby's);
- ``volume=``: a mount's volume name (a bind's source) or its destination;
- ``network=``: a network's name, or a prefix of its id;
- ``health=``: starting, healthy, unhealthy, or none for no check;
- ``before=C`` / ``since=C``: created before / after container C (both list
  stopped containers too);
- ``publish=PORT[/PROTO]`` / ``expose=...`` (a port or a range ``8000-8010``,
  tcp unless told): a container port given to ``-p`` (HostConfig.PortBindings)
  / one it exposes (Config.ExposedPorts, published ones included).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from client.errors import InvalidArgument
from services.runtime.engine.containers import ContainerRecord
from services.runtime.engine.pausing import state_name
from services.runtime.engine.runtimestate import ContainerView
from services.runtime.spec.options import applies

__all__ = ["parse_filters", "matches", "ListFilter", "FilterContext", "KEYS", "STATES", "HEALTH"]

KEYS = ("ancestor", "before", "exited", "expose", "health", "id", "label", "name", "network", "publish", "since",
        "status", "volume")
#: moby's container.IsValidStateString
STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
#: container.IsValidHealthString, and "none" for no check
HEALTH = ("starting", "healthy", "unhealthy", "none")
_UNSET = "0001-01-01T00:00:00Z"


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    """``["name=web", "status=exited"]`` -> ``{"name": ["web"], "status": ["exited"]}``,
    with moby's errors for an unknown key or a bad status, health or exit code."""
    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
        if key not in KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "status" and value not in STATES:
            raise InvalidArgument(f"Unrecognised filter value for status: {value}")
        if key == "health" and value not in HEALTH:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        if key == "exited" and not re.fullmatch(r"-?\d+", value):
            raise InvalidArgument(f'strconv.Atoi: parsing "{value}": invalid syntax')
        if key in ("publish", "expose"):
            out.setdefault(key, []).extend(_ports(key, value))
            continue
        out.setdefault(key, []).append(value)
    return out


def _ports(key: str, value: str) -> list[str]:
    """moby's portOp: ``80``, ``80/udp`` or ``8000-8010[/tcp]`` as "80/tcp" keys."""
    if ":" in value:
        raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
    port, _, proto = value.partition("/")
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", port)
    start, end = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
    if not m or not 0 < start <= end < 65536:
        raise InvalidArgument(f"error while looking up for {key} {value}: invalid port range")
    return [f"{n}/{(proto or 'tcp').lower()}" for n in range(start, end + 1)]


def _port_keys(keys) -> set[str]:
    out = set()
    for key in keys:
        port, _, proto = key.partition("/")
        out.add(f"{port}/{(proto or 'tcp').lower()}")
    return out


@dataclass(frozen=True)
class FilterContext:
    """What filters need beyond a container: other containers by reference
    (before/since), an image reference's id or None (ancestor), and every
    network's id by name (network)."""

    find: Callable[[str], ContainerRecord]
    image_id: Callable[[str], str | None]
    network_ids: Callable[[], dict[str, str]]


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern == text


def _health(record: ContainerRecord) -> str:
    return record.health.get("Status") or "none"


def _networks(record: ContainerRecord) -> list[str]:
    mode = record.host_config.network_mode
    return list(record.networks) or ([mode] if mode in ("host", "none") else [])


@applies("Config.labels")
def matches(view: ContainerView, key: str, value: str) -> bool:
    """One value of one of the filters that need no context (moby's per-value check)."""
    r = view.record
    if key == "label":
        label, sep, wanted = value.partition("=")
        return label in r.config.labels and (not sep or r.config.labels[label] == wanted)
    if key == "id":
        return _search(value, r.id)
    if key == "name":
        return _search(value, r.name)
    if key == "status":
        return state_name(r, view.running) == value
    if key == "exited":
        return not view.running and r.started_at != _UNSET and r.exit_code == int(value)
    if key == "health":
        return _health(r) == value
    if key == "volume":
        return value in {m["Destination"] for m in r.mounts} | {m.get("Name") or m["Source"] for m in r.mounts}
    if key == "publish":
        return value in _port_keys(r.host_config.port_bindings)
    if key == "expose":
        return value in _port_keys(r.config.exposed_ports)
    raise InvalidArgument(f"invalid filter '{key}'")


@dataclass
class ListFilter:
    """Parsed filters with what they refer to resolved once, at parse time
    (an unknown before/since container is moby's "No such container")."""

    fields: dict[str, list[str]]
    images: set[str] = field(default_factory=set)        # ancestor: the image ids
    network_ids: dict[str, str] = field(default_factory=dict)
    before: list[str] = field(default_factory=list)       # creation times
    since: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, filters: list[str], context: FilterContext) -> "ListFilter":
        fields = parse_filters(filters)
        out = cls(fields)
        if "ancestor" in fields:
            out.images = {i for i in map(context.image_id, fields["ancestor"]) if i}
        if "network" in fields:
            out.network_ids = context.network_ids()
        out.before = [context.find(ref).created for ref in fields.get("before", [])]
        out.since = [context.find(ref).created for ref in fields.get("since", [])]
        return out

    @property
    def lists_stopped(self) -> bool:
        """moby lists stopped containers for a status, before or since filter."""
        return any(k in self.fields for k in ("status", "before", "since"))

    def include(self, view: ContainerView) -> bool:
        r = view.record
        for key, values in self.fields.items():
            if key == "label":
                ok = all(matches(view, key, v) for v in values)
            elif key == "ancestor":
                ok = r.image_id in self.images
            elif key == "network":
                names = _networks(r)
                ids = [self.network_ids.get(n, "") for n in names]
                ok = any(v in names or any(i and i.startswith(v) for i in ids) for v in values)
            elif key == "before":
                ok = all(r.created < c for c in self.before)
            elif key == "since":
                ok = all(r.created > c for c in self.since)
            else:
                ok = any(matches(view, key, v) for v in values)
            if not ok:
                return False
        return True
