"""Docker's ``ContainerJSON`` (``docker inspect``, Engine API
``GET /containers/{id}/json``) built from the runtime's own records.

The engine knows where it put things, so nothing here is guessed: the root
filesystem's layers are the ones the record says were mounted, the merged dir
and the etc files are where the runtime's layout puts them in the container's
directory. Config and HostConfig are rendered mechanically from the
``runtime.v1`` messages the record keeps (proto field -> Docker's name), so a
new field shows up in inspect without a change here.

Pure: a record, whether it runs, and its directory in; a dict out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.runtime.engine.containers import ContainerRecord
from services.runtime.engine.pausing import PAUSED, state_name

__all__ = ["container_json", "render_message", "docker_name", "ROOTFS_DIR", "ETC_DIR"]

#: where the runtime mounts a container's root filesystem, in its directory
#: (``RuntimeService.create`` mounts the overlay there; the spec's root.path)
ROOTFS_DIR = "rootfs"
#: where the runtime writes the container's hostname, hosts and resolv.conf
#: (``write_etc_files(<container dir>/etc, ...)``), bound at /etc/<name>
ETC_DIR = "etc"

#: Docker's names that are not the proto name in CamelCase (moby
#: api/types/container/hostconfig.go, config.go; their json tags)
_IRREGULAR = {
    "container_id_file": "ContainerIDFile",
    "uts_mode": "UTSMode",
    "blkio_device_read_iops": "BlkioDeviceReadIOps",
    "blkio_device_write_iops": "BlkioDeviceWriteIOps",
    "kernel_memory_tcp": "KernelMemoryTCP",
    "io_maximum_iops": "IOMaximumIOps",
    "io_maximum_bandwidth": "IOMaximumBandwidth",
    "device_ids": "DeviceIDs",
}

#: fields Docker tags ``omitempty``: left out when empty (KernelMemory and
#: KernelMemoryTCP are gone from Docker's type, so shown only when set)
_OMIT_EMPTY = {
    "HostConfig": {"Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init",
                   "KernelMemory", "KernelMemoryTCP"},
    "ContainerConfig": {"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress",
                        "OnBuild", "Shell"},
    "HealthConfig": {"Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"},
}

#: messages that stand for a Go slice (their one repeated field is the value)
_LIST_MESSAGES = {"StrSlice": "values", "PortBindings": "bindings"}

#: repeated strings Docker keeps as a set, ``{"80/tcp": {}}``
_SETS = {("ContainerConfig", "exposed_ports"), ("ContainerConfig", "volumes")}

#: fixed-size Go arrays, shown whole when unset
_FIXED = {("HostConfig", "console_size"): [0, 0]}

#: Docker's key order (its struct order); a name not listed follows in proto order
_ORDER = {
    "HostConfig": [
        "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy",
        "AutoRemove", "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop",
        "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup",
        "Links", "OomScoreAdj", "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt",
        "StorageOpt", "Tmpfs", "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation",
        "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
        "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
        "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems",
        "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory", "KernelMemoryTCP",
        "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits",
        "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "Mounts", "MaskedPaths",
        "ReadonlyPaths", "Init",
    ],
    "ContainerConfig": [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
        "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes",
        "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal",
        "StopTimeout", "Shell",
    ],
}


def docker_name(field_name: str) -> str:
    """Docker's JSON name of a ``runtime.v1`` field: ``cpu_shares`` -> ``CpuShares``."""
    return _IRREGULAR.get(field_name) or "".join(part[:1].upper() + part[1:] for part in field_name.split("_"))


