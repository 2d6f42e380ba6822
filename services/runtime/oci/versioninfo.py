"""``barque-oci --version`` in runc's layout and ``barque-oci features``
(runc 1.1's experimental document, limited to what barque-oci implements).

The version's lines are runc's: the first is ``<name> version <x>`` (podman
and barque's engine read the name and version from it) and names the runc
release whose command line barque-oci implements, as ``runc version 1.1.5``
(what runc's own suite checks for), then ``commit:`` (this checkout's git
commit, ``unknown`` for an installed wheel) and ``spec:``.
"""

from __future__ import annotations

from . import caps
from .spec import OCI_VERSION

__all__ = ["VERSION", "RUNC_VERSION", "text", "features"]

VERSION = "0.1.0"
#: the runc release whose command line and behaviour barque-oci follows
RUNC_VERSION = "1.1.5"


def text() -> str:
    from client.version import build_info  # not at import: only --version reads it
    commit = build_info().git_commit or "unknown"
    return (f"barque-oci version {VERSION} (runc version {RUNC_VERSION} command line)\n"
            f"commit: {commit}\nspec: {OCI_VERSION}\npython: barque")


def features() -> dict:
    from . import hooks, mountopts, rootfs  # not at import: --version must stay cheap
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(hooks.STAGES),
        "mountOptions": sorted({*rootfs._SET, *rootfs._CLEAR, *rootfs._PROPAGATION, *mountopts.RECURSIVE}),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": sorted(caps.CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True,
                        # SCMP_ACT_NOTIFY is refused (it needs a seccomp agent), so it is not listed
                        "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                                      "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {},
    }
