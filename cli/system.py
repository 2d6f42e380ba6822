"""``barque version`` and ``barque info`` (also ``barque system info``):
Docker's layouts and ``--format`` field names, from this process's own build
and the Info RPCs of the runtime, the image-store and the registry-proxy.

Where Docker says Go, barque says Python: ``GoVersion`` is ``PythonVersion``
and "Go version" is "Python version". The rest keeps Docker's names, so
scripts written against ``docker version``/``docker info --format`` read
barque too. The contracts are imported only when a command runs.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, NamedTuple

from cli.format import Template, bytes_size
from client.config import Config
from client.errors import BarqueError
from client.version import BuildInfo, build_info

__all__ = [
    "register", "SystemClient", "ServerInfo", "version_document", "render_version",
    "info_document", "render_info", "tabwrite", "ansic",
]

#: barque has no contexts: every command talks to the configured services
CONTEXT = "default"
#: ``docker version``/``docker info`` exit 1 when the daemon cannot be reached
FAILED = 1
#: and 64 when the ``--format`` template does not parse
TEMPLATE_ERROR = 64


class ServerInfo(NamedTuple):
    """The three services' InfoResponses (runtime, image-store, registry-proxy)."""

    runtime: Any
    images: Any
    registry: Any


class SystemClient:
    """The services' Info, as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def info(self) -> ServerInfo:
        """Each service's own description; the runtime first, as it is the engine."""
        from barque.images.v1 import images_pb2, images_pb2_grpc
        from barque.registry.v1 import registry_pb2, registry_pb2_grpc
        from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
        from client.channels import RemoteStub, connect

        def stub(cls, service: str) -> RemoteStub:
            return RemoteStub(cls(connect(self._config, service)), service)

        pending = (
            stub(runtime_pb2_grpc.RuntimeStub, "runtime").begin("Info", runtime_pb2.InfoRequest()),
            stub(images_pb2_grpc.ImagesStub, "images").begin("Info", images_pb2.InfoRequest()),
            stub(registry_pb2_grpc.RegistryProxyStub, "registry").begin("Info", registry_pb2.InfoRequest()),
        )
        return ServerInfo(*(answer() for answer in pending))


# ---- documents: what --format sees ----------------------------------------------

def ansic(rfc3339: str) -> str:
    """Go's ``time.ANSIC`` of an RFC 3339 time ("Fri May 30 12:07:14 2025"),
    as Docker shows build times; other text unchanged."""
    try:
        t = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except ValueError:
        return rfc3339
    return f"{t:%a %b} {t.day:2d} {t:%H:%M:%S %Y}"


def _client(build: BuildInfo) -> dict:
    return {
        "Version": build.version, "ApiVersion": build.api_version, "DefaultAPIVersion": build.api_version,
        "GitCommit": build.git_commit, "PythonVersion": build.python_version, "Os": build.os,
        "Arch": build.arch, "BuildTime": ansic(build.build_time), "Context": CONTEXT,
    }


def _component(name: str, version: str, **details: str) -> dict:
    return {"Name": name, "Version": version, "Details": {k: details[k] for k in sorted(details) if details[k]}}


def version_document(client: BuildInfo, server: ServerInfo | None) -> dict:
    """Docker's ``version`` document: Client, and Server (None when the
    services could not be reached) with its Engine and other components."""
    doc: dict[str, Any] = {"Client": _client(client), "Server": None}
    if server is None:
        return doc
    rt = server.runtime
    b = rt.build
    engine = _component(
        "Engine", b.version, ApiVersion=b.api_version, MinAPIVersion=b.min_api_version, GitCommit=b.git_commit,
        PythonVersion=b.python_version, Os=b.os, Arch=b.arch, KernelVersion=rt.kernel_version,
        BuildTime=ansic(b.build_time), Experimental="false",
    )
    components = [engine]
    components += [_component(r.name, r.version, GitCommit=r.git_commit) for r in rt.runtimes]
    for name, other in (("image-store", server.images.build), ("registry-proxy", server.registry.build)):
        components.append(_component(name, other.version, ApiVersion=other.api_version,
                                     GitCommit=other.git_commit))
    doc["Server"] = {
        "Platform": {"Name": ""}, "Components": components, "Version": b.version,
        "ApiVersion": b.api_version, "MinAPIVersion": b.min_api_version, "GitCommit": b.git_commit,
        "PythonVersion": b.python_version, "Os": b.os, "Arch": b.arch,
        "KernelVersion": rt.kernel_version, "BuildTime": b.build_time,
    }
    return doc


