"""``barque-oci --version`` in runc's layout (callers parse the first line's
``<name> version <x>`` and the ``spec:`` line) and ``barque-oci features``
(runc 1.1's experimental document, limited to what barque-oci implements).
"""

from __future__ import annotations

from . import caps
from .spec import OCI_VERSION

__all__ = ["VERSION", "text", "features"]

VERSION = "0.1.0"


def text() -> str:
    return f"barque-oci version {VERSION}\nspec: {OCI_VERSION}\npython: barque"


def features() -> dict:
    from . import rootfs  # not at import: --version must stay cheap
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": sorted({*rootfs._SET, *rootfs._CLEAR, *rootfs._PROPAGATION}),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": sorted(caps.CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {},
    }
