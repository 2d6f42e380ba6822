"""config.json generation against Docker's documented behaviour (the real run under runc is
tests/kernel/test_spec_runc.py)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from client.errors import InvalidArgument
from services.runtime import spec as sb
from services.runtime.spec.flags import Bind, SecurityOpts

# linux/capability.h, written out independently of the code under test.
CAP_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}
DOCKER_CAP_EFF = 0xA80425FB
ALL_41 = sorted(CAP_NUMBERS, key=CAP_NUMBERS.get)


def mask(names: list[str]) -> int:
    out = 0
    for name in names:
        out |= 1 << CAP_NUMBERS[name]
    return out


# --- capabilities -------------------------------------------------------------------------------

def test_default_caps_are_dockers_fourteen():
    assert len(sb.DEFAULT_CAPS) == 14
    assert mask(sb.DEFAULT_CAPS) == DOCKER_CAP_EFF
    assert sb.effective_caps([], [], False) == sb.DEFAULT_CAPS


@pytest.mark.parametrize("add,drop,expected_mask", [
    (["NET_ADMIN"], [], DOCKER_CAP_EFF | 1 << 12),
    (["cap_net_admin"], [], DOCKER_CAP_EFF | 1 << 12),
    (["Net_Admin", "SYS_PTRACE"], ["mknod", "CAP_NET_RAW"], (DOCKER_CAP_EFF | 1 << 12 | 1 << 19) & ~(1 << 27 | 1 << 13)),
    ([], ["ALL"], 0),
    (["NET_BIND_SERVICE"], ["ALL"], 1 << 10),
    (["all"], [], (1 << 41) - 1),
    (["ALL"], ["SYS_ADMIN", "mknod"], ((1 << 41) - 1) & ~(1 << 21 | 1 << 27)),
    (["CHOWN"], [], DOCKER_CAP_EFF),
])
def test_cap_add_drop_math(add, drop, expected_mask):
    caps = sb.effective_caps(add, drop, False, last_cap=40)
    assert mask(caps) == expected_mask
    assert len(caps) == len(set(caps))


def test_privileged_gets_every_cap_the_kernel_knows():
    assert sb.effective_caps(["NET_ADMIN"], ["ALL"], True, last_cap=40) == ALL_41
    assert sb.effective_caps([], [], True, last_cap=37) == ALL_41[:38]


@pytest.mark.parametrize("add,drop", [(["NOT_A_CAP"], []), ([], ["CAP_BOGUS"]), ([""], [])])
def test_unknown_capability_is_refused(add, drop):
    with pytest.raises(InvalidArgument, match="unknown capability"):
        sb.effective_caps(add, drop, False)


# --- entrypoint / cmd ---------------------------------------------------------------------------

BOTH = {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"]}
ONLY_CMD = {"Cmd": ["sh"]}
ONLY_ENTRY = {"Entrypoint": ["/bin/app", "--serve"]}
NEITHER: dict = {"Entrypoint": None, "Cmd": None}


@pytest.mark.parametrize("image,entrypoint,cmd,expected", [
    (BOTH, None, None, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    (BOTH, None, ["bash"], ["/docker-entrypoint.sh", "bash"]),
    (BOTH, None, [], ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    (BOTH, ["/bin/sh"], None, ["/bin/sh"]),                     # --entrypoint drops the image's Cmd
    (BOTH, ["/bin/sh"], ["-c", "id"], ["/bin/sh", "-c", "id"]),
    (BOTH, [""], ["ls", "/"], ["ls", "/"]),                      # --entrypoint "" clears it
    (BOTH, [], ["ls", "/"], ["ls", "/"]),
    (ONLY_CMD, None, None, ["sh"]),
    (ONLY_CMD, None, ["echo", "hi"], ["echo", "hi"]),
    (ONLY_CMD, ["/bin/echo"], None, ["/bin/echo"]),
    (ONLY_CMD, ["/bin/echo"], ["x"], ["/bin/echo", "x"]),
    (ONLY_ENTRY, None, None, ["/bin/app", "--serve"]),
    (ONLY_ENTRY, None, ["--port", "80"], ["/bin/app", "--serve", "--port", "80"]),
    (ONLY_ENTRY, [""], ["true"], ["true"]),
    (NEITHER, None, ["true"], ["true"]),
    (NEITHER, ["/bin/true"], None, ["/bin/true"]),
    ({}, None, ["a b", ""], ["a b", ""]),
])
def test_entrypoint_cmd_matrix(image, entrypoint, cmd, expected):
    assert sb.process_args(image, entrypoint, cmd) == expected


@pytest.mark.parametrize("image,entrypoint,cmd", [
    (NEITHER, None, None),
    ({}, None, []),
    (ONLY_CMD, [""], None),       # Docker: "--entrypoint ''" with no args has nothing left to run
    (BOTH, [], None),
    (ONLY_ENTRY, [""], []),
])
def test_no_command_specified(image, entrypoint, cmd):
    with pytest.raises(InvalidArgument, match="no command specified"):
        sb.process_args(image, entrypoint, cmd)


@pytest.mark.parametrize("image,entrypoint,cmd", [
    ({"Cmd": "sh"}, None, None), ({"Cmd": ["sh", 1]}, None, None), ({}, None, ["a\x00b"]),
])
def test_malformed_args_are_refused(image, entrypoint, cmd):
    with pytest.raises(InvalidArgument):
        sb.process_args(image, entrypoint, cmd)


# --- environment --------------------------------------------------------------------------------

def test_env_defaults_and_order():
    env = sb.merged_env(["LANG=C.UTF-8", "FOO=image"], ["FOO=user", "BAR=1"], "/root", "web1")
    assert env == [f"PATH={sb.DEFAULT_PATH_ENV}", "HOSTNAME=web1", "FOO=user", "BAR=1", "LANG=C.UTF-8",
                   "HOME=/root"]


def test_env_path_from_image_replaces_default_in_place_and_tty_adds_term():
    env = sb.merged_env(["PATH=/opt/bin:/bin"], [], "/", "h", tty=True)
    assert env == ["PATH=/opt/bin:/bin", "HOSTNAME=h", "TERM=xterm", "HOME=/"]


def test_env_user_overrides_path_hostname_and_home():
    env = sb.merged_env(["PATH=/image"], ["PATH=/user", "HOSTNAME=custom", "HOME=/srv"], "/root", "h")
    assert env == ["PATH=/user", "HOSTNAME=custom", "HOME=/srv"]


def test_env_empty_home_is_filled_in_place_and_bare_key_unsets_a_default():
    assert sb.merged_env(["HOME=", "X=1"], [], "/home/app", "h") == [
        f"PATH={sb.DEFAULT_PATH_ENV}", "HOSTNAME=h", "HOME=/home/app", "X=1"]
    assert sb.merged_env([], ["HOSTNAME"], "/", "h") == [f"PATH={sb.DEFAULT_PATH_ENV}", "HOME=/"]


def test_env_values_kept_verbatim():
    env = sb.merged_env(None, ["A=x=y", "B=", "C= spaced "], "/", "h")
    assert env[2:5] == ["A=x=y", "B=", "C= spaced "]


@pytest.mark.parametrize("image_env,env", [([], ["=x"]), (["A=\x00"], []), ("PATH=/x", [])])
def test_env_invalid(image_env, env):
    with pytest.raises(InvalidArgument):
        sb.merged_env(image_env, env, "/", "h")


# --- stop signal --------------------------------------------------------------------------------

@pytest.mark.parametrize("image,override,expected", [
    ({}, None, 15), ({"StopSignal": "SIGQUIT"}, None, 3), ({"StopSignal": "SIGQUIT"}, "SIGINT", 2),
    ({"StopSignal": "9"}, "", 9), ({}, "SIGRTMIN+3", 37),
])
def test_stop_signal(image, override, expected):
    assert sb.stop_signal(image, override) == expected


def test_stop_signal_invalid():
    with pytest.raises(InvalidArgument, match="invalid signal"):
        sb.stop_signal({"StopSignal": "SIGNOPE"})


# --- resources ----------------------------------------------------------------------------------

MB = 1024 * 1024


@pytest.mark.parametrize("memory,swap,expected", [
    (0, 0, None),
    (0, -1, None),
    (512 * MB, 0, {"limit": 512 * MB, "swap": 1024 * MB}),     # default: twice the memory
    (512 * MB, -1, {"limit": 512 * MB}),                       # unlimited swap: left out
    (512 * MB, 512 * MB, {"limit": 512 * MB, "swap": 512 * MB}),  # no swap at all
    (512 * MB, 2048 * MB, {"limit": 512 * MB, "swap": 2048 * MB}),
    (6 * MB, 0, {"limit": 6 * MB, "swap": 12 * MB}),
])
def test_memory_swap_matrix(memory, swap, expected):
    assert sb.memory_resources(memory, swap) == expected


@pytest.mark.parametrize("memory,swap,message", [
    (4 * MB, 0, "minimum memory limit allowed is 6MB"),
    (-5, 0, "minimum memory limit"),
    (512 * MB, 256 * MB, "memoryswap limit should be larger than memory limit"),
    (0, 1024 * MB, "always set the memory limit"),
    (512 * MB, -2, "invalid memory swap"),
])
def test_memory_swap_errors(memory, swap, message):
    with pytest.raises(InvalidArgument, match=message):
        sb.memory_resources(memory, swap)


def test_swap_dropped_without_swap_accounting():
    assert sb.memory_resources(512 * MB, 0, swap_supported=False) == {"limit": 512 * MB}


@pytest.mark.parametrize("nano,shares,expected", [
    (0, 0, None),
    (1_500_000_000, 0, {"period": 100000, "quota": 150000}),
    (10_000_000, 0, {"period": 100000, "quota": 1000}),
    (2_000_000_000, 512, {"shares": 512, "period": 100000, "quota": 200000}),
    (0, 1, {"shares": 2}),
    (0, 1_000_000, {"shares": 262144}),
])
def test_cpu_resources(nano, shares, expected):
    assert sb.cpu_resources(nano, shares, host_cpus=2) == expected


@pytest.mark.parametrize("nano,shares,message", [
    (3_000_000_000, 0, "from 0.01 to 2.00"), (-1, 0, "range of cpus"), (0, -1, "cpu shares"),
])
def test_cpu_resources_errors(nano, shares, message):
    with pytest.raises(InvalidArgument, match=message):
        sb.cpu_resources(nano, shares, host_cpus=2)


# --- build_spec ---------------------------------------------------------------------------------

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:app\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


FACTS = sb.HostFacts(kernel=(6, 1), last_cap=40, host_cpus=2, nofile=1048576)
CONFIG_FIELDS = set(runtime_pb2.ContainerConfig.DESCRIPTOR.fields_by_name)
HOST_FIELDS = set(runtime_pb2.HostConfig.DESCRIPTOR.fields_by_name)
CONTEXT_FIELDS = {f.name for f in dataclasses.fields(sb.SpecContext)}


def _set(message, name: str, value) -> None:
    if name == "entrypoint":
        message.entrypoint.values[:] = value          # set, even to nothing
    elif isinstance(value, list):
        getattr(message, name)[:] = value
    else:
        setattr(message, name, value)


def inputs(rootfs: Path, **fields) -> tuple[runtime_pb2.ContainerConfig, runtime_pb2.HostConfig, sb.SpecContext]:
    """Docker's Config and HostConfig and the context: each keyword goes where
    its name is a field, the context first (its ``hostname`` is the engine's
    choice, its ``binds`` are parsed), then Config, then HostConfig."""
    config, host = runtime_pb2.ContainerConfig(), runtime_pb2.HostConfig()
    context = dict(id="c0ffee1234567890", hostname="c0ffee123456", rootfs=rootfs, root_path="rootfs",
                   image_config={"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]}, facts=FACTS)
    for name, value in fields.items():
        if name in CONTEXT_FIELDS:
            context[name] = value
        elif name in CONFIG_FIELDS:
            _set(config, name, value)
        elif name in HOST_FIELDS:
            _set(host, name, value)
        else:
            raise TypeError(f"no field {name!r}")
    return config, host, sb.SpecContext(**context)


def build(rootfs: Path, **fields) -> dict:
    spec = sb.build_spec(*inputs(rootfs, **fields))
    json.dumps(spec)  # always serialisable as config.json
    return spec


def mount(spec: dict, destination: str) -> dict:
    found = [m for m in spec["mounts"] if m["destination"] == destination]
    assert len(found) == 1, destination
    return found[0]


def seccomp_names(spec: dict) -> list[str]:
    return [n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]]


def test_default_spec_shape(rootfs: Path):
    spec = build(rootfs)
    assert spec["ociVersion"] == "1.0.2"
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert spec["hostname"] == "c0ffee123456"
    proc = spec["process"]
    assert proc["args"] == ["sh"]
    assert proc["cwd"] == "/"
    assert proc["terminal"] is False
    assert proc["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    assert proc["env"] == ["PATH=/usr/bin:/bin", "HOSTNAME=c0ffee123456", "HOME=/root"]
    caps = proc["capabilities"]
    for key in ("bounding", "effective", "permitted"):
        assert mask(caps[key]) == DOCKER_CAP_EFF
    assert caps["inheritable"] == [] and caps["ambient"] == []
    assert proc["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}]
    assert proc["noNewPrivileges"] is False and proc["oomScoreAdj"] == 0

    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
    assert mount(spec, "/proc")["options"] == ["nosuid", "noexec", "nodev"]
    assert mount(spec, "/dev")["options"] == ["nosuid", "strictatime", "mode=755", "size=65536k"]
    assert mount(spec, "/dev/pts")["options"] == [
        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    assert "ro" in mount(spec, "/sys")["options"] and "ro" in mount(spec, "/sys/fs/cgroup")["options"]
    assert mount(spec, "/dev/shm")["options"] == ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]

    linux = spec["linux"]
    assert [n["type"] for n in linux["namespaces"]] == ["mount", "network", "uts", "pid", "ipc"]
    assert all("path" not in n for n in linux["namespaces"])
    assert linux["cgroupsPath"] == "/barque/c0ffee1234567890"
    assert linux["devices"] == []
    for path in ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                 "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                 "/sys/devices/virtual/powercap", "/proc/interrupts"):
        assert path in linux["maskedPaths"]
    assert linux["readonlyPaths"] == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    devices = linux["resources"]["devices"]
    assert devices[0] == {"allow": False, "access": "rwm"}
    allowed = {(d["major"], d.get("minor")) for d in devices if d["allow"]}
    assert allowed == {(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1), (136, None), (5, 2), (10, 200)}
    assert {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"} in devices
    assert set(linux["resources"]) == {"devices"}
    seccomp = linux["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO" and seccomp["defaultErrnoRet"] == 1
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_seccomp_allowlist_is_gated_by_capabilities(rootfs: Path):
    names = seccomp_names(build(rootfs))
    for allowed in ("read", "openat", "execve", "socket", "personality", "arch_prctl", "chroot", "ptrace"):
        assert allowed in names
    for denied in ("mount", "unshare", "setns", "kexec_load", "bpf", "reboot", "init_module", "kcmp",
                   "open_by_handle_at", "swapon", "keyctl", "add_key"):
        assert denied not in names
    rules = build(rootfs)["linux"]["seccomp"]["syscalls"]
    clone = [r for r in rules if r["names"] == ["clone"]]
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0}]}]
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in rules
    socket = next(r for r in rules if r["names"] == ["socket"])
    assert socket["args"] == [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]

    admin = build(rootfs, cap_add=["SYS_ADMIN", "SYS_PTRACE"])["linux"]["seccomp"]["syscalls"]
    admin_names = [n for r in admin for n in r["names"]]
    assert {"mount", "unshare", "setns", "bpf", "kcmp", "clone3"} <= set(admin_names)
    assert not any(r["names"] == ["clone"] and "args" in r for r in admin)
    assert not any(r.get("errnoRet") == 38 for r in admin)
    dropped = seccomp_names(build(rootfs, cap_drop=["SYS_CHROOT"]))
    assert "chroot" not in dropped


def test_old_kernel_loses_ptrace_without_cap(rootfs: Path):
    spec = build(rootfs, facts=sb.HostFacts(kernel=(4, 4), last_cap=40, host_cpus=2, nofile=1024))
    assert "ptrace" not in seccomp_names(spec)


@pytest.mark.parametrize("overrides", [{"security": SecurityOpts(seccomp_unconfined=True)}, {"privileged": True}])
def test_seccomp_absent_when_unconfined_or_privileged(rootfs: Path, overrides):
    assert "seccomp" not in build(rootfs, **overrides)["linux"]


def test_privileged(rootfs: Path):
    spec = build(rootfs, privileged=True, cap_drop=["ALL"])
    caps = spec["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == ALL_41
    linux = spec["linux"]
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "ro" not in mount(spec, "/sys")["options"]
    assert "ro" not in mount(spec, "/sys/fs/cgroup")["options"]


def test_privileged_read_only_root_still_gets_writable_sys(rootfs: Path):
    spec = build(rootfs, privileged=True, readonly_rootfs=True)
    assert spec["root"]["readonly"] is True
    assert "ro" not in mount(spec, "/sys")["options"]


def test_non_root_user_gets_only_bounding_caps(rootfs: Path):
    spec = build(rootfs, user="app")
    proc = spec["process"]
    assert proc["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}
    assert mask(proc["capabilities"]["bounding"]) == DOCKER_CAP_EFF
    assert proc["capabilities"]["effective"] == proc["capabilities"]["permitted"] == []
    assert "HOME=/home/app" in proc["env"]


def test_user_and_workdir_from_image_config(rootfs: Path):
    spec = build(rootfs, image_config={"Cmd": ["id"], "User": "1000:50", "WorkingDir": "/srv/app/"})
    assert spec["process"]["user"] == {"uid": 1000, "gid": 50, "additionalGids": [50]}
    assert spec["process"]["cwd"] == "/srv/app"
    override = build(rootfs, image_config={"Cmd": ["id"], "User": "app", "WorkingDir": "/srv"},
                     user="root", working_dir="/tmp")
    assert override["process"]["user"]["uid"] == 0 and override["process"]["cwd"] == "/tmp"


def test_user_not_in_passwd_has_its_gid_as_a_supplementary_group(rootfs: Path):
    # docker run -u 1234:5678 IMAGE id: uid=1234 gid=5678 groups=5678
    assert build(rootfs, user="1234:5678")["process"]["user"] == {"uid": 1234, "gid": 5678, "additionalGids": [5678]}
    assert build(rootfs, user="app:staff")["process"]["user"] == {"uid": 1000, "gid": 50, "additionalGids": [50]}


def test_unknown_user_and_relative_workdir_are_refused(rootfs: Path):
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        build(rootfs, user="ghost")
    with pytest.raises(InvalidArgument, match="absolute"):
        build(rootfs, working_dir="relative/dir")


def test_resources_in_spec(rootfs: Path):
    res = build(rootfs, memory=512 * MB, nano_cpus=1_500_000_000, cpu_shares=512, pids_limit=100)["linux"]["resources"]
    assert res["memory"] == {"limit": 512 * MB, "swap": 1024 * MB}
    assert res["cpu"] == {"shares": 512, "period": 100000, "quota": 150000}
    assert res["pids"] == {"limit": 100}
    assert build(rootfs, pids_limit=-1)["linux"]["resources"]["pids"] == {"limit": -1}
    assert "pids" not in build(rootfs, pids_limit=0)["linux"]["resources"]


def test_read_only_root_and_etc_files(rootfs: Path):
    etc = {"/etc/hostname": "/run/x/hostname", "/etc/hosts": "/run/x/hosts", "/etc/resolv.conf": "/run/x/resolv"}
    rw = build(rootfs, etc_files=etc)
    assert mount(rw, "/etc/hosts") == {"destination": "/etc/hosts", "type": "bind", "source": "/run/x/hosts",
                                        "options": ["rbind", "rprivate"]}
    ro = build(rootfs, etc_files=etc, readonly_rootfs=True)
    assert ro["root"]["readonly"] is True
    for dest in etc:
        assert mount(ro, dest)["options"] == ["rbind", "ro", "rprivate"]
    for dest in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"):
        assert "ro" not in mount(ro, dest)["options"]


def test_binds_ro_rw_order_and_overrides(rootfs: Path, tmp_path: Path):
    binds = [
        Bind(source="/srv/data/sub", destination="/data/sub", read_only=True, mode="ro"),
        Bind(source="/srv/data", destination="/data", read_only=False, mode=""),
        Bind(source="/srv/shm", destination="/dev/shm", read_only=False, mode="rw"),
        Bind(source="/srv/hosts", destination="/etc/hosts", read_only=True, mode="ro"),
    ]
    spec = build(rootfs, binds=binds, etc_files={"/etc/hosts": "/run/x/hosts", "/etc/hostname": "/run/x/hn"})
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests.index("/data") < dests.index("/data/sub")               # parents first
    assert mount(spec, "/data")["options"] == ["rbind", "rprivate"]
    assert mount(spec, "/data/sub")["options"] == ["rbind", "ro", "rprivate"]
    assert mount(spec, "/dev/shm") == {"destination": "/dev/shm", "type": "bind", "source": "/srv/shm",
                                        "options": ["rbind", "rprivate"]}  # replaces the default tmpfs
    assert mount(spec, "/etc/hosts")["source"] == "/srv/hosts"           # the user's mount wins
    assert mount(spec, "/etc/hostname")["source"] == "/run/x/hn"


def test_bind_over_dev_drops_default_dev_submounts(rootfs: Path):
    spec = build(rootfs, binds=[Bind(source="/dev", destination="/dev", read_only=False, mode="")])
    assert [m["destination"] for m in spec["mounts"] if m["destination"].startswith("/dev")] == ["/dev"]


@pytest.mark.parametrize("binds,message", [
    ([Bind("/a", "/x", False, ""), Bind("/b", "/x/", False, "")], "duplicate mount point"),
    ([Bind("/a", "/", False, "")], "can't be '/'"),
    ([Bind("a", "/x", False, "")], "absolute"),
])
def test_bad_binds(rootfs: Path, binds, message):
    with pytest.raises(InvalidArgument, match=message):
        build(rootfs, binds=binds)


def test_no_new_privileges_tty_and_hostname(rootfs: Path):
    spec = build(rootfs, security=SecurityOpts(no_new_privileges=True), tty=True, hostname="")
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["terminal"] is True
    assert "TERM=xterm" in spec["process"]["env"]
    assert spec["hostname"] == "c0ffee123456"      # the id's first 12 characters, as Docker


def test_namespaces_network_modes_and_cgroup_v2(rootfs: Path):
    v2 = build(rootfs, facts=sb.HostFacts(cgroup_v2=True, kernel=(6, 1), last_cap=40, host_cpus=2, nofile=1024))
    assert v2["linux"]["namespaces"][-1] == {"type": "cgroup"}
    host = build(rootfs, network="host")
    assert "network" not in [n["type"] for n in host["linux"]["namespaces"]]
    assert host["linux"]["sysctl"] == {}
    joined = build(rootfs, network="/var/run/netns/bq-test")
    assert {"type": "network", "path": "/var/run/netns/bq-test"} in joined["linux"]["namespaces"]
    with pytest.raises(InvalidArgument, match="unsupported network mode"):
        build(rootfs, network="bridge")


def test_own_network_namespace_gets_dockers_sysctls(rootfs: Path):
    sysctl = build(rootfs)["linux"]["sysctl"]
    if os.path.exists("/proc/sys/net/ipv4/ip_unprivileged_port_start"):
        assert sysctl["net.ipv4.ip_unprivileged_port_start"] == "0"
    if os.path.exists("/proc/sys/net/ipv4/ping_group_range"):
        assert sysctl["net.ipv4.ping_group_range"] == "0 2147483647"


def test_cgroups_path_and_id_validation(rootfs: Path):
    assert build(rootfs, cgroups_path="/barque/custom")["linux"]["cgroupsPath"] == "/barque/custom"
    with pytest.raises(InvalidArgument, match="invalid container id"):
        build(rootfs, id="../escape")


def test_root_path_defaults_to_rootfs(rootfs: Path):
    spec = build(rootfs, root_path=None, facts=sb.HostFacts(kernel=(6, 1), last_cap=40, host_cpus=2, nofile=1024))
    assert spec["root"]["path"] == str(rootfs)
    assert spec["process"]["rlimits"][0]["hard"] == 1024


def test_host_nofile_limit_is_within_reach():
    import resource
    limit = sb.host_nofile_limit()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert limit == sb.NOFILE_LIMIT or limit == hard
