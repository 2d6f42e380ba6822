"""Each spec option alone, applied to the skeleton: what it sets, and that it
touches nothing outside its own concern."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import InvalidArgument
from services.runtime import spec as sb
from services.runtime.spec.flags import Bind, SecurityOpts
from services.runtime.spec.init import with_init

MB = 1024 * 1024
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:app\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


def context(rootfs: Path, **fields) -> sb.SpecContext:
    base = dict(id="c0ffee1234567890", rootfs=rootfs, image_config={"Cmd": ["sh"]},
                facts=sb.HostFacts(kernel=(6, 1), last_cap=40, host_cpus=2, nofile=4096))
    return sb.SpecContext(**{**base, **fields})


def apply(option, config=None, host=None, ctx=None, spec=None) -> dict:
    spec = sb.skeleton() if spec is None else spec
    option(spec, config or ContainerConfig(), host or HostConfig(), ctx)
    return spec


# ---- each option stays inside its concern ----------------------------------------------------

#: the parts of config.json each option may change
CONCERNS = {
    sb.with_args: ["process.args"],
    sb.with_terminal: ["process.terminal"],
    sb.with_env: ["process.env"],
    sb.with_user: ["process.user", "process.env"],
    sb.with_working_dir: ["process.cwd"],
    sb.with_capabilities: ["process.capabilities"],
    sb.with_devices: ["linux.resources.devices"],
    sb.with_memory: ["linux.resources.memory"],
    sb.with_cpu: ["linux.resources.cpu"],
    sb.with_pids: ["linux.resources.pids"],
    sb.process.with_oom_score_adj: ["process.oomScoreAdj"],
    sb.with_hostname: ["hostname"],
    sb.with_namespaces: ["linux.namespaces"],
    sb.with_userns: ["linux.namespaces", "linux.uidMappings", "linux.gidMappings"],
    sb.with_sysctls: ["linux.sysctl"],
    sb.with_masked_paths: ["linux.maskedPaths"],
    sb.with_readonly_paths: ["linux.readonlyPaths"],
    sb.with_cgroups_path: ["linux.cgroupsPath"],
    sb.with_rlimits: ["process.rlimits"],
    sb.with_seccomp: ["linux.seccomp"],
    sb.with_no_new_privileges: ["process.noNewPrivileges"],
    sb.with_root: ["root.path"],
    sb.with_mounts: ["mounts"],
    sb.with_readonly_rootfs: ["root.readonly", "mounts"],
    sb.with_writable_sysfs: ["mounts"],
    with_init: ["process.args", "mounts"],
}


def _leaves(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


def _changed(before: dict, after: dict) -> set[str]:
    a, b = _leaves(before), _leaves(after)
    return {k for k in a.keys() | b.keys() if a.get(k, KeyError) != b.get(k, KeyError)}


def test_every_default_option_has_a_concern():
    assert set(sb.DEFAULT_OPTIONS) == set(CONCERNS)
    assert len(sb.DEFAULT_OPTIONS) == len(set(sb.DEFAULT_OPTIONS))


@pytest.mark.parametrize("privileged", [False, True])
@pytest.mark.parametrize("option", list(CONCERNS), ids=lambda o: o.__name__)
def test_option_changes_only_its_concern(rootfs: Path, option, privileged: bool):
    config = ContainerConfig(cmd=["true"], env=["A=1"], user="app", working_dir="/w", tty=True)
    host = HostConfig(memory=64 * MB, nano_cpus=10**9, cpu_shares=100, pids_limit=9, readonly_rootfs=True,
                      cap_add=["SYS_ADMIN"], privileged=privileged)
    ctx = context(rootfs, hostname="h", binds=[Bind("/srv", "/srv", True, "ro")], etc_files={"/etc/hosts": "/x"},
                  security=SecurityOpts(no_new_privileges=True), cgroups_path="/c", root_path="rootfs")
    before = sb.skeleton()
    before["mounts"] = sb.default_mounts()     # for the options that adjust mounts
    after = apply(option, config, host, ctx, copy.deepcopy(before))
    changed = _changed(before, after)
    assert all(any(path == c or path.startswith(c + ".") for c in CONCERNS[option]) for path in changed), changed


def test_build_spec_is_the_options_in_order_and_leaves_its_inputs_alone(rootfs: Path):
    config = ContainerConfig(cmd=["true"], user="app")
    host = HostConfig(memory=64 * MB)
    config_before, host_before = config.SerializeToString(), host.SerializeToString()
    ctx = context(rootfs)
    by_hand = sb.skeleton()
    for option in sb.DEFAULT_OPTIONS:
        option(by_hand, config, host, ctx)
    assert sb.build_spec(config, host, ctx) == by_hand
    assert (config.SerializeToString(), host.SerializeToString()) == (config_before, host_before)


def test_a_new_option_is_one_function(rootfs: Path):
    def with_oom_score(spec, config, host, ctx):
        spec["process"]["oomScoreAdj"] = 500

    spec = sb.build_spec(ContainerConfig(cmd=["true"]), HostConfig(), context(rootfs),
                         options=(*sb.DEFAULT_OPTIONS, with_oom_score))
    assert spec["process"]["oomScoreAdj"] == 500


def test_build_spec_validates_the_id_first(rootfs: Path):
    with pytest.raises(InvalidArgument, match="invalid container id"):
        sb.build_spec(ContainerConfig(), HostConfig(), context(rootfs, id="a/b"))


# ---- process ---------------------------------------------------------------------------------

def test_with_args(rootfs: Path):
    ctx = context(rootfs, image_config={"Entrypoint": ["/init"], "Cmd": ["serve"]})
    assert apply(sb.with_args, ctx=ctx)["process"]["args"] == ["/init", "serve"]
    assert apply(sb.with_args, ContainerConfig(cmd=["x"]), ctx=ctx)["process"]["args"] == ["/init", "x"]
    emptied = ContainerConfig(cmd=["ls"])
    emptied.entrypoint.SetInParent()          # --entrypoint "": set, with no values
    assert apply(sb.with_args, emptied, ctx=ctx)["process"]["args"] == ["ls"]
    with pytest.raises(InvalidArgument, match="no command specified"):
        apply(sb.with_args, ctx=context(rootfs, image_config={}))


def test_with_terminal(rootfs: Path):
    assert apply(sb.with_terminal, ContainerConfig(tty=True), ctx=context(rootfs))["process"]["terminal"] is True
    assert apply(sb.with_terminal, ctx=context(rootfs))["process"]["terminal"] is False


def test_with_env(rootfs: Path):
    ctx = context(rootfs, hostname="web", image_config={"Env": ["PATH=/bin", "X=image"]})
    env = apply(sb.with_env, ContainerConfig(env=["X=user"], tty=True), ctx=ctx)["process"]["env"]
    assert env == ["PATH=/bin", "HOSTNAME=web", "TERM=xterm", "X=user"]      # HOME is with_user's
    assert apply(sb.with_env, ctx=context(rootfs))["process"]["env"][1] == "HOSTNAME=c0ffee123456"


def test_with_user(rootfs: Path):
    spec = sb.skeleton()
    spec["process"]["env"] = ["PATH=/bin"]
    apply(sb.with_user, ContainerConfig(user="app"), ctx=context(rootfs), spec=spec)
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}
    assert spec["process"]["env"] == ["PATH=/bin", "HOME=/home/app"]
    spec["process"]["env"] = ["HOME=/srv"]
    apply(sb.with_user, ctx=context(rootfs, image_config={"User": "app"}), spec=spec)
    assert spec["process"]["user"]["uid"] == 1000 and spec["process"]["env"] == ["HOME=/srv"]
    apply(sb.with_user, ContainerConfig(user="1234:5678"), ctx=context(rootfs), spec=spec)
    assert spec["process"]["user"] == {"uid": 1234, "gid": 5678, "additionalGids": [5678]}
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        apply(sb.with_user, ContainerConfig(user="ghost"), ctx=context(rootfs))


def test_with_working_dir(rootfs: Path):
    ctx = context(rootfs, image_config={"WorkingDir": "/srv/app/"})
    assert apply(sb.with_working_dir, ctx=ctx)["process"]["cwd"] == "/srv/app"
    assert apply(sb.with_working_dir, ContainerConfig(working_dir="/a/../b"), ctx=ctx)["process"]["cwd"] == "/b"
    assert apply(sb.with_working_dir, ctx=context(rootfs))["process"]["cwd"] == "/"
    with pytest.raises(InvalidArgument, match="absolute"):
        apply(sb.with_working_dir, ContainerConfig(working_dir="rel"), ctx=ctx)


def test_with_rlimits_takes_the_hosts_nofile(rootfs: Path):
    assert apply(sb.with_rlimits, ctx=context(rootfs))["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}]
    probed = apply(sb.with_rlimits, ctx=context(rootfs, facts=sb.HostFacts()))["process"]["rlimits"][0]
    assert probed["hard"] == sb.host_nofile_limit()


def test_with_oom_score_adj(rootfs: Path):
    host = HostConfig(oom_score_adj=-500)
    assert apply(sb.process.with_oom_score_adj, host=host, ctx=context(rootfs))["process"]["oomScoreAdj"] == -500
    assert apply(sb.process.with_oom_score_adj, ctx=context(rootfs))["process"]["oomScoreAdj"] == 0
    with pytest.raises(InvalidArgument, match=r"Invalid value 1001, range for oom score adj is \[-1000, 1000\]"):
        apply(sb.process.with_oom_score_adj, host=HostConfig(oom_score_adj=1001), ctx=context(rootfs))


def test_with_no_new_privileges(rootfs: Path):
    ctx = context(rootfs, security=SecurityOpts(no_new_privileges=True))
    assert apply(sb.with_no_new_privileges, ctx=ctx)["process"]["noNewPrivileges"] is True
    assert apply(sb.with_no_new_privileges, ctx=context(rootfs))["process"]["noNewPrivileges"] is False


# ---- security --------------------------------------------------------------------------------

def test_with_capabilities_reads_the_uid_already_set(rootfs: Path):
    host = HostConfig(cap_add=["NET_ADMIN"], cap_drop=["MKNOD"])
    caps = apply(sb.with_capabilities, host=host, ctx=context(rootfs))["process"]["capabilities"]
    assert "CAP_NET_ADMIN" in caps["bounding"] and "CAP_MKNOD" not in caps["bounding"]
    assert caps["effective"] == caps["permitted"] == caps["bounding"]
    assert caps["inheritable"] == caps["ambient"] == []
    spec = sb.skeleton()
    spec["process"]["user"]["uid"] = 1000
    caps = apply(sb.with_capabilities, host=host, ctx=context(rootfs), spec=spec)["process"]["capabilities"]
    assert caps["bounding"] and caps["effective"] == caps["permitted"] == []
    every = apply(sb.with_capabilities, host=HostConfig(privileged=True), ctx=context(rootfs))
    assert len(every["process"]["capabilities"]["bounding"]) == 41


def test_with_seccomp_follows_the_bounding_set(rootfs: Path):
    spec = apply(sb.with_seccomp, ctx=context(rootfs))
    names = {n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "read" in names and "mount" not in names
    admin = sb.skeleton()
    admin["process"]["capabilities"]["bounding"] = ["CAP_SYS_ADMIN"]
    apply(sb.with_seccomp, ctx=context(rootfs), spec=admin)
    assert "mount" in {n for rule in admin["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "seccomp" not in apply(sb.with_seccomp, host=HostConfig(privileged=True), ctx=context(rootfs))["linux"]
    unconfined = context(rootfs, security=SecurityOpts(seccomp_unconfined=True))
    assert "seccomp" not in apply(sb.with_seccomp, ctx=unconfined)["linux"]


@pytest.mark.parametrize("option,key,default", [
    (sb.with_masked_paths, "maskedPaths", sb.MASKED_PATHS),
    (sb.with_readonly_paths, "readonlyPaths", sb.READONLY_PATHS),
])
def test_masked_and_readonly_paths(rootfs: Path, option, key, default):
    assert apply(option, ctx=context(rootfs))["linux"][key] == default
    assert apply(option, host=HostConfig(privileged=True), ctx=context(rootfs))["linux"][key] == []


# ---- resources -------------------------------------------------------------------------------

def test_with_devices(rootfs: Path):
    assert apply(sb.with_devices, ctx=context(rootfs))["linux"]["resources"]["devices"] == sb.DEFAULT_DEVICE_RULES
    privileged = apply(sb.with_devices, host=HostConfig(privileged=True), ctx=context(rootfs))
    assert privileged["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_with_memory(rootfs: Path):
    res = apply(sb.with_memory, host=HostConfig(memory=64 * MB), ctx=context(rootfs))["linux"]["resources"]
    assert res["memory"] == {"limit": 64 * MB, "swap": 128 * MB}
    assert "memory" not in apply(sb.with_memory, ctx=context(rootfs))["linux"]["resources"]
    no_swap = context(rootfs, facts=sb.HostFacts(swap_supported=False))
    assert apply(sb.with_memory, host=HostConfig(memory=64 * MB), ctx=no_swap)["linux"]["resources"]["memory"] == {
        "limit": 64 * MB}
    with pytest.raises(InvalidArgument, match="minimum memory limit"):
        apply(sb.with_memory, host=HostConfig(memory=1), ctx=context(rootfs))


def test_with_cpu(rootfs: Path):
    res = apply(sb.with_cpu, host=HostConfig(nano_cpus=5 * 10**8), ctx=context(rootfs))["linux"]["resources"]
    assert res["cpu"] == {"period": 100000, "quota": 50000}
    assert "cpu" not in apply(sb.with_cpu, ctx=context(rootfs))["linux"]["resources"]
    with pytest.raises(InvalidArgument, match="from 0.01 to 2.00"):       # the host's cpus bound --cpus
        apply(sb.with_cpu, host=HostConfig(nano_cpus=3 * 10**9), ctx=context(rootfs))


@pytest.mark.parametrize("host,expected", [
    (HostConfig(), None), (HostConfig(pids_limit=0), None),
    (HostConfig(pids_limit=-5), {"limit": -1}), (HostConfig(pids_limit=7), {"limit": 7}),
])
def test_with_pids(rootfs: Path, host, expected):
    assert apply(sb.with_pids, host=host, ctx=context(rootfs))["linux"]["resources"].get("pids") == expected


# ---- namespaces ------------------------------------------------------------------------------

def test_with_hostname(rootfs: Path):
    assert apply(sb.with_hostname, ctx=context(rootfs, hostname="web"))["hostname"] == "web"
    assert apply(sb.with_hostname, ctx=context(rootfs))["hostname"] == "c0ffee123456"


def test_with_namespaces(rootfs: Path):
    def types(ctx):
        return [n["type"] for n in apply(sb.with_namespaces, ctx=ctx)["linux"]["namespaces"]]

    assert types(context(rootfs)) == ["mount", "network", "uts", "pid", "ipc"]
    assert types(context(rootfs, network="host")) == ["mount", "uts", "pid", "ipc"]
    v2 = context(rootfs, facts=sb.HostFacts(cgroup_v2=True))
    assert types(v2)[-1] == "cgroup"
    joined = apply(sb.with_namespaces, ctx=context(rootfs, network="/run/netns/n1"))["linux"]["namespaces"]
    assert joined[1] == {"type": "network", "path": "/run/netns/n1"}
    with pytest.raises(InvalidArgument, match="unsupported network mode"):
        types(context(rootfs, network="bridge"))


def test_with_sysctls(rootfs: Path):
    own = apply(sb.with_sysctls, ctx=context(rootfs))["linux"]["sysctl"]
    assert own.items() <= sb.NETNS_SYSCTLS.items()
    assert apply(sb.with_sysctls, ctx=context(rootfs, network="host"))["linux"]["sysctl"] == {}


def test_with_cgroups_path(rootfs: Path):
    assert apply(sb.with_cgroups_path, ctx=context(rootfs))["linux"]["cgroupsPath"] == "/barque/c0ffee1234567890"
    assert apply(sb.with_cgroups_path, ctx=context(rootfs, cgroups_path="/x"))["linux"]["cgroupsPath"] == "/x"


# ---- root and mounts -------------------------------------------------------------------------

def test_with_root(rootfs: Path):
    assert apply(sb.with_root, ctx=context(rootfs))["root"]["path"] == str(rootfs)
    assert apply(sb.with_root, ctx=context(rootfs, root_path="rootfs"))["root"]["path"] == "rootfs"


def test_with_mounts(rootfs: Path):
    ctx = context(rootfs, binds=[Bind("/srv/a", "/a", True, "ro")], etc_files={"/etc/hosts": "/run/h"})
    mounts = apply(sb.with_mounts, ctx=ctx)["mounts"]
    assert mounts[:-2] == sb.default_mounts()
    assert mounts[-2:] == [
        {"destination": "/a", "type": "bind", "source": "/srv/a", "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/run/h", "options": ["rbind", "rprivate"]},
    ]
    ro = apply(sb.with_mounts, host=HostConfig(readonly_rootfs=True), ctx=ctx)["mounts"]
    assert ro[-1]["options"] == ["rbind", "ro", "rprivate"]     # etc files follow the rootfs
    assert ro[:-2] == sb.default_mounts()                      # the rest is with_readonly_rootfs's
    with pytest.raises(InvalidArgument, match="can't be '/'"):
        apply(sb.with_mounts, ctx=context(rootfs, binds=[Bind("/x", "/", False, "")]))


def test_with_readonly_rootfs(rootfs: Path):
    spec = sb.skeleton()
    spec["mounts"] = sb.default_mounts() + [
        {"destination": "/a", "type": "bind", "source": "/srv/a", "options": ["rbind", "rprivate"]}]
    apply(sb.with_readonly_rootfs, host=HostConfig(readonly_rootfs=True), ctx=context(rootfs), spec=spec)
    assert spec["root"]["readonly"] is True
    ro = {m["destination"] for m in spec["mounts"] if "ro" in m["options"]}
    assert ro == {"/sys", "/sys/fs/cgroup"}                    # already ro; the rest Docker keeps rw
    assert spec["mounts"][-1]["options"] == ["rbind", "rprivate"]   # binds keep their own mode
    untouched = sb.skeleton()
    untouched["mounts"] = sb.default_mounts()
    apply(sb.with_readonly_rootfs, ctx=context(rootfs), spec=untouched)
    assert untouched["root"]["readonly"] is False and untouched["mounts"] == sb.default_mounts()


def test_with_readonly_rootfs_adds_ro_to_other_mounts(rootfs: Path):
    spec = sb.skeleton()
    spec["mounts"] = [{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}]
    apply(sb.with_readonly_rootfs, host=HostConfig(readonly_rootfs=True), ctx=context(rootfs), spec=spec)
    assert spec["mounts"][0]["options"] == ["nosuid", "ro"]


def test_with_writable_sysfs(rootfs: Path):
    spec = sb.skeleton()
    spec["mounts"] = sb.default_mounts()
    apply(sb.with_writable_sysfs, ctx=context(rootfs), spec=spec)
    assert spec["mounts"] == sb.default_mounts()
    apply(sb.with_writable_sysfs, host=HostConfig(privileged=True), ctx=context(rootfs), spec=spec)
    assert not any("ro" in m["options"] for m in spec["mounts"])


def test_context_is_facts_not_docker_fields():
    docker = set(ContainerConfig.DESCRIPTOR.fields_by_name) | set(HostConfig.DESCRIPTOR.fields_by_name)
    # hostname is the engine's resolved choice and binds the parsed HostConfig.Binds
    assert {f.name for f in dataclasses.fields(sb.SpecContext)} & docker == {"hostname", "binds"}
