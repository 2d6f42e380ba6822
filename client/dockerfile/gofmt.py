"""Go's ``fmt`` verbs as moby's legacy builder uses them in history entries.

The builder writes ``fmt.Sprintf("CMD %q", cmd)``, ``"VOLUME %v"``,
``"HEALTHCHECK %+v"`` and the like into each step's ``created_by``; these
helpers reproduce those strings so that barque's history reads as
``docker history`` of the same Dockerfile does.
"""

from __future__ import annotations

from typing import Optional, Sequence

from client.ports import go_quote

__all__ = ["go_q_list", "go_q_rune", "go_v_list", "go_duration", "go_healthcheck"]

_UNITS = (("h", 3600 * 10**9), ("m", 60 * 10**9))


def go_q_list(items: Optional[Sequence[str]]) -> str:
    """``%q`` of a ``[]string``: ``["a" "b"]``; a nil slice is ``[]``."""
    return "[" + " ".join(go_quote(x) for x in items or ()) + "]"


def go_v_list(items: Optional[Sequence[str]]) -> str:
    """``%v`` of a ``[]string``: ``[a b]``."""
    return "[" + " ".join(items or ()) + "]"


def go_duration(ns: int) -> str:
    """``time.Duration.String()``: ``0s``, ``1.5s``, ``1m30s``, ``2h0m0s``, ``500ms``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    out = ""
    for unit, size in _UNITS:
        if ns >= size or out:
            out += f"{ns // size}{unit}"
            ns %= size
    return sign + out + _fraction(ns, 10**9) + "s"


def _fraction(value: int, size: int) -> str:
    whole, rest = divmod(value, size)
    if not rest:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + f"{rest:0{digits}d}".rstrip("0")


def go_q_rune(n: int) -> str:
    """``%q`` of an int: Go quotes it as a rune literal (``'\\x03'``, ``'A'``)."""
    ch = chr(n)
    if ch == "'":
        return "'\\''"
    quoted = go_quote(ch)[1:-1]
    return "'" + (quoted if quoted != '\\"' else '"') + "'"


def go_healthcheck(health: dict) -> str:
    """``%q`` of docker 20.10's ``*container.HealthConfig`` (dispatchHealthcheck
    formats it so): ``&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\\x00'}``."""
    return (
        "&{" + go_q_list(health.get("Test"))
        + " " + go_quote(go_duration(int(health.get("Interval") or 0)))
        + " " + go_quote(go_duration(int(health.get("Timeout") or 0)))
        + " " + go_quote(go_duration(int(health.get("StartPeriod") or 0)))
        + " " + go_q_rune(int(health.get("Retries") or 0)) + "}"
    )
