"""barque-oci's lifecycle hooks and ``run --keep``, on real containers.

Each stage's hook runs where runc runs it (prestart/createRuntime/poststart/
poststop in the runtime's namespaces, createContainer in the container's
mount namespace before pivot_root with the rootfs as cwd, startContainer in
the container after pivot_root) with the state document on its stdin; a
failing or overrunning hook fails its operation with runc's words and leaves
no process, cgroup, mount or state dir (:func:`_assert_nothing_left`). runc's
``hooks.bats`` is reproduced: a createRuntime hook bind-mounts into the
container's mount namespace through ``nsenter``, a createContainer hook
through the relative ``./lib``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import host
from tests.support.ocibundle import Bundle, assert_clean, delete_and_assert_clean, temp_busybox_rootfs

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    with temp_busybox_rootfs("barque-hooks-rootfs-") as root:
        (root / "lib").mkdir()
        yield root


@pytest.fixture
def bundle(tmp_path: Path, rootfs: Path) -> Iterator[Bundle]:
    b = Bundle(tmp_path, rootfs)
    b.config["root"]["readonly"] = False
    yield b
    delete_and_assert_clean(b)


def _assert_nothing_left(b: Bundle) -> None:
    assert_clean(b)
    assert not host.pids_matching(str(b.state_root)), "a barque-oci process outlived its command"


def _sh(script: str, **extra) -> dict:
    return {"path": "/bin/sh", "args": ["sh", "-c", script], **extra}


def test_every_stage_runs_in_order_with_its_state(bundle: Bundle, tmp_path: Path, rootfs: Path):
    out = tmp_path / "out"
    out.mkdir()
    hooks = {stage: [_sh(f"cat > {out}/{stage}.json; echo {stage} >> {out}/order; pwd > {out}/{stage}.cwd; "
                         f"readlink /proc/self/ns/mnt > {out}/{stage}.mnt")]
             for stage in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    # in the container, after pivot_root: writes into the container's /tmp
    hooks["startContainer"] = [_sh("cat > /tmp/start.json; readlink /proc/self/ns/mnt > /tmp/start.mnt")]
    bundle.config["hooks"] = hooks
    bundle.config["annotations"] = {"org.example/key": "value"}
    done = bundle.run("sh", "-c", "cat /tmp/start.json; echo; readlink /proc/self/ns/mnt; "
                                  "rm /tmp/start.json /tmp/start.mnt")
    assert done.returncode == 0, done.stderr
    started, container_mnt = done.stdout.splitlines()
    order = (out / "order").read_text().split()
    assert order == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    states = {s: json.loads((out / f"{s}.json").read_text()) for s in order}
    states["startContainer"] = json.loads(started)
    for stage, state in states.items():
        assert state["id"] == bundle.id and state["bundle"] == str(bundle.dir), stage
        assert state["annotations"] == {"org.example/key": "value"}, stage
    expected = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    assert {s: st["status"] for s, st in states.items()} == expected
    host_pid = states["createRuntime"]["pid"]
    assert host_pid > 1 and states["prestart"]["pid"] == host_pid == states["poststart"]["pid"]
    # inside the container's pid namespace the init is pid 1; poststop: no pid (runc's omitempty)
    assert states["createContainer"]["pid"] == 1 == states["startContainer"]["pid"]
    assert "pid" not in states["poststop"]
    assert (out / "createContainer.cwd").read_text().strip() == str(rootfs)
    own_mnt = Path("/proc/self/ns/mnt").readlink().as_posix()
    for stage in ("prestart", "createRuntime", "poststart", "poststop"):
        assert (out / f"{stage}.mnt").read_text().strip() == own_mnt, stage
    assert (out / "createContainer.mnt").read_text().strip() == container_mnt != own_mnt


def test_hooks_bats_bind_mounts_from_both_creation_stages(bundle: Bundle, tmp_path: Path,
                                                          rootfs: Path):
    """runc's hooks.bats, with files instead of shared libraries."""
    for name in ("cr", "cc"):
        (bundle.dir / f"lib{name}").write_text(f"from {name}\n")
    lib = rootfs / "lib"
    runtime = (f"pid=$(cat - | sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); touch {lib}/libcr; "
               f"nsenter -m -t $pid mount --bind {bundle.dir}/libcr {lib}/libcr")
    bundle.config["hooks"] = {
        "createRuntime": [_sh(runtime)],
        "createContainer": [_sh(f"touch ./lib/libcc && mount --bind {bundle.dir}/libcc ./lib/libcc")],
        "startContainer": [_sh("cat /lib/libcr /lib/libcc > /tmp/seen-at-start")],
    }
    try:
        done = bundle.run("sh", "-c", "cat /lib/libcr /lib/libcc /tmp/seen-at-start; rm /tmp/seen-at-start")
    finally:
        for name in ("libcr", "libcc"):
            (lib / name).unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["from cr", "from cc", "from cr", "from cc"]
    assert not host.mounts_naming(str(lib)), "a hook's mount escaped to the host"


