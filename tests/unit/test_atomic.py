"""services.common.atomic: temp file, fsync, rename, fsync of the directory."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from services.common import atomic
from services.common.atomic import fsync_dir, is_temp_of, write_atomic


def _recording_fsync(monkeypatch, events: list) -> None:
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        events.append(("fsync", "dir" if stat.S_ISDIR(st.st_mode) else "file", (st.st_dev, st.st_ino)))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(src), os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)


def test_writes_content_and_replaces(tmp_path: Path):
    target = tmp_path / "state.json"
    write_atomic(target, b"first")
    write_atomic(str(target), b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert os.listdir(tmp_path) == ["state.json"]


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640])
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_mode_is_exact_whatever_the_umask(tmp_path: Path, mode, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "f", b"x", mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == mode


def test_default_mode_is_private(tmp_path: Path):
    write_atomic(tmp_path / "f", b"x")
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_file_fsynced_before_rename_and_directory_after(tmp_path: Path, monkeypatch):
    events: list = []
    _recording_fsync(monkeypatch, events)
    write_atomic(tmp_path / "pid", b"42")
    directory = os.stat(tmp_path)
    target = os.stat(tmp_path / "pid")
    assert [e[:2] for e in events] == [("fsync", "file"), ("replace", events[1][1]), ("fsync", "dir")]
    assert events[0][2] == (target.st_dev, target.st_ino)  # the renamed file is the one fsynced
    assert events[1][2] == "pid" and is_temp_of(events[1][1], "pid")
    assert events[2][2] == (directory.st_dev, directory.st_ino)


def test_relative_path_fsyncs_the_working_directory(tmp_path: Path, monkeypatch):
    events: list = []
    monkeypatch.chdir(tmp_path)
    _recording_fsync(monkeypatch, events)
    write_atomic("status.json", b"{}")
    assert (tmp_path / "status.json").read_bytes() == b"{}"
    directory = os.stat(tmp_path)
    assert events[-1] == ("fsync", "dir", (directory.st_dev, directory.st_ino))


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_no_temp_file_left_on_error_and_old_content_kept(tmp_path: Path, monkeypatch, failing):
    target = tmp_path / "record.json"
    write_atomic(target, b"old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_missing_directory_raises_and_creates_nothing(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nope" / "f", b"x")
    assert os.listdir(tmp_path) == []


def test_fsync_dir_fsyncs_that_directory(tmp_path: Path, monkeypatch):
    events: list = []
    _recording_fsync(monkeypatch, events)
    fsync_dir(tmp_path)
    st = os.stat(tmp_path)
    assert events == [("fsync", "dir", (st.st_dev, st.st_ino))]


def test_is_temp_of():
    assert is_temp_of(".state.json.0123456789ab.tmp", "state.json")
    assert not is_temp_of("state.json", "state.json")
    assert not is_temp_of(".state.json.0123.tmp", "state")
    assert not is_temp_of(".other.json.0123.tmp", "state.json")


def test_imports_only_os():
    """The shim and the zygote load this module and are kept lean."""
    tree = ast.parse(Path(atomic.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"os", "__future__"}
