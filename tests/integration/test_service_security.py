"""Security review, issue 7, against real services: state directories no other
user can walk into, a tcp listener only with mutual TLS, and a socket's
directory left alone when it is not barque's.

Services are started as real processes; the unprivileged user is the host's
``nobody`` (``runuser``), the certificates are made by ``openssl``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from client.config import TlsConfig, load_config
from deploy.services import is_serving, start, wait_serving
from tests.support.engine import Engine
from tests.support.registry import free_port

pytestmark = pytest.mark.integration

#: runuser drops root (capabilities included) before it execs the command;
#: setpriv would still hold CAP_DAC_OVERRIDE for its own exec of the command
NOBODY = ["runuser", "-u", "nobody", "--"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=30)


def _engine_root() -> Path:
    """A temp dir as Engine.create makes it: 0755, so only what is under it decides."""
    root = Path(tempfile.mkdtemp(prefix=f"barque-engine-{os.getpid()}-"))
    os.chmod(root, 0o755)
    (root / "barque.toml").write_text("# test engine: everything comes from the environment\n")
    return root


@pytest.fixture
def unstarted_engine() -> Iterator[Engine]:
    """An engine whose directories a test prepares before it starts services."""
    eng = Engine(_engine_root(), ())
    yield eng
    eng.close()


# ---- 1. state directories ---------------------------------------------------


@pytest.mark.root
def test_state_dirs_made_private_at_every_start(unstarted_engine):
    """A state root and service dirs left 0755 (older barque, a hand, systemd's
    StateDirectory parent) are 0700 once the service starts, and again after
    a restart; a setuid-root binary under them is out of ``nobody``'s reach."""
    eng = unstarted_engine
    state = eng.root / "state"
    dirs = (state, state / "registry", state / "images", state / "runtime")
    for d in dirs:
        d.mkdir()
        os.chmod(d, 0o755)
    binary = state / "images" / "setuid-true"
    shutil.copy("/bin/true", binary)
    os.chmod(binary, 0o4755)
    assert _as_nobody("stat", str(binary)).returncode == 0, "setup: nobody should reach it before the fix"

    for service in ("registry", "images", "runtime"):
        eng.start(service)
    for d in dirs:
        assert _mode(d) == 0o700, f"{d} is {_mode(d):o}"

    res = _as_nobody("stat", str(binary))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res
    res = _as_nobody(str(binary))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res
    res = _as_nobody("ls", str(state))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res

    # every start, not only the one that creates them
    os.chmod(state, 0o755)
    os.chmod(state / "registry", 0o755)
    os.chmod(state / "runtime", 0o755)
    eng.restart("registry")
    eng.restart("runtime")
    assert _mode(state) == 0o700 and _mode(state / "registry") == 0o700 and _mode(state / "runtime") == 0o700
    assert "state_dir.mode_fixed" in eng.log("registry").read_text()
    assert "state_dir.mode_fixed" in eng.log("runtime").read_text()


# ---- 3. the socket's directory -----------------------------------------------


@pytest.mark.parametrize("dir_mode", [0o755, 0o1777], ids=["0755", "1777"])
def test_socket_in_a_foreign_dir_keeps_its_mode(unstarted_engine, dir_mode):
    """``unix://<dir>/x.sock`` in a directory barque does not own (think /tmp):
    the directory keeps its mode, the socket is 0600."""
    eng = unstarted_engine
    foreign = eng.root / "foreign"
    foreign.mkdir()
    os.chmod(foreign, dir_mode)
    eng.extra_env["BARQUE_REGISTRY_ADDRESS"] = f"unix://{foreign}/x.sock"
    eng.start("registry")
    assert _mode(foreign) == dir_mode
    assert _mode(foreign / "x.sock") == 0o600
    assert stat.S_ISSOCK(os.stat(foreign / "x.sock").st_mode)


def test_socket_dir_created_private(unstarted_engine):
    """A socket directory that does not exist yet is created 0700, parents too."""
    eng = unstarted_engine
    sock_dir = eng.root / "new" / "sockets"
    eng.extra_env["BARQUE_REGISTRY_ADDRESS"] = f"unix://{sock_dir}/x.sock"
    eng.start("registry")
    assert _mode(sock_dir) == 0o700
    assert _mode(sock_dir.parent) == 0o700
    assert _mode(eng.root) == 0o755
    assert _mode(sock_dir / "x.sock") == 0o600


# ---- 2. tcp only with mutual TLS -----------------------------------------------

