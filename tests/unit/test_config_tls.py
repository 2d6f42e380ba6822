"""[tls] in barque.toml and BARQUE_TLS_*: parsing, the errors of a half or
wrong configuration, and the refusal of tcp without mutual TLS on both ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.channels import open_channel
from client.config import CgroupConfig, TlsConfig, load_config
from client.errors import InvalidArgument
from services.common.server import listener

FULL = """
[tls]
cert = "/etc/barque/tls/server.pem"
key = "/etc/barque/tls/server-key.pem"
ca = "/etc/barque/tls/ca.pem"
client_cert = "/etc/barque/tls/client.pem"
client_key = "/etc/barque/tls/client-key.pem"

[cgroups]
version = "2"
"""


def _load(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "barque.toml"
    path.write_text(text)
    return load_config(str(path), env)


def test_no_tls_section_means_neither_side(tmp_path):
    tls = _load(tmp_path, "").tls
    assert tls == TlsConfig()
    assert not tls.server and not tls.client


def test_full_section(tmp_path):
    config = _load(tmp_path, FULL)
    assert config.tls == TlsConfig("/etc/barque/tls/server.pem", "/etc/barque/tls/server-key.pem",
                                   "/etc/barque/tls/ca.pem", "/etc/barque/tls/client.pem",
                                   "/etc/barque/tls/client-key.pem")
    assert config.tls.server and config.tls.client
    assert config.cgroups == CgroupConfig("2", "/sys/fs/cgroup")


def test_env_overrides_each_key(tmp_path):
    tls = _load(tmp_path, FULL, BARQUE_TLS_CERT="/x/cert.pem", BARQUE_TLS_KEY="/x/key.pem",
                BARQUE_TLS_CA="/x/ca.pem", BARQUE_TLS_CLIENT_CERT="/x/c.pem",
                BARQUE_TLS_CLIENT_KEY="/x/ck.pem").tls
    assert tls == TlsConfig("/x/cert.pem", "/x/key.pem", "/x/ca.pem", "/x/c.pem", "/x/ck.pem")


def test_client_only(tmp_path):
    tls = _load(tmp_path, '[tls]\nca = "/a/ca.pem"\nclient_cert = "/a/c.pem"\nclient_key = "/a/k.pem"\n').tls
    assert tls.client and not tls.server


@pytest.mark.parametrize("text, env, message", [
    ('tls = "on"\n', {}, "[tls] must be a table"),
    ('[tls]\ncrt = "/a"\n', {}, "unknown key 'crt'"),
    ('[tls]\ncert = 1\nkey = "/k"\nca = "/c"\n', {}, "tls cert 1 must be a path"),
    ('[tls]\ncert = "server.pem"\nkey = "/k"\nca = "/c"\n', {}, "tls cert 'server.pem' must be an absolute path"),
    ("", {"BARQUE_TLS_CA": "ca.pem"}, "tls ca 'ca.pem' must be an absolute path"),
    ('[tls]\ncert = "/c.pem"\nca = "/ca.pem"\n', {}, "tls cert and key go together: key is not set"),
    ('[tls]\nkey = "/k.pem"\nca = "/ca.pem"\n', {}, "tls cert and key go together: cert is not set"),
    ('[tls]\nca = "/ca.pem"\nclient_cert = "/c.pem"\n', {},
     "tls client_cert and client_key go together: client_key is not set"),
    ('[tls]\ncert = "/c.pem"\nkey = "/k.pem"\n', {}, "tls cert needs ca"),
    ("", {"BARQUE_TLS_CLIENT_CERT": "/c.pem", "BARQUE_TLS_CLIENT_KEY": "/k.pem"}, "tls client_cert needs ca"),
])
def test_bad_tls_config_is_refused(tmp_path, text, env, message):
    with pytest.raises(InvalidArgument) as err:
        _load(tmp_path, text, **env)
    assert message in str(err.value)


def test_listener_refuses_tcp_without_server_tls(tmp_path):
    config = _load(tmp_path, "", BARQUE_IMAGES_ADDRESS="0.0.0.0:7000")
    with pytest.raises(InvalidArgument) as err:
        listener(config, "images")
    assert str(err.value).startswith("refusing to listen on tcp address '0.0.0.0:7000' without mutual TLS")
    # the client half of the config does not make a service's listener secure
    config = _load(tmp_path, '[tls]\nca = "/a/ca.pem"\nclient_cert = "/a/c.pem"\nclient_key = "/a/k.pem"\n',
                   BARQUE_IMAGES_ADDRESS="127.0.0.1:7000")
    with pytest.raises(InvalidArgument):
        listener(config, "images")


def test_listener_unix_socket_needs_no_tls(tmp_path):
    config = _load(tmp_path, "", BARQUE_RUN_DIR=str(tmp_path / "run"))
    listen = listener(config, "images")
    assert listen.address == f"unix://{tmp_path}/run/images.sock"
    assert listen.credentials is None and listen.run_dir == tmp_path / "run"


def test_listener_names_a_missing_cert_file(tmp_path):
    config = _load(tmp_path, "", BARQUE_IMAGES_ADDRESS="127.0.0.1:7000",
                   BARQUE_TLS_CERT=str(tmp_path / "nope.pem"), BARQUE_TLS_KEY=str(tmp_path / "nope.key"),
                   BARQUE_TLS_CA=str(tmp_path / "ca.pem"))
    with pytest.raises(InvalidArgument) as err:
        listener(config, "images")
    assert f"tls cert '{tmp_path}/nope.pem'" in str(err.value)


def test_client_refuses_tcp_without_client_tls():
    with pytest.raises(InvalidArgument) as err:
        open_channel("127.0.0.1:7000", TlsConfig(cert="/c", key="/k", ca="/ca"))
    assert "reaching it needs mutual TLS" in str(err.value)


def test_client_names_a_missing_pem(tmp_path):
    tls = TlsConfig(ca=str(tmp_path / "ca.pem"), client_cert="/c", client_key="/k")
    with pytest.raises(InvalidArgument) as err:
        open_channel("127.0.0.1:7000", tls)
    assert f"tls ca '{tmp_path}/ca.pem': No such file or directory" == str(err.value)


def test_client_unix_socket_is_plain(tmp_path):
    with open_channel(f"unix://{tmp_path}/x.sock", TlsConfig()) as channel:
        assert channel is not None
