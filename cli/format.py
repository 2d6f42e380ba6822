"""Output helpers shared by the commands: Docker's units, relative times,
tables, and the Go-template forms people type after ``--format``."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Iterable

__all__ = [
    "human_size",
    "bytes_size",
    "time_ago",
    "parse_time",
    "render_table",
    "Template",
    "short_id",
    "print_documents",
]


def short_id(digest_or_id: str) -> str:
    return digest_or_id.removeprefix("sha256:")[:12]


def _scaled(size: float, base: float, units: list[str], precision: int) -> str:
    i = 0
    size = float(size)
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, ``precision``
    significant digits; 3 ("4.26MB") is what docker-cli's image and
    container tables use, 4 is HumanSize's ("1.234kB")."""
    return _scaled(size, 1000.0, ["B", "kB", "MB", "GB", "TB", "PB"], precision)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, four significant digits ("40MiB", "15.62GiB")."""
    return _scaled(size, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"], 4)


def parse_time(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds allowed), or None."""
    if not text:
        return None
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text.strip(), re.ASCII)
    if not m:
        return None
    base = datetime.fromisoformat(m.group(1))
    tz = m.group(3) or "Z"
    base = base.replace(tzinfo=timezone.utc) if tz == "Z" else datetime.fromisoformat(m.group(1) + tz)
    frac = float(m.group(2)) if m.group(2) else 0.0
    return base.timestamp() + frac


def time_ago(ts: float | None, now: float | None = None) -> str:
    """Docker's HumanDuration followed by " ago"."""
    if ts is None:
        return "N/A"
    seconds = max(0.0, (now or time.time()) - ts)
    return _human_duration(seconds) + " ago"


def _human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def render_table(headers: list[str], rows: Iterable[list[str]]) -> str:
    """Columns padded as Docker's tabwriter does (three spaces between columns)."""
    rows = [list(map(str, r)) for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for r in [headers] + rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


class Template:
    """The subset of Go's text/template that ``docker --format`` users type:
    ``{{.Field}}``, ``{{.A.B}}``, ``{{json .}}``, ``{{json .A}}``, ``{{upper .X}}``,
    ``{{lower .X}}``, ``{{.Field}}`` inside literal text, and a ``table`` prefix
    that prints a header row."""

    def __init__(self, text: str) -> None:
        text = text.replace("\\t", "\t").replace("\\n", "\n")
        self.table = text.startswith("table")
        if self.table:
            text = text[len("table"):].lstrip()
        self.text = text
        for expr in _ACTION.findall(text):
            self._compile(expr)

    @staticmethod
    def _compile(expr: str) -> tuple[str | None, list[str]]:
        parts = expr.split()
        func = None
        if len(parts) == 2 and parts[0] in ("json", "upper", "lower", "title"):
            func, path = parts
        elif len(parts) == 1:
            path = parts[0]
        else:
            raise ValueError(f"unsupported template action {{{{{expr}}}}}")
        if not path.startswith("."):
            raise ValueError(f"template: bad field {path!r}")
        return func, [p for p in path.split(".") if p]

    def header(self) -> str:
        def head(m: re.Match) -> str:
            _, path = self._compile(m.group(1))
            name = path[-1] if path else ""
            return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper()

        return _ACTION.sub(head, self.text)

    def render(self, obj: Any) -> str:
        def value(m: re.Match) -> str:
            func, path = self._compile(m.group(1))
            v = obj
            for key in path:
                if isinstance(v, dict):
                    if key not in v:
                        raise KeyError(f"template: can't evaluate field {key}")
                    v = v[key]
                else:
                    v = getattr(v, key)
            if func == "json":
                return json.dumps(v, separators=(",", ":"))
            s = _go_string(v)
            return {"upper": s.upper(), "lower": s.lower(), "title": s.title()}.get(func or "", s)

        return _ACTION.sub(value, self.text)

    def render_all(self, objs: Iterable[Any]) -> str:
        out = [self.render(o) for o in objs]
        if self.table:
            out.insert(0, self.header())
            rows = [line.split("\t") for line in out]
            if all(len(r) == len(rows[0]) for r in rows) and len(rows[0]) > 1:
                return render_table(rows[0], rows[1:])
        return "\n".join(out)


def print_documents(docs: list[Any], template: str | None) -> None:
    """What ``inspect`` prints: each document through the ``--format``
    template, or all of them as one JSON array indented by four (Docker's)."""
    if template:
        tpl = Template(template)
        for doc in docs:
            print(tpl.render(doc))
    else:
        print(json.dumps(docs, indent=4))


def _go_string(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_go_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_string(x)}" for k, x in sorted(v.items())) + "]"
    return str(v)
