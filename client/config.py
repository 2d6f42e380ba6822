"""Where every barque component finds the others, and where it keeps state.

One file, ``/etc/barque/barque.toml`` (or ``$BARQUE_CONFIG``), overridable by
environment variables so tests point everything at their own sockets and
state directories::

    state_dir = "/var/lib/barque"      # BARQUE_STATE_DIR
    run_dir = "/run/barque"            # BARQUE_RUN_DIR

    [registry]
    address = "unix:///run/barque/registry.sock"   # BARQUE_REGISTRY_ADDRESS
    [images]
    address = "unix:///run/barque/images.sock"     # BARQUE_IMAGES_ADDRESS
    max_layer_bytes = "64g"        # BARQUE_MAX_LAYER_BYTES: a layer's uncompressed tar bytes
    max_layer_entries = 1000000    # BARQUE_MAX_LAYER_ENTRIES: a layer's tar entries
    max_image_bytes = "256g"       # BARQUE_MAX_IMAGE_BYTES: the same summed over one image's layers
    max_image_entries = 4000000    # BARQUE_MAX_IMAGE_ENTRIES
    [runtime]
    address = "unix:///run/barque/runtime.sock"    # BARQUE_RUNTIME_ADDRESS
    userns_remap = ""              # BARQUE_USERNS_REMAP: "" (off), default, USER[:GROUP]
                                   #   or HOSTUID:HOSTGID:SIZE (dockerd's --userns-remap)
    userns_layers = "auto"         # BARQUE_USERNS_LAYERS: auto (idmapped mounts where the
                                   #   kernel has them) or copy (a chowned copy per range)

    [registries."docker.io"]
    mirrors = ["https://mirror.example"]
    [registries."myhost:5000"]
    insecure = true

    [network]
    bridge = "barque0"             # BARQUE_BRIDGE: the default bridge's name
    bridge_subnet = ""             # BARQUE_BRIDGE_SUBNET: "" = first free /16 from 172.18.0.0
    resolv_conf = "/etc/resolv.conf"   # BARQUE_RESOLV_CONF: source of containers' resolv.conf

    [cgroups]
    version = "auto"               # BARQUE_CGROUP_VERSION: auto, 1 or 2
    v2_root = "/sys/fs/cgroup"     # BARQUE_CGROUP2_ROOT: the cgroup2 mount used for version 2

    [tls]                                          # mutual TLS, required for a tcp address
    cert = "/etc/barque/tls/server.pem"            # BARQUE_TLS_CERT: a service's certificate (PEM)
    key = "/etc/barque/tls/server-key.pem"         # BARQUE_TLS_KEY: its private key
    ca = "/etc/barque/tls/ca.pem"                  # BARQUE_TLS_CA: signs every accepted peer
    client_cert = "/etc/barque/tls/client.pem"     # BARQUE_TLS_CLIENT_CERT: what clients present
    client_key = "/etc/barque/tls/client-key.pem"  # BARQUE_TLS_CLIENT_KEY

A service's state lives under ``<state_dir>/<service>/``.

An address is a unix socket (``unix:///path``) or a tcp ``host:port``. A
service refuses to listen on tcp unless ``cert``, ``key`` and ``ca`` are set:
it then requires every client to present a certificate the ``ca`` signed. A
client (the CLI, or a service calling another) reaches a tcp address only with
``ca``, ``client_cert`` and ``client_key``: it presents its certificate and
accepts a server whose certificate the same ``ca`` signed for the host in the
address. Unix sockets never use TLS: their file mode (0600, root) guards them.
Paths are absolute; the files are read when a service starts or a client connects.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from client.errors import InvalidArgument

__all__ = ["Config", "CgroupConfig", "ImageLimitsConfig", "RegistryHostConfig", "TlsConfig", "UsernsConfig",
           "load_config", "SERVICES"]

SERVICES = ("registry", "images", "runtime")
DEFAULT_CONFIG = "/etc/barque/barque.toml"


@dataclass(frozen=True)
class RegistryHostConfig:
    """Per-registry settings: mirrors tried first, and plain-HTTP permission."""

    mirrors: tuple[str, ...] = ()
    insecure: bool = False


@dataclass(frozen=True)
class CgroupConfig:
    """Which cgroup hierarchy containers go in.

    ``auto`` picks v2 when ``/sys/fs/cgroup`` is the unified hierarchy and v1
    otherwise; ``2`` with ``v2_root`` names a cgroup2 mount elsewhere (a hybrid
    host's ``/sys/fs/cgroup/unified``), so the v2 path runs on a v1 host too.
    """

    version: str = "auto"
    v2_root: str = "/sys/fs/cgroup"


@dataclass(frozen=True)
class NetworkConfig:
    """The default bridge and where containers' name servers come from.

    ``bridge_subnet`` "" picks the first /16 from 172.18.0.0 upward that no
    host route or address overlaps, once (it is kept in the runtime's state).
    ``resolv_conf`` is the file a container's resolv.conf is derived from.
    """

    bridge: str = "barque0"
    bridge_subnet: str = ""
    resolv_conf: str = "/etc/resolv.conf"


@dataclass(frozen=True)
class UsernsConfig:
    """The runtime's user-namespace remapping (dockerd's ``--userns-remap``).

    ``remap`` "" keeps containers in the host's user namespace; ``default``
    maps them to the ``barque`` entries of /etc/subuid and /etc/subgid (made
    when missing, as dockerd makes ``dockremap``'s); ``USER[:GROUP]`` (names
    or ids) to that user's and group's entries; ``HOSTUID:HOSTGID:SIZE`` to
    that range without the files. ``layers`` ``auto`` shows image layers to
    the remapped root through idmapped mounts where the kernel has them,
    ``copy`` always through a chowned copy of each layer per range.
    """

    remap: str = ""
    layers: str = "auto"


@dataclass(frozen=True)
class TlsConfig:
    """PEM file paths for mutual TLS on tcp addresses (empty: not configured).

    ``cert``/``key`` are what a service presents, ``client_cert``/``client_key``
    what a client presents, and ``ca`` verifies the peer on both sides.
    """

    cert: str = ""
    key: str = ""
    ca: str = ""
    client_cert: str = ""
    client_key: str = ""

    @property
    def server(self) -> bool:
        """A service may listen on tcp."""
        return bool(self.cert and self.key and self.ca)

    @property
    def client(self) -> bool:
        """A client may reach a tcp address."""
        return bool(self.client_cert and self.client_key and self.ca)


@dataclass(frozen=True)
class ImageLimitsConfig:
    """Decompression-bomb caps of the image-store (pull, load, import): a
    layer's uncompressed bytes and entries, and the same over one image."""

    max_layer_bytes: int = 64 << 30
    max_layer_entries: int = 1_000_000
    max_image_bytes: int = 256 << 30
    max_image_entries: int = 4_000_000


@dataclass(frozen=True)
class Config:
    state_dir: Path = Path("/var/lib/barque")
    run_dir: Path = Path("/run/barque")
    addresses: dict[str, str] = field(default_factory=dict)
    registries: dict[str, RegistryHostConfig] = field(default_factory=dict)
    source: str = ""
    cgroups: CgroupConfig = CgroupConfig()
    tls: TlsConfig = TlsConfig()
    network: NetworkConfig = NetworkConfig()
    userns: UsernsConfig = UsernsConfig()
    image_limits: ImageLimitsConfig = ImageLimitsConfig()

    def address(self, service: str) -> str:
        """gRPC target of ``service`` (``unix:///…`` or ``host:port``)."""
        return self.addresses.get(service) or f"unix://{self.run_dir / service}.sock"

    def state(self, service: str) -> Path:
        return self.state_dir / service

    def registry_host(self, host: str) -> RegistryHostConfig:
        return self.registries.get(host, RegistryHostConfig())


def load_config(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    path = path or env.get("BARQUE_CONFIG") or DEFAULT_CONFIG
    data: dict = {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if path != DEFAULT_CONFIG and (path == env.get("BARQUE_CONFIG")):
            raise InvalidArgument(f"config file {path!r} does not exist") from None
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise InvalidArgument(f"config file {path!r}: {exc}") from exc

    state_dir = Path(env.get("BARQUE_STATE_DIR") or data.get("state_dir") or "/var/lib/barque")
    run_dir = Path(env.get("BARQUE_RUN_DIR") or data.get("run_dir") or "/run/barque")
    addresses = {}
    for svc in SERVICES:
        section = data.get(svc) or {}
        addr = env.get(f"BARQUE_{svc.upper()}_ADDRESS") or section.get("address")
        if addr:
            addresses[svc] = str(addr)
    registries = {}
    for host, section in (data.get("registries") or {}).items():
        if not isinstance(section, dict):
            raise InvalidArgument(f"config file {path!r}: [registries.{host!r}] must be a table")
        registries[host] = RegistryHostConfig(
            mirrors=tuple(str(m).rstrip("/") for m in section.get("mirrors", ())),
            insecure=bool(section.get("insecure", False)),
        )
    for host in filter(None, (env.get("BARQUE_INSECURE_REGISTRIES") or "").split(",")):
        prev = registries.get(host, RegistryHostConfig())
        registries[host] = RegistryHostConfig(mirrors=prev.mirrors, insecure=True)
    section = data.get("cgroups") or {}
    version = str(env.get("BARQUE_CGROUP_VERSION") or section.get("version") or "auto")
    if version not in ("auto", "1", "2"):
        raise InvalidArgument(f"cgroup version {version!r}: expected auto, 1 or 2")
    v2_root = str(env.get("BARQUE_CGROUP2_ROOT") or section.get("v2_root") or "/sys/fs/cgroup")
    if not v2_root.startswith("/"):
        raise InvalidArgument(f"cgroup v2_root {v2_root!r} must be an absolute path")
    return Config(state_dir, run_dir, addresses, registries, path, CgroupConfig(version, v2_root),
                  _tls_config(data.get("tls"), env, path), _network_config(data.get("network"), env, path),
                  _userns_config(data.get("runtime"), env), _image_limits(data.get("images"), env, path))


def _image_limits(section: object, env: Mapping[str, str], path: str) -> ImageLimitsConfig:
    """``[images]``'s caps with their ``BARQUE_MAX_*`` overrides: sizes as bytes or
    ``"512m"``/``"64g"`` (powers of 1024), entries as counts; each at least 1."""
    from client.units import ram_in_bytes

    section = section or {}
    if not isinstance(section, dict):
        raise InvalidArgument(f"config file {path!r}: [images] must be a table")
    values = {}
    for key, default in vars(ImageLimitsConfig()).items():
        raw = env.get(f"BARQUE_{key.upper()}") or section.get(key)
        if raw is None or raw == "":
            values[key] = default
            continue
        what = "size" if key.endswith("_bytes") else "count"
        try:
            value = ram_in_bytes(str(raw)) if what == "size" else int(str(raw))
        except (ValueError, InvalidArgument) as exc:
            raise InvalidArgument(f"images {key} {raw!r}: expected a positive {what}") from exc
        if value < 1 or isinstance(raw, bool):
            raise InvalidArgument(f"images {key} {raw!r}: expected a positive {what}")
        values[key] = value
    return ImageLimitsConfig(**values)


def _userns_config(section: object, env: Mapping[str, str]) -> UsernsConfig:
    """``[runtime] userns_remap`` and ``userns_layers`` with their ``BARQUE_USERNS_*`` overrides."""
    section = section if isinstance(section, dict) else {}
    remap = str(env.get("BARQUE_USERNS_REMAP", section.get("userns_remap") or "")).strip()
    parts = remap.split(":")
    if remap and (len(parts) > 3 or not all(parts)):
        raise InvalidArgument(f"userns-remap {remap!r}: expected default, USER[:GROUP] or HOSTUID:HOSTGID:SIZE")
    if len(parts) == 3 and not all(p.isdigit() for p in parts):
        raise InvalidArgument(f"userns-remap {remap!r}: HOSTUID:HOSTGID:SIZE takes three numbers")
    layers = str(env.get("BARQUE_USERNS_LAYERS") or section.get("userns_layers") or "auto")
    if layers not in ("auto", "copy"):
        raise InvalidArgument(f"userns_layers {layers!r}: expected auto or copy")
    return UsernsConfig(remap, layers)


def _network_config(section: object, env: Mapping[str, str], path: str) -> NetworkConfig:
    """``[network]`` with its ``BARQUE_BRIDGE``, ``BARQUE_BRIDGE_SUBNET`` and ``BARQUE_RESOLV_CONF`` overrides."""
    section = section or {}
    if not isinstance(section, dict):
        raise InvalidArgument(f"config file {path!r}: [network] must be a table")
    bridge = str(env.get("BARQUE_BRIDGE") or section.get("bridge") or "barque0")
    if not (0 < len(bridge) <= 15) or not all(c.isalnum() or c in "-_." for c in bridge):
        raise InvalidArgument(f"bridge name {bridge!r}: 1 to 15 letters, digits, '-', '_' or '.'")
    subnet = str(env.get("BARQUE_BRIDGE_SUBNET") or section.get("bridge_subnet") or "")
    if subnet:
        import ipaddress

        try:
            net = ipaddress.IPv4Network(subnet)
        except ValueError as exc:
            raise InvalidArgument(f"bridge_subnet {subnet!r}: {exc}") from exc
        if net.num_addresses < 4:
            raise InvalidArgument(f"bridge_subnet {subnet!r} is too small: at least a /30")
    resolv = str(env.get("BARQUE_RESOLV_CONF") or section.get("resolv_conf") or "/etc/resolv.conf")
    if not resolv.startswith("/"):
        raise InvalidArgument(f"resolv_conf {resolv!r} must be an absolute path")
    return NetworkConfig(bridge, subnet, resolv)


_TLS_KEYS = ("cert", "key", "ca", "client_cert", "client_key")


def _tls_config(section: object, env: Mapping[str, str], path: str) -> TlsConfig:
    """``[tls]`` with its ``BARQUE_TLS_*`` overrides; half a pair is refused."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise InvalidArgument(f"config file {path!r}: [tls] must be a table")
    unknown = sorted(set(section) - set(_TLS_KEYS))
    if unknown:
        raise InvalidArgument(f"config file {path!r}: [tls] has unknown key {unknown[0]!r}: "
                              f"expected {', '.join(_TLS_KEYS)}")
    values = {}
    for key in _TLS_KEYS:
        value = env.get(f"BARQUE_TLS_{key.upper()}") or section.get(key) or ""
        if not isinstance(value, str):
            raise InvalidArgument(f"tls {key} {value!r} must be a path")
        if value and not value.startswith("/"):
            raise InvalidArgument(f"tls {key} {value!r} must be an absolute path")
        values[key] = value
    tls = TlsConfig(**values)
    for cert, key in (("cert", "key"), ("client_cert", "client_key")):
        if bool(values[cert]) != bool(values[key]):
            missing = key if values[cert] else cert
            raise InvalidArgument(f"tls {cert} and {key} go together: {missing} is not set")
        if values[cert] and not tls.ca:
            raise InvalidArgument(f"tls {cert} needs ca: the peer's certificate is verified against it")
    return tls
