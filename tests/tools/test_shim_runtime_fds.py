"""The shim's in-process barque-oci child closes every inherited fd >= 3,
also those numbered above a lowered RLIMIT_NOFILE (SC_OPEN_MAX)."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in its own interpreter: spawn() forks, which the test process must not.
SCRIPT = textwrap.dedent("""
    import fcntl, os, resource
    from services.runtime.shim import ocirun as runtime

    def list_fds(args):
        names = sorted(int(n) for n in os.listdir("/proc/self/fd"))
        os.write(1, " ".join(map(str, names)).encode())
        return 0

    runtime.run_oci_inproc = list_fds  # what the child runs instead of barque-oci
    keep_r, keep_w = os.pipe()
    high = fcntl.fcntl(keep_r, fcntl.F_DUPFD, 100)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    out_r, out_w = os.pipe()
    null = os.open("/dev/null", os.O_RDWR)
    pid = runtime.spawn([runtime.INPROC_OCI, "state", "x"], null, out_w, 2)
    os.close(out_w)
    listed = b""
    while chunk := os.read(out_r, 4096):
        listed += chunk
    _, status = os.waitpid(pid, 0)
    print(f"high={high} status={status} fds={listed.decode()}")
""")


def test_inproc_runtime_child_closes_fds_above_the_nofile_limit():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    fields = dict(item.split("=", 1) for item in done.stdout.strip().split(" ", 2))
    assert int(fields["high"]) >= 100
    assert fields["status"] == "0"
    # stdio, and 3: the directory fd listdir itself had open
    assert fields["fds"].split() == ["0", "1", "2", "3"], fields["fds"]


FALLBACK = textwrap.dedent("""
    import fcntl, os, resource, sys
    from services.runtime.oci import syscalls

    def refused(*args):
        raise OSError(int(sys.argv[1]), "close_range refused")

    syscalls.close_range = refused
    if sys.argv[2] == "no-proc":
        def no_proc(path):
            raise FileNotFoundError(path)
        os.listdir = no_proc
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    r, w = os.pipe()
    fds = [fcntl.fcntl(r, fcntl.F_DUPFD, n) for n in (300, min(hard, 1 << 20) - 1)]
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    syscalls.close_fds_from(200)
    for fd in fds:
        try:
            os.fstat(fd)
            print("open")
        except OSError:
            print("closed")
    os.fstat(r)
    os.fstat(w)
""")


def _run_fallback(err: int, proc: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", FALLBACK, str(err), proc], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("err", [errno.ENOSYS, errno.EPERM])
def test_close_fds_from_walks_proc_when_close_range_fails(err):
    assert _run_fallback(err, "proc") == ["closed", "closed"]


def test_close_fds_from_closes_every_number_without_proc():
    assert _run_fallback(errno.ENOSYS, "no-proc") == ["closed", "closed"]
