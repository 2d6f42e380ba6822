"""``barque volume`` from constructed protos and a fake runtime stub, against
docker-cli's ``cli/command/volume/*.go`` (create, ls, inspect, rm of
v20.10.27; prune of v23.0.6 with -a and its two warnings),
``formatter/volume.go`` (columns "DRIVER    VOLUME NAME", quiet, raw,
fields), ``inspect.Inspect`` and go-units HumanSize."""

from __future__ import annotations

import json

import grpc
import pytest

from barque.runtime.v1 import runtime_pb2 as pb
from cli import volume
from cli.main import command_parser
from cli.volume import VolumesClient, list_output, prune_output
from tests.support.clirun import RpcError, run_command


class FakeRuntime:
    """The runtime's volume RPCs: records requests, answers from tables."""

    def __init__(self, volumes=(), documents=None, errors=None, deleted=(), reclaimed=0):
        self.volumes = list(volumes)
        self.documents = documents or {}
        self.errors = errors or {}  # (rpc, name) -> (grpc code, details)
        self.deleted, self.reclaimed = list(deleted), reclaimed
        self.calls: list[tuple[str, object]] = []

    def _fail(self, rpc, name):
        if (rpc, name) in self.errors:
            raise RpcError(*self.errors[(rpc, name)])

    def CreateVolume(self, req):
        self.calls.append(("CreateVolume", req))
        self._fail("CreateVolume", req.name)
        return pb.CreateVolumeResponse(volume=pb.Volume(name=req.name or "f" * 64, driver="local"))

    def ListVolumes(self, req):
        self.calls.append(("ListVolumes", req))
        return pb.ListVolumesResponse(volumes=self.volumes)

    def InspectVolume(self, req):
        self.calls.append(("InspectVolume", req))
        if req.name not in self.documents:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"get {req.name}: no such volume")
        return pb.InspectVolumeResponse(json=json.dumps(self.documents[req.name]))

    def RemoveVolume(self, req):
        self.calls.append(("RemoveVolume", req))
        self._fail("RemoveVolume", req.name)
        return pb.RemoveVolumeResponse()

    def PruneVolumes(self, req):
        self.calls.append(("PruneVolumes", req))
        return pb.PruneVolumesResponse(deleted=self.deleted, space_reclaimed=self.reclaimed)


def run_cli(argv, fake=None, stdin=""):
    """``barque ARGV`` over ``fake``: (exit status, stdout, stderr)."""
    return run_command(argv, {"volumes": (VolumesClient, fake or FakeRuntime())}, stdin)


def VOL(name, **kw):
    return pb.Volume(name=name, driver="local", scope="local", mountpoint=f"/var/lib/barque/volumes/{name}/_data",
                     **kw)


# ---- parsing and exit codes ------------------------------------------------------------------

def test_every_subcommand_and_alias_is_registered():
    parse = command_parser().parse_args
    assert parse(["volume", "ls"]).func is parse(["volume", "list"]).func is volume.cmd_ls
    assert parse(["volume", "rm", "x"]).func is parse(["volume", "remove", "x"]).func is volume.cmd_rm
    for name in ("create", "inspect", "prune"):
        assert parse(["volume", name]).func is getattr(volume, f"cmd_{name}")


def test_volume_alone_prints_its_help_and_exits_0():
    status, out, err = run_cli(["volume"])
    assert status == 0 and out == "" and "create" in err


@pytest.mark.parametrize("argv", [["volume", "create", "--bogus"], ["volume", "ls", "--filter"],
                                  ["volume", "prune", "--all=x"]])
def test_a_flag_error_exits_125(argv):
    status, out, _ = run_cli(argv)
    assert status == 125 and out == ""


@pytest.mark.parametrize("argv, message", [
    (["volume", "create", "a", "b"], '"barque volume create" requires at most 1 argument.\n'
                                     "See 'barque volume create --help'.\n\n"
                                     "Usage:  barque volume create [OPTIONS] [VOLUME]\n\nCreate a volume\n"),
    (["volume", "ls", "x"], '"barque volume ls" accepts no arguments.\n'),
    (["volume", "inspect"], '"barque volume inspect" requires at least 1 argument.\n'),
    (["volume", "rm"], '"barque volume rm" requires at least 1 argument.\n'),
    (["volume", "prune", "x"], '"barque volume prune" accepts no arguments.\n'),
])
def test_a_wrong_number_of_arguments_exits_1_with_dockers_message(argv, message):
    fake = FakeRuntime()
    status, out, err = run_cli(argv, fake)
    assert (status, out) == (1, "") and err.startswith(message)
    assert fake.calls == []