def info_document(client: BuildInfo, server: ServerInfo | None) -> dict:
    """Docker's ``info`` document (moby ``system.Info`` plus ``ClientInfo``),
    the fields that apply to barque in Docker's order; zero values when the
    services could not be reached, as Docker's."""
    if server is None:
        from barque.images.v1 import images_pb2
        from barque.registry.v1 import registry_pb2
        from barque.runtime.v1 import runtime_pb2

        server = ServerInfo(runtime_pb2.InfoResponse(), images_pb2.InfoResponse(), registry_pb2.InfoResponse())
    rt, im, reg = server
    return {
        "ID": rt.id, "Containers": rt.containers, "ContainersRunning": rt.containers_running,
        "ContainersPaused": rt.containers_paused, "ContainersStopped": rt.containers_stopped,
        "Images": im.images, "Driver": im.driver, "DriverStatus": [[s.key, s.value] for s in im.driver_status],
        "Plugins": {"Volume": [], "Network": list(rt.network_drivers), "Authorization": [],
                    "Log": list(rt.log_drivers)},
        "MemoryLimit": rt.memory_limit, "SwapLimit": rt.swap_limit, "CpuCfsPeriod": rt.cpu_cfs_period,
        "CpuCfsQuota": rt.cpu_cfs_quota, "CPUShares": rt.cpu_shares, "CPUSet": rt.cpu_set,
        "PidsLimit": rt.pids_limit, "Debug": rt.debug, "OomKillDisable": rt.oom_kill_disable,
        "LoggingDriver": rt.logging_driver, "CgroupDriver": rt.cgroup_driver, "CgroupVersion": rt.cgroup_version,
        "KernelVersion": rt.kernel_version, "OperatingSystem": rt.operating_system, "OSVersion": rt.os_version,
        "OSType": rt.os_type, "Architecture": rt.architecture,
        "IndexServerAddress": reg.index_server_address,
        "RegistryConfig": {
            "InsecureRegistryCIDRs": list(reg.insecure_registry_cidrs),
            "IndexConfigs": {i.name: {"Name": i.name, "Mirrors": list(i.mirrors), "Secure": i.secure,
                                      "Official": i.official} for i in reg.index_configs},
            "Mirrors": list(reg.mirrors),
        },
        "NCPU": rt.ncpu, "MemTotal": rt.mem_total, "DockerRootDir": rt.root_dir, "Name": rt.name,
        "ExperimentalBuild": False, "ServerVersion": rt.build.version,
        "Runtimes": {r.name: {"path": r.path, **({"runtimeArgs": list(r.args)} if r.args else {})}
                     for r in rt.runtimes},
        "DefaultRuntime": rt.default_runtime, "LiveRestoreEnabled": rt.live_restore_enabled,
        "SecurityOptions": list(rt.security_options), "Warnings": list(rt.warnings),
        "ClientInfo": {"Debug": False, **{k: v for k, v in _client(client).items() if k != "ApiVersion"},
                       "Plugins": [], "Warnings": None},
    }


# ---- text layouts -----------------------------------------------------------------

def tabwrite(lines: list[str], minwidth: int = 20, padding: int = 1) -> list[str]:
    """Go's tabwriter as ``docker version`` sets it up (minwidth 20, padding
    1, spaces): the text before a tab is padded to one width across each run
    of consecutive lines that have a tab."""
    out: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max([minwidth, *(len(cell) + padding for cell, _ in run)])
        out.extend(cell.ljust(width) + rest for cell, rest in run)
        run.clear()

    for line in lines:
        if "\t" in line:
            cell, _, rest = line.partition("\t")
            run.append((cell, rest))
        else:
            flush()
            out.append(line)
    flush()
    return out


