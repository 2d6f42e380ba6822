"""``barque stats`` and ``barque top`` on the real kernel, real services and
the busybox image: figures of containers under a known load (memory
written to a tmpfs under a ``-m`` limit, a busy loop under ``--cpus 0.5``,
a known number of processes, traffic to the bridge's gateway), Docker's
columns, ``--format`` fields and errors, the stream following containers,
top's rows (the container's processes, and only them), and the cgroup v2
reader on this host's cgroup2 hierarchy."""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import select
import signal
import statistics
import time
import subprocess
import threading

import pytest

from barque.runtime.v1 import runtime_pb2
from services.runtime.oci import cgroups
from tests.support.engine import CLI, REPO
from tests.support.host import container_cgroups, interruptible
from tests.support.runtime import close_runtime_engine, start_runtime_engine, wait_for

pytestmark = [pytest.mark.root]

MiB = 1 << 20
_BINARY = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _bytes(text: str) -> float:
    """A go-units BytesSize figure ("41.5MiB") back to bytes."""
    m = re.fullmatch(r"([\d.]+)([A-Za-z]+)", text.strip())
    assert m, text
    return float(m.group(1)) * _BINARY[m.group(2)]


def _one(engine, ref: str, field: str, *flags: str) -> str:
    res = engine.ok("stats", "--no-stream", "--format", f"{{{{.{field}}}}}", *flags, ref)
    assert len(res.lines) == 1, res.stdout
    return res.lines[0]


def _raw(engine, ref: str) -> runtime_pb2.ContainerStats:
    """One sample through the RPC itself (exact counters, not the CLI's rounding)."""
    with engine.client("runtime") as stub:
        (response,) = list(stub.Stats(runtime_pb2.StatsRequest(ids=[ref])))
    (sample,) = response.stats
    return sample


def test_memory_usage_and_limit(clean, busybox):
    clean.ok("run", "-d", "--name", "mem", "-m", "128m", "--tmpfs", "/scratch:size=64m", busybox,
             "sh", "-c", "dd if=/dev/zero of=/scratch/x bs=1M count=40 && touch /scratch/done && sleep 1000")
    wait_for(lambda: clean.cli("exec", "mem", "test", "-e", "/scratch/done").returncode == 0,
             what="the 40 MiB write")
    usage, limit = _one(clean, "mem", "MemUsage").split(" / ")
    assert _bytes(limit) == 128 * MiB, limit
    assert 40 * MiB <= _bytes(usage) < 128 * MiB, usage
    percent = float(_one(clean, "mem", "MemPerc").rstrip("%"))
    assert 40 / 128 * 100 - 1 <= percent < 100, percent
    sample = _raw(clean, "mem")
    assert sample.running and sample.memory.limit == 128 * MiB and sample.memory.usage >= 40 * MiB


def test_cpu_of_a_busy_loop_under_half_a_cpu(clean, busybox):
    clean.ok("run", "-d", "--name", "busy", "--cpus", "0.5", busybox, "sh", "-c", "while :; do :; done")
    # --no-stream's figure is the average since the start: a second of the
    # quota (50 ms per 100 ms period) first, then the median of a few
    time.sleep(1)
    figures = [float(_one(clean, "busy", "CPUPerc").rstrip("%")) for _ in range(3)]
    assert 25 <= statistics.median(figures) <= 75, figures


def test_pids_table_and_format_fields(clean, busybox):
    clean.ok("run", "-d", "--name", "three", busybox, "sh", "-c", "sleep 1000 & sleep 1001 & wait")
    wait_for(lambda: _one(clean, "three", "PIDs") == "3", what="sh and its two sleeps")
    cid = clean.ok("inspect", "--format", "{{.Id}}", "three").lines[0]

    table = clean.ok("stats", "--no-stream", "three").lines
    assert len(table) == 2, table
    header, row = table
    assert re.split(r" {2,}", header) == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %",
                                          "NET I/O", "BLOCK I/O", "PIDS"]
    cells = re.split(r" {2,}", row)
    assert cells[:2] == [cid[:12], "three"] and cells[-1] == "3", row
    assert re.fullmatch(r"\d+\.\d\d%", cells[2]) and re.fullmatch(r"\d+\.\d\d%", cells[4]), row

    assert clean.ok("stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}} {{.Container}}",
                    "three").lines == ["three: 3 three"]
    custom = clean.ok("stats", "--no-stream", "--format", "table {{.Name}}\t{{.PIDs}}", "three").lines
    assert [re.split(r" {2,}", line) for line in custom] == [["NAME", "PIDS"], ["three", "3"]]
    (doc,) = [json.loads(line) for line in clean.ok("stats", "--no-stream", "--no-trunc", "--format",
                                                       "{{json .}}", cid[:8]).lines]
    assert sorted(doc) == ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]
    assert (doc["ID"], doc["Name"], doc["Container"], doc["PIDs"]) == (cid, "three", cid[:8], "3")


