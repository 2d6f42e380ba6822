"""Issue 9: ``bench/README.md`` names only files that exist (and so do
``tests/README.md`` and ``docs/architecture.md``). A path is a code span
that starts with one of the repository's own folders; spans with a
placeholder (``<...>``) or a glob name what a run writes, not a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("bench/", "tests/", "services/", "cli/", "client/", "deploy/", "docs/", "protos/")
DOCS = ("bench/README.md", "tests/README.md", "docs/architecture.md")


def named_paths(text: str) -> list[str]:
    """Repository paths named in ``text``'s code spans (each word of a span
    that starts with a repository folder, trailing punctuation dropped)."""
    out = []
    for span in re.findall(r"`([^`\n]+)`", text):
        for word in span.split():
            word = word.rstrip(".,:;)")
            if word.startswith(FOLDERS) and not re.search(r"[<>*{}…]", word):
                out.append(word.split("::", 1)[0])
    return out


def test_named_paths_picks_repository_paths_only():
    text = ("run `python bench/pull.py` then `.venv/bin/pytest tests/unit/x.py::test_y`; "
            "results in `bench/results/pull-<stamp>.json`, logs in `/var/log/barque`, and `barque/`.")
    assert named_paths(text) == ["bench/pull.py", "tests/unit/x.py"]


@pytest.mark.parametrize("doc", DOCS)
def test_documents_name_only_files_that_exist(doc):
    names = named_paths((ROOT / doc).read_text())
    assert names, f"{doc} names no repository path: the check would see nothing"
    missing = sorted({n for n in names if not (ROOT / n).exists()})
    assert missing == [], f"{doc} names paths that do not exist: {missing}"
