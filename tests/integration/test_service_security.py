"""Security review, issue 7, against real services: a socket's directory left
alone when it is not barque's.

Services are started as real processes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.engine import Engine

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


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