def test_net_io_grows_with_traffic_to_the_gateway(clean, busybox):
    clean.ok("run", "-d", "--name", "net", busybox, "sleep", "1000")
    gateway = clean.ok("inspect", "--format", "{{.NetworkSettings.Gateway}}", "net").lines[0]
    before = _raw(clean, "net")
    assert [n.name for n in before.networks] == ["eth0"]
    clean.ok("exec", "net", "ping", "-c", "3", "-W", "2", gateway)
    after = _raw(clean, "net")
    (b,), (a,) = before.networks, after.networks
    assert a.tx_packets >= b.tx_packets + 3 and a.tx_bytes >= b.tx_bytes + 3 * 98
    assert a.rx_packets >= b.rx_packets + 3 and a.rx_bytes >= b.rx_bytes + 3 * 98
    rx, tx = _one(clean, "net", "NetIO").split(" / ")
    assert rx.endswith("B") and tx.endswith("B") and tx != "0B", (rx, tx)


def test_all_shows_stopped_containers_with_zero_figures(clean, busybox):
    clean.ok("create", "--name", "idle", busybox, "true")
    assert "idle" not in clean.ok("stats", "--no-stream", "--format", "{{.Name}}").stdout
    lines = clean.ok("stats", "--no-stream", "-a", "--format",
                     "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.PIDs}}").lines
    assert "idle|0.00%|0B / 0B|0B / 0B|0" in lines, lines


def test_missing_containers_are_reported_as_docker_does(clean, busybox):
    res = clean.cli("stats", "--no-stream", "ghost")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "Error response from daemon: No such container: ghost\n")
    clean.ok("run", "-d", "--name", "here", busybox, "sleep", "1000")
    res = clean.cli("stats", "--no-stream", "here", "ghost", "phantom")
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr.splitlines() == ["Error response from daemon: No such container: ghost",
                                       "Error response from daemon: No such container: phantom"]
    res = clean.cli("top", "ghost")
    assert (res.returncode, res.stderr) == (1, "Error response from daemon: No such container: ghost\n")


class _Reader:
    """A streaming ``barque stats`` whose stdout lines arrive on a queue."""

    def __init__(self, engine, *args: str) -> None:
        self.proc = subprocess.Popen(interruptible([*CLI, "stats", *args]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **engine.env}, cwd=REPO)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, predicate, timeout: float = 20) -> str:
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                self.seen.append(line)
                if predicate(line):
                    return line
        except queue.Empty:
            raise AssertionError(f"no such line in {timeout}s: {self.seen}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_the_stream_follows_containers_and_ends_on_ctrl_c(clean, busybox):
    clean.ok("run", "-d", "--name", "first", busybox, "sleep", "1000")
    reader = _Reader(clean, "--format", "{{.Name}} {{.PIDs}}")
    try:
        reader.wait_line(lambda line: line == "first 1")
        clean.ok("run", "-d", "--name", "second", busybox, "sleep", "1000")
        reader.wait_line(lambda line: line == "second 1")
        clean.ok("rm", "-f", "first")
        reader.wait_line(lambda line: line == "second 1")  # the round after the removal
        mark = len(reader.seen)
        reader.wait_line(lambda line: line == "second 1")
        reader.wait_line(lambda line: line == "second 1")
        assert "first 1" not in reader.seen[mark:], reader.seen
        assert all("\033[2J" not in line for line in reader.seen)  # no redraw off a terminal
        reader.proc.send_signal(signal.SIGINT)
        assert reader.proc.wait(15) == 130
        assert "Traceback" not in reader.proc.stderr.read()
    finally:
        reader.close()


def test_on_a_terminal_each_round_redraws_in_place(clean, busybox):
    """Docker's cleanScreen before each round: clear the screen, home the cursor."""
    clean.ok("run", "-d", "--name", "shown", busybox, "sleep", "1000")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, "stats", "--format", "{{.Name}}"], stdin=follower, stdout=follower,
                            stderr=follower, env={**os.environ, **clean.env}, cwd=REPO)
    os.close(follower)
    seen = b""
    try:
        while seen.count(b"\033[2J\033[H") < 2:
            ready, _, _ = select.select([leader], [], [], 20)
            assert ready, seen
            seen += os.read(leader, 4096)
        assert b"\033[2J\033[Hshown\r\n\033[2J\033[H" in seen, seen
    finally:
        proc.kill()
        proc.wait(10)
        os.close(leader)