# ---- create ---------------------------------------------------------------------------------

def test_create_sends_name_driver_options_labels_and_prints_the_name():
    fake = FakeRuntime()
    status, out, err = run_cli(["volume", "create", "--label", "env=test", "-o", "type=tmpfs", "--opt",
                                "device=tmpfs", "--opt", "o=size=1m", "-d", "local", "--label", "flag", "data"], fake)
    assert (status, out, err) == (0, "data\n", "")
    req = fake.calls[0][1]
    assert (req.name, req.driver) == ("data", "local")
    assert dict(req.driver_opts) == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert dict(req.labels) == {"env": "test", "flag": ""}


def test_create_without_a_name_prints_the_generated_one():
    fake = FakeRuntime()
    assert run_cli(["volume", "create"], fake) == (0, "f" * 64 + "\n", "")
    assert fake.calls[0][1].name == "" and fake.calls[0][1].driver == "local"


def test_create_name_flag_and_positional_conflict():
    assert run_cli(["volume", "create", "--name", "a", "b"]) == (
        1, "", "conflicting options: either specify --name or provide positional arg, not both\n")
    fake = FakeRuntime()
    assert run_cli(["volume", "create", "--name", "a"], fake)[:2] == (0, "a\n")


def test_a_bad_label_is_a_flag_error_and_an_engine_error_exits_1():
    status, _, err = run_cli(["volume", "create", "--label", "=x"])
    assert status == 125 and err.startswith('invalid argument "=x" for "--label" flag: invalid label \'=x\': '
                                            "empty name\nSee 'barque volume create --help'.")
    fake = FakeRuntime(errors={("CreateVolume", "bad/name"): (
        grpc.StatusCode.INVALID_ARGUMENT, 'create bad/name: "bad/name" includes invalid characters')})
    assert run_cli(["volume", "create", "bad/name"], fake) == (
        1, "", 'Error response from daemon: create bad/name: "bad/name" includes invalid characters\n')


# ---- ls ---------------------------------------------------------------------------------------

def test_ls_is_dockers_table_in_natural_name_order():
    volumes = [VOL("db10"), VOL("db2"), VOL("a" * 64)]
    assert list_output(volumes) == (
        "DRIVER    VOLUME NAME\n"
        f"local     {'a' * 64}\n"
        "local     db2\n"
        "local     db10\n")


def test_ls_with_nothing_prints_the_header_and_quiet_the_names():
    assert run_cli(["volume", "ls"]) == (0, "DRIVER    VOLUME NAME\n", "")
    assert run_cli(["volume", "ls", "-q"], FakeRuntime([VOL("b"), VOL("a")])) == (0, "a\nb\n", "")


def test_ls_passes_filters_as_docker_cli_normalises_them():
    fake = FakeRuntime()
    run_cli(["volume", "ls", "-f", "Dangling = true", "--filter", "label=env=prod"], fake)
    assert list(fake.calls[0][1].filters) == ["dangling=true", "label=env=prod"]
    status, _, err = run_cli(["volume", "ls", "-f", "dangling"])
    assert status == 125 and err.startswith('invalid argument "dangling" for "-f, --filter" flag: '
                                            "bad format of filter (expected name=value)")


def test_ls_format_fields_labels_and_raw():
    vols = [VOL("data", labels={"b": "2", "a": "1"})]
    assert list_output(vols, "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Labels}} {{.Links}} {{.Size}}") \
        == "data local local /var/lib/barque/volumes/data/_data a=1,b=2 N/A N/A\n"
    assert list_output(vols, '{{.Label "b"}}|{{.Label "zz"}}') == "2|\n"
    assert list_output(vols, "table {{.Name}}\t{{.Mountpoint}}") == (
        "VOLUME NAME   MOUNTPOINT\ndata          /var/lib/barque/volumes/data/_data\n")
    assert list_output(vols, "raw") == "name: data\ndriver: local\n\n"
    assert list_output(vols, "raw", quiet=True) == "name: data\n"
    assert json.loads(list_output(vols, "{{json .}}"))["Name"] == "data"


