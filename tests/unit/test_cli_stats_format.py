"""``barque stats`` / ``barque top`` rendering from constructed protos and a
fake runtime stub, against docker/cli v20.10's stats_helpers.go (CPU %,
memory less inactive file), formatter_stats.go (fields, headers, "--"),
go-units (BytesSize, HumanSizeWithPrecision), formatter.go's
tabwriter(10, 1, 3) and top.go's tabwriter(20, 1, 3)."""

from __future__ import annotations

import json

import grpc
import pytest

from barque.runtime.v1 import runtime_pb2 as pb
from cli.format import bytes_size
from cli.nouns import tabwrite
from cli.stats import (
    StatsClient,
    cpu_percent,
    mem_usage_no_cache,
    render_stats,
    render_top,
    stats_entry,
)
from tests.support.clirun import RpcError, run_command

MiB = 1 << 20
CID = "0123456789ab" + "c" * 52


def _sample(**over) -> pb.ContainerStats:
    s = pb.ContainerStats(
        id=CID, name="web", running=True,
        cpu=pb.CpuStats(total_usage=3_000_000_000, system_cpu_usage=20_000_000_000, online_cpus=4),
        precpu=pb.CpuStats(total_usage=2_950_000_000, system_cpu_usage=19_600_000_000, online_cpus=4),
        memory=pb.MemoryStats(usage=45 * MiB, limit=128 * MiB, stats={"total_inactive_file": 5 * MiB}),
        networks=[pb.NetworkStats(name="eth0", rx_bytes=1000, tx_bytes=456),
                  pb.NetworkStats(name="eth1", rx_bytes=234, tx_bytes=0)],
        block_read=0, block_write=4096, pids=3)
    for key, value in over.items():
        setattr(s, key, value)
    return s


@pytest.mark.parametrize("size, text", [(0, "0B"), (1023, "1023B"), (1536, "1.5KiB"), (40 * MiB, "40MiB"),
                                        (128 * MiB, "128MiB"), (2087452672, "1.944GiB"),
                                        (16303580 * 1024, "15.55GiB")])
def test_bytes_size_is_go_units_binary(size, text):
    assert bytes_size(size) == text


def test_cpu_percent_is_the_share_of_host_time_times_cpus():
    # 50 ms of container time in 400 ms of host time over 4 CPUs: half a CPU
    assert cpu_percent(_sample()) == pytest.approx(50.0)
    first = _sample()
    first.precpu.Clear()  # the first sample of a container new to the stream: since its start
    assert cpu_percent(first) == pytest.approx(3e9 / 20e9 * 4 * 100)
    idle = _sample()
    idle.precpu.total_usage = idle.cpu.total_usage
    assert cpu_percent(idle) == 0.0
    assert cpu_percent(pb.ContainerStats()) == 0.0


def test_memory_usage_less_inactive_file_v1_then_v2():
    assert mem_usage_no_cache(pb.MemoryStats(usage=100, stats={"total_inactive_file": 30, "inactive_file": 10})) == 70
    assert mem_usage_no_cache(pb.MemoryStats(usage=100, stats={"inactive_file": 10})) == 90
    # v1 key present but not below usage: falls through to inactive_file, as docker/cli does
    assert mem_usage_no_cache(pb.MemoryStats(usage=100, stats={"total_inactive_file": 200,
                                                                "inactive_file": 40})) == 60
    assert mem_usage_no_cache(pb.MemoryStats(usage=100, stats={"inactive_file": 100})) == 100
    assert mem_usage_no_cache(pb.MemoryStats(usage=100)) == 100


def test_entry_fields():
    assert stats_entry(_sample(), "web") == {
        "BlockIO": "0B / 4.1kB", "CPUPerc": "50.00%", "Container": "web", "ID": "0123456789ab",
        "MemPerc": "31.25%", "MemUsage": "40MiB / 128MiB", "Name": "web", "NetIO": "1.23kB / 456B", "PIDs": "3"}
    assert stats_entry(_sample(), "web", trunc=False)["ID"] == CID
    stopped = stats_entry(pb.ContainerStats(id=CID, name="idle"), "0123456789ab")
    assert (stopped["CPUPerc"], stopped["MemUsage"], stopped["MemPerc"], stopped["NetIO"], stopped["BlockIO"],
            stopped["PIDs"]) == ("0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0")
    assert stats_entry(pb.ContainerStats(id=CID), "x")["Name"] == "--"


