"""A failed ``create`` (or ``run``) leaves nothing: no barque-oci process, no
container process, no cgroup, no mount, no state dir, whichever step fails:
the init's own setup (a missing binary, a cwd that is a file, a mount whose
source is missing, a sysctl the kernel refuses), the spec's seccomp profile,
a hook, or the cgroup's limits. The id is free again afterwards: the same
bundle then creates and runs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import host
from tests.support.ocibundle import Bundle, assert_clean, temp_busybox_rootfs

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    with temp_busybox_rootfs("barque-failcreate-rootfs-") as root:
        (root / "afile").write_text("not a directory\n")
        yield root


def _break_binary(b: Bundle) -> None:
    b.args("/no/such/binary")


def _break_cwd(b: Bundle) -> None:
    b.config["process"]["cwd"] = "/afile"


def _break_mount(b: Bundle) -> None:
    b.config["mounts"].append({"destination": "/mnt", "type": "bind",
                               "source": "/nonexistent-barque-source", "options": ["rbind"]})


def _break_sysctl(b: Bundle) -> None:
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "not-a-number"}


def _break_seccomp(b: Bundle) -> None:
    b.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NO_SUCH_ACTION"}]}


def _break_seccomp_notify(b: Bundle) -> None:
    b.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}


def _break_hook(b: Bundle) -> None:
    b.config["hooks"] = {"createContainer": [{"path": "/bin/false"}]}


def _break_runtime_hook(b: Bundle) -> None:
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"],
                                            "timeout": 1}]}


def _break_rlimit(b: Bundle) -> None:
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NO_SUCH", "soft": 1, "hard": 1}]


BREAKS = {"missing binary": (_break_binary, "no such file"),
          "cwd is a file": (_break_cwd, "not a directory"),
          "bind source missing": (_break_mount, "nonexistent-barque-source"),
          "sysctl refused": (_break_sysctl, "sysctl"),
          "seccomp action": (_break_seccomp, "SCMP_ACT_NO_SUCH_ACTION"),
          "seccomp notify": (_break_seccomp_notify, "SCMP_ACT_NOTIFY is not supported"),
          "createContainer hook": (_break_hook, "createContainer: error running hook #0"),
          "createRuntime hook timeout": (_break_runtime_hook, "timeout of 1.0s"),
          "rlimit": (_break_rlimit, "RLIMIT_NO_SUCH")}


def _assert_nothing_left(b: Bundle) -> None:
    assert_clean(b)
    assert not host.pids_matching(str(b.state_root)), "a barque-oci process outlived its command"
    assert not host.pids_matching(str(b.dir)), "a process of the bundle outlived the create"


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_failed_create_leaves_nothing(tmp_path: Path, rootfs: Path, name: str, verb: str):
    b = Bundle(tmp_path, rootfs)
    b.args("sleep", "30")
    good = copy.deepcopy(b.config)
    breaker, words = BREAKS[name]
    breaker(b)
    b.write()
    done = b.cli(verb, "--bundle", str(b.dir), b.id)
    try:
        assert done.returncode != 0, done.stdout
        assert words.lower() in done.stderr.lower(), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert b.cli("state", b.id).returncode != 0
        _assert_nothing_left(b)
        # the id is free again: the same bundle, repaired, runs under it
        b.config = good
        again = b.run("echo", "again")
        assert again.returncode == 0 and again.stdout == "again\n", again.stderr
    finally:
        b.cli("delete", "--force", b.id)
    _assert_nothing_left(b)
