"""``logs --since/--until``: a Go duration back from now, an RFC 3339 time or Unix seconds."""

from __future__ import annotations

import pytest

from cli.containers import parse_since
from client.errors import InvalidArgument

NOW = 1_000_000.0
S = 1_000_000_000


@pytest.mark.parametrize("text,expected", [
    ("", 0), ("0", 0), ("10s", int(NOW * S) - 10 * S), ("1h30m", int(NOW * S) - 5400 * S),
    ("250ms", int(NOW * S) - 250_000_000), ("1.5", int(1.5 * S)), ("42", 42 * S),
    ("1970-01-02T00:00:00Z", 86400 * S), ("1970-01-02T00:00:00", 86400 * S),
])
def test_parse_since(text, expected):
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "10d", "1e3"])
def test_parse_since_refuses(text):
    with pytest.raises(InvalidArgument, match="since/until"):
        parse_since(text, now=NOW)
