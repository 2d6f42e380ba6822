"""Server wiring shared by every service: private state directories, the
listener (a unix socket, or tcp only with mutual TLS), health, reflection,
logging context, error mapping and graceful shutdown on SIGTERM."""

from __future__ import annotations

import contextvars
import os
import signal
import socket
import ssl
import stat
import threading
import uuid
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from client.channels import is_unix, read_pem
from client.config import Config, TlsConfig
from client.errors import FailedPrecondition, InvalidArgument
from client.grpcerrors import to_status
from services.common.log import REQUEST_ID_KEY, get_logger

__all__ = [
    "serve", "Listener", "listener", "server_credentials", "prepare_state_dir", "STATE_DIR_MODE",
    "ErrorMappingInterceptor", "request_id", "prepare_unix_socket", "sd_notify", "REMAP_TRAVERSE_MODE",
]

#: Mode of the state root and of every service's directory under it, set at
#: every start. They hold image content (setuid-root files included) and the
#: containers' upper dirs, so no other host user may traverse them. Everything
#: that reaches into the state (the services, shims, barque-oci, and overlayfs,
#: which checks the lower and upper dirs with the credentials of the root that
#: mounted it) runs as root; only a user-namespace remap's root, which must
#: walk down to a rootfs, is let through (:data:`REMAP_TRAVERSE_MODE`).
STATE_DIR_MODE = 0o700
#: Mode of the state root and the runtime's directory under a user-namespace
#: remap (``[runtime] userns_remap``): the runtime gives them the remapped
#: root's group, which may then only traverse them, as Docker's 0710.
REMAP_TRAVERSE_MODE = 0o710

#: request id of the RPC being served; outgoing calls forward it
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

log = get_logger()


