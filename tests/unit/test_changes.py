"""docker diff's rules over plain directories (no whiteouts: those need root
and live in tests/kernel/test_commit_layer.py): added and modified paths,
parents reported C before their entries, a directory only copied up for a
child not reported, walk order by byte name, no stat through a lower
layer's symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.images.changes import Change, ChangeKind, changes
from services.images.events import new_log, select


def _tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _same_times(upper: Path, lower: Path, rel: str) -> None:
    st = os.stat(lower / rel)
    os.chmod(upper / rel, st.st_mode & 0o7777)
    os.utime(upper / rel, ns=(st.st_atime_ns, st.st_mtime_ns))


def _lines(result: list[Change]) -> list[str]:
    return [str(c) for c in result]


def test_added_modified_and_parents(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", {"etc/passwd": "root", "usr/lib/x": "x", "var/": ""})
    upper = _tree(tmp_path / "upper", {"etc/passwd": "root\nme", "usr/lib/new/deep/file": "n", "zz": "z"})
    for rel in ("etc", "usr", "usr/lib"):
        _same_times(upper, lower, rel)
    assert _lines(changes(upper, [str(lower)])) == [
        "C /etc/passwd",        # /etc unchanged itself and no add or delete below it: not listed
        "C /usr",               # parents of an added path are listed before it
        "C /usr/lib",
        "A /usr/lib/new",
        "A /usr/lib/new/deep",
        "A /usr/lib/new/deep/file",
        "A /zz",
    ]


def test_changed_directory_is_listed(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", {"data/": ""})
    upper = _tree(tmp_path / "upper", {"data/": ""})
    os.chmod(upper / "data", 0o700)
    os.chmod(lower / "data", 0o755)
    assert changes(upper, [str(lower)]) == [Change("/data", ChangeKind.MODIFIED)]


def test_lookup_goes_through_every_lower_top_first(tmp_path: Path) -> None:
    base = _tree(tmp_path / "base", {"a/old": "1"})
    top = _tree(tmp_path / "top", {"b/": ""})
    upper = _tree(tmp_path / "upper", {"a/old": "2", "b/c": "3"})
    for rel, lower in (("a", base), ("b", top)):
        _same_times(upper, lower, rel)
    assert _lines(changes(upper, [str(top), str(base)])) == ["C /a/old", "C /b", "A /b/c"]


def test_walk_is_by_byte_name_per_directory(tmp_path: Path) -> None:
    upper = _tree(tmp_path / "upper", {"a-b": "", "a/z": "", "B": "", "a.c": ""})
    assert _lines(changes(upper, [])) == ["A /B", "A /a", "A /a/z", "A /a-b", "A /a.c"]


def test_lower_symlink_parent_is_not_followed(tmp_path: Path) -> None:
    outside = _tree(tmp_path / "outside", {"secret": "s"})
    lower = tmp_path / "lower"
    lower.mkdir()
    os.symlink(outside, lower / "link")
    upper = _tree(tmp_path / "upper", {"link/secret": "t"})
    # the path under a lower symlink is not in that layer: added, never compared with the host file
    assert _lines(changes(upper, [str(lower)])) == ["C /link", "A /link/secret"]


def test_empty_upper_has_no_changes(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", {"etc/passwd": "root"})
    upper = _tree(tmp_path / "upper", {})
    assert changes(upper, [str(lower)]) == []


def test_image_events_window_and_filters() -> None:
    log = new_log()
    image_id = "sha256:" + "ab" * 32
    log.emit("pull", "busybox:latest", event_type="image", name="busybox")
    log.emit("tag", image_id, event_type="image", name="busybox:mine")
    log.emit("delete", image_id, event_type="image", name=image_id)
    times = [e.time_ns for e in log.stream(1, lambda: True)]

    def actions(since: int, until: int, *filters: str) -> list[str]:
        return [e.action for e in select(log, since, until, list(filters), lambda: True)]

    assert actions(times[0], times[2]) == ["pull", "tag", "delete"]
    assert actions(times[1], times[1]) == ["tag"]
    assert actions(times[0], times[2], "event=tag", "event=delete") == ["tag", "delete"]
    assert actions(times[0], times[2], "image=busybox") == ["pull", "tag"]
    assert actions(times[0], times[2], "type=container") == []
    with pytest.raises(InvalidArgument):
        list(select(log, 1, 2, ["bogus=1"], lambda: True))