def render_version(doc: dict) -> str:
    """Docker's default ``version`` layout of :func:`version_document`."""
    c = doc["Client"]
    lines = [
        "Client:", f" Version:\t{c['Version']}", f" API version:\t{c['ApiVersion']}",
        f" Python version:\t{c['PythonVersion']}", f" Git commit:\t{c['GitCommit']}",
        f" Built:\t{c['BuildTime']}", f" OS/Arch:\t{c['Os']}/{c['Arch']}", f" Context:\t{c['Context']}",
    ]
    server = doc["Server"]
    if server is not None:
        lines += ["", "Server:" + (f" {server['Platform']['Name']}" if server["Platform"]["Name"] else "")]
        for comp in server["Components"]:
            lines.append(f" {comp['Name']}:")
            d = comp["Details"]
            if comp["Name"] == "Engine":
                lines += [
                    f"  Version:\t{comp['Version']}",
                    f"  API version:\t{d.get('ApiVersion', '')} (minimum version {d.get('MinAPIVersion', '')})",
                    f"  Python version:\t{d.get('PythonVersion', '')}", f"  Git commit:\t{d.get('GitCommit', '')}",
                    f"  Built:\t{d.get('BuildTime', '')}", f"  OS/Arch:\t{d.get('Os', '')}/{d.get('Arch', '')}",
                    f"  Experimental:\t{d.get('Experimental', '')}",
                ]
            else:
                lines.append(f"  Version:\t{comp['Version']}")
                lines += [f"  {key}:\t{d[key]}" for key in sorted(d)]
    return "\n".join(tabwrite(lines))


