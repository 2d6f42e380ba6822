"""Security review, issue 7, against real services: state directories no other
user can walk into, and a socket's directory left alone when it is not barque's.

Services are started as real processes; the unprivileged user is the host's
``nobody`` (``runuser``).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import needs_root
from tests.integration.engine import Engine

pytestmark = pytest.mark.integration

#: runuser drops root (capabilities included) before it execs the command;
#: setpriv would still hold CAP_DAC_OVERRIDE for its own exec of the command
NOBODY = ["runuser", "-u", "nobody", "--"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=30)


def _engine_root() -> Path:
    """A temp dir as Engine.create makes it: 0755, so only what is under it decides."""
    root = Path(tempfile.mkdtemp(prefix=f"barque-engine-{os.getpid()}-"))
    os.chmod(root, 0o755)
    (root / "barque.toml").write_text("# test engine: everything comes from the environment\n")
    return root


@pytest.fixture
def unstarted_engine() -> Iterator[Engine]:
    """An engine whose directories a test prepares before it starts services."""
    eng = Engine(_engine_root(), ())
    yield eng
    eng.close()


# ---- 1. state directories ---------------------------------------------------


@needs_root
def test_state_dirs_made_private_at_every_start(unstarted_engine):
    """A state root and service dirs left 0755 (older barque, a hand, systemd's
    StateDirectory parent) are 0700 once the service starts, and again after
    a restart; a setuid-root binary under them is out of ``nobody``'s reach."""
    eng = unstarted_engine
    state = eng.root / "state"
    for d in (state, state / "registry", state / "images"):
        d.mkdir()
        os.chmod(d, 0o755)
    binary = state / "images" / "setuid-true"
    shutil.copy("/bin/true", binary)
    os.chmod(binary, 0o4755)
    assert _as_nobody("stat", str(binary)).returncode == 0, "setup: nobody should reach it before the fix"

    for service in ("registry", "images"):
        eng.start(service)
    for d in (state, state / "registry", state / "images"):
        assert _mode(d) == 0o700, f"{d} is {_mode(d):o}"

    res = _as_nobody("stat", str(binary))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res
    res = _as_nobody(str(binary))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res
    res = _as_nobody("ls", str(state))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res

    # every start, not only the one that creates them
    os.chmod(state, 0o755)
    os.chmod(state / "registry", 0o755)
    eng.restart("registry")
    assert _mode(state) == 0o700 and _mode(state / "registry") == 0o700
    assert "state_dir.mode_fixed" in eng.log("registry").read_text()


# ---- 3. the socket's directory -----------------------------------------------


@pytest.mark.parametrize("dir_mode", [0o755, 0o1777], ids=["0755", "1777"])
def test_socket_in_a_foreign_dir_keeps_its_mode(unstarted_engine, dir_mode):
    """``unix://<dir>/x.sock`` in a directory barque does not own (think /tmp):
    the directory keeps its mode, the socket is 0600."""
    eng = unstarted_engine
    foreign = eng.root / "foreign"
    foreign.mkdir()
    os.chmod(foreign, dir_mode)
    eng.extra_env["BARQUE_REGISTRY_ADDRESS"] = f"unix://{foreign}/x.sock"
    eng.start("registry")
    assert _mode(foreign) == dir_mode
    assert _mode(foreign / "x.sock") == 0o600
    assert stat.S_ISSOCK(os.stat(foreign / "x.sock").st_mode)


def test_socket_dir_created_private(unstarted_engine):
    """A socket directory that does not exist yet is created 0700, parents too."""
    eng = unstarted_engine
    sock_dir = eng.root / "new" / "sockets"
    eng.extra_env["BARQUE_REGISTRY_ADDRESS"] = f"unix://{sock_dir}/x.sock"
    eng.start("registry")
    assert _mode(sock_dir) == 0o700
    assert _mode(sock_dir.parent) == 0o700
    assert _mode(eng.root) == 0o755
    assert _mode(sock_dir / "x.sock") == 0o600
