"""A container's resolv.conf and hosts, by Docker's rules (libnetwork's
resolvconf and its hosts file)."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument
from services.runtime.network import etc_files
from services.runtime.network.etc_files import EtcSettings, hosts_file, resolv_conf, write_etc_files


def _source(tmp_path, text: str) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    return str(path)


def test_loopback_servers_are_dropped(tmp_path):
    src = _source(tmp_path, "# comment\nnameserver 127.0.0.1\nnameserver 10.0.0.2\nsearch example.org\n")
    assert resolv_conf(EtcSettings("h", resolv_source=src)) == "# comment\nnameserver 10.0.0.2\nsearch example.org\n"


def test_systemd_resolveds_stub_is_replaced_by_its_upstream(tmp_path, monkeypatch):
    upstream = tmp_path / "upstream.conf"
    upstream.write_text("nameserver 10.1.1.1\nsearch corp\n")
    monkeypatch.setattr(etc_files, "SYSTEMD_RESOLVED", str(upstream))
    src = _source(tmp_path, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    assert resolv_conf(EtcSettings("h", resolv_source=src)) == "nameserver 10.1.1.1\nsearch corp\n"


def test_no_server_left_gives_dockers_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(etc_files, "SYSTEMD_RESOLVED", str(tmp_path / "absent"))
    src = _source(tmp_path, "nameserver 127.0.0.1\n")
    assert resolv_conf(EtcSettings("h", resolv_source=src)) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_flags_replace_their_parts(tmp_path):
    src = _source(tmp_path, "nameserver 10.0.0.2\nsearch a\noptions ndots:2\n")
    out = resolv_conf(EtcSettings("h", dns=("10.9.9.9",), dns_search=("x.org", "y.org"),
                                  dns_options=("ndots:5", "timeout:1"), resolv_source=src))
    assert out == "search x.org y.org\nnameserver 10.9.9.9\noptions ndots:5 timeout:1\n"
    # one flag given: the others' parts come from the host's file
    out = resolv_conf(EtcSettings("h", dns_search=("z.org",), resolv_source=src))
    assert out == "search z.org\nnameserver 10.0.0.2\noptions ndots:2\n"


def test_the_host_network_keeps_the_hosts_file_as_it_is(tmp_path):
    src = _source(tmp_path, "nameserver 127.0.0.53\nsearch lan\n")
    assert resolv_conf(EtcSettings("h", host_network=True, resolv_source=src)) == "nameserver 127.0.0.53\nsearch lan\n"


def test_hosts_has_extra_hosts_then_the_containers_own_name():
    text = hosts_file(EtcSettings("web", address="172.18.0.2", gateway="172.18.0.1",
                                  extra_hosts=("db:10.0.0.5", "host.docker.internal:host-gateway")))
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[-3:] == ["10.0.0.5\tdb", "172.18.0.1\thost.docker.internal", "172.18.0.2\tweb"]


def test_bad_extra_hosts_are_refused():
    with pytest.raises(InvalidArgument, match="expected HOST:IP"):
        hosts_file(EtcSettings("h", extra_hosts=("nocolon",)))
    with pytest.raises(InvalidArgument, match="host-gateway"):
        hosts_file(EtcSettings("h", extra_hosts=("gw:host-gateway",)))


def test_files_are_written_in_place(tmp_path):
    out = write_etc_files(tmp_path / "etc", EtcSettings("first"))
    inode = (tmp_path / "etc" / "hosts").stat().st_ino
    write_etc_files(tmp_path / "etc", EtcSettings("second", address="172.18.0.9"))
    assert (tmp_path / "etc" / "hosts").stat().st_ino == inode  # a running container's bind mount sees it
    assert out["/etc/hostname"] == str(tmp_path / "etc" / "hostname")
    assert (tmp_path / "etc" / "hosts").read_text().endswith("172.18.0.9\tsecond\n")
