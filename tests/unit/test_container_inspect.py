"""Docker's ContainerJSON built by the runtime (services/runtime/engine/inspect.py):
Config and HostConfig rendered from the proto under Docker's names, paths
from the record and the container's directory."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from barque.runtime.v1 import runtime_pb2
from services.runtime.engine.containers import ContainerConfig, ContainerRecord, HostConfig
from services.runtime.engine.inspect import container_json, docker_name, render_message

# The JSON names of moby's api/types/container HostConfig (with Resources
# inlined) and Config, at moby b985e2313a; KernelMemory/KernelMemoryTCP and
# Config.MacAddress are in older API versions, which the proto keeps.
MOBY_HOSTCONFIG = {
    "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
    "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns",
    "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj",
    "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs",
    "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation", "CpuShares", "Memory", "NanoCpus",
    "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
    "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests",
    "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits",
    "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "Mounts", "MaskedPaths",
    "ReadonlyPaths", "Init",
} | {"KernelMemory", "KernelMemoryTCP"}
MOBY_CONFIG = {
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty",
    "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
    "Entrypoint", "NetworkDisabled", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
} | {"MacAddress"}
MOBY_CONTAINER_JSON = [
    "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath",
    "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel",
    "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings",
]

CID = "ab" * 32


def _fill(message: Message) -> Message:
    """Set every field of ``message`` to something not its zero value."""
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                _fill(value["k"])
            else:
                value["k"] = "v"
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            _fill(value.add() if field.is_repeated else value)
        else:
            one = {FieldDescriptor.TYPE_STRING: "x", FieldDescriptor.TYPE_BOOL: True}.get(field.type, 1)
            if field.is_repeated:
                value.append(one)
            else:
                setattr(message, field.name, one)
    return message


def _record(**kw) -> ContainerRecord:
    config = kw.pop("config", ContainerConfig(image="busybox", cmd=["sh", "-c", "exit 3"]))
    host = kw.pop("host", HostConfig(network_mode="none", log_config=runtime_pb2.LogConfig(type="json-file")))
    base = dict(id=CID, name="web", created="2024-01-01T00:00:00.000001Z", image_id="sha256:" + "c" * 64,
                config=config, host_config=host, args=["sh", "-c", "exit 3"], env=["PATH=/bin", "A=1"],
                working_dir="/", hostname=CID[:12], log_path=f"/state/containers/{CID}/{CID}-json.log",
                rootfs={"lowerdirs": ["/snap/2/fs", "/snap/1/fs"], "upperdir": f"/active/{CID}/upper",
                        "workdir": f"/active/{CID}/work"},
                status="exited", pid=0, exit_code=3, started_at="2024-01-01T00:00:01Z",
                finished_at="2024-01-01T00:00:02Z")
    base.update(kw)
    return ContainerRecord(**base)


# ---- names ------------------------------------------------------------------------------

def test_docker_names_are_camel_case_with_dockers_irregular_ones():
    assert docker_name("cpu_shares") == "CpuShares"
    assert docker_name("readonly_rootfs") == "ReadonlyRootfs"
    assert docker_name("dns") == "Dns"
    assert docker_name("uts_mode") == "UTSMode"
    assert docker_name("container_id_file") == "ContainerIDFile"
    assert docker_name("blkio_device_read_iops") == "BlkioDeviceReadIOps"
    assert docker_name("io_maximum_bandwidth") == "IOMaximumBandwidth"


def test_every_hostconfig_field_has_its_moby_name():
    assert set(render_message(_fill(HostConfig()))) == MOBY_HOSTCONFIG


def test_every_config_field_has_its_moby_name():
    assert set(render_message(_fill(ContainerConfig()))) == MOBY_CONFIG


def test_hostconfig_keys_come_in_dockers_order():
    keys = list(render_message(_fill(HostConfig())))
    assert keys[:6] == ["Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy"]
    assert keys.index("CpuShares") < keys.index("Memory") < keys.index("NanoCpus") < keys.index("PidsLimit")
    assert keys[-1] == "Init"


# ---- values -----------------------------------------------------------------------------

def test_empty_values_render_as_docker_shows_them():
    host = render_message(HostConfig())
    assert host["Binds"] is None and host["CapAdd"] is None       # nil slices
    assert host["PortBindings"] == {}                              # maps
    assert host["ConsoleSize"] == [0, 0]                           # a [2]uint
    assert host["PidsLimit"] is None and host["MemorySwappiness"] is None  # nil pointers
    assert host["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}   # a struct
    for omitted in ("Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init"):
        assert omitted not in host
    config = render_message(ContainerConfig())
    assert config["Entrypoint"] is None and config["Volumes"] is None and config["Labels"] == {}
    for omitted in ("ExposedPorts", "Healthcheck", "OnBuild", "Shell", "ArgsEscaped"):
        assert omitted not in config


def test_a_pointer_set_to_zero_is_shown():
    host = HostConfig(pids_limit=0, init=False)
    out = render_message(host)
    assert out["PidsLimit"] == 0 and out["Init"] is False
    config = ContainerConfig()
    config.entrypoint.SetInParent()
    assert render_message(config)["Entrypoint"] == []


def test_nested_values_take_dockers_shapes():
    host = HostConfig(log_config=runtime_pb2.LogConfig(type="json-file", config={"max-size": "1m"}))
    host.port_bindings["80/tcp"].bindings.add(host_ip="127.0.0.1", host_port="8080")
    host.mounts.add(type="tmpfs", target="/run", tmpfs_size_bytes=1 << 20)
    host.device_requests.add(driver="nvidia", count=-1, device_ids=["0"]).capabilities.add(values=["gpu"])
    host.blkio_device_read_iops.add(path="/dev/sda", rate=100)
    out = render_message(host)
    assert out["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert out["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert out["Mounts"] == [{"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 1 << 20}}]
    assert out["DeviceRequests"] == [{"Driver": "nvidia", "Count": -1, "DeviceIDs": ["0"],
                                      "Capabilities": [["gpu"]], "Options": {}}]
    assert out["BlkioDeviceReadIOps"] == [{"Path": "/dev/sda", "Rate": 100}]
    config = render_message(ContainerConfig(exposed_ports=["80/tcp"], volumes=["/data"]))
    assert config["ExposedPorts"] == {"80/tcp": {}} and config["Volumes"] == {"/data": {}}


# ---- the document -------------------------------------------------------------------------

def test_container_json_has_dockers_fields_in_dockers_order(tmp_path):
    doc = container_json(_record(), False, tmp_path)
    assert list(doc) == MOBY_CONTAINER_JSON
    assert doc["Id"] == CID and doc["Name"] == "/web" and doc["Image"] == "sha256:" + "c" * 64
    assert (doc["Path"], doc["Args"]) == ("sh", ["-c", "exit 3"])
    assert (doc["Driver"], doc["Platform"], doc["RestartCount"], doc["ExecIDs"]) == ("overlay", "linux", 0, None)


def test_paths_are_the_runtimes_own(tmp_path):
    record = _record()
    doc = container_json(record, True, tmp_path)
    assert doc["ResolvConfPath"] == str(tmp_path / "etc" / "resolv.conf")
    assert doc["HostnamePath"] == str(tmp_path / "etc" / "hostname")
    assert doc["HostsPath"] == str(tmp_path / "etc" / "hosts")
    assert doc["LogPath"] == record.log_path
    assert doc["GraphDriver"] == {"Name": "overlay", "Data": {
        "LowerDir": "/snap/2/fs:/snap/1/fs", "UpperDir": f"/active/{CID}/upper",
        "WorkDir": f"/active/{CID}/work", "MergedDir": str(tmp_path / "rootfs")}}


def test_a_container_without_a_root_filesystem_has_no_driver_data(tmp_path):
    assert container_json(_record(rootfs={}), False, tmp_path)["GraphDriver"] == {"Name": "overlay", "Data": None}


def test_state_follows_the_supervisor(tmp_path):
    exited = container_json(_record(pid=77), False, tmp_path)["State"]
    assert exited == {"Status": "exited", "Running": False, "Paused": False, "Restarting": False,
                      "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 3, "Error": "",
                      "StartedAt": "2024-01-01T00:00:01Z", "FinishedAt": "2024-01-01T00:00:02Z"}
    running = container_json(_record(pid=77, status="created"), True, tmp_path)["State"]
    assert (running["Status"], running["Running"], running["Pid"]) == ("running", True, 77)


def test_config_is_the_merged_one(tmp_path):
    config = ContainerConfig(image="busybox", cmd=["app"], labels={"a": "b"}, open_stdin=True)
    config.entrypoint.values[:] = ["/entry"]
    doc = container_json(_record(config=config, user="1000:1000", working_dir="/srv"), False, tmp_path)
    cfg = doc["Config"]
    assert cfg["Hostname"] == CID[:12] and cfg["User"] == "1000:1000"
    assert cfg["Env"] == ["PATH=/bin", "A=1"] and cfg["WorkingDir"] == "/srv"
    assert (cfg["Entrypoint"], cfg["Cmd"], cfg["Image"], cfg["Labels"]) == (["/entry"], ["app"], "busybox",
                                                                           {"a": "b"})
    assert (cfg["AttachStdin"], cfg["OpenStdin"], cfg["StdinOnce"]) == (True, True, True)
    assert cfg["StopSignal"] is None and cfg["StopTimeout"] is None
    config.stop_signal, config.stop_timeout, config.working_dir = "SIGUSR1", 0, "/w"
    cfg = container_json(_record(config=config), False, tmp_path)["Config"]
    assert (cfg["StopSignal"], cfg["StopTimeout"], cfg["WorkingDir"]) == ("SIGUSR1", 0, "/w")


def test_hostconfig_shows_what_was_asked_and_the_engines_defaults(tmp_path):
    host = HostConfig(memory=32 << 20, binds=["/h:/c:ro"], cap_add=["NET_ADMIN"], auto_remove=True)
    host.pids_limit = 9
    out = container_json(_record(host=host), False, tmp_path)["HostConfig"]
    assert (out["Memory"], out["Binds"], out["CapAdd"], out["AutoRemove"], out["PidsLimit"]) == (
        32 << 20, ["/h:/c:ro"], ["NET_ADMIN"], True, 9)
    assert out["NetworkMode"] == "default" and out["LogConfig"]["Type"] == "json-file"
    assert out["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}


def test_mounts_and_network_settings(tmp_path):
    mount = {"Type": "bind", "Source": "/h", "Destination": "/c", "Mode": "ro", "RW": False,
             "Propagation": "rprivate"}
    doc = container_json(_record(mounts=[mount]), False, tmp_path)
    assert doc["Mounts"] == [mount]
    net = doc["NetworkSettings"]
    assert net["Ports"] == {} and list(net["Networks"]) == ["none"]
    none = net["Networks"]["none"]
    assert (none["IPAddress"], none["IPPrefixLen"], none["Aliases"], none["DNSNames"]) == ("", 0, None, None)


def test_a_running_bridge_containers_network_settings_are_dockers(tmp_path):
    from services.runtime.engine.networking import LiveEndpoint
    from services.runtime.network.state import Endpoint, Network, Port

    config = ContainerConfig(image="busybox", exposed_ports=["80/tcp", "443/tcp", "53/udp"])
    host = HostConfig(network_mode="default", log_config=runtime_pb2.LogConfig(type="json-file"))
    bridge = Network("n" * 64, "bridge", "barque0", "172.18.0.0/16", "172.18.0.1", builtin=True)
    mynet = Network("u" * 64, "mynet", "bqbru", "10.9.0.0/24", "10.9.0.1")
    live = [LiveEndpoint(bridge, Endpoint(CID, bridge.id, "172.18.0.2", "02:42:ac:12:00:02", "e" * 64, "bq0",
                                          "/run/barque/netns/" + CID, active=True,
                                          ports=[Port("tcp", 80, "", 8080), Port("tcp", 80, "127.0.0.1", 8081),
                                                 Port("udp", 53, "", 5353)])),
            LiveEndpoint(mynet, Endpoint(CID, mynet.id, "10.9.0.5", "02:42:0a:09:00:05", "f" * 64, "bq1",
                                         "/run/barque/netns/" + CID, ifname="eth1", aliases=["db"], active=True))]
    networks = {"bridge": {"ip": "", "aliases": []}, "mynet": {"ip": "10.9.0.5", "aliases": ["db"]}}
    record = _record(config=config, host=host, networks=networks, status="running", pid=7)
    net = container_json(record, True, tmp_path, live)["NetworkSettings"]
    assert net["Ports"] == {
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "443/tcp": None,
    }
    # the top-level address fields are the default bridge's, as Docker's
    assert (net["IPAddress"], net["IPPrefixLen"], net["Gateway"], net["MacAddress"]) == (
        "172.18.0.2", 16, "172.18.0.1", "02:42:ac:12:00:02")
    assert (net["SandboxKey"], net["EndpointID"]) == ("/run/barque/netns/" + CID, "e" * 64)
    assert list(net["Networks"]) == ["bridge", "mynet"]
    assert (net["Networks"]["bridge"]["NetworkID"], net["Networks"]["bridge"]["Aliases"]) == ("n" * 64, None)
    user = net["Networks"]["mynet"]
    assert (user["IPAddress"], user["IPAMConfig"], user["Aliases"]) == ("10.9.0.5", {"IPv4Address": "10.9.0.5"},
                                                                       [CID[:12], "db"])
    # stopped: still configured on both networks, without addresses or ports
    stopped = container_json(_record(config=config, host=host, networks=networks), False, tmp_path)["NetworkSettings"]
    assert stopped["Ports"] == {} and stopped["IPAddress"] == "" and list(stopped["Networks"]) == ["bridge", "mynet"]
    assert stopped["Networks"]["mynet"]["IPAddress"] == ""


def test_a_container_joined_to_anothers_network_has_no_network_of_its_own(tmp_path):
    host = HostConfig(network_mode="container:" + "f" * 64, log_config=runtime_pb2.LogConfig(type="json-file"))
    net = container_json(_record(host=host), False, tmp_path)["NetworkSettings"]
    assert net["Networks"] == {} and net["Ports"] == {}


def test_the_document_does_not_share_the_records_lists(tmp_path):
    record = _record()
    doc = container_json(record, False, tmp_path)
    doc["Args"].append("x")
    doc["Config"]["Env"].append("B=2")
    assert record.args == ["sh", "-c", "exit 3"] and record.env == ["PATH=/bin", "A=1"]

