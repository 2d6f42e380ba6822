"""``barque version`` and ``barque info`` against the real services: counts
that follow pulls and containers, ``--format`` output that parses, the
registry settings of the proxy's own config, the client part and one error
line when the services are down, and Docker's field names next to those of
the docker client installed here (no daemon needed for its client part)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.engine import Engine
from tests.support.runtime import close_runtime_engine

pytestmark = [pytest.mark.integration, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
DOCKER = shutil.which("docker")
needs_docker = pytest.mark.skipif(DOCKER is None, reason="docker's client is not installed")


def _info(engine: Engine) -> dict:
    return json.loads(engine.ok("info", "--format", "{{json .}}").stdout)


def _docker_json(*args: str) -> dict:
    """A docker client command's ``{{json .}}`` with no daemon to reach:
    docker prints the document (zero server values) and exits 1."""
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    proc = subprocess.run([DOCKER, *args, "--format", "{{json .}}"], capture_output=True, text=True,  # type: ignore[list-item]
                          timeout=60, env=env)
    return json.loads(proc.stdout)


def test_counts_follow_pulls_and_containers(rt_engine, test_images):
    ref = test_images["oci-gzip"].ref
    before = _info(rt_engine)
    assert rt_engine.ok("images", "-q").lines == [] and before["Images"] == 0
    rt_engine.ok("pull", ref)
    after_pull = _info(rt_engine)
    assert after_pull["Images"] == before["Images"] + 1

    created = rt_engine.ok("create", ref, "sleep", "60").stdout.strip()
    running = rt_engine.ok("run", "-d", ref, "sleep", "60").stdout.strip()
    exited = rt_engine.ok("run", ref, "true")
    assert created and running and exited.returncode == 0
    now = _info(rt_engine)
    assert now["Containers"] == before["Containers"] + 3
    assert now["ContainersRunning"] == before["ContainersRunning"] + 1
    assert now["ContainersStopped"] == before["ContainersStopped"] + 2
    assert now["ContainersPaused"] == 0

    rt_engine.ok("start", created)
    text = rt_engine.ok("info").stdout
    assert f" Containers: {now['Containers']}\n  Running: {now['ContainersRunning'] + 1}\n" in text
    assert f" Images: {now['Images']}\n" in text
    rt_engine.ok("rm", "-f", created, running)
    assert _info(rt_engine)["Containers"] == now["Containers"] - 2


def test_info_format_fields(rt_engine):
    assert rt_engine.ok("info", "--format", "{{.ServerVersion}}").stdout == f"{VERSION}\n"
    doc = _info(rt_engine)
    assert doc["Driver"] == "overlayfs" and doc["LoggingDriver"] == "json-file"
    assert doc["CgroupDriver"] == "cgroupfs"
    expected_cgroup = "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"
    assert doc["CgroupVersion"] == expected_cgroup
    assert doc["DefaultRuntime"] == "barque-oci" and "barque-oci" in doc["Runtimes"]
    assert "name=seccomp,profile=builtin" in doc["SecurityOptions"]
    assert doc["KernelVersion"] == os.uname().release and doc["Architecture"] == os.uname().machine
    assert doc["NCPU"] == len(os.sched_getaffinity(0)) and doc["MemTotal"] > 0
    assert doc["Name"] == os.uname().nodename and len(doc["ID"]) == 36
    assert doc["DockerRootDir"] == str(rt_engine.root / "state")
    assert doc["LiveRestoreEnabled"] is True and doc["OSType"] == "linux"
    assert _info(rt_engine)["ID"] == doc["ID"]  # kept, not made per call
    assert rt_engine.ok("system", "info", "-f", "{{.Images}}").stdout.strip() == str(doc["Images"])


def test_info_text_layout(rt_engine):
    res = rt_engine.ok("info")
    lines = res.stdout.splitlines()
    assert lines[:5] == ["Client:", f" Version:    {VERSION}", " Context:    default", " Debug Mode: false", ""]
    assert lines[5] == "Server:" and lines[-2:] == [" Live Restore Enabled: true", ""]
    for key in (" Server Version:", " Storage Driver: overlayfs", " Cgroup Driver: cgroupfs", " Runtimes:",
                " Default Runtime: barque-oci", " Security Options:", " Kernel Version:", " Total Memory:",
                " Docker Root Dir:", " Insecure Registries:"):
        assert any(line.startswith(key) for line in lines), key


def test_version_shows_every_service(rt_engine):
    res = rt_engine.ok("version")
    assert res.stdout.startswith(f"Client:\n Version:           {VERSION}\n")
    assert "\nServer:\n Engine:\n  Version:          " in res.stdout
    doc = json.loads(rt_engine.ok("version", "--format", "json").stdout)
    assert doc["Server"]["Version"] == doc["Client"]["Version"] == VERSION
    assert [c["Name"] for c in doc["Server"]["Components"]] == ["Engine", "barque-oci", "image-store",
                                                               "registry-proxy"]
    assert doc["Server"]["KernelVersion"] == os.uname().release
    assert rt_engine.ok("version", "-f", "{{.Server.ApiVersion}}").stdout.strip() == doc["Client"]["ApiVersion"]


def test_registry_settings_are_the_proxys():
    """The proxy is started with an insecure registry the CLI's own config
    does not name: info shows it, so it came from the proxy."""
    engine = Engine.create(("registry", "images", "runtime"), BARQUE_INSECURE_REGISTRIES="registry.lan:5000")
    try:
        res = engine.cli("info", "--format", "{{json .RegistryConfig}}", env={"BARQUE_INSECURE_REGISTRIES": ""})
        assert res.returncode == 0, res.stderr
        config = json.loads(res.stdout)
        assert config["IndexConfigs"]["registry.lan:5000"]["Secure"] is False
        assert config["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8"]
        text = engine.ok("info").stdout
        assert " Insecure Registries:\n  registry.lan:5000\n  ::1/128\n  127.0.0.0/8\n" in text
    finally:
        close_runtime_engine(engine)


@pytest.mark.parametrize("command", ["version", "info"])
def test_services_down_client_part_one_line_exit_1(command):
    engine = Engine.create(services=())
    try:
        res = engine.cli(command)
        assert res.returncode == 1
        assert res.stdout.startswith(f"Client:\n Version:") and "Engine" not in res.stdout
        assert "Containers" not in res.stdout
        assert len(res.stderr.splitlines()) == 1
        assert "cannot connect to the barque runtime service at unix://" in res.stderr
        formatted = engine.cli(command, "--format", "{{json .}}")
        assert formatted.returncode == 1 and len(formatted.stderr.splitlines()) == 1
        json.loads(formatted.stdout)
    finally:
        engine.close()


@needs_docker
def test_version_client_fields_match_dockers():
    docker = _docker_json("version")["Client"]
    engine = Engine.create(services=())
    try:
        ours = json.loads(engine.cli("version", "--format", "{{json .}}").stdout)["Client"]
    finally:
        engine.close()
    renamed = {"PythonVersion" if k == "GoVersion" else k for k in docker}
    assert set(ours) == renamed, (sorted(ours), sorted(docker))


@needs_docker
def test_info_field_names_are_dockers(rt_engine):
    docker = _docker_json("info")
    ours = _info(rt_engine)
    # CgroupVersion is ``omitempty`` in moby's Info, so a zero document lacks it
    assert set(ours) <= set(docker) | {"CgroupVersion"}, sorted(set(ours) - set(docker))
    client = {"PythonVersion" if k == "GoVersion" else k for k in docker["ClientInfo"]}
    assert set(ours["ClientInfo"]) <= client, sorted(set(ours["ClientInfo"]) - client)
    assert set(ours["Plugins"]) == set(docker["Plugins"])