def render_message(message: Message) -> dict[str, Any]:
    """Every field of ``message`` under Docker's name, with Docker's values:
    an empty slice is null, a map is an object, an unset pointer (proto3
    ``optional``) is null, an ``omitempty`` field is left out when empty."""
    kind = message.DESCRIPTOR.name
    omit = _OMIT_EMPTY.get(kind, set())
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        name = docker_name(field.name)
        if name in omit and _is_empty(message, field):
            continue
        out[name] = _field_value(message, field)
    order = _ORDER.get(kind)
    if order:
        rank = {n: i for i, n in enumerate(order)}
        out = dict(sorted(out.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return out


def _is_empty(message: Message, field: FieldDescriptor) -> bool:
    """Go's omitempty: a pointer (proto3 optional, a message) when nil, else the zero value."""
    if field.has_presence:
        return not message.HasField(field.name)
    return not getattr(message, field.name)


def _field_value(message: Message, field: FieldDescriptor) -> Any:
    kind = message.DESCRIPTOR.name
    value = getattr(message, field.name)
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            return {k: _message_value(v) for k, v in sorted(value.items())}
        return dict(sorted(value.items()))
    if field.is_repeated:
        if (kind, field.name) in _SETS:
            return {v: {} for v in value} or None
        if not value:
            return list(_FIXED[(kind, field.name)]) if (kind, field.name) in _FIXED else None
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return [_message_value(v) for v in value]
        return list(value)
    if field.has_presence and not message.HasField(field.name):
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.name not in _LIST_MESSAGES:
            return render_message(value)  # a Go struct, not a pointer: shown with its zero values
        return None
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message_value(value)
    return value


def _message_value(value: Message) -> Any:
    kind = value.DESCRIPTOR.name
    if kind in _LIST_MESSAGES:
        return [_message_value(v) if isinstance(v, Message) else v
                for v in getattr(value, _LIST_MESSAGES[kind])]
    if value.DESCRIPTOR.full_name == "barque.runtime.v1.Mount":
        return _docker_mount(value)
    return render_message(value)


def _docker_mount(m: Any) -> dict[str, Any]:
    """Docker's mount.Mount (every field omitempty), whose options the proto keeps flat."""
    out: dict[str, Any] = {k: v for k, v in (
        ("Type", m.type), ("Source", m.source), ("Target", m.target), ("ReadOnly", m.read_only),
        ("Consistency", m.consistency),
    ) if v}
    options = {
        "BindOptions": {"Propagation": m.bind_propagation},
        "VolumeOptions": {"NoCopy": m.volume_no_copy, "Labels": dict(m.volume_labels)},
        "TmpfsOptions": {"SizeBytes": m.tmpfs_size_bytes, "Mode": m.tmpfs_mode},
    }
    for name, values in options.items():
        kept = {k: v for k, v in values.items() if v}
        if kept:
            out[name] = kept
    return out


def _state(record: ContainerRecord, running: bool) -> dict[str, Any]:
    state = {
        "Status": state_name(record, running),
        # Docker counts a container waiting to restart as running (State.SetRestarting)
        "Running": running or record.status == "restarting",
        "Paused": running and record.status == PAUSED,
        "Restarting": not running and record.status == "restarting",
        "OOMKilled": record.oom_killed,
        "Dead": False,
        "Pid": record.pid if running else 0,
        "ExitCode": record.exit_code,
        "Error": record.error,
        "StartedAt": record.started_at,
        "FinishedAt": record.finished_at,
    }
    if record.health:  # Docker's Health is omitted unless the container has a check that started
        state["Health"] = {"Status": record.health.get("Status", ""),
                           "FailingStreak": int(record.health.get("FailingStreak") or 0),
                           "Log": [dict(e) for e in record.health.get("Log") or []]}
    return state


def _host_config(record: ContainerRecord) -> dict[str, Any]:
    host = render_message(record.host_config)
    # the engine's defaults, as Docker records them: the default network,
    # json-file is the default driver, no restart policy is "no"
    host["NetworkMode"] = host["NetworkMode"] or "default"
    host["LogConfig"]["Type"] = host["LogConfig"]["Type"] or "json-file"
    host["RestartPolicy"]["Name"] = host["RestartPolicy"]["Name"] or "no"
    return host


def _config(record: ContainerRecord) -> dict[str, Any]:
    """The merged config, as docker inspect shows it: create already filled
    Entrypoint, Cmd, StopSignal and WorkingDir from the image where no flag
    set them; the effective hostname, user, environment and working dir are
    the record's."""
    cfg = record.config
    out = render_message(cfg)
    out["Hostname"] = record.hostname
    out["User"] = record.user or cfg.user
    out["Env"] = list(record.env)
    out["WorkingDir"] = cfg.working_dir or record.working_dir
    # create records no attach flags (a client attaches what it wants):
    # these are the streams barque's run gives a container
    out["AttachStdin"] = cfg.attach_stdin or cfg.open_stdin
    out["AttachStdout"] = True
    out["AttachStderr"] = True
    out["StdinOnce"] = cfg.stdin_once or cfg.open_stdin
    # shown, null when unset, so that -f '{{.Config.StopSignal}}' always works
    out["StopSignal"] = cfg.stop_signal or None
    out["StopTimeout"] = cfg.stop_timeout if cfg.HasField("stop_timeout") else None
    return out


def _graph_driver(record: ContainerRecord, container_dir: Path) -> dict[str, Any]:
    rootfs = record.rootfs
    if not rootfs:
        return {"Name": "overlay", "Data": None}
    return {
        "Name": "overlay",
        "Data": {
            "LowerDir": ":".join(rootfs.get("lowerdirs") or []),
            "UpperDir": rootfs.get("upperdir", ""),
            "WorkDir": rootfs.get("workdir", ""),
            "MergedDir": str(container_dir / ROOTFS_DIR),
        },
    }


def _mounts(record: ContainerRecord) -> list[dict[str, Any]]:
    """Docker's MountPoint of each of the record's mounts (``Name`` and
    ``Driver`` omitted when empty, as Docker's omitempty); a bind's
    propagation defaults to rprivate, a volume's and a tmpfs's stay empty."""
    out = []
    for m in record.mounts:
        point: dict[str, Any] = {"Type": m["Type"]}
        if m.get("Name"):
            point["Name"] = m["Name"]
        point.update({"Source": m["Source"], "Destination": m["Destination"]})
        if m.get("Driver"):
            point["Driver"] = m["Driver"]
        point.update({"Mode": m["Mode"], "RW": m["RW"],
                      "Propagation": m.get("Propagation") or ("rprivate" if m["Type"] == "bind" else "")})
        out.append(point)
    return out


def _endpoint(live: Any, cfg: dict | None, short_id: str) -> dict[str, Any]:
    """One of NetworkSettings.Networks, as Docker's EndpointSettings: the
    configured part always, the live part (``live``: network, endpoint)
    while the container runs."""
    net, ep = (live.network, live.endpoint) if live is not None else (None, None)
    cfg = cfg or {}
    aliases = list(cfg.get("aliases", []))
    user_network = net is not None and not net.builtin
    return {
        "IPAMConfig": {"IPv4Address": cfg["ip"]} if cfg.get("ip") else None,
        "Links": None,
        "Aliases": ([short_id, *aliases] if user_network else aliases or None),
        "NetworkID": net.id if net is not None else "",
        "EndpointID": ep.endpoint_id if ep is not None else "",
        "Gateway": net.gateway if net is not None else "",
        "IPAddress": ep.ip if ep is not None else "",
        "IPPrefixLen": net.prefix_len if net is not None else 0,
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.mac if ep is not None else "",
        "DriverOpts": None, "GwPriority": 0, "DNSNames": None,
    }


def network_name(network_mode: str) -> str:
    """The network a mode names ("" for ``container:``)."""
    if network_mode in ("", "default", "bridge"):
        return "bridge"
    return "" if network_mode.startswith("container:") else network_mode


def port_map(record: ContainerRecord, running: bool, endpoints: Sequence[Any] = ()) -> dict[str, Any]:
    """NetworkSettings.Ports: each exposed port, with its host sides when
    published (null when not); empty unless it runs on a bridge network."""
    if not running or not endpoints:
        return {}
    out: dict[str, Any] = {key: None for key in record.config.exposed_ports}
    for live in endpoints:
        for p in live.endpoint.ports:
            key = f"{p.container_port}/{p.proto}"
            out[key] = (out.get(key) or []) + [{"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)}]
    return dict(sorted(out.items(), key=lambda kv: (int(kv[0].split("/")[0]), kv[0])))


def _network_settings(record: ContainerRecord, running: bool, endpoints: Sequence[Any]) -> dict[str, Any]:
    """Docker's NetworkSettings: an entry per network the container is on
    (none, host, the bridge or user networks; none when it joined
    another's), its ports; the top-level address fields are the default
    bridge's, as Docker's are."""
    live = {e.network.name: e for e in endpoints} if running else {}
    mode = network_name(record.host_config.network_mode)
    configured = dict(record.networks) or ({mode: {}} if mode in ("none", "host") else {})
    networks = {name: _endpoint(live.get(name), cfg, record.id[:12]) for name, cfg in configured.items()}
    default = networks.get("bridge") if "bridge" in live else None
    first = next(iter(live.values()), None)
    return {
        "Bridge": "", "SandboxID": first.endpoint.endpoint_id if first is not None else "", "HairpinMode": False,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_map(record, running, list(live.values())),
        "SandboxKey": first.endpoint.netns if first is not None else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": default["EndpointID"] if default else "", "Gateway": default["Gateway"] if default else "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": default["IPAddress"] if default else "", "IPPrefixLen": default["IPPrefixLen"] if default else 0,
        "IPv6Gateway": "", "MacAddress": default["MacAddress"] if default else "",
        "Networks": networks,
    }


def container_json(record: ContainerRecord, running: bool, container_dir: Path,
                   endpoints: Sequence[Any] = ()) -> dict[str, Any]:
    """Docker's ContainerJSON of ``record``; ``running`` is the supervisor's
    word on the process, ``container_dir`` the container's directory."""
    etc = container_dir / ETC_DIR
    return {
        "Id": record.id,
        "Created": record.created,
        "Path": record.args[0] if record.args else "",
        "Args": list(record.args[1:]),
        "State": _state(record, running),
        "Image": record.image_id,
        "ResolvConfPath": str(etc / "resolv.conf"),
        "HostnamePath": str(etc / "hostname"),
        "HostsPath": str(etc / "hosts"),
        "LogPath": record.log_path,
        "Name": "/" + record.name,
        "RestartCount": record.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": _host_config(record),
        "GraphDriver": _graph_driver(record, container_dir),
        "Mounts": _mounts(record),
        "Config": _config(record),
        "NetworkSettings": _network_settings(record, running, endpoints),
    }
