"""Test images in a real registry, made by tools other than barque.

Two ways in:

* ``busybox_layout`` + ``skopeo_push``: an OCI layout built by umoci from
  Debian's busybox-static (through ``deploy/seed-image.sh --layout``) and
  pushed by skopeo, so barque meets manifests exactly as those tools write them.
* ``push_image`` / ``push_index`` / ``push_manifest_bytes``: hand-built layers
  and manifests uploaded through the distribution HTTP API, for content no
  tool would produce (hostile tars, odd media types, schema1).

Every push returns a ``PushedImage`` read back from the registry, so the
digests and media types the tests assert against are the registry's, not ours.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import zstandard

from client.imagespec import INDEX_TYPES, MediaType, sha256_digest
from tests.support.registry import Registry

__all__ = [
    "PushedImage",
    "RegistryClient",
    "SEED_SCRIPT",
    "busybox_layout",
    "layout_layers",
    "layout_config",
    "skopeo_push",
    "push_image",
    "push_index",
    "push_manifest_bytes",
    "describe",
    "manifest_digest",
    "compress_layer",
]

SEED_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "seed-image.sh"

Compression = Literal["gzip", "zstd", "none"]

_LAYER_TYPES: dict[tuple[str, str], str] = {
    (MediaType.OCI_MANIFEST, "gzip"): MediaType.OCI_LAYER_GZIP,
    (MediaType.OCI_MANIFEST, "zstd"): MediaType.OCI_LAYER_ZSTD,
    (MediaType.OCI_MANIFEST, "none"): MediaType.OCI_LAYER,
    (MediaType.DOCKER_MANIFEST, "gzip"): MediaType.DOCKER_LAYER_GZIP,
    (MediaType.DOCKER_MANIFEST, "zstd"): MediaType.DOCKER_LAYER_ZSTD,
    (MediaType.DOCKER_MANIFEST, "none"): "application/vnd.docker.image.rootfs.diff.tar",
}
_CONFIG_TYPES = {MediaType.OCI_MANIFEST: MediaType.OCI_CONFIG, MediaType.DOCKER_MANIFEST: MediaType.DOCKER_CONFIG}


_ACCEPT = ", ".join([
    MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_LIST,
    MediaType.DOCKER_SCHEMA1_SIGNED, MediaType.DOCKER_SCHEMA1,
])


class RegistryClient:
    """The few distribution-API calls the fixtures need, over urllib.

    Sends ``registry.auth_header()`` on every request (basic auth, as the test
    registry is configured). Errors raise ``RuntimeError`` naming the request
    and the registry's answer.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def request(self, method: str, path_or_url: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> tuple[int, dict, bytes]:
        url = path_or_url if "://" in path_or_url else self.registry.url + path_or_url
        req = urllib.request.Request(url, data=body, method=method,
                                     headers={**self.registry.auth_header(), **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, resp_headers, data = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            status, resp_headers, data = exc.code, dict(exc.headers), exc.read()
            exc.close()
        if status not in ok:
            raise RuntimeError(f"registry {method} {url}: http {status}: {data[:500]!r}")
        return status, resp_headers, data

    def has_blob(self, repo: str, digest: str) -> bool:
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        return status == 200

    def upload_blob(self, repo: str, blob: bytes) -> str:
        """Monolithic upload (POST then PUT ?digest=); skipped when present. Returns the digest."""
        digest = sha256_digest(blob)
        if self.has_blob(repo, digest):
            return digest
        _, headers, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,))
        self._finish_upload(headers, digest, blob)
        return digest

    def mount_blob(self, src_repo: str, dst_repo: str, digest: str) -> None:
        """Cross-repo mount; falls back to copying the bytes if the registry declines."""
        if self.has_blob(dst_repo, digest):
            return
        query = urllib.parse.urlencode({"mount": digest, "from": src_repo})
        status, headers, _ = self.request("POST", f"/v2/{dst_repo}/blobs/uploads/?{query}", ok=(201, 202))
        if status == 202:
            self._finish_upload(headers, digest, self.get_blob(src_repo, digest))

    def _finish_upload(self, headers: dict, digest: str, blob: bytes) -> None:
        location = urllib.parse.urljoin(self.registry.url + "/", headers["Location"])
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", body=blob,
                     headers={"Content-Type": "application/octet-stream"}, ok=(201,))

    def get_blob(self, repo: str, digest: str) -> bytes:
        _, _, data = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        if sha256_digest(data) != digest:
            raise RuntimeError(f"blob {repo}@{digest} came back with digest {sha256_digest(data)}")
        return data

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str]:
        """The manifest bytes and the Content-Type the registry serves them with."""
        _, headers, body = self.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": _ACCEPT})
        return body, headers.get("Content-Type", "")

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT a manifest; returns its digest after checking Docker-Content-Digest agrees."""
        _, headers, _ = self.request("PUT", f"/v2/{repo}/manifests/{reference}", body=body,
                                     headers={"Content-Type": media_type}, ok=(201,))
        digest = manifest_digest(body, media_type)
        served = headers.get("Docker-Content-Digest", digest)
        if served != digest:
            raise RuntimeError(f"registry stored {repo}:{reference} as {served}, body hashes to {digest}")
        return digest

    def copy_manifest(self, src_repo: str, dst_repo: str, body: bytes, media_type: str) -> str:
        """Copy an image manifest and its blobs into ``dst_repo`` (by digest, no tag)."""
        manifest = json.loads(body)
        for desc in [manifest["config"], *manifest.get("layers", [])]:
            self.mount_blob(src_repo, dst_repo, desc["digest"])
        return self.put_manifest(dst_repo, manifest_digest(body, media_type), body, media_type)


def manifest_digest(body: bytes, media_type: str) -> str:
    """The digest a registry files ``body`` under.

    That is the hash of the bytes, except for signed schema1, whose digest
    covers the JWS payload only: the body cut at ``formatLength`` plus the
    decoded ``formatTail`` of the first signature's protected header.
    """
    if media_type != MediaType.DOCKER_SCHEMA1_SIGNED:
        return sha256_digest(body)
    signatures = json.loads(body).get("signatures") or []
    if not signatures:
        return sha256_digest(body)
    protected = json.loads(_b64url(signatures[0]["protected"]))
    return sha256_digest(body[:protected["formatLength"]] + _b64url(protected["formatTail"]))


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PushedImage:
    """An image (or index) as the registry now serves it.

    For an index, ``config_digest`` is empty, ``layer_digests``/``diff_ids``
    are empty and ``platforms`` maps ``"os/arch[/variant]"`` to each child.
    """

    ref: str  # "127.0.0.1:PORT/test/busybox:oci-gzip"
    manifest_digest: str
    config_digest: str
    layer_digests: list[str]
    diff_ids: list[str]
    media_type: str  # of the manifest (or index)
    manifest_size: int = 0
    layer_media_types: list[str] = field(default_factory=list)
    platforms: dict[str, "PushedImage"] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.ref.split("/", 1)[0]

    @property
    def repo(self) -> str:
        path = self.ref.split("/", 1)[1]
        return path.split("@", 1)[0] if "@" in path else path.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        """The tag of ``ref``; empty when ``ref`` is pinned by digest (index children)."""
        path = self.ref.split("/", 1)[1]
        return "" if "@" in path else path.rsplit(":", 1)[1]

    @property
    def digest_ref(self) -> str:
        """``host/repo@sha256:...``, the pinned form of ``ref``."""
        return f"{self.host}/{self.repo}@{self.manifest_digest}"


def busybox_layout(workdir: Path) -> Path:
    """An OCI layout (tag ``latest``) built by umoci from busybox-static.

    Built once under ``workdir`` (pass a session-scoped dir) and reused while
    its index.json exists. Needs root: umoci unpack/repack keep file owners.
    """
    layout = workdir / "busybox-oci"
    if (layout / "index.json").is_file():
        return layout
    workdir.mkdir(parents=True, exist_ok=True)
    _run([str(SEED_SCRIPT), "--layout", str(layout), "latest"], what="build busybox layout")
    return layout


def _layout_manifest(layout: Path, tag: str) -> dict:
    index = json.loads((layout / "index.json").read_text())
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return json.loads(_layout_blob(layout, desc["digest"]))
    raise KeyError(f"tag {tag!r} not in oci layout {layout}")


def _layout_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def layout_config(layout: Path, tag: str = "latest") -> dict:
    """The image config of ``layout:tag``, parsed."""
    return json.loads(_layout_blob(layout, _layout_manifest(layout, tag)["config"]["digest"]))


def layout_layers(layout: Path, tag: str = "latest") -> list[bytes]:
    """The layers of ``layout:tag`` as uncompressed tar bytes (for ``push_image``)."""
    out = []
    for desc in _layout_manifest(layout, tag)["layers"]:
        blob = _layout_blob(layout, desc["digest"])
        media_type = desc["mediaType"]
        if media_type.endswith("gzip"):
            blob = gzip.decompress(blob)
        elif media_type.endswith("zstd"):
            blob = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
        out.append(blob)
    return out


def _run(cmd: list[str], *, what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout


def _skopeo_copy(args: list[str], src: str, dest: str, registry: Registry | None) -> None:
    cmd = ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"]
    if registry is not None and registry.username:
        cmd += ["--dest-creds", f"{registry.username}:{registry.password or ''}"]
    _run(cmd + args + [src, dest], what="skopeo copy")


def skopeo_push(src: str, registry: Registry, repo_tag: str, *, format: str = "oci",
                compress: Compression = "gzip") -> PushedImage:
    """Push ``src`` (any skopeo source, e.g. ``oci:/path:latest``) as ``repo_tag``.

    ``format`` is ``"oci"``, ``"v2s2"`` or ``"v2s1"`` (signed Docker schema1,
    only accepted by a registry started with ``schema1=True``). ``compress``:

    * ``gzip``: one ``skopeo copy`` straight to the registry (umoci layers are
      already gzip, so they go up unchanged).
    * ``zstd``: skopeo 1.9 may reuse a gzip blob the registry already has
      instead of recompressing, so skopeo first recompresses into a temp OCI
      layout, then copies that with ``--preserve-digests`` (no substitution).
    * ``none``: skopeo's docker transport always compresses and only its
      ``dir:`` transport honours ``--dest-decompress``, so skopeo writes the
      uncompressed image to a temp ``dir:`` and its blobs and manifest are
      uploaded verbatim over the registry API (OCI format only).
    """
    if format not in ("oci", "v2s2", "v2s1"):
        raise ValueError(f"unknown format {format!r}: want oci, v2s2 or v2s1")
    if compress != "gzip" and format != "oci":
        raise ValueError(f"compression {compress!r} needs format oci, not {format!r}")
    repo, tag = _split_repo_tag(repo_tag)
    dest = f"docker://{registry.host}/{repo}:{tag}"
    with tempfile.TemporaryDirectory(prefix="barque-skopeo-") as tmp:
        digestfile = Path(tmp) / "digest"
        if compress == "gzip":
            _skopeo_copy(["--format", format, "--digestfile", str(digestfile)], src, dest, registry)
        elif compress == "zstd":
            staged = f"oci:{tmp}/layout:{tag}"
            _skopeo_copy(["--format", "oci", "--dest-compress", "--dest-compress-format", "zstd"], src, staged, None)
            _skopeo_copy(["--preserve-digests", "--dest-compress-format", "zstd", "--digestfile", str(digestfile)],
                         staged, dest, registry)
        elif compress == "none":
            _skopeo_copy(["--format", "oci", "--dest-decompress"], src, f"dir:{tmp}/dir", None)
            _push_dir(registry, Path(tmp) / "dir", repo, tag, digestfile)
        else:
            raise ValueError(f"unknown compression {compress!r}: want gzip, zstd or none")
        digest = digestfile.read_text().strip()
    image = describe(registry, repo, tag)
    if image.manifest_digest != digest:
        raise RuntimeError(f"registry serves {repo}:{tag} as {image.manifest_digest}, skopeo pushed {digest}")
    return image


def _push_dir(registry: Registry, staged: Path, repo: str, tag: str, digestfile: Path) -> None:
    """Upload a skopeo ``dir:`` copy (manifest.json plus blobs named by hex) verbatim."""
    http = RegistryClient(registry)
    body = (staged / "manifest.json").read_bytes()
    manifest = json.loads(body)
    for desc in [manifest["config"], *manifest["layers"]]:
        http.upload_blob(repo, (staged / desc["digest"].split(":", 1)[1]).read_bytes())
    media_type = manifest.get("mediaType", MediaType.OCI_MANIFEST)
    digestfile.write_text(http.put_manifest(repo, tag, body, media_type))


def _split_repo_tag(repo_tag: str) -> tuple[str, str]:
    repo, sep, tag = repo_tag.rpartition(":")
    if not sep or not repo or not tag or "/" in tag:
        raise ValueError(f"invalid repo:tag {repo_tag!r}")
    return repo, tag


def compress_layer(tar: bytes, compress: Compression) -> bytes:
    """Compress deterministically (gzip mtime 0, zstd level 3 with content size)."""
    if compress == "gzip":
        return gzip.compress(tar, compresslevel=6, mtime=0)
    if compress == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(tar)
    if compress == "none":
        return tar
    raise ValueError(f"unknown compression {compress!r}: want gzip, zstd or none")


def push_image(registry: Registry, repo: str, tag: str, layers: list[bytes], *, config: dict | None = None,
               layer_media_type: str | None = None, manifest_media_type: str = MediaType.OCI_MANIFEST,
               compress: Compression = "gzip", architecture: str = "amd64", os_name: str = "linux") -> PushedImage:
    """Upload ``layers`` (uncompressed tars) and a manifest naming them.

    ``layer_media_type`` defaults to the type matching ``manifest_media_type``
    and ``compress``; an explicit value is used verbatim, even when it lies.
    ``config`` defaults to a minimal ``os_name``/``architecture`` config;
    ``rootfs.diff_ids`` is filled in from the layers unless ``config`` already
    has a ``rootfs`` (so a test can push wrong diff IDs on purpose).
    """
    if manifest_media_type not in _CONFIG_TYPES:
        raise ValueError(f"push_image builds oci or docker v2s2 manifests, not {manifest_media_type!r}")
    if layer_media_type is None:
        layer_media_type = _LAYER_TYPES[(manifest_media_type, compress)]
    http = RegistryClient(registry)
    diff_ids = [sha256_digest(tar) for tar in layers]
    cfg = dict(config) if config is not None else {
        "architecture": architecture,
        "os": os_name,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
    }
    cfg.setdefault("rootfs", {"type": "layers", "diff_ids": diff_ids})
    config_bytes = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    layer_descs = []
    for tar in layers:
        blob = compress_layer(tar, compress)
        layer_descs.append({"mediaType": layer_media_type, "digest": http.upload_blob(repo, blob), "size": len(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_media_type,
        "config": {"mediaType": _CONFIG_TYPES[manifest_media_type],
                   "digest": http.upload_blob(repo, config_bytes), "size": len(config_bytes)},
        "layers": layer_descs,
    }
    body = json.dumps(manifest, indent=2).encode()
    http.put_manifest(repo, tag, body, manifest_media_type)
    return describe(registry, repo, tag)


def push_index(registry: Registry, repo: str, tag: str, entries: list[tuple[PushedImage, dict]],
               media_type: str = MediaType.OCI_INDEX) -> str:
    """Push an index (OCI index or Docker manifest list) of ``entries``; return its digest.

    Each entry is an image already in ``registry`` and its platform dict
    (``{"os": "linux", "architecture": "arm64"}``). The registry only accepts
    an index whose children are in the same repository, so children pushed
    elsewhere are copied into ``repo`` first (blobs by cross-repo mount).
    """
    if media_type not in INDEX_TYPES:
        raise ValueError(f"not an index media type: {media_type!r}")
    http = RegistryClient(registry)
    manifests = []
    for image, platform in entries:
        if image.host != registry.host:
            raise ValueError(f"index child {image.ref} is not in registry {registry.host}")
        body, child_type = http.get_manifest(image.repo, image.manifest_digest)
        if image.repo != repo:
            http.copy_manifest(image.repo, repo, body, child_type)
        manifests.append({"mediaType": child_type, "digest": image.manifest_digest,
                          "size": len(body), "platform": platform})
    index = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    return http.put_manifest(repo, tag, json.dumps(index, indent=2).encode(), media_type)


def push_manifest_bytes(registry: Registry, repo: str, tag: str, body: bytes, media_type: str) -> str:
    """PUT ``body`` verbatim as ``repo:tag`` with ``media_type``; return the digest."""
    return RegistryClient(registry).put_manifest(repo, tag, body, media_type)


def describe(registry: Registry, repo: str, reference: str) -> PushedImage:
    """Read ``repo:reference`` (tag or digest) back from the registry.

    ``ref`` keeps ``reference`` when it is a tag; for an index every child is
    described too, keyed by platform in ``platforms``.
    """
    http = RegistryClient(registry)
    body, media_type = http.get_manifest(repo, reference)
    digest = manifest_digest(body, media_type)
    if reference.startswith("sha256:") and digest != reference:
        raise RuntimeError(f"manifest {repo}@{reference} came back with digest {digest}")
    manifest = json.loads(body)
    sep = "@" if reference.startswith("sha256:") else ":"
    ref = f"{registry.host}/{repo}{sep}{reference}"
    if media_type in INDEX_TYPES:
        platforms = {}
        for desc in manifest.get("manifests", []):
            plat = desc.get("platform", {})
            key = "/".join(p for p in (plat.get("os"), plat.get("architecture"), plat.get("variant")) if p)
            platforms[key] = describe(registry, repo, desc["digest"])
        return PushedImage(ref, digest, "", [], [], media_type, len(body), [], platforms)
    if manifest.get("schemaVersion") == 1:
        # Schema1 has no config blob and lists layers top-down, without diff IDs.
        blobs = [layer["blobSum"] for layer in reversed(manifest.get("fsLayers", []))]
        return PushedImage(ref, digest, "", blobs, [], media_type, len(body), [MediaType.DOCKER_LAYER_GZIP] * len(blobs))
    config = json.loads(http.get_blob(repo, manifest["config"]["digest"]))
    layers = manifest.get("layers", [])
    return PushedImage(
        ref=ref,
        manifest_digest=digest,
        config_digest=manifest["config"]["digest"],
        layer_digests=[d["digest"] for d in layers],
        diff_ids=list(config.get("rootfs", {}).get("diff_ids", [])),
        media_type=media_type,
        manifest_size=len(body),
        layer_media_types=[d["mediaType"] for d in layers],
    )
