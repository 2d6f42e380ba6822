"""Options for the container's process: argv, terminal, environment, user,
working directory, rlimits and no-new-privileges."""

from __future__ import annotations

import resource

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import InvalidArgument
from client.units import parse_signal
from services.common.log import get_logger

from ..oci.caps import CAPABILITIES
from .context import SpecContext
from .options import applies
from .paths import clean_abs
from .users import process_user, resolve_user

__all__ = [
    "DEFAULT_PATH_ENV", "NOFILE_LIMIT", "process_args", "base_env", "with_home", "merged_env",
    "stop_signal", "host_nofile_limit",
    "with_args", "with_terminal", "with_env", "with_user", "with_working_dir", "with_rlimits",
    "with_no_new_privileges",
]

log = get_logger(__name__)

DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: what Docker containers inherit from dockerd's unit
NOFILE_LIMIT = 1048576


def _str_list(value, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{what} must be a list of strings, got {value!r}")
    if any("\x00" in v for v in value):
        raise InvalidArgument(f"{what} contains a NUL byte")
    return value


def process_args(image_config, entrypoint: list[str] | None, cmd: list[str] | None) -> list[str]:
    """The process's argv by Docker's merge rules (daemon ``merge`` + ``mergeAndVerifyConfig``).

    * No ``--entrypoint`` (None): the image's Entrypoint, then ``cmd`` if
      given and non-empty, else the image's Cmd.
    * ``--entrypoint X``: X then ``cmd``; the image's Cmd is dropped even when
      ``cmd`` is empty ("--entrypoint clears the default command").
    * ``--entrypoint ""`` (``[]`` or ``[""]``): no entrypoint and, as above,
      no image Cmd: ``cmd`` alone.

    An empty result raises ``InvalidArgument("no command specified")``.
    """
    image_entry = _str_list(image_config.get("Entrypoint"), "image Entrypoint")
    image_cmd = _str_list(image_config.get("Cmd"), "image Cmd")
    user_entry = _str_list(entrypoint, "entrypoint")
    user_cmd = _str_list(cmd, "cmd")
    if user_entry is not None and len(user_entry) == 0:
        user_entry = [""]
    if not user_entry:
        if not user_cmd:
            user_cmd = image_cmd
        if user_entry is None:
            user_entry = image_entry
    if user_entry == [""]:
        user_entry = None
    args = [*(user_entry or []), *(user_cmd or [])]
    if not args:
        raise InvalidArgument("no command specified")
    return args


def _env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def _check_env(entries: list[str], what: str) -> None:
    for entry in entries:
        if "\x00" in entry:
            raise InvalidArgument(f"{what}: environment variable {entry!r} contains a NUL byte")
        if entry.startswith("="):
            raise InvalidArgument(f"{what}: invalid environment variable: {entry!r}")


def _replace_or_append(defaults: list[str], overrides: list[str]) -> list[str]:
    # moby container.ReplaceOrAppendEnvValues: overrides replace defaults with
    # the same key in place, others are appended; an override without "="
    # removes the default of that name.
    out: list[str | None] = list(defaults)
    index = {_env_key(e): i for i, e in enumerate(defaults)}
    for value in overrides:
        if "=" not in value:
            if value in index:
                out[index[value]] = None
            continue
        key = _env_key(value)
        if key in index:
            out[index[key]] = value
        else:
            out.append(value)
    return [e for e in out if e is not None]


def base_env(image_env: list[str] | None, env: list[str], hostname: str, *, tty: bool = False) -> list[str]:
    """The process environment before HOME, in Docker's order.

    ``PATH`` (Docker's default), ``HOSTNAME`` and, with a tty, ``TERM=xterm``
    come first; the container's Env (the user's entries, then the image's
    entries whose key the user did not set) replaces those in place or is
    appended.
    """
    image_env = _str_list(image_env, "image Env") or []
    user_env = _str_list(env, "env") or []
    _check_env(image_env, "image Env")
    _check_env(user_env, "env")
    if user_env:
        user_keys = {_env_key(e) for e in user_env}
        config_env = user_env + [e for e in image_env if _env_key(e) not in user_keys]
    else:
        config_env = list(image_env)
    defaults = [f"PATH={DEFAULT_PATH_ENV}", f"HOSTNAME={hostname}"]
    if tty:
        defaults.append("TERM=xterm")
    return _replace_or_append(defaults, config_env)


def with_home(env: list[str], home: str) -> list[str]:
    """``env`` with ``HOME=home`` appended when absent, or filled in place when
    empty (what runc does when it sets up the user; barque-oci does not)."""
    out = list(env)
    homes = [i for i, e in enumerate(out) if _env_key(e) == "HOME"]
    if not homes:
        out.append(f"HOME={home}")
    elif out[homes[0]] == "HOME=":
        out[homes[0]] = f"HOME={home}"
    return out


def merged_env(image_env: list[str] | None, env: list[str], home: str, hostname: str,
               *, tty: bool = False) -> list[str]:
    """:func:`base_env` then :func:`with_home`: the environment the process gets."""
    return with_home(base_env(image_env, env, hostname, tty=tty), home)


def stop_signal(image_config, override: str | None = None) -> int:
    """``--stop-signal``, else the image's StopSignal, else SIGTERM (15)."""
    if override:
        return parse_signal(override)
    if image_config.get("StopSignal"):
        return parse_signal(str(image_config["StopSignal"]))
    return 15


def host_nofile_limit() -> int:
    """The NOFILE limit a container can get here: :data:`NOFILE_LIMIT`, or less
    when this process lacks CAP_SYS_RESOURCE and its own hard limit is lower
    (the runtime, our child, could not raise it: setrlimit fails with EPERM)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= NOFILE_LIMIT:
        return NOFILE_LIMIT
    with open("/proc/self/status") as f:
        cap_eff = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    if cap_eff & (1 << CAPABILITIES["CAP_SYS_RESOURCE"]):
        return NOFILE_LIMIT
    log.warning("nofile_limit_clamped", wanted=NOFILE_LIMIT, applied=hard)
    return hard


# ---- options -------------------------------------------------------------------------------


@applies("Config.entrypoint", "Config.cmd")
def with_args(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.args``: Entrypoint and Cmd merged with the image's (:func:`process_args`);
    an Entrypoint that is set, even to nothing, replaces the image's."""
    entrypoint = list(config.entrypoint.values) if config.HasField("entrypoint") else None
    spec["process"]["args"] = process_args(ctx.image_config, entrypoint, list(config.cmd) or None)


@applies("Config.tty")
def with_terminal(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.terminal`` from ``-t``."""
    spec["process"]["terminal"] = config.tty


@applies("Config.env", "Config.tty")
def with_env(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.env`` by Docker's rules (:func:`base_env`); HOME is :func:`with_user`'s."""
    spec["process"]["env"] = base_env(ctx.image_config.get("Env"), list(config.env), ctx.uts_hostname,
                                      tty=config.tty)


@applies("Config.user")
def with_user(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.user``: ``-u``, else the image's User, resolved in the rootfs's
    /etc/passwd and /etc/group, with the primary gid also a supplementary
    group as Docker (:func:`~services.runtime.spec.users.process_user`); and HOME
    from passwd when the environment has none (run after :func:`with_env`)."""
    user = resolve_user(ctx.rootfs, config.user or str(ctx.image_config.get("User") or ""))
    spec["process"]["user"] = process_user(user)
    spec["process"]["env"] = with_home(spec["process"]["env"], user.home)


@applies("Config.working_dir")
def with_working_dir(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.cwd``: ``-w``, else the image's WorkingDir, else ``/``; absolute, cleaned."""
    working_dir = config.working_dir or str(ctx.image_config.get("WorkingDir") or "")
    spec["process"]["cwd"] = clean_abs(working_dir, "working directory") if working_dir else "/"


def with_rlimits(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.rlimits``: NOFILE at :data:`NOFILE_LIMIT`, or what the host allows."""
    limit = ctx.facts.nofile if ctx.facts.nofile is not None else host_nofile_limit()
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}]


@applies("HostConfig.oom_score_adj")
def with_oom_score_adj(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.oomScoreAdj`` from ``--oom-score-adj``, in Docker's range."""
    if not -1000 <= host.oom_score_adj <= 1000:
        raise InvalidArgument(f"Invalid value {host.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    spec["process"]["oomScoreAdj"] = host.oom_score_adj


def with_no_new_privileges(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.noNewPrivileges`` from ``--security-opt no-new-privileges``."""
    spec["process"]["noNewPrivileges"] = ctx.security.no_new_privileges
