"""Docker 20.10 (Debian's docker.io, a private dockerd) beside barque: the facts
the build comparisons stand on.

1. The same images pulled by both engines from the session registry give equal
   :func:`config_facts` and :func:`file_tree` (tests/support/imagefacts.py):
   the fact extraction is proven before anything is built.
2. docker's legacy builder (``DOCKER_BUILDKIT=0``) builds ``RUN``, ``COPY``,
   ``ENV`` on the private daemon, and :data:`EVERY_INSTRUCTION_HISTORY` is what
   docker 20.10.24 writes as each history entry's ``created_by`` and
   ``empty_layer`` for :data:`EVERY_INSTRUCTION` -- barque's build is held to the
   same table. What it shows:

   * metadata steps: ``<shell> #(nop)  <INSTR> <args>`` with **two** spaces after
     ``#(nop)``, empty layers; the shell is the one in force (``SHELL`` changes it
     for itself and every later step); CMD/ENTRYPOINT exec form as Go's ``%q``
     list (``["echo" "hi"]``), shell form already wrapped in the shell;
     ``EXPOSE`` ports sorted; ``VOLUME [/data]`` and ``SHELL [/bin/bash -c]`` as
     Go's ``%v`` of a list; ``HEALTHCHECK`` as Go's ``%v`` of the struct
     (``&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\\x00'}``);
     ``ARG W`` without a value written as is;
   * ``WORKDIR``: ``#(nop) WORKDIR /work`` with **one** space, and a layer (it
     makes the directory);
   * ``COPY``/``ADD``: ``#(nop) COPY file:<sha256> in /x/ `` (a trailing space),
     ``dir:`` for a directory source, ``multi:`` for several; ``ADD`` the same
     with ``ADD``; each a layer;
   * ``RUN``: ``<shell> <command>``, prefixed ``|<n> K=V...`` by the ARGs in
     scope that have a value (``ARG W`` without one is not counted); a layer
     unless the step changed no file: then ``empty_layer`` (the first RUN after
     ``VOLUME /data`` creates ``/data``, the later ones change nothing).

RUN containers: with ``--bridge=none`` no ``bridge`` network exists and a RUN
without ``--network`` has only ``lo`` (its resolv.conf is the host's, with no
route to use it); ``PrivateDockerd.build`` passes ``--network none`` anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.dockerd import PrivateDockerd
from tests.support.engine import Engine
from tests.support.host import mounts_under
from tests.support.imagefacts import config_facts, diff_facts, file_tree, history_facts
from tests.support.images import PushedImage

pytestmark = [pytest.mark.root, pytest.mark.integration]

EVERY_INSTRUCTION = """\
FROM {base}
ENV A=b
LABEL k=v
CMD ["echo", "hi"]
CMD echo shell
ENTRYPOINT ["/bin/sh", "-c"]
EXPOSE 80/tcp 53/udp
VOLUME /data
USER root
WORKDIR /work
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=5s CMD true
SHELL ["/bin/bash", "-c"]
ONBUILD RUN echo onbuild
ARG V=1
RUN echo with arg $V
ARG W
RUN echo two args
COPY a.txt /x/
COPY dir /d/
COPY a.txt b.txt /m/
ADD a.txt /add/
RUN echo last
"""

#: the Debian base's own two entries, then one per instruction of EVERY_INSTRUCTION
EVERY_INSTRUCTION_HISTORY = [
    ("/bin/sh -c #(nop) ADD file:debian-bookworm-gcc-v1 in / ", False),
    ('/bin/sh -c #(nop)  CMD ["bash"]', True),
    ("/bin/sh -c #(nop)  ENV A=b", True),
    ("/bin/sh -c #(nop)  LABEL k=v", True),
    ('/bin/sh -c #(nop)  CMD ["echo" "hi"]', True),
    ('/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo shell"]', True),
    ('/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c"]', True),
    ("/bin/sh -c #(nop)  EXPOSE 53/udp 80/tcp", True),
    ("/bin/sh -c #(nop)  VOLUME [/data]", True),
    ("/bin/sh -c #(nop)  USER root", True),
    ("/bin/sh -c #(nop) WORKDIR /work", False),
    ("/bin/sh -c #(nop)  STOPSIGNAL SIGKILL", True),
    ("/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"0s\" \"0s\" '\\x00'}", True),
    ("/bin/bash -c #(nop)  SHELL [/bin/bash -c]", True),
    ("/bin/bash -c #(nop)  ONBUILD RUN echo onbuild", True),
    ("/bin/bash -c #(nop)  ARG V=1", True),
    ("|1 V=1 /bin/bash -c echo with arg $V", False),
    ("/bin/bash -c #(nop)  ARG W", True),
    ("|1 V=1 /bin/bash -c echo two args", True),
    ("/bin/bash -c #(nop) COPY file:<hash> in /x/ ", False),
    ("/bin/bash -c #(nop) COPY dir:<hash> in /d/ ", False),
    ("/bin/bash -c #(nop) COPY multi:<hash> in /m/ ", False),
    ("/bin/bash -c #(nop) ADD file:<hash> in /add/ ", False),
    ("|1 V=1 /bin/bash -c echo last", True),
]

#: what the image config of EVERY_INSTRUCTION ends as (config_facts)
EVERY_INSTRUCTION_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=b"],
    "Cmd": ["/bin/sh", "-c", "echo shell"],
    "Entrypoint": ["/bin/sh", "-c"],
    "User": "root",
    "WorkingDir": "/work",
    "Labels": {"k": "v"},
    "ExposedPorts": {"53/udp": {}, "80/tcp": {}},
    "Volumes": {"/data": {}},
    "StopSignal": "SIGKILL",
    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000},
    "Shell": ["/bin/bash", "-c"],
    "OnBuild": ["RUN echo onbuild"],
    "Architecture": "amd64",
    "Os": "linux",
}


def _barque_cli(engine: Engine):
    return lambda argv: engine.ok(*argv).stdout


def _docker_cli(docker: PrivateDockerd):
    return lambda argv: docker.cli(*argv)


def _assert_same(name: str, barque_facts, docker_facts) -> None:
    diffs = diff_facts(barque_facts, docker_facts, names=("barque", "docker"))
    assert not diffs, f"{name}: barque and docker differ:\n" + "\n".join(diffs[:50])


@pytest.mark.parametrize("base", ["busybox", "debian-gcc"])
def test_pulled_images_have_the_same_config_and_files(base: str, base_images: dict[str, PushedImage],
                                                        barque: Engine, private_docker: PrivateDockerd) -> None:
    ref = base_images[base].ref
    barque.ok("pull", ref)
    private_docker.cli("pull", ref)

    barque_config = config_facts(json.loads(barque.ok("image", "inspect", ref).stdout))
    docker_config = config_facts(json.loads(private_docker.cli("image", "inspect", ref)))
    _assert_same(f"config of {base}", barque_config, docker_config)
    assert docker_config["Env"] and docker_config["Os"] == "linux"

    barque_tree = file_tree(_barque_cli(barque), ref)
    docker_tree = file_tree(_docker_cli(private_docker), ref)
    _assert_same(f"files of {base}", barque_tree, docker_tree)
    assert "bin/sh" in docker_tree or "usr/bin/sh" in docker_tree
    if base == "debian-gcc":
        assert docker_tree["usr/bin/gcc"][0] == "l", "gcc is Debian's alternatives link"
        assert docker_tree["etc/debian_version"][0] == "f"
    assert not barque.ok("ps", "-aq").lines and not private_docker.cli("ps", "-aq").split()


def test_docker_builds_every_instruction_with_these_history_entries(tmp_path: Path, base_images,
                                                                    private_docker: PrivateDockerd) -> None:
    context = tmp_path / "context"
    (context / "dir").mkdir(parents=True)
    (context / "a.txt").write_text("a\n")
    (context / "b.txt").write_text("b\n")
    (context / "dir" / "c.txt").write_text("c\n")
    (context / "Dockerfile").write_text(EVERY_INSTRUCTION.format(base=base_images["debian-gcc"].ref))

    built = private_docker.build(context, "bqtest/every:latest")
    assert built.returncode == 0, built.stderr + built.stdout
    config = private_docker.image_config("bqtest/every:latest")
    assert history_facts(config) == EVERY_INSTRUCTION_HISTORY
    inspect = json.loads(private_docker.cli("image", "inspect", "bqtest/every:latest"))
    assert config_facts(inspect) == EVERY_INSTRUCTION_CONFIG


def test_docker_builds_run_copy_env_on_busybox_without_a_network(tmp_path: Path, base_images,
                                                                 private_docker: PrivateDockerd) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text(
        f"FROM {base_images['busybox'].ref}\n"
        "ENV GREETING=hi\n"
        "COPY hello.txt /greeting/\n"
        "RUN echo \"$GREETING\" > /greeting/env && cat /proc/net/dev > /greeting/netdev\n"
        "RUN true\n")

    built = private_docker.build(context, "bqtest/run-copy-env:1", build_args={}, no_cache=True)
    assert built.returncode == 0, built.stderr + built.stdout

    config = private_docker.image_config("bqtest/run-copy-env:1")
    ours = history_facts(config)[-4:]
    assert ours == [
        ("/bin/sh -c #(nop)  ENV GREETING=hi", True),
        ("/bin/sh -c #(nop) COPY file:<hash> in /greeting/ ", False),
        ("/bin/sh -c echo \"$GREETING\" > /greeting/env && cat /proc/net/dev > /greeting/netdev", False),
        ("/bin/sh -c true", True),
    ]
    tree = file_tree(_docker_cli(private_docker), "bqtest/run-copy-env:1")
    assert tree["greeting/hello.txt"][:5] == ("f", 0o644, 0, 0, 6)
    assert tree["greeting/env"][4] == 3  # "hi\n"
    netdev = private_docker.cli("run", "--rm", "--network", "none", "bqtest/run-copy-env:1", "cat",
                                "/greeting/netdev")
    devices = {line.split(":")[0].strip() for line in netdev.splitlines()[2:]}
    assert devices == {"lo"}


def test_a_failing_docker_build_says_why(tmp_path: Path, base_images, private_docker: PrivateDockerd) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {base_images['busybox'].ref}\nRUN exit 3\n")
    built = private_docker.build(tmp_path, "bqtest/fails:1")
    assert built.returncode != 0
    assert "returned a non-zero code: 3" in built.stderr


def test_private_docker_keeps_everything_under_its_root(private_docker: PrivateDockerd) -> None:
    assert private_docker.socket.startswith(f"{private_docker.root}/")
    assert (private_docker.root / "key.json").is_file()  # not /etc/docker/key.json
    assert private_docker.cli("info", "--format", "{{.DockerRootDir}}").strip() == str(private_docker.data_root)
    assert not mounts_under(Path("/var/lib/docker"))
