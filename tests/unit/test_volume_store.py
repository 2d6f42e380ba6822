"""Volumes on disk (services.runtime.volumes.store) and the local driver's
options (volumes.local)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.errors import InvalidArgument, NotFound
from services.runtime.volumes.local import parse_driver_opts
from services.runtime.volumes.store import VolumeStore, validate_name


def test_create_get_list_remove(tmp_path: Path):
    store = VolumeStore(tmp_path / "volumes")
    volume, created = store.create("data", labels={"a": "b"}, options={"type": "tmpfs"})
    assert created and volume.name == "data" and volume.driver == "local"
    assert volume.mountpoint == str(tmp_path / "volumes" / "data" / "_data")
    assert Path(volume.mountpoint).is_dir()
    assert volume.created_at.endswith("Z") and not volume.anonymous
    again, created = store.create("data", labels={"other": "x"})
    assert not created and again == volume                     # the existing one, as it is
    anon, _ = store.create("", anonymous=True)
    assert len(anon.name) == 64 and anon.anonymous
    assert [v.name for v in store.all()] == sorted(["data", anon.name])
    meta = json.loads((tmp_path / "volumes" / "data" / "volume.json").read_text())
    assert meta["labels"] == {"a": "b"} and meta["options"] == {"type": "tmpfs"}
    store.remove("data")
    assert not (tmp_path / "volumes" / "data").exists()
    with pytest.raises(NotFound, match="get data: no such volume"):
        store.get("data")
    with pytest.raises(NotFound, match="no such volume"):
        store.remove("data")


def test_half_made_volume_is_absent_and_replaced(tmp_path: Path):
    store = VolumeStore(tmp_path)
    (tmp_path / "crashed" / "_data").mkdir(parents=True)
    (tmp_path / "crashed" / "_data" / "junk").write_text("x")
    assert store.all() == [] and not store.exists("crashed")
    volume, created = store.create("crashed")
    assert created and list(Path(volume.mountpoint).iterdir()) == []


@pytest.mark.parametrize("name,message", [
    ("a", "too short"),
    ("-ab", "includes invalid characters"),
    ("a/b", "includes invalid characters"),
    ("..", "includes invalid characters"),
    ("a b", "includes invalid characters"),
])
def test_names_validated(tmp_path: Path, name, message):
    with pytest.raises(InvalidArgument, match=message):
        validate_name(name)
    with pytest.raises(InvalidArgument):
        VolumeStore(tmp_path).create(name)
    assert list(tmp_path.iterdir()) == []


def test_driver_opts():
    assert parse_driver_opts({}) is None
    tmpfs = parse_driver_opts({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000,noexec"})
    assert (tmpfs.fstype, tmpfs.data, tmpfs.flags) == ("tmpfs", "size=1m,uid=1000", 0x8)
    bind = parse_driver_opts({"type": "none", "o": "bind,ro", "device": "/srv/x/../y"})
    assert (bind.fstype, bind.source, bind.flags) == (None, "/srv/y", 0x1000 | 0x1)


@pytest.mark.parametrize("opts,message", [
    ({"foo": "x"}, 'invalid option: "foo"'),
    ({"size": "1g"}, "no quota support"),
    ({"o": "size=1m"}, 'missing required option: "type"'),
    ({"type": "nfs", "device": ":/x", "o": "addr=1.2.3.4"}, "type='nfs' is not supported"),
    ({"type": "tmpfs", "o": "bogus=1"}, "not a tmpfs option"),
    ({"type": "none", "device": "/x"}, "needs o=bind"),
    ({"type": "none", "o": "bind", "device": "rel"}, "absolute host path"),
])
def test_driver_opts_refused(opts, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_driver_opts(opts)