def test_ls_unknown_field_exits_1():
    status, out, err = run_cli(["volume", "ls", "--format", "{{.Nope}}"], FakeRuntime([VOL("a")]))
    assert (status, out) == (1, "")
    assert err == ('template parsing error: template: :1:2: executing "" at <.Nope>: '
                   "can't evaluate field Nope in type *formatter.volumeContext\n")


# ---- inspect, rm --------------------------------------------------------------------------------

def test_inspect_prints_the_engines_documents_then_the_missing():
    doc = {"Name": "data", "Driver": "local", "Mountpoint": "/x", "Labels": {}, "Scope": "local",
           "Options": {}, "CreatedAt": "2026-01-01T00:00:00Z"}
    fake = FakeRuntime(documents={"data": doc})
    status, out, err = run_cli(["volume", "inspect", "data", "ghost"], fake)
    assert status == 1 and json.loads(out) == [doc] and out.startswith("[\n    {\n")
    assert err == "Error: No such volume: ghost\n"
    assert run_cli(["volume", "inspect", "-f", "{{.Mountpoint}}", "data"], fake) == (0, "/x\n", "")


def test_rm_prints_each_removed_and_exits_1_if_any_failed():
    fake = FakeRuntime(errors={
        ("RemoveVolume", "ghost"): (grpc.StatusCode.NOT_FOUND, "get ghost: no such volume"),
        ("RemoveVolume", "busy"): (grpc.StatusCode.FAILED_PRECONDITION,
                                   "remove busy: volume is in use - [" + "c" * 64 + "]")})
    status, out, err = run_cli(["volume", "rm", "a", "ghost", "busy", "b"], fake)
    assert (status, out) == (1, "a\nb\n")
    assert err == ("Error: No such volume: ghost\n"
                   f"Error response from daemon: remove busy: volume is in use - [{'c' * 64}]\n")
    assert [c[1].force for c in fake.calls] == [False] * 4


def test_rm_force_is_sent():
    fake = FakeRuntime()
    assert run_cli(["volume", "rm", "-f", "a"], fake) == (0, "a\n", "")
    assert fake.calls[0][1].force is True


# ---- prune ---------------------------------------------------------------------------------------

ANONYMOUS = ("WARNING! This will remove anonymous local volumes not used by at least one container.\n"
             "Are you sure you want to continue? [y/N] ")
ALL = ("WARNING! This will remove all local volumes not used by at least one container.\n"
       "Are you sure you want to continue? [y/N] ")


@pytest.mark.parametrize("flags, prompt, all_", [([], ANONYMOUS, False), (["-a"], ALL, True),
                                                 (["--all"], ALL, True)])
def test_prune_asks_then_lists_the_deleted_and_the_space(flags, prompt, all_):
    fake = FakeRuntime(deleted=["a", "b"], reclaimed=1234)
    status, out, err = run_cli(["volume", "prune", *flags, "--filter", "label=x"], fake, stdin="y\n")
    assert (status, err) == (0, "")
    assert out == prompt + "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 1.234kB\n"
    req = fake.calls[0][1]
    assert (list(req.filters), req.all) == (["label=x"], all_)


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "yes\n"])
def test_prune_declined_removes_nothing_and_reports_zero(answer):
    fake = FakeRuntime(deleted=["a"])
    assert run_cli(["volume", "prune"], fake, stdin=answer) == (0, ANONYMOUS + "Total reclaimed space: 0B\n", "")
    assert fake.calls == []


def test_prune_force_with_nothing_deleted():
    assert run_cli(["volume", "prune", "-f"]) == (0, "Total reclaimed space: 0B\n", "")


def test_prune_all_filter():
    fake = FakeRuntime()
    run_cli(["volume", "prune", "-f", "--filter", "all=1"], fake)
    assert fake.calls[0][1].all is True and list(fake.calls[0][1].filters) == []
    assert run_cli(["volume", "prune", "-af", "--filter", "all=true"]) == (
        1, "", "conflicting options: cannot specify both --all and --filter all=1\n")


def test_prune_output_sizes_are_go_units_human_size():
    def out(n):
        return prune_output(pb.PruneVolumesResponse(deleted=["v"], space_reclaimed=n)).splitlines()[-1]

    assert [out(n) for n in (0, 999, 1000, 1234, 12_345_678, 3 * 10**9)] == [
        "Total reclaimed space: 0B", "Total reclaimed space: 999B", "Total reclaimed space: 1kB",
        "Total reclaimed space: 1.234kB", "Total reclaimed space: 12.35MB", "Total reclaimed space: 3GB"]
