"""The fuzz tier: one private engine with all three services for the whole
tier, seeded with one object of each kind so fuzzed requests can name real
ones.

* ``fuzz``: a :class:`FuzzEngine`, the engine, its raw channels, the names of
  its seeded objects (``known``, by request field name) and the steering of
  host paths (:class:`tests.fuzz.harness.Steer`).

The registry-proxy runs in a network namespace of its own (``unshare --net``,
not even loopback up): whatever host a fuzzed reference names, nothing leaves
the machine. Its unix socket is reached from here as from any namespace.
The integration tier's leak check runs here too.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from barque.images.v1 import images_pb2, images_pb2_grpc
from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from deploy.services import wait_serving
from tests.integration.conftest import no_leaks  # noqa: F401  (a fixture, found by name)
from tests.fuzz.harness import CONTAINER, IMAGE, NETWORK, VOLUME, Steer
from tests.support.engine import Engine
from tests.support.runtime import RUNTIME_SERVICES



#: pid 1 of its namespace ignores signals it has no handler for: SIGTERM and
#: SIGINT end it at once, so Stop and Restart do not wait out their timeout
SLEEPER_C = b"""#include <signal.h>
#include <unistd.h>
static void bye(int sig) { (void)sig; _exit(0); }
int main(void) { signal(SIGTERM, bye); signal(SIGINT, bye); for (;;) pause(); }
"""


def sleeper(workdir: Path) -> bytes:
    """A static program that ignores its arguments and sleeps until a signal ends it."""
    src, out = workdir / "sleeper.c", workdir / "sleeper"
    src.write_bytes(SLEEPER_C)
    subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(out), str(src)], check=True, capture_output=True)
    return out.read_bytes()


def seed_layer(program: bytes) -> bytes:
    """The seed image's one layer: ``/sleeper`` and a text file, nothing else (no
    shell, no other binary), so whatever command a fuzzed request names, a
    container either sleeps or fails to start."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tar.addfile(d)
        for name, data, mode in (("fuzz.txt", b"seeded by the fuzz tier\n", 0o644), ("sleeper", program, 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class FuzzEngine:
    engine: Engine
    safe: Path
    layer: bytes = b""
    channels: dict[str, grpc.Channel] = field(default_factory=dict)
    known: dict[str, list[str]] = field(default_factory=dict)

    @property
    def steer(self) -> Steer:
        return Steer(self.safe)

    def channel(self, service: str) -> grpc.Channel:
        if service not in self.channels:
            self.channels[service] = grpc.insecure_channel(self.engine.address(service))
        return self.channels[service]

    def images(self) -> images_pb2_grpc.ImagesStub:
        return images_pb2_grpc.ImagesStub(self.channel("images"))

    def runtime(self) -> runtime_pb2_grpc.RuntimeStub:
        return runtime_pb2_grpc.RuntimeStub(self.channel("runtime"))

    def alive(self, service: str) -> bool:
        return self.engine.procs[service].poll() is None

    def reseed(self) -> None:
        """The seeded image, container (running ``/sleeper``), network and
        volume exist (a fuzzed Remove, Kill or Stop may have taken them);
        ``known`` names them."""
        images, runtime = self.images(), self.runtime()
        try:
            image = images.Inspect(images_pb2.InspectRequest(reference=IMAGE), timeout=30)
        except grpc.RpcError:
            header = images_pb2.ImportHeader(reference=IMAGE, message="fuzz seed")
            header.config_json = b'{"Cmd": ["/sleeper"]}'
            images.Import(iter([images_pb2.ImportRequest(header=header),
                                images_pb2.ImportRequest(data=self.layer)]), timeout=60)
            image = images.Inspect(images_pb2.InspectRequest(reference=IMAGE), timeout=30)
        cid = self._seed_container(runtime)
        try:
            runtime.InspectNetwork(runtime_pb2.InspectNetworkRequest(ref=NETWORK), timeout=30)
        except grpc.RpcError:
            runtime.CreateNetwork(runtime_pb2.CreateNetworkRequest(
                spec=runtime_pb2.NetworkSpec(name=NETWORK)), timeout=60)
        try:
            runtime.InspectVolume(runtime_pb2.InspectVolumeRequest(name=VOLUME), timeout=30)
        except grpc.RpcError:
            runtime.CreateVolume(runtime_pb2.CreateVolumeRequest(name=VOLUME), timeout=30)
        image_id = image.image.id
        containers = [cid, cid[:12], CONTAINER]
        self.known = {
            "id": containers, "container": containers, "container_id": containers, "ids": containers,
            "ref": [NETWORK, "bridge", cid],
            "network": [NETWORK, "bridge", "host", "none"],
            "network_mode": [NETWORK, "bridge", "host", "none", f"container:{CONTAINER}"],
            "name": [CONTAINER, VOLUME, NETWORK, "fuzz-new"],
            "image": [IMAGE, image_id] if image_id else [IMAGE],
            "reference": [IMAGE, "fuzz/seed", "127.0.0.1:1/fuzz/seed:1", "docker.io/library/busybox:latest"],
            "references": [IMAGE], "source": [IMAGE], "target": ["fuzz/tagged:1"],
            "repository": ["fuzz/seed", "library/busybox", "127.0.0.1:1/fuzz/seed"],
            "digest": [d for d in (image.image.target.digest, image.image.config.digest,
                                   *(layer.digest for layer in image.image.layers)) if d] or [IMAGE],
            "registry": ["docker.io", "127.0.0.1:1", "localhost"], "tag": ["latest", "1"],
            "media_type": ["application/vnd.oci.image.manifest.v1+json",
                           "application/vnd.docker.distribution.manifest.v2+json"],
            "key": [cid], "parent": [image.image.chain_id] if image.image.chain_id else [cid],
            "volumes_from": [CONTAINER], "links": [f"{CONTAINER}:alias"],
            "path": ["/", "/fuzz.txt", "/etc", "/etc/"], "working_dir": ["/etc"],
            "cmd": ["/sleeper"], "args": ["/sleeper"], "values": ["/sleeper"], "signal": ["SIGTERM", "KILL", "9", "SIGRTMIN+3"],
            "condition": ["not-running", "next-exit", "removed"],
            "type": ["bind", "volume", "tmpfs", "none"],
            "filters": ["name=fuzz", "label=a=b", "dangling=true", "until=1h", "reference=fuzz/*", "status=created",
                        "before=fuzz-seed", "type=custom", "driver=local"],
            "types": ["images", "containers", "volumes", "build-cache"],
        }

    def _seed_container(self, runtime: runtime_pb2_grpc.RuntimeStub) -> str:
        """The seed container's id, running. A container a fuzzed Rename named
        so, or one whose start now fails, is replaced by a fresh one."""
        try:
            seed = runtime.Inspect(runtime_pb2.InspectRequest(id=CONTAINER), timeout=30).container
            if seed.state.paused:
                runtime.Unpause(runtime_pb2.UnpauseRequest(id=seed.id), timeout=60)
            elif not seed.state.running:
                runtime.Start(runtime_pb2.StartRequest(id=seed.id), timeout=60)
            return seed.id
        except grpc.RpcError:
            pass
        try:
            runtime.Delete(runtime_pb2.DeleteRequest(id=CONTAINER, force=True), timeout=60)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
        create = runtime_pb2.CreateRequest(
            name=CONTAINER, config=runtime_pb2.ContainerConfig(image=IMAGE, cmd=["/sleeper"]))
        cid = runtime.Create(create, timeout=60).id
        runtime.Start(runtime_pb2.StartRequest(id=cid), timeout=60)
        return cid

    def cleanup(self, seeds: bool = False) -> None:
        """Every container, network and volume a fuzzed call made goes; the
        seeds stay unless ``seeds``."""
        runtime = self.runtime()
        keep = () if seeds else (CONTAINER, NETWORK, VOLUME)
        for c in runtime.List(runtime_pb2.ListRequest(all=True), timeout=60).containers:
            if c.name.lstrip("/") not in keep:
                try:
                    runtime.Delete(runtime_pb2.DeleteRequest(id=c.id, force=True, remove_volumes=True), timeout=60)
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.NOT_FOUND:
                        raise
        for n in runtime.ListNetworks(runtime_pb2.ListNetworksRequest(), timeout=60).networks:
            if n.name not in ("bridge", "host", "none", *keep):
                runtime.RemoveNetwork(runtime_pb2.RemoveNetworkRequest(ref=n.id), timeout=60)
        for v in runtime.ListVolumes(runtime_pb2.ListVolumesRequest(), timeout=60).volumes:
            if v.name not in keep:
                runtime.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name=v.name, force=True), timeout=60)

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()
        self.channels.clear()


