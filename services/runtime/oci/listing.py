"""``barque-oci list`` as runc 1.1 prints it: ``--format table`` (Go's
tabwriter with runc's settings: columns at least 12 wide, 3 spaces of
padding, the last column unpadded), ``--format json`` (one line, the
containers' states with their owner; ``null`` when there is none, as Go
encodes an empty slice), ``--quiet`` (ids only).
"""

from __future__ import annotations

import json
import os
import pwd

from client.errors import InvalidArgument

__all__ = ["FORMATS", "owner", "tabwrite", "render"]

FORMATS = ("table", "json")
_MIN_WIDTH, _PADDING = 12, 3
_COLUMNS = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def owner(state_dir: str) -> str:
    """The user name of the state dir's owner (runc's), ``#<uid>`` if unnamed."""
    try:
        uid = os.stat(state_dir).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def tabwrite(rows: list[list[str]]) -> str:
    """Go's ``tabwriter.NewWriter(w, 12, 1, 3, ' ', 0)`` over rows whose
    cells but the last end in a tab."""
    if not rows:
        return ""
    aligned = len(rows[0]) - 1
    widths = [max(_MIN_WIDTH, max(len(row[i]) for row in rows) + _PADDING) for i in range(aligned)]
    return "".join("".join(cell.ljust(w) for cell, w in zip(row, widths)) + row[-1] + "\n"
                   for row in rows)


def render(states: list[dict], fmt: str, quiet: bool) -> str:
    """The text ``list`` prints for ``states`` (each a state document with
    an ``owner``), in runc's layout for ``fmt``."""
    if fmt not in FORMATS:
        raise InvalidArgument("invalid format option")
    if quiet:
        return "".join(s["id"] + "\n" for s in states)
    if fmt == "json":
        docs = [{k: v for k, v in s.items() if k != "annotations" or v} for s in states]
        return json.dumps(docs or None, separators=(",", ":")) + "\n"
    rows = [list(_COLUMNS)]
    rows += [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s.get("owner", "")]
             for s in states]
    return tabwrite(rows)
