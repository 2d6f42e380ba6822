"""runc 1.1's sysctl rule in spec validation: a sysctl only of a namespace
the container does not share with the runtime."""

from __future__ import annotations

import pytest

from services.runtime.oci import spec as specmod


def _spec(sysctl: dict, namespaces: list[dict]) -> dict:
    s = specmod.default_spec()
    s["root"]["path"] = "rootfs"
    s["linux"]["namespaces"] = namespaces
    s["linux"]["sysctl"] = sysctl
    s.pop("hostname", None)
    return s


ALL = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]


@pytest.mark.parametrize("key", ["kernel.shmmni", "kernel.sem", "fs.mqueue.msg_max",
                                 "net.ipv4.ip_forward", "kernel.domainname"])
def test_namespaced_sysctls_pass(key: str):
    specmod.validate_spec(_spec({key: "1"}, ALL))


@pytest.mark.parametrize("key, dropped, words", [
    ("kernel.shmmni", "ipc", "hosts ipc namespace"),
    ("fs.mqueue.msg_max", "ipc", "hosts ipc namespace"),
    ("net.ipv4.ip_forward", "network", "host network namespace"),
    ("kernel.domainname", "uts", "not in a separate kernel namespace"),
    ("vm.swappiness", None, "not in a separate kernel namespace"),
    ("kernel.hostname", None, "conflicts with the OCI 'hostname' field"),
])
def test_host_sysctls_are_refused(key: str, dropped: str | None, words: str):
    namespaces = [ns for ns in ALL if ns["type"] != dropped]
    with pytest.raises(specmod.SpecError, match=words):
        specmod.validate_spec(_spec({key: "1"}, namespaces))


def test_a_joined_network_namespace_counts_as_the_host_only_if_it_is_ours():
    ours = [ns for ns in ALL if ns["type"] != "network"] + [
        {"type": "network", "path": "/proc/self/ns/net"}]
    with pytest.raises(specmod.SpecError, match="host network namespace"):
        specmod.validate_spec(_spec({"net.ipv4.ip_forward": "1"}, ours))
    with pytest.raises(specmod.SpecError, match="network namespace '/nonexistent'"):
        specmod.validate_spec(_spec({"net.ipv4.ip_forward": "1"}, ours[:-1] + [
            {"type": "network", "path": "/nonexistent"}]))
