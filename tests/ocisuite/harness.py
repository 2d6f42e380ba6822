"""Running runc's bats suite against one runtime: one ``bats --tap`` per file,
its TAP read into :class:`Result` rows, and what the run left behind.

Each bats runs in a session of its own whose controlling terminal is a pty we
hold (``setsid --ctty`` with the pty as stdin), as runc's CI runs the suite
under ``script``: a foreground ``runc run`` of ``runc spec``'s default bundle
(``terminal: true``) relays its own tty. Output goes to a pipe.

A file that prints nothing for ``STALL`` seconds has its runtime processes and
recvtty helpers killed (the test fails, the file goes on); a file still
running after ``FILE_LIMIT`` seconds has its session killed, and its tests not
yet reported count as failed ("timeout").

The leftovers checked after a runtime's run are only those the suite's own
paths name: the cgroups ``/runc-cgroups-integration-test``, ``/<id>`` and
``/barque/<id>`` for the container ids in its files (new since the run
started), mounts and processes under the work dir, and state left in its
TMPDIR.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import host
from tests.support.ocisuite import Suite, test_names

__all__ = ["STALL", "FILE_LIMIT", "Result", "parse_tap", "run_file", "snapshot", "leftovers", "clean"]

STALL = 90.0
FILE_LIMIT = 900.0
_LINE = re.compile(r"^(not ok|ok) (\d+) (.*?)( # skip(?: (.*))?)?$")


@dataclass
class Result:
    """One test: ``status`` is passed, failed or skipped; ``detail`` its
    diagnostic lines (failed) or the skip reason."""

    file: str
    name: str
    status: str
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.file}: {self.name}"


def parse_tap(file: str, text: str) -> list[Result]:
    """bats' TAP: ``ok N name``, ``ok N name # skip why``, ``not ok N name``
    followed by ``# ...`` diagnostics."""
    results: list[Result] = []
    for line in text.replace("\r", "").splitlines():
        m = _LINE.match(line)
        if m:
            kind, _num, name, skip, reason = m.groups()
            skipped = kind == "ok" and skip is not None
            status = "skipped" if skipped else "passed" if kind == "ok" else "failed"
            results.append(Result(file, name, status, reason or ""))
        elif line.startswith("#") and results and results[-1].status == "failed":
            results[-1].detail += line[1:].strip() + "\n"
    return results


def _ere(name: str) -> str:
    """``name`` as a literal in a POSIX extended regex (bats' --filter, bash's =~)."""
    return re.sub(r"([\\.\[\](){}*+?|^$])", r"\\\1", name)


@dataclass
class _Run:
    proc: subprocess.Popen
    out: list[bytes] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)


def _read(run: _Run, fd: int) -> None:
    """Collects bats' output until EOF, then closes the pipe (a raw fd: a stray
    process may keep it open after bats exits, and this thread with it)."""
    try:
        while data := os.read(fd, 65536):
            run.out.append(data)
            run.last = time.monotonic()
    finally:
        os.close(fd)


def _drain(fd: int) -> None:
    """Reads the pty's master until every holder of the slave is gone (EIO),
    then closes it: only this thread closes it, so its number is never reused
    under a read."""
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _helpers(work: Path, runtime: str) -> list[int]:
    """The runtime's and recvtty's processes of this run (their command lines name the work dir)."""
    mine = {os.getpid()}
    return [p for p in host.pids_matching(str(work)) if p not in mine
            and ("recvtty" in host.cmdline(p) or runtime in host.cmdline(p))]


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_file(suite: Suite, runtime: str, file: str, work: Path, *, only: list[str] | None = None,
             stall: float = STALL, limit: float = FILE_LIMIT) -> list[Result]:
    """``bats --tap FILE`` with ``RUNC=runtime``; ``only`` filters by exact test names."""
    env = dict(os.environ, RUNC=runtime, TMPDIR=str(work / "tmp"))
    (work / "tmp").mkdir(mode=0o755, exist_ok=True)
    argv = ["setsid", "--ctty", "bats", "--tap"]
    if only:
        argv += ["--filter", "^(" + "|".join(_ere(n) for n in only) + ")$"]
    master, slave = os.openpty()
    out_r, out_w = os.pipe()
    try:
        proc = subprocess.Popen([*argv, file], cwd=suite.integration, env=env, stdin=slave, stdout=out_w,
                                stderr=out_w)
    finally:
        os.close(slave)
        os.close(out_w)
    threading.Thread(target=_drain, args=(master,), daemon=True).start()
    run = _Run(proc)
    reader = threading.Thread(target=_read, args=(run, out_r), daemon=True)
    reader.start()
    start, timed_out, nudged = time.monotonic(), False, 0.0
    while proc.poll() is None:
        time.sleep(0.5)
        now = time.monotonic()
        if now - start > limit:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            _kill(_helpers(work, runtime))
            break
        if now - max(run.last, nudged) > stall:
            _kill(_helpers(work, runtime))  # a hung test fails; the file goes on
            nudged = now
    proc.wait()
    reader.join(5)  # a stray process may hold the pipe: the file's end is bats' exit
    results = parse_tap(file, b"".join(run.out).decode(errors="replace"))
    names = only or test_names(suite.integration / file)
    seen = {r.name for r in results}
    why = "timeout" if timed_out else "not reported by bats"
    results += [Result(file, n, "failed", why) for n in names if n not in seen]
    return results


