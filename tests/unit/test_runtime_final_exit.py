"""A Run or Attach stream's last message is the container's exit status,
also when ``--rm`` removed the container before the stream asked for it;
``wait`` itself keeps Docker's "no such container" for a removed one."""

from __future__ import annotations

import threading

import pytest

from client.errors import NotFound
from services.runtime.engine import lifecycle
from services.runtime.core import ExitStatus, RuntimeService


class _NoContainers:
    def find(self, ref: str):
        raise NotFound(f"No such container: {ref}")


def _service() -> RuntimeService:
    svc = RuntimeService.__new__(RuntimeService)
    svc.store = _NoContainers()
    svc._guard = threading.Lock()
    svc._removed_exits = {}
    svc._exited = {}
    return svc


def test_a_removed_containers_status_is_the_streams_last_word():
    svc = _service()
    svc._remember_exit("a" * 64, ExitStatus(3, False, ""))
    assert svc.final_exit("a" * 64) == ExitStatus(3, False, "")
    with pytest.raises(NotFound):
        svc.wait("a" * 64)


def test_an_unknown_container_is_still_not_found():
    with pytest.raises(NotFound):
        _service().final_exit("b" * 64)


def test_only_the_newest_removed_statuses_are_kept():
    svc = _service()
    for n in range(lifecycle.REMEMBERED_EXITS + 5):
        svc._remember_exit(f"{n:064x}", ExitStatus(n % 256, False, ""))
    assert len(svc._removed_exits) == lifecycle.REMEMBERED_EXITS
    with pytest.raises(NotFound):
        svc.final_exit(f"{0:064x}")
    newest = lifecycle.REMEMBERED_EXITS + 4
    assert svc.final_exit(f"{newest:064x}").exit_code == newest % 256
