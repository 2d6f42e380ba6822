"""Issue 7 (low): identifier validators match the whole value. The static
guard in test_identifier_anchors walks services/, cli/ and deploy/; the
reference, digest and port validators have since moved to the client library
(client/), which it does not walk. This extends it there, and checks that the
guard itself still sees a ``$``-anchored pattern."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_identifier_anchors import _dollar_anchored

ROOT = Path(__file__).resolve().parents[2]


def test_client_library_has_no_dollar_anchored_validators():
    assert (ROOT / "client" / "reference.py").exists()
    assert _dollar_anchored(ROOT / "client") == []


def test_the_guard_sees_a_dollar_anchored_pattern(tmp_path: Path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "names.py").write_text(
        "import re\n\n"
        "def ok(v):\n    return re.fullmatch(r'[a-z]+', v)\n\n"
        "def bad(v):\n    return re.match(r'^[a-z]+$', v)\n\n"
        "def multiline(v):\n    return re.search(r'^x$', v, re.MULTILINE)\n")
    assert _dollar_anchored(package) == ["pkg/names.py:7"]
