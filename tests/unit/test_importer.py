"""The pure parts of ``import``: the config docker 20.10 writes for it
(services/images/importer.py), the archive sniffing and streaming
decompression over chunks however they are cut, and the CLI's ``--change``
on docker's zero container config (cli/importcmd.py)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile

import pytest
import zstandard

from cli.importcmd import ZERO_CONFIG as CLI_ZERO_CONFIG
from cli.importcmd import import_config_json
from client.errors import InvalidArgument
from client.imagespec import Platform
from services.images.compression import CorruptLayerData
from services.images.importer import ZERO_CONFIG, ImportSpec, detect_archive, import_config, open_archive

DIFF = "sha256:" + "ab" * 32
NOW = "2026-12-02T14:52:25.881435963Z"


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("a.txt", b"a" * 3000), ("d/b", b"b")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _cut(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_config_as_docker_writes_it() -> None:
    config = import_config(ImportSpec(platform=Platform("linux", "amd64")), DIFF, NOW)
    assert config == {
        "architecture": "amd64", "comment": "Imported from -", "config": ZERO_CONFIG, "created": NOW,
        "history": [{"created": NOW, "comment": "Imported from -"}], "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [DIFF]},
    }


def test_config_comment_source_message_platform() -> None:
    url = "http://127.0.0.1:8000/fs.tar"
    config = import_config(ImportSpec(source=url), DIFF, NOW)
    assert config["comment"] == f"Imported from {url}" and config["history"][0]["comment"] == config["comment"]
    assert config["architecture"]  # the host's
    config = import_config(ImportSpec(message="mine", source=url, platform=Platform("linux", "arm", "v7"),
                                      config_json=b'{"Cmd": ["sh"]}'), DIFF, NOW)
    assert (config["comment"], config["architecture"], config["variant"]) == ("mine", "arm", "v7")
    assert config["config"] == {"Cmd": ["sh"]}
    assert "created_by" not in config["history"][0]


@pytest.mark.parametrize("raw", [b"{nope", b"[1]"])
def test_config_refuses_bad_json(raw: bytes) -> None:
    with pytest.raises(InvalidArgument):
        import_config(ImportSpec(config_json=raw), DIFF, NOW)


def test_zero_configs_agree() -> None:
    assert CLI_ZERO_CONFIG == ZERO_CONFIG


@pytest.mark.parametrize("kind,pack", [
    ("plain", lambda d: d), ("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress),
    ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
])
@pytest.mark.parametrize("cut", [1, 5, 4096, 1 << 20])
def test_open_archive_streams_every_kind(kind: str, pack, cut: int) -> None:
    data = _tar()
    packed = pack(data)
    assert detect_archive(packed[:6]) == (kind if kind in ("bzip2", "xz") else "")
    stream = open_archive(iter(_cut(packed, cut)))
    out = b""
    while chunk := stream.read(777):
        out += chunk
    assert out == data


def test_open_archive_empty_and_corrupt() -> None:
    assert open_archive(iter([])).read() == b""
    for pack in (bz2.compress, lzma.compress, gzip.compress):
        broken = pack(_tar())[:-20]
        with pytest.raises(CorruptLayerData):
            stream = open_archive(iter([broken]))
            while stream.read(1 << 16):
                pass


def test_cli_changes_on_the_zero_config() -> None:
    assert json.loads(import_config_json([])) == CLI_ZERO_CONFIG
    config = json.loads(import_config_json(['CMD ["sh"]', "ENV A=b", "LABEL k=v", "EXPOSE 80", "VOLUME /v",
                                            "WORKDIR /w", "USER nobody", "ENTRYPOINT /bin/x", "STOPSIGNAL TERM"]))
    assert config["Cmd"] == ["sh"]  # set in the same change: ENTRYPOINT keeps it (moby BuildFromConfig)
    assert config["Env"] == ["A=b"] and config["Labels"] == {"k": "v"}
    assert config["ExposedPorts"] == {"80/tcp": {}} and config["Volumes"] == {"/v": {}}
    assert (config["WorkingDir"], config["User"], config["StopSignal"]) == ("/w", "nobody", "TERM")
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/x"]
    with pytest.raises(InvalidArgument, match="run is not a valid change command"):
        import_config_json(["RUN true"])
