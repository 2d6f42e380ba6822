"""The directory of a service's socket: only ours are chmodded."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.common.server import prepare_unix_socket


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("dir_mode", [0o755, 0o1777, 0o750], ids=["0755", "1777", "0750"])
def test_existing_foreign_socket_dir_is_left_alone(tmp_path, dir_mode):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, dir_mode)
    assert prepare_unix_socket(f"unix://{d}/x.sock", run_dir=tmp_path / "run") == f"{d}/x.sock"
    assert _mode(d) == dir_mode


def test_missing_socket_dirs_are_created_private(tmp_path):
    os.chmod(tmp_path, 0o755)
    old = os.umask(0o022)
    try:
        prepare_unix_socket(f"unix:{tmp_path}/a/b/x.sock")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == 0o700 and _mode(tmp_path / "a" / "b") == 0o700
    assert _mode(tmp_path) == 0o755


def test_the_configured_run_dir_is_kept_private(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.chmod(run, 0o755)
    prepare_unix_socket(f"unix://{run}/images.sock", run_dir=run)
    assert _mode(run) == 0o700


def test_a_shared_run_dir_is_still_left_alone(tmp_path):
    run = tmp_path / "tmp"
    run.mkdir()
    os.chmod(run, 0o1777)
    prepare_unix_socket(f"unix://{run}/images.sock", run_dir=run)
    assert _mode(run) == 0o1777
