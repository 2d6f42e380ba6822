"""The directories a service prepares at start: its socket's (only ours are
chmodded) and its state (0700 every time, refused when not ours to secure).
A state dir owned by another user needs a chown: tests/kernel/test_service_dirs_owner.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from client.config import Config
from client.errors import FailedPrecondition
from services.common.server import STATE_DIR_MODE, prepare_state_dir, prepare_unix_socket


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


def test_state_dirs_created_private(tmp_path):
    config = Config(state_dir=tmp_path / "lib" / "barque")
    assert prepare_state_dir(config, "images") == tmp_path / "lib" / "barque" / "images"
    assert _mode(config.state_dir) == STATE_DIR_MODE == 0o700
    assert _mode(config.state("images")) == 0o700


def test_state_dirs_taken_back_to_private(tmp_path):
    config = Config(state_dir=tmp_path / "barque")
    for d in (config.state_dir, config.state("runtime")):
        d.mkdir()
        os.chmod(d, 0o755)
    (config.state("runtime") / "kept").write_text("x")
    prepare_state_dir(config, "runtime")
    assert _mode(config.state_dir) == 0o700 and _mode(config.state("runtime")) == 0o700
    assert (config.state("runtime") / "kept").read_text() == "x"


def test_shared_state_dir_is_refused(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(FailedPrecondition) as err:
        prepare_state_dir(Config(state_dir=shared), "images")
    assert "is shared with other users (mode 1777)" in str(err.value)
    assert _mode(shared) == 0o1777