def _cgroup_rels(ids: set[str]) -> list[str]:
    return ["runc-cgroups-integration-test", *sorted(ids), *(f"barque/{i}" for i in sorted(ids))]


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _plain_dirs_at_cgroup_root() -> set[str]:
    """Directories at the top of /sys/fs/cgroup that are no hierarchy (on a v1
    host it is a tmpfs): runc's helpers.bash makes one for every controller of
    /proc/cgroups with ``mkdir -p``, mounted or not (hugetlb, net_cls, ...)."""
    if not CGROUP_ROOT.is_dir():
        return set()
    return {str(d) for d in CGROUP_ROOT.iterdir()
            if d.is_dir() and not d.is_symlink() and not os.path.ismount(d)}


def snapshot(ids: set[str]) -> set[str]:
    """The suite-named cgroup dirs that exist now (someone else's stay out of
    the check), and the plain dirs at the cgroup root."""
    return ({os.path.realpath(d) for rel in _cgroup_rels(ids) for d in host.cgroup_dirs(rel)}
            | _plain_dirs_at_cgroup_root())


def leftovers(work: Path, runtime: str, ids: set[str], before: set[str]) -> dict[str, list[str]]:
    """What the run left: cgroups, mounts, processes and state files."""
    cgroups = sorted({os.path.realpath(d) for rel in _cgroup_rels(ids) for d in host.cgroup_dirs(rel)} - before,
                     key=lambda p: (-p.count("/"), p))
    procs = set(_helpers(work, runtime))
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/root").startswith(str(work)):
                    procs.add(int(entry))
            except OSError:
                continue
    for d in cgroups:
        try:
            procs.update(int(x) for x in Path(d, "cgroup.procs").read_text().split())
        except OSError:
            continue
    tmp = work / "tmp"
    state = sorted(str(p) for p in tmp.iterdir()) if tmp.is_dir() else []
    return {"cgroups": cgroups, "mounts": host.mounts_under(work),
            "processes": [f"{p} {host.cmdline(p)}" for p in sorted(procs - {os.getpid()})], "state": state,
            "plain dirs at the cgroup root": sorted(_plain_dirs_at_cgroup_root() - before)}


def clean(found: dict[str, list[str]]) -> None:
    """Removes what :func:`leftovers` found: processes, then mounts, then cgroups, then state."""
    _kill([int(p.split(" ", 1)[0]) for p in found["processes"]])
    for d in found["cgroups"]:
        for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            try:
                Path(d, name).write_text(value)
            except OSError:
                pass
    deadline = time.monotonic() + 10
    for d in found["cgroups"]:
        while True:
            try:
                _kill([int(x) for x in Path(d, "cgroup.procs").read_text().split()])
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    for point in reversed(found["mounts"]):
        subprocess.run(["umount", "-l", point], capture_output=True)
    for path in found["state"]:
        subprocess.run(["rm", "-rf", "--one-file-system", path], capture_output=True)
    for top in found.get("plain dirs at the cgroup root", []):  # empty dirs on the tmpfs, deepest first
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