LEAF_EXT = """basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = {usage}
subjectAltName = {san}
"""
CA_CNF = """[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(args)}: {proc.stderr}"


def _make_ca(d: Path, name: str) -> None:
    (d / "ca.cnf").write_text(CA_CNF)
    _openssl("req", "-x509", "-new", "-config", "ca.cnf", "-extensions", "ca", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=barque test {name}", cwd=d)


def _make_leaf(d: Path, name: str, ca: str, usage: str, san: str, serial: int) -> None:
    (d / f"{name}.ext").write_text(LEAF_EXT.format(usage=usage, san=san))
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=barque test {name}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-set_serial", str(serial), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def certs() -> Iterator[Path]:
    """ca signs server (IP:127.0.0.1) and client; other-ca signs other-client."""
    d = Path(tempfile.mkdtemp(prefix="barque-tls-"))
    try:
        _make_ca(d, "ca")
        _make_leaf(d, "server", "ca", "serverAuth", "IP:127.0.0.1", 1)
        _make_leaf(d, "client", "ca", "clientAuth", "DNS:barque-client", 2)
        _make_ca(d, "other-ca")
        _make_leaf(d, "other-client", "other-ca", "clientAuth", "DNS:barque-client", 3)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _tls_env(certs: Path, client: str = "client") -> dict[str, str]:
    return {
        "BARQUE_TLS_CERT": str(certs / "server.pem"),
        "BARQUE_TLS_KEY": str(certs / "server.key"),
        "BARQUE_TLS_CA": str(certs / "ca.pem"),
        "BARQUE_TLS_CLIENT_CERT": str(certs / f"{client}.pem"),
        "BARQUE_TLS_CLIENT_KEY": str(certs / f"{client}.key"),
    }


class TlsEngine(Engine):
    """An engine whose readiness wait speaks mutual TLS with its own config."""

    def start(self, service: str) -> None:
        proc = start(service, self.log(service), self.env)
        self.procs[service] = proc
        tls = load_config(environ=self.env).tls
        wait_serving(self.address(service), proc, timeout=30, log_path=self.log(service), tls=tls)


@pytest.fixture
def tls_engine(certs) -> Iterator[TlsEngine]:
    """registry-proxy and image-store on loopback tcp ports, mutual TLS between
    them and towards the CLI."""
    env = {
        **_tls_env(certs),
        "BARQUE_REGISTRY_ADDRESS": f"127.0.0.1:{free_port()}",
        "BARQUE_IMAGES_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    eng = TlsEngine(_engine_root(), (), extra_env=env)
    try:
        eng.start("registry")
        eng.start("images")
        yield eng
    finally:
        eng.close()


def test_tcp_without_tls_refused_at_start(unstarted_engine):
    """No [tls]: the service exits 1 with one clear line and starts nothing."""
    eng = unstarted_engine
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, **eng.env, "BARQUE_REGISTRY_ADDRESS": address}
    for key in list(env):
        if key.startswith("BARQUE_TLS_"):
            del env[key]
    proc = subprocess.run([sys.executable, "-m", "services.registry"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1, proc
    lines = [line for line in proc.stderr.splitlines() if line.startswith("barque-registryd: ")]
    assert lines == [f"barque-registryd: refusing to listen on tcp address {address!r} without mutual TLS: "
                     "set [tls] cert, key and ca (BARQUE_TLS_CERT, BARQUE_TLS_KEY, BARQUE_TLS_CA) "
                     "or use a unix:// address"], proc.stderr
    assert not (eng.root / "state").exists(), "a refused service must not set up its state"
    with pytest.raises(grpc.RpcError):
        with grpc.insecure_channel(address) as ch:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2)


def _health(address: str, credentials: grpc.ChannelCredentials | None) -> int:
    channel = (grpc.insecure_channel(address) if credentials is None
               else grpc.secure_channel(address, credentials))
    with channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_mtls_client_with_good_cert_is_served(tls_engine, certs):
    """Health and real RPCs over mutual TLS: raw grpc, the CLI, and the
    image-store's own calls to the registry-proxy."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=(certs / "client.key").read_bytes(),
        certificate_chain=(certs / "client.pem").read_bytes(),
    )
    for service in ("registry", "images"):
        assert _health(tls_engine.address(service), creds) == health_pb2.HealthCheckResponse.SERVING
    assert tls_engine.ok("images").lines[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"]
    # the image-store reaches the registry-proxy over tcp too: a pull from a
    # port where no registry listens fails in the proxy (not in the TLS hop)
    res = tls_engine.cli("pull", f"127.0.0.1:{free_port()}/nobody/home:latest")
    assert res.returncode != 0
    assert "tls" not in res.stderr.lower() and "handshake" not in res.stderr.lower(), res.stderr
    assert '"rpc": "Resolve"' in tls_engine.log("registry").read_text()


def test_mtls_refuses_clients_without_a_good_cert(tls_engine, certs):
    address = tls_engine.address("images")
    ca = (certs / "ca.pem").read_bytes()
    refused = {
        "plaintext": None,
        "no client cert": grpc.ssl_channel_credentials(root_certificates=ca),
        "cert of another ca": grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(certs / "other-client.key").read_bytes(),
            certificate_chain=(certs / "other-client.pem").read_bytes(),
        ),
    }
    for name, creds in refused.items():
        with pytest.raises(grpc.RpcError) as err:
            _health(address, creds)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, name
    assert not is_serving(address, tls=TlsConfig(ca=str(certs / "ca.pem"),
                                                 client_cert=str(certs / "other-client.pem"),
                                                 client_key=str(certs / "other-client.key")))
    res = tls_engine.cli("images", env=_tls_env(certs, "other-client"))
    assert res.returncode != 0 and "REPOSITORY" not in res.stdout
    res = tls_engine.cli("images", env={key: "" for key in _tls_env(certs)})
    assert res.returncode != 0
    assert "needs mutual TLS" in res.stderr, res.stderr
