"""Container records on disk: ``<root>/containers/<id>/record.json``.

The record holds what was asked for (Docker's Config and HostConfig, kept as
the ``runtime.v1`` messages that are their one schema) and the last known
state; the supervisor's ``status.json`` beside it is the truth about the
process, so the runtime service can rebuild everything after a restart.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path

from google.protobuf import json_format

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.atomic import write_atomic

__all__ = [
    "ContainerConfig",
    "HostConfig",
    "ContainerRecord",
    "ContainerStore",
    "ContainerNotFound",
    "new_id",
    "generate_name",
]

_NAME_RE = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_ID_RE = re.compile(r"[a-f0-9]{64}")


class ContainerNotFound(NotFound):
    pass


@dataclass
class ContainerRecord:
    id: str
    name: str
    created: str
    image_id: str
    config: ContainerConfig
    host_config: HostConfig
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    working_dir: str = "/"
    hostname: str = ""
    user: str = ""
    stop_signal: int = 15
    stop_timeout: int = 10
    log_path: str = ""
    mounts: list[dict] = field(default_factory=list)
    rootfs: dict = field(default_factory=dict)
    # last known state; the supervisor's status.json overrides it while it runs
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    starts: int = 0
    # the networks it is on, its primary first: name -> {"ip": static address, "aliases": [...]}
    # (its live endpoints are in the network state)
    networks: dict = field(default_factory=dict)
    # restarts under its restart policy since a user last started it (RestartCount), and
    # whether a user stopped or killed it since (Docker's HasBeenManuallyStopped)
    restart_count: int = 0
    manually_stopped: bool = False
    # the health check's state in Docker's shape (State.Health: Status, FailingStreak,
    # Log); empty when it has none or never ran (services.runtime.engine.health)
    health: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-ready view for saving; it shares the record's lists, so
        serialize it, don't mutate it."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("config", "host_config"):
            data[key] = json_format.MessageToDict(data[key], preserving_proto_field_name=True)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ContainerRecord":
        data = dict(data)
        config, host = _upgrade(dict(data["config"]), dict(data["host_config"]))
        data["config"] = json_format.ParseDict(config, ContainerConfig(), ignore_unknown_fields=True)
        data["host_config"] = json_format.ParseDict(host, HostConfig(), ignore_unknown_fields=True)
        known = {f.name for f in fields(cls)}
        if "networks" not in data and "network" in data:  # the first layout: on the default bridge or none
            mode = data["host_config"].network_mode
            data["networks"] = {"bridge": {"ip": "", "aliases": []}} if mode in ("", "default", "bridge") else {}
        return cls(**{k: v for k, v in data.items() if k in known})


def _upgrade(config: dict, host: dict) -> tuple[dict, dict]:
    """Records written before the config was the proto: their few renamed
    keys, so containers survive an upgrade of the engine."""
    if "entrypoint" in config and not isinstance(config["entrypoint"], dict):
        entry = config.pop("entrypoint")
        if entry is not None:
            config["entrypoint"] = {"values": entry}
    for key in [k for k, v in config.items() if v is None]:
        del config[key]
    if "read_only" in host:
        host["readonly_rootfs"] = host.pop("read_only")
    if "log_type" in host:
        host["log_config"] = {"type": host.pop("log_type"), "config": host.pop("log_config", {})}
    return config, host


def new_id() -> str:
    return secrets.token_hex(32)


_LEFT = ["admiring", "bold", "brave", "calm", "eager", "gifted", "happy", "jolly", "keen", "nifty",
         "quirky", "serene", "sharp", "tender", "vibrant", "wizardly", "zealous", "upbeat"]
_RIGHT = ["albattani", "babbage", "curie", "darwin", "euclid", "fermi", "galileo", "hopper", "kepler",
          "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak", "yalow"]


def generate_name() -> str:
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"


class ContainerStore:
    """Records by id, with a name index; every write atomic."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._records: dict[str, ContainerRecord] = {}
        for d in sorted(root.iterdir()):
            path = d / "record.json"
            if _ID_RE.fullmatch(d.name) and path.exists():
                try:
                    self._records[d.name] = ContainerRecord.from_json(json.loads(path.read_text()))
                except (ValueError, TypeError, KeyError):
                    continue

    def dir(self, container_id: str) -> Path:
        if not _ID_RE.fullmatch(container_id):
            raise InvalidArgument(f"invalid container id {container_id!r}")
        return self.root / container_id

    def all(self) -> list[ContainerRecord]:
        with self.lock:
            return list(self._records.values())

    def reserve(self, record: ContainerRecord) -> None:
        """Add a new record; its name must be free. A record without a name
        gets a generated one that is free, chosen under the store's lock, so
        concurrent creates never draw the same (moby retries its generator
        the same way, with a digit added after the first clash)."""
        with self.lock:
            if not record.name:
                taken = {r.name for r in self._records.values()}
                name, attempt = generate_name(), 0
                while name in taken:  # moby adds a digit; more after each clash, so it ends
                    attempt += 1
                    name = generate_name() + str(secrets.randbelow(10 ** min(attempt, 9)))
                record.name = name
            self._check_name(record.name)
            self._records[record.id] = record
            self.dir(record.id).mkdir(mode=0o700)
            self.save(record)

    def rename(self, record: ContainerRecord, name: str) -> None:
        """Give ``record`` the free, valid ``name`` (``docker rename``); its old name is free at once."""
        with self.lock:
            self._check_name(name)
            record.name = name
            self.save(record)

    def _check_name(self, name: str) -> None:
        """Docker's name rules and its conflict message (the caller holds the lock)."""
        if not _NAME_RE.fullmatch(name):
            raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        for other in self._records.values():
            if other.name == name:
                raise AlreadyExists(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to reuse that name.'
                )

    def save(self, record: ContainerRecord) -> None:
        with self.lock:
            write_atomic(self.dir(record.id) / "record.json", json.dumps(record.to_json(), indent=1).encode())

    def forget(self, container_id: str) -> None:
        with self.lock:
            self._records.pop(container_id, None)

    def get(self, container_id: str) -> ContainerRecord | None:
        """The record of a full id, or None; without the lock (one dict read),
        so code holding any of the engine's locks may call it."""
        return self._records.get(container_id)

    def find(self, ref: str) -> ContainerRecord:
        """By full id, unique id prefix, or name (with or without a leading slash)."""
        with self.lock:
            if ref in self._records:
                return self._records[ref]
            name = ref.removeprefix("/")
            for r in self._records.values():
                if r.name == name:
                    return r
            if ref and re.fullmatch(r"[a-f0-9]+", ref):
                matches = [r for i, r in self._records.items() if i.startswith(ref)]
                if len(matches) == 1:
                    return matches[0]
                if len(matches) > 1:
                    raise InvalidArgument(f"multiple containers found with provided prefix: {ref}")
            raise ContainerNotFound(f"No such container: {ref}")