def _start_registry_offline(engine: Engine) -> None:
    """The registry-proxy in a network namespace of its own (no interface up)."""
    log = engine.log("registry")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, "-m", "services.registry"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env={**os.environ, **engine.env}, start_new_session=True,
        )
    engine.procs["registry"] = proc
    wait_serving(engine.address("registry"), proc, timeout=30, log_path=log)


@pytest.fixture(scope="session")
def fuzz() -> Iterator[FuzzEngine]:
    engine = Engine.create(services=())
    engine.services = RUNTIME_SERVICES
    safe = Path(tempfile.mkdtemp(prefix="barque-fuzz-host-"))
    fz = FuzzEngine(engine, safe, layer=seed_layer(sleeper(engine.root)))
    try:
        _start_registry_offline(engine)
        engine.start("images")
        engine.start("runtime")
        fz.reseed()
        yield fz
        fz.cleanup(seeds=True)
        gone = fz.runtime().List(runtime_pb2.ListRequest(all=True), timeout=60).containers
        assert not gone, f"containers left: {[c.id for c in gone]}"
    finally:
        fz.close()
        procs = list(engine.procs.values())
        try:
            engine.close()
        finally:
            shutil.rmtree(safe, ignore_errors=True)
        assert all(p.poll() is not None for p in procs), "a service outlived the fuzz engine"
