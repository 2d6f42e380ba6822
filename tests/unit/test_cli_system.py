"""``barque version`` and ``barque info``: Docker's text layouts and
``--format`` documents, built from fake InfoResponses; and the commands'
behaviour when the services cannot be reached (client part, one line, 1)."""

from __future__ import annotations

import json

import pytest

from barque.images.v1 import images_pb2
from barque.registry.v1 import registry_pb2
from barque.runtime.v1 import runtime_pb2
from barque.types.v1 import types_pb2
from cli import system
from cli.format import Template, bytes_size
from cli.main import build_parser
from client.config import Config
from client.errors import Unavailable
from client.version import BuildInfo

CLIENT = BuildInfo(version="0.1.0", api_version="1.0", min_api_version="1.0", git_commit="abc1234",
                   build_time="2025-05-30T12:07:14Z", python_version="3.11.2", os="linux", arch="amd64")
SERVER_BUILD = types_pb2.BuildInfo(version="0.1.0", api_version="1.0", min_api_version="1.0",
                                   git_commit="abc1234", build_time="2025-05-05T08:00:00Z",
                                   python_version="3.11.2", os="linux", arch="amd64")


def fake_server(**runtime_fields) -> system.ServerInfo:
    fields = dict(
        build=SERVER_BUILD, id="5b1b6a7e-0000-4000-8000-000000000001", containers=3, containers_running=1,
        containers_paused=0, containers_stopped=2, logging_driver="json-file",
        log_drivers=["json-file", "k8s-file"], cgroup_driver="cgroupfs", cgroup_version="1",
        memory_limit=True, swap_limit=True, cpu_cfs_period=True, cpu_cfs_quota=True, cpu_shares=True,
        cpu_set=True, pids_limit=True, oom_kill_disable=True,
        runtimes=[runtime_pb2.OciRuntime(name="barque-oci", path="/usr/local/bin/barque-oci", version="0.1.0",
                                         git_commit="abc1234")],
        default_runtime="barque-oci", security_options=["name=seccomp,profile=builtin"],
        kernel_version="6.1.0-18-amd64", operating_system="Debian GNU/Linux 12 (bookworm)", os_version="12",
        os_type="linux", architecture="x86_64", ncpu=8, mem_total=16_777_216_000, name="host1",
        root_dir="/var/lib/barque", debug=False, live_restore_enabled=True, warnings=[],
    )
    fields.update(runtime_fields)
    images = images_pb2.InfoResponse(
        build=SERVER_BUILD, images=2, driver="overlayfs",
        driver_status=[images_pb2.DriverStatus(key="Backing Filesystem", value="extfs")])
    registry = registry_pb2.InfoResponse(
        build=SERVER_BUILD, index_server_address="https://index.docker.io/v1/",
        insecure_registry_cidrs=["::1/128", "127.0.0.0/8"],
        index_configs=[registry_pb2.IndexInfo(name="docker.io", mirrors=["https://mirror.example"], secure=True,
                                              official=True),
                       registry_pb2.IndexInfo(name="registry.lan:5000", secure=False)],
        mirrors=["https://mirror.example"])
    return system.ServerInfo(runtime_pb2.InfoResponse(**fields), images, registry)


# ---- version ---------------------------------------------------------------------

CLIENT_TEXT = """\
Client:
 Version:           0.1.0
 API version:       1.0
 Python version:    3.11.2
 Git commit:        abc1234
 Built:             Fri May 30 12:07:14 2025
 OS/Arch:           linux/amd64
 Context:           default"""


def test_version_text_is_dockers_layout():
    text = system.render_version(system.version_document(CLIENT, fake_server()))
    assert text == CLIENT_TEXT + """

Server:
 Engine:
  Version:          0.1.0
  API version:      1.0 (minimum version 1.0)
  Python version:   3.11.2
  Git commit:       abc1234
  Built:            Mon May  5 08:00:00 2025
  OS/Arch:          linux/amd64
  Experimental:     false
 barque-oci:
  Version:          0.1.0
  GitCommit:        abc1234
 image-store:
  Version:          0.1.0
  ApiVersion:       1.0
  GitCommit:        abc1234
 registry-proxy:
  Version:          0.1.0
  ApiVersion:       1.0
  GitCommit:        abc1234"""


def test_version_without_server_is_the_client_part():
    doc = system.version_document(CLIENT, None)
    assert doc["Server"] is None
    assert system.render_version(doc) == CLIENT_TEXT


