"""The facts behind ``barque info`` and ``barque version``, read from fake
files: the build (package version, git commit), the host (os-release,
meminfo), what a cgroup hierarchy offers, the engine id, the OCI runtime,
the storage driver's backing filesystem and the registry settings."""

from __future__ import annotations

import sys
from pathlib import Path

from client.config import Config, RegistryHostConfig
from client.version import API_VERSION, build_info, git_commit, go_arch
from services.images.info import backing_filesystem
from services.registry.info import IndexInfo, registry_info
from services.runtime.engine import info

ROOT = Path(__file__).resolve().parents[2]


def test_build_info_is_pyprojects_version():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    build = build_info()
    assert build.version == version and build.api_version == API_VERSION
    assert build.python_version == "%d.%d.%d" % sys.version_info[:3] and build.os == "linux"


def test_go_arch_names():
    assert go_arch("x86_64") == "amd64" and go_arch("aarch64") == "arm64" and go_arch("mips") == "mips"


def _git(tmp_path: Path, head: str) -> Path:
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text(head)
    return tmp_path


def test_git_commit_from_a_loose_ref(tmp_path):
    root = _git(tmp_path, "ref: refs/heads/main\n")
    (root / ".git/refs/heads/main").write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert git_commit(root) == "0123456"


def test_git_commit_from_packed_refs_and_detached_head(tmp_path):
    root = _git(tmp_path, "ref: refs/heads/topic\n")
    (root / ".git/packed-refs").write_text(
        "# pack-refs with: peeled fully-peeled sorted\n"
        "89abcdef0123456789abcdef0123456789abcdef refs/heads/topic\n^0000000000000000000000000000000000000000\n")
    assert git_commit(root) == "89abcde"
    (root / ".git/HEAD").write_text("fedcba9876543210fedcba9876543210fedcba98\n")
    assert git_commit(root, length=40) == "fedcba9876543210fedcba9876543210fedcba98"


def test_git_commit_of_a_linked_work_tree_reads_the_common_dir(tmp_path):
    main = _git(tmp_path / "main", "ref: refs/heads/main\n")
    (main / ".git/refs/heads/side").write_text("aaaaaaa111111111111111111111111111111111\n")
    linked = main / ".git" / "worktrees" / "side"
    linked.mkdir(parents=True)
    (linked / "HEAD").write_text("ref: refs/heads/side\n")
    (linked / "commondir").write_text("../..\n")
    work = tmp_path / "side"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {linked}\n")
    assert git_commit(work) == "aaaaaaa"


def test_no_git_no_commit(tmp_path):
    assert git_commit(tmp_path) == ""


def test_os_release(tmp_path):
    path = tmp_path / "os-release"
    path.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n')
    assert info.os_release((str(tmp_path / "missing"), str(path))) == ("Debian GNU/Linux 12 (bookworm)", "12")
    assert info.os_release((str(tmp_path / "missing"),)) == ("Linux", "")


def test_mem_total(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text("MemTotal:       24683652 kB\nMemFree:         1000 kB\n")
    assert info.mem_total(str(path)) == 24683652 * 1024
    assert info.mem_total(str(tmp_path / "missing")) == 0


def test_cgroup_v1_support_from_controller_files(tmp_path):
    for name in ("memory/memory.limit_in_bytes", "memory/memory.oom_control", "cpu/cpu.cfs_period_us",
                 "cpu/cpu.cfs_quota_us", "cpu/cpu.shares", "cpuset/cpuset.cpus"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    support = info.cgroup_support(False, tmp_path)
    assert support == info.CgroupSupport(memory_limit=True, swap_limit=False, cpu_cfs_period=True,
                                         cpu_cfs_quota=True, cpu_shares=True, cpu_set=True, pids_limit=False,
                                         oom_kill_disable=True)
    assert info.warnings(support, "1") == ("WARNING: No swap limit support",)


def test_cgroup_v2_support_from_the_mounts_controllers(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("hugetlb\n")  # the hybrid mount of the test machine
    support = info.cgroup_support(True, tmp_path)
    assert support == info.CgroupSupport()
    assert info.warnings(support, "2") == (
        "WARNING: No memory limit support", "WARNING: No swap limit support", "WARNING: No cpu cfs quota support",
        "WARNING: No cpu cfs period support", "WARNING: No cpu shares support", "WARNING: No cpuset support")
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    full = info.cgroup_support(True, tmp_path)
    assert full.memory_limit and full.cpu_shares and full.cpu_set and full.pids_limit
    assert not full.oom_kill_disable and info.warnings(full, "2") == ()


def test_security_options():
    assert "name=cgroupns" in info.security_options(True)
    assert "name=cgroupns" not in info.security_options(False)
    assert not any("userns" in o or "no-new-privileges" in o for o in info.security_options(True))


def test_engine_id_is_made_once_and_kept(tmp_path):
    first = info.engine_id(tmp_path)
    assert len(first) == 36 and info.engine_id(tmp_path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine-id"]


def test_barque_oci_is_known_without_running_it():
    from services.runtime.oci.versioninfo import VERSION

    runtime = info.oci_runtime(["/opt/venv/bin/barque-oci"])
    assert (runtime.name, runtime.path, runtime.version) == ("barque-oci", "/opt/venv/bin/barque-oci", VERSION)
    module = info.oci_runtime([sys.executable, "-m", "services.runtime.oci"])
    assert module.name == "barque-oci" and module.args == ("-m", "services.runtime.oci")


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /var/lib/barque rw,relatime shared:2 - xfs /dev/sdb1 rw
31 22 0:27 / /srv/with\\040space rw - btrfs /dev/sdc1 rw
"""


def test_backing_filesystem_is_the_deepest_mount(tmp_path):
    assert backing_filesystem(Path("/var/lib/barque/images"), MOUNTINFO) == "xfs"
    assert backing_filesystem(Path("/var/lib/barquex"), MOUNTINFO) == "extfs"  # Docker's name for ext4
    assert backing_filesystem(Path("/srv/with space/images"), MOUNTINFO) == "btrfs"


def test_registry_info_is_the_proxys_config():
    config = Config(registries={
        "docker.io": RegistryHostConfig(mirrors=("https://mirror.example",)),
        "registry.lan:5000": RegistryHostConfig(insecure=True),
    })
    got = registry_info(config)
    assert got.index_server_address == "https://index.docker.io/v1/"
    assert got.insecure_registry_cidrs == ("::1/128", "127.0.0.0/8")
    assert got.mirrors == ("https://mirror.example",)
    assert got.index_configs == (IndexInfo("docker.io", ("https://mirror.example",), True, True),
                                 IndexInfo("registry.lan:5000", (), False, False))
    assert registry_info(Config()).index_configs == (IndexInfo("docker.io", (), True, True),)
