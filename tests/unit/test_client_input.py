"""ClientInput (the later messages of Run, Attach and Exec) and the narrow
ExecHost interface Execs works through."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from client.errors import FailedPrecondition, Internal, InvalidArgument
from services.runtime.engine.client_input import ClientInput
from services.runtime.engine.execs import ExecHost, Execs

WAIT = 5.0


def stdin(data: bytes = b"", eof: bool = False) -> runtime_pb2.ExecRequest:
    return runtime_pb2.ExecRequest(stdin=runtime_pb2.Frame(data=data, eof=eof))


def resize(height: int, width: int) -> runtime_pb2.AttachRequest:
    return runtime_pb2.AttachRequest(resize=runtime_pb2.Resize(height=height, width=width))


class Stream:
    """A client's request iterator the test feeds one message at a time."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self.taken = 0

    def send(self, req) -> None:
        self._queue.put(req)

    def close(self) -> None:
        self._queue.put(None)

    def fail(self) -> None:
        self._queue.put(RuntimeError("client went away"))

    def __iter__(self):
        while (req := self._queue.get()) is not None:
            if isinstance(req, Exception):
                raise req
            self.taken += 1
            yield req


class Target:
    def __init__(self, block: threading.Event | None = None, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.got = threading.Semaphore(0)
        self._block = block
        self._fail = fail

    def _record(self, call: tuple) -> None:
        self.calls.append(call)
        self.got.release()
        if self._fail:
            raise BrokenPipeError("gone")

    def send_stdin(self, data: bytes) -> None:
        if self._block is not None:
            self._block.wait(WAIT)
        self._record(("stdin", data))

    def close_stdin(self) -> None:
        self._record(("eof",))

    def resize(self, height: int, width: int) -> None:
        self._record(("resize", height, width))


def wait_calls(target: Target, count: int) -> list[tuple]:
    for _ in range(count):
        assert target.got.acquire(timeout=WAIT)
    return target.calls


def until(predicate) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_holds_until_bound_then_forwards_in_order():
    stream, target = Stream(), Target()
    client = ClientInput(stream)
    for req in (resize(24, 80), stdin(b"a"), stdin(b"b", eof=True)):
        stream.send(req)
    until(lambda: stream.taken == 3)
    assert client.size == (24, 80) and target.calls == []
    client.bind(target)
    stream.send(resize(30, 100))
    assert wait_calls(target, 5) == [("resize", 24, 80), ("stdin", b"a"), ("stdin", b"b"), ("eof",),
                                     ("resize", 30, 100)]
    assert client.size == (30, 100)
    stream.close()


def test_stdin_dropped_unless_asked_for():
    stream, target = Stream(), Target()
    client = ClientInput(stream, stdin=False)
    client.bind(target)
    for req in (stdin(b"x", eof=True), resize(1, 2)):
        stream.send(req)
    assert wait_calls(target, 1) == [("resize", 1, 2)]
    stream.close()


def test_wait_size_returns_on_a_resize_the_end_or_the_timeout():
    stream = Stream()
    client = ClientInput(stream)
    stream.send(stdin(b"early"))
    threading.Timer(0.05, stream.send, args=(resize(40, 120),)).start()
    assert client.wait_size(WAIT) == (40, 120)

    silent = ClientInput(Stream())
    started = time.monotonic()
    assert silent.wait_size(0.05) == (0, 0)
    assert time.monotonic() - started < WAIT

    ended = Stream()
    ended.close()
    assert ClientInput(ended).wait_size(WAIT) == (0, 0)


def test_bound_client_is_read_only_as_fast_as_delivered():
    stream, release = Stream(), threading.Event()
    target = Target(block=release)
    client = ClientInput(stream)
    client.bind(target)
    for data in (b"1", b"2", b"3"):
        stream.send(stdin(data))
    until(lambda: stream.taken == 1)
    time.sleep(0.05)
    assert stream.taken == 1  # the first frame is not delivered yet: the second is not read
    release.set()
    assert wait_calls(target, 3) == [("stdin", b"1"), ("stdin", b"2"), ("stdin", b"3")]
    stream.close()


def test_a_failing_target_or_client_stops_nothing_else():
    stream, target = Stream(), Target(fail=True)
    client = ClientInput(stream)
    client.bind(target)
    stream.send(stdin(b"1"))
    stream.send(resize(5, 6))
    assert wait_calls(target, 2) == [("stdin", b"1"), ("resize", 5, 6)]
    stream.fail()  # no EOF is sent for a client that went away
    assert client.wait_size(WAIT) == (5, 6)
    time.sleep(0.05)
    assert target.calls == [("stdin", b"1"), ("resize", 5, 6)]


# ---- Execs through ExecHost ----------------------------------------------------------

def host(tmp_path: Path, running: bool) -> tuple[ExecHost, list[str]]:
    asked: list[str] = []

    def find_container(ref: str) -> tuple[str, bool]:
        asked.append(ref)
        return "c" * 64, running

    return ExecHost(find_container=find_container, bundle_dir=lambda cid: tmp_path / cid,
                    oci=("barque-oci",), oci_root=tmp_path / "oci"), asked


def test_exec_into_a_stopped_container_is_refused(tmp_path: Path):
    exec_host, asked = host(tmp_path, running=False)
    with pytest.raises(FailedPrecondition, match="is not running"):
        Execs(exec_host).exec("web", ["true"], [])
    assert asked == ["web"]


def test_exec_reads_the_spec_from_the_bundle_the_host_names(tmp_path: Path):
    exec_host, _ = host(tmp_path, running=True)
    with pytest.raises(Internal, match="read the spec of container"):
        Execs(exec_host).exec("web", ["true"], [])
    (tmp_path / ("c" * 64)).mkdir()
    (tmp_path / ("c" * 64) / "config.json").write_text(json.dumps({"process": {}}))
    with pytest.raises(InvalidArgument, match="no command specified"):
        Execs(exec_host).exec("web", [], [])