def _bind_context(service: str, method: str, context: grpc.ServicerContext) -> None:
    rid = ""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY:
            rid = str(value)
    rid = rid or uuid.uuid4().hex[:16]
    request_id.set(rid)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service, rpc=method.rsplit("/", 1)[-1], request_id=rid)


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, grpc.RpcError) and not context.is_active():
        # the handler read the stream of a client that is gone (cancelled,
        # past its deadline): nobody is left to answer, and it is no fault
        log.info("rpc.client_gone", error=str(exc) or type(exc).__name__)
        return
    code, message = to_status(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.error("rpc.internal_error", exc_info=exc)
    else:
        log.info("rpc.error", code=code.name, error=message)
    context.abort(code, message)


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    """Binds the logging context of each RPC and maps domain errors to status codes."""

    def __init__(self, service: str) -> None:
        self._service = service

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        service = self._service
        if method.startswith("/grpc."):
            return handler

        def wrap_unary(fn):
            def inner(request, context):
                _bind_context(service, method, context)
                try:
                    return fn(request, context)
                except Exception as exc:  # mapped, never swallowed
                    _abort(context, exc)
            return inner

        def wrap_stream(fn):
            def inner(request, context):
                _bind_context(service, method, context)
                try:
                    yield from fn(request, context)
                except Exception as exc:
                    _abort(context, exc)
            return inner

        if handler.unary_unary:
            return handler._replace(unary_unary=wrap_unary(handler.unary_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=wrap_stream(handler.unary_stream))
        if handler.stream_unary:
            return handler._replace(stream_unary=wrap_unary(handler.stream_unary))
        if handler.stream_stream:
            return handler._replace(stream_stream=wrap_stream(handler.stream_stream))
        return handler


def _shared(st: os.stat_result) -> bool:
    """A directory other users share (/tmp): sticky, or writable by everyone."""
    return bool(st.st_mode & (stat.S_ISVTX | stat.S_IWOTH))


def prepare_state_dir(config: Config, service: str) -> Path:
    """Create ``<state_dir>`` and ``<state_dir>/<service>`` or take them back to
    :data:`STATE_DIR_MODE`, whatever mode an older start or a hand left them in.

    A directory owned by another user, or a shared one (/tmp) named as state,
    is refused: chmod would not make it private.
    """
    euid = os.geteuid()
    # under a remap the runtime opens these two to its remapped root's group: kept as it left them
    traversed = (config.state_dir, config.state("runtime")) if config.userns.remap else ()
    for directory in (config.state_dir, config.state(service)):
        directory.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        st = os.stat(directory)
        if st.st_uid != euid:
            raise FailedPrecondition(f"state dir {str(directory)!r} belongs to uid {st.st_uid}, not {euid}")
        if _shared(st):
            raise FailedPrecondition(f"state dir {str(directory)!r} is shared with other users "
                                     f"(mode {stat.S_IMODE(st.st_mode):o}): name a directory of barque's own")
        if directory in traversed and stat.S_IMODE(st.st_mode) == REMAP_TRAVERSE_MODE:
            continue
        if stat.S_IMODE(st.st_mode) != STATE_DIR_MODE:
            os.chmod(directory, STATE_DIR_MODE)
            log.info("state_dir.mode_fixed", path=str(directory),
                     was=f"{stat.S_IMODE(st.st_mode):o}", mode=f"{STATE_DIR_MODE:o}")
    return config.state(service)


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parent, each 0700; existing ones are not touched."""
    missing = []
    while not os.path.lexists(directory):
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # another service starting at the same moment made it
            continue
        os.chmod(d, 0o700)  # whatever the umask


def prepare_unix_socket(address: str, run_dir: Path | None = None) -> str:
    """Make sure the socket's directory exists and drop a stale socket file.

    A missing directory is created 0700 (with its missing parents); the
    configured ``run_dir``, which barque owns, is kept 0700; any other
    existing directory (``/tmp`` for ``unix:///tmp/x.sock``) is left as it is:
    the socket's own mode (0600) guards it.
    """
    path = Path(address[len("unix://"):] if address.startswith("unix://") else address[len("unix:"):])
    if not os.path.lexists(path.parent):
        _make_private_dirs(path.parent)
    elif run_dir is not None and run_dir.is_dir() and os.path.samefile(path.parent, run_dir):
        st = os.stat(run_dir)
        if st.st_uid == os.geteuid() and not _shared(st) and stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(run_dir, 0o700)
    if path.is_socket():
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()
        else:
            raise OSError(f"{path} is in use by a running service")
        finally:
            probe.close()
    return str(path)


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) about our state; a no-op outside systemd."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return
    if target.startswith("@"):
        target = "\0" + target[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(target)
        s.sendall(state.encode())


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    """Mutual TLS: present ``cert``, require a client certificate ``ca`` signed.

    The files are loaded by Python's ssl first, so a missing file, a key that
    does not match its certificate or a bad CA fails here with a clear message.
    """
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"tls cert {tls.cert!r} and key {tls.key!r} do not load: {exc}") from exc
    try:
        probe.load_verify_locations(cafile=tls.ca)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"tls ca {tls.ca!r} does not load: {exc}") from exc
    return grpc.ssl_server_credentials(
        [(read_pem("key", tls.key), read_pem("cert", tls.cert))],
        root_certificates=read_pem("ca", tls.ca),
        require_client_auth=True,
    )


@dataclass(frozen=True)
class Listener:
    """Where a service listens, checked before its domain is built."""

    address: str
    #: mutual-TLS credentials of a tcp address; None for a unix socket
    credentials: grpc.ServerCredentials | None = None
    #: the configured run dir, barque's own: a socket's directory kept 0700 if it is this one
    run_dir: Path | None = None


def listener(config: Config, service: str) -> Listener:
    """``service``'s address from the config; a tcp one only with mutual TLS.

    Anyone who reaches a service can run containers as root, so a tcp address
    without ``[tls]`` cert, key and ca is refused rather than served in the clear.
    """
    address = config.address(service)
    if is_unix(address):
        return Listener(address, None, config.run_dir)
    if not config.tls.server:
        raise InvalidArgument(
            f"refusing to listen on tcp address {address!r} without mutual TLS: set [tls] cert, key "
            "and ca (BARQUE_TLS_CERT, BARQUE_TLS_KEY, BARQUE_TLS_CA) or use a unix:// address"
        )
    return Listener(address, server_credentials(config.tls), config.run_dir)


def serve(
    service: str,
    listen: Listener,
    register: Callable[[grpc.Server], Iterable[str]],
    *,
    max_workers: int = 16,
    grace: float = 5.0,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Run a service until SIGTERM/SIGINT.

    ``register`` adds the servicers to the server and returns their full
    service names (for health and reflection).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=service),
        interceptors=[ErrorMappingInterceptor(service)],
        options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
    )
    names = list(register(server))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        names + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    address = listen.address
    try:
        if listen.credentials is None:
            path = prepare_unix_socket(address, listen.run_dir)
            old = os.umask(0o177)
            try:
                port = server.add_insecure_port(f"unix://{path}")
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
        else:
            port = server.add_secure_port(address, listen.credentials)
    except RuntimeError as exc:  # grpc's "failed to bind"
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    if not port:
        raise OSError(f"cannot listen on {address}")
    server.start()
    for name in names + [""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("service.started", address=address, mtls=listen.credentials is not None, pid=os.getpid())
    sd_notify("READY=1")

    stopping = threading.Event()

    def on_signal(signum, _frame):
        if stopping.is_set():
            return
        stopping.set()
        log.info("service.stopping", signal=signal.Signals(signum).name)
        health_servicer.enter_graceful_shutdown()
        server.stop(grace)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.wait_for_termination()
    if on_stop:
        on_stop()
    log.info("service.stopped")