def test_default_table_is_docker_s():
    assert render_stats([stats_entry(_sample(), "web")], "") == (
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O    PIDS\n"
        "0123456789ab   web       50.00%    40MiB / 128MiB      31.25%    1.23kB / 456B   0B / 4.1kB   3\n")
    assert render_stats([], "table") == (
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n")


def test_templates_custom_tables_and_json():
    entry = stats_entry(_sample(), "web")
    assert render_stats([entry, entry], "{{.Name}}: {{.CPUPerc}}") == "web: 50.00%\nweb: 50.00%\n"
    assert render_stats([entry], "table {{.Container}}\t{{.MemPerc}}\t{{.PIDs}}") == (
        "CONTAINER   MEM %     PIDS\nweb         31.25%    3\n")
    (line,) = render_stats([entry], "{{json .}}").splitlines()
    assert line.startswith('{"BlockIO":"0B / 4.1kB","CPUPerc":"50.00%","Container":"web",')
    assert json.loads(line) == entry and render_stats([entry], "json") == line + "\n"


def test_tabwriter_minimum_width_and_trailing_cell():
    assert tabwrite("a\tbb\tc\ndddddddddddd\te\tf", 10) == (
        "a              bb        c\ndddddddddddd   e         f")
    assert render_top(["PID", "COMMAND"], [["1", "sh"], ["23", "sleep"]]) == (
        "PID                 COMMAND\n1                   sh\n23                  sleep\n")


# ---- the commands over a fake stub --------------------------------------------------------

class FakeRuntime:
    def __init__(self, rounds=(), error: RpcError | None = None, top: pb.TopResponse | None = None) -> None:
        self.rounds, self.error, self.top_body = list(rounds), error, top
        self.requests: list = []

    def Stats(self, request, **_):
        self.requests.append(request)
        if self.error:
            raise self.error
        return iter(self.rounds)

    def Top(self, request, **_):
        self.requests.append(request)
        if self.error:
            raise self.error
        return self.top_body


def _run(argv, fake):
    return run_command(argv, {"stats": (StatsClient, fake)})


def test_stats_command_asks_once_without_stream_and_prints_the_table():
    fake = FakeRuntime([pb.StatsResponse(stats=[_sample()])])
    status, out, err = _run(["stats", "--no-stream", "--format", "{{.Container}} {{.Name}} {{.ID}}", "web", "web"],
                            fake)
    assert (status, out, err) == (0, "web web 0123456789ab\n", "")
    (request,) = fake.requests
    assert (list(request.ids), request.all, request.stream) == (["web"], False, False)
    status, out, _ = _run(["container", "stats", "-a", "--no-trunc"],
                          FakeRuntime([pb.StatsResponse(stats=[_sample()])] * 2))
    assert status == 0 and out.count("CONTAINER ID") == 2 and CID in out and "\033[2J" not in out


def test_stats_errors_are_docker_s_lines_and_exit_1():
    fake = FakeRuntime(error=RpcError(grpc.StatusCode.NOT_FOUND,
                                      "No such container: ghost\nNo such container: phantom"))
    assert _run(["stats", "--no-stream", "ghost", "phantom"], fake) == (
        1, "", ("Error response from daemon: No such container: ghost\n"
                "Error response from daemon: No such container: phantom\n"))


def test_top_command_prints_ps_columns_and_passes_its_options():
    body = pb.TopResponse(titles=["PID", "COMMAND"], processes=[pb.TopProcess(fields=["7", "sleep"])])
    fake = FakeRuntime(top=body)
    assert _run(["top", "web", "-o", "pid,comm"], fake) == (0, "PID                 COMMAND\n7                   sleep\n", "")
    assert (fake.requests[0].id, list(fake.requests[0].ps_args)) == ("web", ["-o", "pid,comm"])
    fake = FakeRuntime(error=RpcError(grpc.StatusCode.FAILED_PRECONDITION, f"Container {CID} is not running"))
    assert _run(["container", "top", "web"], fake) == (
        1, "", f"Error response from daemon: Container {CID} is not running\n")
