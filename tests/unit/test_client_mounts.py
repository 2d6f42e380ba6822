"""Docker's mount flags as the client reads them (client/mounts.py), compared
with docker-cli: ``opts/mount.go`` MountOpt.Set (v20.10.27 and v23.0.6 are
the same), ``cli/compose/loader/volume.go`` ParseVolume and the -v split of
``cli/command/container/opts.go`` parse (v24.0.9: its errors reported, a
``./`` host part made absolute), and --tmpfs's split at the first colon."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument
from client.mounts import parse_go_bool, parse_mount, parse_tmpfs, parse_volume, split_volumes

# ---- --mount ------------------------------------------------------------------------------


def test_a_bind_with_every_spelling_of_its_keys():
    assert parse_mount("type=bind,src=/a,dst=/b,ro") == {
        "type": "bind", "source": "/a", "target": "/b", "read_only": True}
    assert parse_mount("Type=BIND,Source=/a,Destination=/b,readonly=false,bind-propagation=RSHARED,"
                       "consistency=Cached") == {
        "type": "bind", "source": "/a", "target": "/b", "read_only": False, "bind_propagation": "rshared",
        "consistency": "cached"}
    assert parse_mount("type=bind,source=/a,target=/b")["target"] == "/b"


def test_the_type_defaults_to_volume_and_a_volume_needs_no_source():
    assert parse_mount("target=/data") == {"type": "volume", "target": "/data"}
    assert parse_mount("src=cache,dst=/c,volume-nocopy") == {
        "type": "volume", "source": "cache", "target": "/c", "volume_no_copy": True}
    assert parse_mount("src=cache,dst=/c,volume-nocopy=false")["volume_no_copy"] is False


def test_volume_labels_are_a_map_a_bare_key_empty():
    assert parse_mount("dst=/x,volume-label=a=b=c,volume-label=flag")["volume_labels"] == {"a": "b=c", "flag": ""}


def test_a_local_volume_driver_is_accepted_and_nothing_else():
    assert parse_mount("dst=/x,volume-driver=local") == {"type": "volume", "target": "/x"}
    with pytest.raises(InvalidArgument, match="volume driver 'nfs' is not supported"):
        parse_mount("dst=/x,volume-driver=nfs")


@pytest.mark.parametrize("value", ["dst=/x,volume-opt=type=tmpfs", "type=bind,src=/a,dst=/x,bind-nonrecursive",
                                   "type=bind,src=/a,dst=/x,bind-nonrecursive=true"])
def test_options_barques_mount_cannot_carry_are_refused(value):
    with pytest.raises(InvalidArgument, match="not supported by barque"):
        parse_mount(value)


def test_tmpfs_size_is_ram_in_bytes_and_mode_octal():
    assert parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777") == {
        "type": "tmpfs", "target": "/t", "tmpfs_size_bytes": 64 << 20, "tmpfs_mode": 0o1777}
    assert parse_mount("type=tmpfs,dst=/t,tmpfs-size=1024")["tmpfs_size_bytes"] == 1024


def test_quoted_csv_fields():
    assert parse_mount('type=bind,"src=/a,b",dst=/c')["source"] == "/a,b"


@pytest.mark.parametrize("value, message", [
    ("", "EOF"),
    ("type=foo", "target is required"),
    ("type=,dst=/x", "type is required"),
    ("src=/a", "target is required"),
    ("dst=/x,bogus", "invalid field 'bogus' must be a key=value pair"),
    ("dst=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("dst=/x,BOGUS=1", "unexpected key 'bogus' in 'BOGUS=1'"),
    ("dst=/x,ro=maybe", "invalid value for ro: maybe"),
    ("dst=/x,readonly=yes", "invalid value for readonly: yes"),
    ("dst=/x,volume-nocopy=2", "invalid value for volume-nocopy: 2"),
    ("type=tmpfs,dst=/x,tmpfs-size=big", "invalid value for tmpfs-size: big"),
    ("type=tmpfs,dst=/x,tmpfs-mode=0o777", "invalid value for tmpfs-mode: 0o777"),
    ("type=tmpfs,dst=/x,tmpfs-mode=8", "invalid value for tmpfs-mode: 8"),
    ("type=tmpfs,dst=/x,tmpfs-mode=", "invalid value for tmpfs-mode: "),
    ("dst=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
    ("type=bind,src=/a,dst=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
    ("type=tmpfs,dst=/x,volume-label=a", "cannot mix 'volume-*' options with mount type 'tmpfs'"),
    ("dst=/x,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'volume'"),
])
def test_refusals_are_docker_clis(value, message):
    with pytest.raises(InvalidArgument) as info:
        parse_mount(value)
    assert str(info.value) == message


def test_go_bools():
    assert [parse_go_bool(v) for v in ("1", "t", "T", "TRUE", "true", "True")] == [True] * 6
    assert [parse_go_bool(v) for v in ("0", "f", "F", "FALSE", "false", "False")] == [False] * 6
    for bad in ("yes", "tRUE", "", " 1"):
        with pytest.raises(ValueError):
            parse_go_bool(bad)


# ---- -v ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, source, target, kind", [
    ("/data", "", "/data", "volume"),
    ("ab", "", "ab", "volume"),
    ("cache:/c", "cache", "/c", "volume"),
    ("/host:/c:ro", "/host", "/c", "bind"),
    ("./rel:/c", "./rel", "/c", "bind"),
    ("~/x:/c", "~/x", "/c", "bind"),
    ("d:/c", "", "d:/c", "volume"),  # a one-letter name reads as a Windows drive, as in docker-cli
    ("C:/x:/c", "C:/x", "/c", "bind"),
])
def test_parse_volume_as_the_compose_loader(spec, source, target, kind):
    parsed = parse_volume(spec)
    assert (parsed["source"], parsed["target"], parsed["type"]) == (source, target, kind)


def test_parse_volume_options():
    parsed = parse_volume("cache:/c:ro,nocopy,rslave,unknown")
    assert (parsed["read_only"], parsed["no_copy"], parsed["propagation"]) == (True, True, "rslave")
    assert parse_volume("/a:/c:ro,rw")["read_only"] is False


@pytest.mark.parametrize("spec, message", [
    ("", "invalid empty volume spec"),
    ("cache::/c", "invalid spec: cache::/c: empty section between colons"),
    ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
    ("/a:", "invalid spec: /a:: empty section between colons"),
])
def test_parse_volume_refusals(spec, message):
    with pytest.raises(InvalidArgument) as info:
        parse_volume(spec)
    assert str(info.value) == message


def test_split_volumes_binds_anonymous_and_relative_paths():
    binds, volumes = split_volumes(["/data", "cache:/c", "./src:/src:ro", ".:/w", "/data", "/h:/h"], cwd="/home/u")
    assert binds == ["cache:/c", "/home/u/src:/src:ro", "/home/u:/w", "/h:/h"]
    assert volumes == ["/data"]


def test_tmpfs_path_and_options():
    assert parse_tmpfs(["/run", "/tmp:rw,size=64m,mode=1777", "/run:size=1k"]) == {
        "/run": "size=1k", "/tmp": "rw,size=64m,mode=1777"}