def _go(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _println(out: list[str], *values: Any) -> None:
    """Go's ``fmt.Println``: operands joined by one space."""
    out.append(" ".join(_go(v) for v in values))


def _println_nonempty(out: list[str], label: str, value: str) -> None:
    if value:
        _println(out, label, value)


def _println_named(out: list[str], doc: dict, *labels: str) -> None:
    """:func:`_println_nonempty` of each field whose name is its label
    without the spaces ("Kernel Version" shows ``KernelVersion``), as most
    of Docker's ``info`` lines are."""
    for label in labels:
        _println_nonempty(out, f" {label}:", doc[label.replace(" ", "")])


def render_info(doc: dict, server: bool) -> tuple[str, list[str]]:
    """Docker's default ``info`` layout of :func:`info_document`: (stdout
    text, warnings for stderr). Without ``server`` only the Client section
    and the "Server:" heading, as Docker prints when the daemon is down."""
    out: list[str] = ["Client:"]
    ci = doc["ClientInfo"]
    _println_nonempty(out, " Version:   ", ci["Version"])
    _println(out, " Context:   ", ci["Context"])
    _println(out, " Debug Mode:", ci["Debug"])
    _println(out)
    _println(out, "Server:")
    if not server:
        return "\n".join(out), []
    _println(out, " Containers:", doc["Containers"])
    for state in ("Running", "Paused", "Stopped"):
        _println(out, f"  {state}:", doc[f"Containers{state}"])
    _println(out, " Images:", doc["Images"])
    _println_named(out, doc, "Server Version")
    _println_nonempty(out, " Storage Driver:", doc["Driver"])
    for key, value in doc["DriverStatus"]:
        out.append(f"  {key}: {value}")
    _println_named(out, doc, "Logging Driver", "Cgroup Driver", "Cgroup Version")
    _println(out, " Plugins:")
    for kind in ("Volume", "Network", "Log"):
        _println(out, f"  {kind}:", " ".join(doc["Plugins"][kind]))
    if doc["Runtimes"]:
        _println(out, " Runtimes:", " ".join(sorted(doc["Runtimes"])))
        _println(out, " Default Runtime:", doc["DefaultRuntime"])
    if doc["OSType"] == "linux" and doc["SecurityOptions"]:
        _println(out, " Security Options:")
        for option in doc["SecurityOptions"]:
            fields = dict(kv.partition("=")[::2] for kv in option.split(","))
            _println(out, "  " + fields.pop("name", option))
            if "profile" in fields:
                _println(out, "   Profile:", fields["profile"])
    _println_named(out, doc, "Kernel Version", "Operating System", "OSType", "Architecture")
    _println(out, " CPUs:", doc["NCPU"])
    _println(out, " Total Memory:", bytes_size(doc["MemTotal"]))
    _println_named(out, doc, "Name", "ID")
    _println(out, " Docker Root Dir:", doc["DockerRootDir"])
    _println(out, " Debug Mode:", doc["Debug"])
    _println(out, " Experimental:", doc["ExperimentalBuild"])
    registries = doc["RegistryConfig"]
    insecure = [name for name, index in sorted(registries["IndexConfigs"].items()) if not index["Secure"]]
    if registries["InsecureRegistryCIDRs"] or registries["IndexConfigs"]:
        _println(out, " Insecure Registries:")
        out += [f"  {entry}" for entry in insecure + registries["InsecureRegistryCIDRs"]]
    if registries["Mirrors"]:
        _println(out, " Registry Mirrors:")
        out += [f"  {mirror}" for mirror in registries["Mirrors"]]
    _println(out, " Live Restore Enabled:", doc["LiveRestoreEnabled"])
    _println(out)
    return "\n".join(out), list(doc["Warnings"])


# ---- commands ---------------------------------------------------------------------

def _template(text: str) -> Template:
    try:
        return Template("{{json .}}" if text == "json" else text)
    except ValueError as exc:
        print(f"template parsing error: {exc}", file=sys.stderr)
        raise SystemExit(TEMPLATE_ERROR) from exc


def _server(ctx) -> tuple[ServerInfo | None, BarqueError | None]:
    try:
        return SystemClient(ctx.config).info(), None
    except BarqueError as exc:
        return None, exc


def _print_formatted(template: Template, doc: dict, failure: BarqueError | None) -> None:
    """The template's output; when rendering fails the services' failure is
    the error to report if there is one (Docker's), else the template's."""
    try:
        print(template.render(doc))
    except (KeyError, AttributeError, TypeError) as exc:
        if failure is None:
            print(f"template: {exc}", file=sys.stderr)
            raise SystemExit(FAILED) from exc


def _finish(ctx, failure: BarqueError | None) -> int:
    if failure is not None:
        ctx.error(failure)
        raise SystemExit(FAILED)
    return 0


def cmd_version(ctx, args) -> int:
    template = _template(args.format) if args.format else None
    server, failure = _server(ctx)
    doc = version_document(build_info(), server)
    if template is None:
        print(render_version(doc))
    else:
        _print_formatted(template, doc, failure)
    return _finish(ctx, failure)


def cmd_info(ctx, args) -> int:
    template = _template(args.format) if args.format else None
    server, failure = _server(ctx)
    doc = info_document(build_info(), server)
    if template is None:
        text, warnings = render_info(doc, server is not None)
        print(text)
        sys.stdout.flush()
        for warning in warnings:
            print(warning, file=sys.stderr)
    else:
        _print_formatted(template, doc, failure)
    return _finish(ctx, failure)


def register(sub) -> None:
    """``version``, ``info`` and ``system info`` on the top-level subparsers."""
    fmt = "'json' or a Go template, e.g. '{{.ServerVersion}}'"
    p = sub.add_parser("version", help="Show the barque version information")
    p.add_argument("-f", "--format", default="", help=fmt)
    p.set_defaults(func=cmd_version)
    top = sub.add_parser("info", help="Display system-wide information")
    system = sub.add_parser("system", help="Manage barque").add_subparsers(dest="system_command", metavar="COMMAND")
    for p in (top, system.add_parser("info", help="Display system-wide information")):
        p.add_argument("-f", "--format", default="", help=fmt)
        p.set_defaults(func=cmd_info)