def test_version_document_has_dockers_field_names():
    doc = system.version_document(CLIENT, fake_server())
    # docker's clientVersion, GoVersion read as PythonVersion
    assert list(doc["Client"]) == ["Version", "ApiVersion", "DefaultAPIVersion", "GitCommit", "PythonVersion",
                                   "Os", "Arch", "BuildTime", "Context"]
    server = doc["Server"]
    assert list(server) == ["Platform", "Components", "Version", "ApiVersion", "MinAPIVersion", "GitCommit",
                            "PythonVersion", "Os", "Arch", "KernelVersion", "BuildTime"]
    assert [c["Name"] for c in server["Components"]] == ["Engine", "barque-oci", "image-store", "registry-proxy"]
    engine = server["Components"][0]["Details"]
    assert list(engine) == sorted(engine)  # Go marshals a map sorted
    assert engine["BuildTime"] == "Mon May  5 08:00:00 2025" and server["BuildTime"] == "2025-05-05T08:00:00Z"
    assert engine["Experimental"] == "false" and engine["KernelVersion"] == "6.1.0-18-amd64"


def test_version_format_templates():
    doc = system.version_document(CLIENT, fake_server())
    assert Template("{{.Server.Version}}").render(doc) == "0.1.0"
    assert Template("{{.Client.ApiVersion}} {{.Server.MinAPIVersion}}").render(doc) == "1.0 1.0"
    assert json.loads(Template("{{json .}}").render(doc)) == doc
    down = system.version_document(CLIENT, None)
    assert json.loads(Template("{{json .}}").render(down))["Server"] is None
    with pytest.raises(AttributeError):
        Template("{{.Server.Version}}").render(down)


def test_tabwrite_widens_a_run_for_a_long_cell():
    lines = system.tabwrite(["a:\t1", " a key longer than twenty:\t2", "heading", " b:\t3"])
    assert lines == ["a:" + " " * 25 + "1", " a key longer than twenty: 2", "heading", " b:" + " " * 17 + "3"]


def test_ansic_pads_the_day_as_go_does():
    assert system.ansic("2025-05-30T12:07:14Z") == "Fri May 30 12:07:14 2025"
    assert system.ansic("2025-05-05T12:07:14.123456789+00:00") == "Mon May  5 12:07:14 2025"
    assert system.ansic("") == "" and system.ansic("unknown") == "unknown"


# ---- info ------------------------------------------------------------------------

def test_info_text_is_dockers_layout():
    text, warnings = system.render_info(system.info_document(CLIENT, fake_server()), server=True)
    assert warnings == []
    assert text == """\
Client:
 Version:    0.1.0
 Context:    default
 Debug Mode: false

Server:
 Containers: 3
  Running: 1
  Paused: 0
  Stopped: 2
 Images: 2
 Server Version: 0.1.0
 Storage Driver: overlayfs
  Backing Filesystem: extfs
 Logging Driver: json-file
 Cgroup Driver: cgroupfs
 Cgroup Version: 1
 Plugins:
  Volume: 
  Network: 
  Log: json-file k8s-file
 Runtimes: barque-oci
 Default Runtime: barque-oci
 Security Options:
  seccomp
   Profile: builtin
 Kernel Version: 6.1.0-18-amd64
 Operating System: Debian GNU/Linux 12 (bookworm)
 OSType: linux
 Architecture: x86_64
 CPUs: 8
 Total Memory: 15.62GiB
 Name: host1
 ID: 5b1b6a7e-0000-4000-8000-000000000001
 Docker Root Dir: /var/lib/barque
 Debug Mode: false
 Experimental: false
 Insecure Registries:
  registry.lan:5000
  ::1/128
  127.0.0.0/8
 Registry Mirrors:
  https://mirror.example
 Live Restore Enabled: true
"""


def test_info_on_cgroup_v2_lists_cgroupns_and_passes_warnings_on():
    server = fake_server(cgroup_version="2", security_options=["name=seccomp,profile=builtin", "name=cgroupns"],
                         memory_limit=False, swap_limit=False,
                         warnings=["WARNING: No memory limit support", "WARNING: No swap limit support"])
    text, warnings = system.render_info(system.info_document(CLIENT, server), server=True)
    assert " Cgroup Version: 2\n" in text
    assert " Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns\n Kernel Version:" in text
    assert warnings == ["WARNING: No memory limit support", "WARNING: No swap limit support"]


def test_info_without_server_is_client_and_heading():
    doc = system.info_document(CLIENT, None)
    text, warnings = system.render_info(doc, server=False)
    assert text == "Client:\n Version:    0.1.0\n Context:    default\n Debug Mode: false\n\nServer:"
    assert warnings == []
    # --format sees Docker's zero values, as docker info does with no daemon
    assert doc["Containers"] == 0 and doc["ServerVersion"] == "" and doc["Runtimes"] == {}