@pytest.mark.parametrize("stage", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_creation_hook_fails_create_and_leaves_nothing(bundle: Bundle, stage: str):
    bundle.config["hooks"] = {stage: [_sh("true"), _sh("echo out; echo err >&2; exit 3")]}
    bundle.args("sleep", "30")
    bundle.write()
    done = bundle.cli("create", "--bundle", str(bundle.dir), bundle.id)
    assert done.returncode == 1
    assert (f"{stage}: error running hook #1: error running hook: exit status 3, "
            "stdout: out , stderr: err") in done.stderr
    assert bundle.cli("state", bundle.id).returncode != 0
    _assert_nothing_left(bundle)


def test_a_failing_start_container_hook_ends_the_container(bundle: Bundle):
    bundle.config["hooks"] = {"startContainer": [_sh("exit 4")]}
    done = bundle.run("echo", "never")
    assert done.returncode == 1 and "never" not in done.stdout
    assert "startContainer: error running hook #0: error running hook: exit status 4" in done.stderr
    _assert_nothing_left(bundle)


def test_a_failing_poststart_hook_kills_the_container_and_fails_start(bundle: Bundle):
    bundle.config["hooks"] = {"poststart": [_sh("exit 5")]}
    bundle.args("sleep", "30")
    bundle.write()
    with open(bundle.dir / "create.err", "w+") as err:
        done = bundle.cli("create", "--bundle", str(bundle.dir), bundle.id, capture_output=False,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        assert done.returncode == 0
    done = bundle.cli("start", bundle.id)
    assert done.returncode == 1 and "poststart: error running hook #0" in done.stderr
    assert json.loads(bundle.cli("state", bundle.id).stdout)["status"] == "stopped"
    assert bundle.cli("delete", bundle.id).returncode == 0
    _assert_nothing_left(bundle)


def test_a_failing_poststop_hook_fails_delete_and_the_container_is_gone(bundle: Bundle):
    bundle.config["hooks"] = {"poststop": [_sh("exit 6")]}
    done = bundle.run("echo", "ran")
    # run: the process's exit code, the hook's failure on stderr (runc logs it)
    assert done.returncode == 0 and done.stdout == "ran\n"
    assert "poststop: error running hook #0: error running hook: exit status 6" in done.stderr
    _assert_nothing_left(bundle)
    kept = bundle.cli("run", "--keep", "--bundle", str(bundle.dir), bundle.id)
    assert kept.returncode == 0
    done = bundle.cli("delete", bundle.id)
    assert done.returncode == 1 and "poststop: error running hook #0" in done.stderr
    assert bundle.cli("state", bundle.id).returncode != 0
    _assert_nothing_left(bundle)


def test_a_hook_past_its_timeout_is_killed(bundle: Bundle, tmp_path: Path):
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {tmp_path}/hook.pid; exec sleep 30"],
         "timeout": 1}]}
    started = time.monotonic()
    done = bundle.run("true")
    assert done.returncode == 1
    assert "createRuntime: error running hook #0: hook ran past specified timeout of 1.0s" in done.stderr
    assert time.monotonic() - started < 15
    assert not host.alive(int((tmp_path / "hook.pid").read_text()))
    _assert_nothing_left(bundle)


def test_hook_env_args_and_a_bad_hook(bundle: Bundle, tmp_path: Path):
    out = tmp_path / "env"
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/sh", "args": ["argv0", "-c", f'echo "$0" > {out}; cat /proc/$$/environ >> {out}'],
                      "env": ["HOOKVAR=set"]}]}
    assert bundle.run("true").returncode == 0
    # args is the whole argv; env the whole environment (nothing of the runtime's)
    assert out.read_bytes() == b"argv0\nHOOKVAR=set\0"
    bundle.config["hooks"] = {"prestart": [{"path": "/nonexistent/hook"}]}
    done = bundle.run("true")
    assert done.returncode == 1 and "prestart: error running hook #0" in done.stderr
    bundle.config["hooks"] = {"prestart": [{"path": "relative/hook"}]}
    done = bundle.run("true")
    assert done.returncode == 1 and "absolute" in done.stderr
    _assert_nothing_left(bundle)


def test_run_keep_leaves_the_stopped_container_and_its_cgroup(bundle: Bundle):
    """runc's run.bats: ``run --keep``, then the container is ``stopped``
    with its cgroup until ``delete``."""
    bundle.args("sh", "-c", "exit 7")
    bundle.write()
    done = bundle.cli("run", "--keep", "--bundle", str(bundle.dir), bundle.id)
    assert done.returncode == 7, done.stderr
    state = json.loads(bundle.cli("state", bundle.id).stdout)
    assert state["status"] == "stopped"
    assert host.container_cgroups(bundle.id), "run --keep removed the cgroup"
    assert bundle.cli("delete", bundle.id).returncode == 0
    assert bundle.cli("state", bundle.id).returncode != 0
    _assert_nothing_left(bundle)