def test_top_shows_the_container_processes_only(clean, busybox):
    clean.ok("run", "-d", "--name", "tops", busybox, "sh", "-c", "sleep 1000 & sleep 1001 & wait")
    wait_for(lambda: _one(clean, "tops", "PIDs") == "3", what="sh and its two sleeps")
    lines = clean.ok("top", "tops", "-o", "pid,comm").lines
    assert lines[0].split() == ["PID", "COMMAND"]
    rows = [line.split() for line in lines[1:]]
    assert sorted(comm for _, comm in rows) == ["sh", "sleep", "sleep"], lines
    cid = clean.ok("inspect", "--format", "{{.Id}}", "tops").lines[0]
    on_host = {int(p) for d in container_cgroups(cid) for p in (d / "cgroup.procs").read_text().split()}
    assert {int(pid) for pid, _ in rows} == on_host
    assert re.match(r"PID {17}COMMAND$", lines[0]), lines[0]  # tabwriter(20, 1, 3)

    default = clean.ok("container", "top", "tops").lines
    assert default[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert sorted(line.split(None, 7)[7] for line in default[1:]) == [
        "sh -c sleep 1000 & sleep 1001 & wait", "sleep 1000", "sleep 1001"]


def test_top_errors_as_moby(clean, busybox):
    clean.ok("create", "--name", "notrun", busybox, "true")
    cid = clean.ok("inspect", "--format", "{{.Id}}", "notrun").lines[0]
    res = clean.cli("top", "notrun")
    assert (res.returncode, res.stderr) == (1, f"Error response from daemon: Container {cid} is not running\n")
    clean.ok("run", "-d", "--name", "up", busybox, "sleep", "1000")
    res = clean.cli("top", "up", "--no-such-option")
    assert res.returncode == 1 and res.stderr.startswith("Error response from daemon: ps: "), res.stderr
    res = clean.cli("top", "up", "-o", "user=PID")
    assert (res.returncode, res.stderr) == (
        1, 'Error response from daemon: specifying "user=PID" is not allowed\n')


# ---- the cgroup v2 reader on this host's cgroup2 hierarchy ---------------------------------

def _v2_root() -> str | None:
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if cgroups.is_v2(root):
            return root
    return None


@pytest.fixture(scope="module")
def v2_engine(test_images):
    root = _v2_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    eng = start_runtime_engine(BARQUE_CGROUP_VERSION="2", BARQUE_CGROUP2_ROOT=root)
    try:
        eng.ok("pull", test_images["oci-gzip"].ref)
        yield eng
    finally:
        close_runtime_engine(eng)


def test_v2_stats_of_a_busy_container(v2_engine, test_images):
    v2_engine.ok("run", "-d", "--name", "spin", test_images["oci-gzip"].ref, "sh", "-c", "while :; do :; done")
    try:
        sample = _raw(v2_engine, "spin")
        # the first sample's baseline is the start: no CPU then, the host's counter earlier than now
        assert sample.cpu.total_usage > 0 and sample.precpu.total_usage == 0
        assert 0 < sample.preread_nanos < sample.read_nanos
        assert 0 < sample.precpu.system_cpu_usage < sample.cpu.system_cpu_usage
        assert sample.cpu.online_cpus > 0 and sample.memory.limit > 0
        assert float(_one(v2_engine, "spin", "CPUPerc").rstrip("%")) > 20
        rows = [line.split() for line in v2_engine.ok("top", "spin", "-o", "pid,comm").lines[1:]]
        assert [comm for _, comm in rows] == ["sh"], rows
    finally:
        v2_engine.ok("rm", "-f", "spin")
