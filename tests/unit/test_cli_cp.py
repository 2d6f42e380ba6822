"""barque cp / export over a fake runtime stub: Docker's error texts and exit
status 1 for the refusals decided on the client's side and for the
runtime's errors, before anything is copied."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc
from barque.runtime.v1 import runtime_pb2

from cli.cp import FilesClient
from tests.support.clirun import RpcError, run_command


class FakeRuntime:
    """StatPath answers from ``paths``; every copy call is recorded and refused as NotFound."""

    def __init__(self, paths: dict[str, int] | None = None) -> None:
        self.paths = paths or {}
        self.calls: list[str] = []

    def StatPath(self, request, **_kw):
        self.calls.append(f"StatPath {request.path}")
        if request.path not in self.paths:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"Could not find the file {request.path} in container c")
        return runtime_pb2.StatPathResponse(stat=runtime_pb2.PathStat(name="x", mode=self.paths[request.path]))

    def CopyFrom(self, request, **_kw):
        self.calls.append(f"CopyFrom {request.id}:{request.path}")
        raise RpcError(grpc.StatusCode.NOT_FOUND, f"No such container: {request.id}")

    def CopyTo(self, requests, **_kw):
        header = next(iter(requests)).header
        self.calls.append(f"CopyTo {header.id}:{header.path}")
        raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "container rootfs is marked read-only")

    def Export(self, request, **_kw):
        self.calls.append(f"Export {request.id}")
        raise RpcError(grpc.StatusCode.NOT_FOUND, f"No such container: {request.id}")


def _cp(argv: list[str], fake: FakeRuntime, stdin: str = "") -> tuple[int, str, str]:
    return run_command(argv, {"files": (FilesClient, fake)}, stdin=stdin)


def test_copy_out_of_a_missing_container_or_path(tmp_path: Path) -> None:
    fake = FakeRuntime()
    assert _cp(["cp", "ghost:/etc/hosts", str(tmp_path)], fake) == (
        1, "", "Error: No such container:path: ghost:/etc/hosts\n")
    assert fake.calls == ["CopyFrom ghost:/etc/hosts"]


def test_refusals_decided_by_the_client(tmp_path: Path) -> None:
    fake = FakeRuntime({"/dev/null": stat.S_IFCHR | 0o666, "/etc/passwd": stat.S_IFREG | 0o644,
                        "/etc": stat.S_IFDIR | 0o755})
    src = tmp_path / "f"
    src.write_text("x")
    cases = [
        (["cp", "a:/x", "b:/y"], "copying between containers is not supported"),
        (["cp", "a", "b"], "must specify at least one container source"),
        (["cp", "", "c:/x"], "source can not be empty"),
        (["cp", str(src), "c:/dev/null"],
         'destination "c:/dev/null" must be a directory or a regular file: got a device'),
        (["cp", "-", "c:/etc/passwd"], 'destination "c:/etc/passwd" must be a directory'),
        (["cp", str(tmp_path / "nope"), "c:/etc"], f"lstat {tmp_path}/nope: no such file or directory"),
        (["cp", str(tmp_path), "c:/etc/passwd"], "cannot copy directory"),
        (["cp", str(src), "c:/new/"], "no such directory"),
        (["cp", "c:/etc/passwd", str(tmp_path / "missing" / "x")],
         f'invalid output path: directory "{tmp_path}/missing" does not exist'),
    ]
    for argv, message in cases:
        assert _cp(argv, fake) == (1, "", message + "\n"), argv
    assert not any(c.startswith(("CopyTo", "CopyFrom")) for c in fake.calls)


def test_runtime_errors_are_the_daemons(tmp_path: Path) -> None:
    fake = FakeRuntime({"/etc": stat.S_IFDIR | 0o755})
    src = tmp_path / "f"
    src.write_text("x")
    assert _cp(["cp", str(src), "c:/etc"], fake) == (
        1, "", "Error response from daemon: container rootfs is marked read-only\n")
    assert fake.calls == ["StatPath /etc", "CopyTo c:/etc"]
    assert _cp(["export", "-o", str(tmp_path / "out.tar"), "ghost"], fake) == (
        1, "", "Error response from daemon: No such container: ghost\n")
    assert not (tmp_path / "out.tar").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temp file left