def test_info_document_has_dockers_field_names():
    doc = system.info_document(CLIENT, fake_server())
    assert doc["SecurityOptions"] == ["name=seccomp,profile=builtin"]
    assert doc["Runtimes"] == {"barque-oci": {"path": "/usr/local/bin/barque-oci"}}
    assert doc["RegistryConfig"]["IndexConfigs"]["registry.lan:5000"] == {
        "Name": "registry.lan:5000", "Mirrors": [], "Secure": False, "Official": False}
    assert doc["MemTotal"] == 16_777_216_000 and doc["NCPU"] == 8
    assert doc["CpuCfsQuota"] is True and doc["CPUShares"] is True
    assert list(doc["ClientInfo"]) == ["Debug", "Version", "DefaultAPIVersion", "GitCommit", "PythonVersion",
                                       "Os", "Arch", "BuildTime", "Context", "Plugins", "Warnings"]
    assert Template("{{.ServerVersion}}").render(doc) == "0.1.0"
    assert Template("{{.Plugins.Log}}").render(doc) == "[json-file k8s-file]"
    assert json.loads(Template("{{json .}}").render(doc)) == doc


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (1023, "1023B"), (1024, "1KiB"), (16_777_216_000, "15.62GiB"), (25_276_059_648, "23.54GiB"),
    (3 << 40, "3TiB"),
])
def test_bytes_size_is_go_units(size, text):
    assert bytes_size(size) == text


# ---- the commands, services unreachable ------------------------------------------

class _Ctx:
    def __init__(self) -> None:
        self.config = Config()
        self.errors: list[BaseException] = []

    def error(self, exc: BaseException) -> None:
        self.errors.append(exc)


class _Down:
    def __init__(self, config) -> None:
        pass

    def info(self):
        raise Unavailable("cannot reach the runtime service: failed to connect to all addresses")


class _Up:
    def __init__(self, config) -> None:
        pass

    def info(self):
        return fake_server()


def _run(monkeypatch, client, argv):
    monkeypatch.setattr(system, "SystemClient", client)
    monkeypatch.setattr(system, "build_info", lambda: CLIENT)
    args = build_parser().parse_args(argv)
    ctx = _Ctx()
    try:
        status = args.func(ctx, args)
    except SystemExit as exc:
        status = exc.code
    return status, ctx


@pytest.mark.parametrize("argv", [["version"], ["info"], ["system", "info"]])
def test_unreachable_services_print_the_client_part_and_fail(monkeypatch, capsys, argv):
    status, ctx = _run(monkeypatch, _Down, argv)
    out = capsys.readouterr()
    assert status == 1 and len(ctx.errors) == 1 and isinstance(ctx.errors[0], Unavailable)
    assert out.out.startswith("Client:\n Version:")
    assert "Server:\n Containers" not in out.out and "Engine" not in out.out
    assert out.err == ""  # the one line is ctx.error's


def test_unreachable_with_a_failing_template_reports_only_the_connection(monkeypatch, capsys):
    status, ctx = _run(monkeypatch, _Down, ["version", "--format", "{{.Server.Version}}"])
    out = capsys.readouterr()
    assert status == 1 and len(ctx.errors) == 1 and out.err == ""


def test_json_format_when_reachable(monkeypatch, capsys):
    status, ctx = _run(monkeypatch, _Up, ["version", "--format", "json"])
    assert status == 0 and not ctx.errors
    assert json.loads(capsys.readouterr().out)["Server"]["Version"] == "0.1.0"
    status, ctx = _run(monkeypatch, _Up, ["info", "-f", "{{.Images}} {{.CgroupVersion}}"])
    assert status == 0 and capsys.readouterr().out == "2 1\n"


def test_a_template_that_does_not_parse_exits_64(monkeypatch, capsys):
    status, ctx = _run(monkeypatch, _Up, ["info", "--format", "{{range .X}}"])
    assert status == 64 and "template parsing error" in capsys.readouterr().err


def test_a_template_naming_no_field_fails_with_one_line(monkeypatch, capsys):
    status, ctx = _run(monkeypatch, _Up, ["info", "--format", "{{.NoSuchField}}"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "NoSuchField" in err


def test_info_warnings_go_to_stderr(monkeypatch, capsys):
    class _Warned(_Up):
        def info(self):
            return fake_server(warnings=["WARNING: No swap limit support"])

    status, _ = _run(monkeypatch, _Warned, ["info"])
    out = capsys.readouterr()
    assert status == 0 and out.err == "WARNING: No swap limit support\n"
    assert "WARNING" not in out.out

