"""services.runtime.oci.hooks without a container: the spec's hooks checked,
the state document's shape (runc's ``specs.State``), and a hook run as
runc's ``Command.Run`` runs it (argv, env, stdin, captured output, timeout)."""

from __future__ import annotations

import json
import os
import time

import pytest

from services.runtime.oci import hooks
from services.runtime.oci.spec import SpecError


@pytest.mark.parametrize("bad", [
    {"hooks": []},
    {"hooks": {"prestop": []}},
    {"hooks": {"prestart": {}}},
    {"hooks": {"prestart": [{"path": "sh"}]}},
    {"hooks": {"prestart": [{}]}},
    {"hooks": {"poststop": [{"path": "/bin/true", "args": "true"}]}},
    {"hooks": {"poststop": [{"path": "/bin/true", "env": [1]}]}},
    {"hooks": {"poststart": [{"path": "/bin/true", "timeout": 0}]}},
    {"hooks": {"poststart": [{"path": "/bin/true", "timeout": True}]}},
    {"hooks": {"poststart": [{"path": "/bin/true", "timeout": 1.5}]}},
])
def test_bad_hooks_are_refused(bad: dict):
    with pytest.raises(SpecError):
        hooks.validate(bad)


def test_good_hooks_pass_and_has_reads_stages():
    spec = {"hooks": {"createRuntime": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"],
                                         "timeout": 3}], "poststop": None, "poststart": []}}
    hooks.validate(spec)
    hooks.validate({})
    assert hooks.has(spec, "prestart", "createRuntime")
    assert not hooks.has(spec, "poststart", "poststop")
    assert not hooks.has({}, *hooks.STAGES)


def test_state_document_leaves_out_pid_zero_and_empty_annotations():
    spec = {"ociVersion": "1.0.2"}
    assert hooks.state_document(spec, "c1", "/b", "stopped", 0) == {
        "ociVersion": "1.0.2", "id": "c1", "status": "stopped", "bundle": "/b"}
    spec["annotations"] = {"k": "v"}
    assert hooks.state_document(spec, "c1", "/b", "creating", 42) == {
        "ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b",
        "annotations": {"k": "v"}}


def test_a_hook_reads_the_state_and_gets_its_argv_and_env(tmp_path):
    out = tmp_path / "out"
    spec = {"hooks": {"poststop": [
        {"path": "/bin/sh", "args": ["zero", "-c", f'cat > {out}; echo "$0|$ONLY" >> {out}'],
         "env": ["ONLY=this"]}]}}
    hooks.run(spec, "poststop", {"id": "x", "status": "stopped"})
    state, tail = out.read_text().split("}", 1)
    assert json.loads(state + "}") == {"id": "x", "status": "stopped"}
    assert tail == "zero|this\n"


def test_failures_name_stage_index_status_and_output():
    spec = {"hooks": {"prestart": [{"path": "/bin/true"},
                                   {"path": "/bin/sh", "args": ["sh", "-c", "echo o; echo e >&2; exit 9"]}]}}
    with pytest.raises(hooks.HookFailed) as err:
        hooks.run(spec, "prestart", {})
    assert str(err.value) == ("prestart: error running hook #1: error running hook: exit status 9, "
                              "stdout: o\n, stderr: e\n")
    with pytest.raises(hooks.HookFailed, match="prestart: error running hook #0: fork/exec /nonexistent: no such file"):
        hooks.run({"hooks": {"prestart": [{"path": "/nonexistent"}]}}, "prestart", {})
    with pytest.raises(hooks.HookFailed, match="signal: killed"):
        hooks.run({"hooks": {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $$"]}]}},
                  "prestart", {})


def test_timeout_kills_the_hook():
    spec = {"hooks": {"poststart": [{"path": "/bin/sleep", "args": ["sleep", "20"], "timeout": 1}]}}
    started = time.monotonic()
    with pytest.raises(hooks.HookFailed, match=r"hook ran past specified timeout of 1\.0s"):
        hooks.run(spec, "poststart", {})
    assert time.monotonic() - started < 5


def _reports(*messages: dict) -> int:
    reader, writer = os.pipe()
    os.write(writer, b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    os.close(writer)
    return reader


@pytest.mark.parametrize("order", [
    [{"hooks": True}, {"pid": 42}, {"ready": True}],
    [{"pid": 42}, {"hooks": True}, {"ready": True}],
])
def test_the_inits_hooks_request_waits_for_its_host_pid(order):
    """The init may ask for the creation hooks before the intermediate has
    reported its pid: the request is answered once the pid is known."""
    from services.runtime.oci import container
    calls: list[dict] = []
    reported: dict = {}
    pid, _ = container._read_child_reports(_reports(*order), calls.append, reported)
    assert pid == 42 == reported["pid"]
    assert calls == [{"hooks": True, "pid": 42}]


def test_a_hooks_request_without_a_handler_fails_and_the_pid_is_known():
    from services.runtime.oci import container
    reported: dict = {}
    with pytest.raises(container.InitFailed, match="unexpected request"):
        container._read_child_reports(_reports({"pid": 7}, {"hooks": True}), None, reported)
    assert reported == {"pid": 7}
