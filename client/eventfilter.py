"""``docker events --filter``, as moby's daemon/events/filter.go reads it:
values of one key are alternatives, different keys must all hold, except
``label`` whose values must all hold (moby's MatchKVList).

- ``container=`` / ``volume=`` / ``network=``: the event's actor id or its
  name attribute, exactly or as a prefix (FuzzyMatch) — on any event type,
  as moby's (a container filter thus keeps only that container's events);
- ``event=``: the action exactly; ``health_status``, ``exec_create`` and
  ``exec_start`` also match their "health_status: healthy" forms (a prefix);
- ``image=``: the actor id or the image attribute (a container's) / name
  attribute (an image's), with or without its tag;
- ``label=KEY`` / ``label=KEY=VALUE`` over the attributes;
- ``type=``: container, image, volume, network (and docker's other types);
- ``scope=``: local (barque has no swarm scope); ``daemon=``, ``node=``,
  ``plugin=``, ``service=``, ``secret=``, ``config=`` are accepted and match
  nothing of barque's unless absent.

Pure, in the client library: the CLI applies it to the merged streams and each
service to its own stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from client.errors import InvalidArgument

__all__ = ["EventFilter", "KEYS"]

#: the keys docker events accepts (moby's validation of the filter args)
KEYS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
        "secret", "service", "type", "volume")
#: actions that carry a suffix after a colon; a filter on the bare word matches them
_FUZZY_ACTIONS = frozenset({"health_status", "exec_create", "exec_start"})
#: keys whose objects barque never emits events of: only an absent filter lets events through
_FOREIGN = ("daemon", "node", "plugin", "service", "secret", "config")


def _strip_tag(name: str) -> str:
    """``busybox:latest`` -> ``busybox``; a digest or a registry port stays."""
    if "@" in name:
        return name.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _familiar(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@dataclass
class EventFilter:
    fields: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, filters: list[str]) -> "EventFilter":
        """``["type=container", "event=start"]``; a bad one is refused as docker's."""
        out: dict[str, set[str]] = {}
        for text in filters:
            key, sep, value = text.partition("=")
            key = key.strip().lower()
            if not sep:
                raise InvalidArgument(f"bad format of filter (expected name=value): {text}")
            if key not in KEYS:
                raise InvalidArgument(f"invalid filter '{key}'")
            out.setdefault(key, set()).add(value)
        return cls(out)

    def _exact(self, key: str, source: str) -> bool:
        values = self.fields.get(key)
        return not values or source in values

    def _fuzzy(self, key: str, source: str) -> bool:
        values = self.fields.get(key)
        return not values or source in values or any(source.startswith(v) for v in values)

    def _by_name(self, key: str, actor_id: str, attributes: dict[str, str]) -> bool:
        return self._fuzzy(key, actor_id) or self._fuzzy(key, attributes.get("name", ""))

    def _event(self, action: str) -> bool:
        values = self.fields.get("event")
        if values and values & _FUZZY_ACTIONS:
            return self._fuzzy("event", action)
        return self._exact("event", action)

    def _image(self, event_type: str, actor_id: str, attributes: dict[str, str]) -> bool:
        if not self.fields.get("image"):
            return True
        name = attributes.get("name" if event_type == "image" else "image", "")
        candidates = {actor_id, name, _strip_tag(actor_id), _strip_tag(name)}
        candidates |= {_familiar(c) for c in candidates}
        return any(c in self.fields["image"] for c in candidates if c)

    def _labels(self, attributes: dict[str, str]) -> bool:
        for text in self.fields.get("label", ()):
            key, sep, value = text.partition("=")
            if key not in attributes or (sep and attributes[key] != value):
                return False
        return True

    def include(self, event_type: str, action: str, actor_id: str, attributes: dict[str, str]) -> bool:
        """Whether an event of ``event_type`` with ``action`` on ``actor_id`` passes."""
        return (self._event(action) and self._exact("type", event_type) and self._exact("scope", "local")
                and all(not self.fields.get(k) for k in _FOREIGN)
                and self._by_name("container", actor_id, attributes)
                and self._by_name("volume", actor_id, attributes)
                and self._by_name("network", actor_id, attributes)
                and self._image(event_type, actor_id, attributes)
                and self._labels(attributes))
