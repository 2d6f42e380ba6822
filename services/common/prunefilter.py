"""Docker's prune filters, shared by the image-store's and the runtime's
prunes: ``until=<timestamp|duration>``, ``label=KEY[=VALUE]`` and
``label!=KEY[=VALUE]`` (moby ``daemon/prune.go`` and
``api/types/time.GetTimestamp``).

- ``until``: a Go duration ("24h", "1h30m", "90s") before now, an RFC 3339
  time or a shorter one ("2006-01-02T15:04:05", "2006-01-02"; UTC when it
  names no zone), or Unix seconds ("1700000000.5"). Only what was created
  at or before it is pruned; the last ``until`` given wins, as moby's.
- ``label``: every value must match (the key present, and equal when a
  value is given: moby's MatchKVList); ``label!``: excluded only when every
  one of its values matches.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from client.errors import InvalidArgument

__all__ = ["PruneFilter", "parse_until", "parse_created", "PRUNE_KEYS"]

PRUNE_KEYS = ("until", "label", "label!")

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = re.compile(r"(\d{4}-\d\d-\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d)(\.\d+)?)?)?)?(Z|[+-]\d\d:\d\d)?", re.ASCII)


def _duration(text: str) -> float | None:
    """Seconds of a Go duration, or None when ``text`` is not one."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        return None
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(body):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return sign * total if pos == len(body) else None


def parse_created(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (``created`` of an image
    or a container), or None when it is empty or not one."""
    m = _TIME.fullmatch(text.strip()) if text else None
    if m is None:
        return None
    date, hh, mm, ss, frac, zone = m.groups()
    base = datetime.fromisoformat(f"{date}T{hh or '00'}:{mm or '00'}:{ss or '00'}")
    if zone and zone != "Z":
        base = datetime.fromisoformat(base.isoformat() + zone)
    else:
        base = base.replace(tzinfo=timezone.utc)
    return base.timestamp() + (float(frac) if frac else 0.0)


def parse_until(value: str, now: float | None = None) -> float:
    """The instant ``until=value`` names, in seconds since the epoch."""
    now = time.time() if now is None else now
    text = value.strip()
    seconds = _duration(text)
    if seconds is not None:
        return now - seconds
    created = parse_created(text)
    if created is not None:
        return created
    if re.fullmatch(r"-?\d+(\.\d{1,9})?", text):
        return float(text)
    raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')  # moby's words


def _match_kv(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    for want in wanted:
        key, sep, val = want.partition("=")
        if key not in labels or (sep and labels[key] != val):
            return False
    return True


@dataclass(frozen=True)
class PruneFilter:
    """A prune's filters, parsed; :meth:`include` says whether an object goes."""

    until: float | None = None
    labels: list[str] = field(default_factory=list)
    not_labels: list[str] = field(default_factory=list)
    extra: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, filters: Iterable[str], allowed: Sequence[str] = PRUNE_KEYS,
              now: float | None = None) -> "PruneFilter":
        """``["until=24h", "label=a=b"]``; a key outside ``allowed`` is
        refused as moby refuses it. Keys beyond the three shared ones that
        ``allowed`` names (``dangling``) are kept in ``extra``."""
        until: float | None = None
        labels: list[str] = []
        not_labels: list[str] = []
        extra: dict[str, list[str]] = {}
        for f in filters:
            key, sep, value = f.partition("=")
            if not sep:
                raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
            if key not in allowed:
                raise InvalidArgument(f"Invalid filter '{key}'")  # moby's words, capital and all
            if key == "until":
                until = parse_until(value, now)
            elif key == "label":
                labels.append(value)
            elif key == "label!":
                not_labels.append(value)
            else:
                extra.setdefault(key, []).append(value)
        return cls(until, labels, not_labels, extra)

    def include(self, created: float | None, labels: Mapping[str, str] | None) -> bool:
        """True when an object created at ``created`` (None: unknown, kept
        by an ``until``) with ``labels`` is to be pruned."""
        if self.until is not None and (created is None or created > self.until):
            return False
        labels = labels or {}
        if self.labels and not _match_kv(self.labels, labels):
            return False
        if self.not_labels and _match_kv(self.not_labels, labels):
            return False
        return True
