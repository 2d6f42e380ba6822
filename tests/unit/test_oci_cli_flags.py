"""barque-oci's runc flags that runc's integration suite uses in every test:
``list -q`` (each teardown) and ``run -d`` (create + start, then return)."""

from __future__ import annotations

import pytest

from client.errors import FailedPrecondition
from services.runtime.oci import cli
from services.runtime.oci.state import ContainerState, StateStore


def _call(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    return int(done.value.code)


def test_list_quiet_prints_the_ids_only(tmp_path, capsys):
    store = StateStore(str(tmp_path))
    for cid in ("first", "second"):
        store.reserve(cid)
        store.save(ContainerState(id=cid, bundle="/b", rootfs="/b/rootfs", pid=0))
    assert _call(["--root", str(tmp_path), "list", "-q"]) == 0
    assert sorted(capsys.readouterr().out.split("\n")) == ["", "first", "second"]
    assert _call(["--root", str(tmp_path), "list", "--quiet"]) == 0
    assert "ID" not in capsys.readouterr().out


def test_list_quiet_with_no_container_prints_nothing(tmp_path, capsys):
    assert _call(["--root", str(tmp_path / "absent"), "list", "-q"]) == 0
    assert capsys.readouterr().out == ""


def _record(monkeypatch, fail_start: bool = False) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr(cli.container, "create", lambda store, cid, *a: calls.append(("create", cid, *a)))

    def start(store, cid):
        calls.append(("start", cid))
        if fail_start:
            raise FailedPrecondition(f"container {cid!r} cannot start")

    monkeypatch.setattr(cli.container, "start", start)
    monkeypatch.setattr(cli.container, "delete", lambda store, cid, force=False: calls.append(("delete", cid, force)))
    monkeypatch.setattr(cli.container, "run", lambda *a: pytest.fail("run -d must not wait in the foreground"))
    return calls


def test_run_detach_creates_and_starts_then_returns(tmp_path, monkeypatch):
    calls = _record(monkeypatch)
    code = _call(["--root", str(tmp_path), "run", "-d", "--pid-file", "p", "-b", "/bundle", "c1"])
    assert code == 0
    assert calls == [("create", "c1", "/bundle", "p", None, 0), ("start", "c1")]


def test_run_detach_deletes_what_a_failed_start_created(tmp_path, monkeypatch, capsys):
    calls = _record(monkeypatch, fail_start=True)
    assert _call(["--root", str(tmp_path), "run", "--detach", "c1"]) == 1
    assert calls[-1] == ("delete", "c1", True)
    assert "barque-oci: run: container 'c1' cannot start" in capsys.readouterr().err
