"""barque-oci's sync pipe: the pid (from the intermediate) and ready (from
the container process) arrive in either order; an error wins."""

from __future__ import annotations

import json
import os

import pytest

from services.runtime.oci.container import InitFailed, _read_child_reports


def _pipe_with(*messages: dict) -> int:
    reader, writer = os.pipe()
    os.write(writer, b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    os.close(writer)
    return reader


@pytest.mark.parametrize("order", [({"pid": 42}, {"ready": True}), ({"ready": True}, {"pid": 42})],
                         ids=["pid-first", "ready-first"])
def test_pid_and_ready_in_either_order(order):
    pid, msg = _read_child_reports(_pipe_with(*order))
    assert (pid, msg) == (42, {"ready": True})


def test_error_is_raised_with_its_code():
    with pytest.raises(InitFailed) as err:
        _read_child_reports(_pipe_with({"pid": 42}, {"error": "exec: no such file", "code": 127}))
    assert (str(err.value), err.value.exit_code) == ("exec: no such file", 127)


def test_ready_without_pid_fails_clearly():
    with pytest.raises(InitFailed, match="pid never came"):
        _read_child_reports(_pipe_with({"ready": True}))


def test_nothing_reported_fails_clearly():
    with pytest.raises(InitFailed, match="exited before it was ready"):
        _read_child_reports(_pipe_with({"pid": 42}))
