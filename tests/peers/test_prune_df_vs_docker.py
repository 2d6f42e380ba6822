"""``system df`` and the prunes of barque beside docker 20.10's, on the same
images from the session registry and the same containers (a running one on
busybox, a stopped one on the hand-built layers image).

Compared modulo ids, sizes and times: the prompts and the empty totals byte
for byte; df's summary (TYPE, TOTAL and ACTIVE per row) and ``-v``'s
section titles and column headers; ``container prune``'s lines with the
ids and the size masked; and ``image prune -a``'s ``untagged:`` and
``deleted:`` lines exactly (image ids are config digests and the layers'
are chain ids, so both engines name the same things); and the ``prune``
events each prune logs. Last, ``image prune`` of a dangling commit and
``system prune -a --volumes`` of a stopped container, its named volume and
the images: the same sections and the same image lines.
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = [pytest.mark.root, pytest.mark.integration]

SIZE = re.compile(r"\d+(\.\d+)?(B|kB|MB|GB)")
HEX = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")


def _mask(text: str) -> str:
    return SIZE.sub("<size>", HEX.sub("<id>", text))


def _docker(docker, *args: str, input: str | None = None):
    import subprocess

    return subprocess.run(docker.command(*args), input=input, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, **docker.env})


def _summary(lines: list[str]) -> list[list[str]]:
    """Each row's TYPE, TOTAL and ACTIVE (TYPE may be two words)."""
    out = []
    for line in lines:
        cells = re.split(r"\s{2,}", line.strip())
        out.append(cells[:3])
    return out


def test_df_and_prunes_match_docker(barque, private_docker, test_images) -> None:
    docker = private_docker
    docker.reset()  # the other peer modules' images, containers and volumes would count
    busybox, layers = test_images["oci-gzip"].ref, test_images["layers"].ref
    for ref in (busybox, layers):
        barque.ok("pull", ref)
        docker.pull(ref)
    barque_running = barque.ok("run", "-d", "--network", "none", busybox, "sleep", "300").stdout.strip()
    docker_running = docker.cli("run", "-d", "--network", "none", busybox, "sleep", "300").strip()
    barque.ok("create", "--network", "none", layers, "/nothing")
    docker.cli("create", "--network", "none", layers, "/nothing")
    try:
        ours, theirs = barque.ok("system", "df").lines, docker.cli("system", "df").splitlines()
        assert _summary(ours) == _summary(theirs), (ours, theirs)
        ours, theirs = barque.ok("system", "df", "-v").stdout, docker.cli("system", "df", "-v")
        titles = [line for line in theirs.splitlines() if line.endswith(":") or line.startswith("Build cache")]
        assert [line for line in ours.splitlines() if line.endswith(":") or line.startswith("Build cache")] \
            == titles, ours
        headers = [re.split(r"\s{2,}", line.strip()) for line in theirs.splitlines()
                   if line.startswith(("REPOSITORY", "CONTAINER ID", "VOLUME NAME", "CACHE ID"))]
        assert [re.split(r"\s{2,}", line.strip()) for line in ours.splitlines()
                if line.startswith(("REPOSITORY", "CONTAINER ID", "VOLUME NAME", "CACHE ID"))] == headers

        for args in (("image", "prune", "-a"), ("image", "prune"), ("container", "prune"), ("system", "prune"),
                     ("system", "prune", "-a", "--volumes", "--filter", "label=x")):
            ours_r, theirs_r = barque.cli(*args, input="n\n"), _docker(docker, *args, input="n\n")
            assert (ours_r.stdout, ours_r.returncode) == (theirs_r.stdout, theirs_r.returncode), args

        for args in (("image", "prune", "-f", "--filter", "bogus=1"),
                     ("container", "prune", "-f", "--filter", "until=yesterday"),
                     ("system", "prune", "-f", "--volumes", "--filter", "until=1h"),
                     ("builder", "prune", "-f", "--filter", "until=1h")):
            ours_r, theirs_r = barque.cli(*args), _docker(docker, *args)
            assert (ours_r.returncode, ours_r.stdout, ours_r.stderr) == \
                (theirs_r.returncode, theirs_r.stdout, theirs_r.stderr), args

        since = str(int(time.time()))
        # both images are in use: nothing goes
        assert barque.ok("image", "prune", "-a", "-f").stdout == docker.cli("image", "prune", "-a", "-f")
        ours, theirs = barque.ok("container", "prune", "-f").stdout, docker.cli("container", "prune", "-f")
        assert _mask(ours) == _mask(theirs), (ours, theirs)
        ours, theirs = barque.ok("image", "prune", "-a", "-f").stdout, docker.cli("image", "prune", "-a", "-f")
        assert ours.splitlines()[0] == theirs.splitlines()[0] == "Deleted Images:"
        assert sorted(ours.splitlines()[1:-2]) == sorted(theirs.splitlines()[1:-2]), (ours, theirs)
        assert _mask(ours.splitlines()[-1]) == _mask(theirs.splitlines()[-1])
        until = str(int(time.time()) + 1)
        time.sleep(1.1)
        events = ("events", "--since", since, "--until", until, "--filter", "event=prune", "--format",
                  "{{.Type}} {{.Action}}")
        ours, theirs = barque.ok(*events).lines, docker.cli(*events).splitlines()
        assert ours == theirs == ["builder prune", "image prune", "container prune", "image prune"], (ours, theirs)
    finally:
        barque.ok("rm", "-f", barque_running)
        docker.cli("rm", "-f", docker_running)
    # a dangling commit (masked: its id holds its time) and an unused named volume, then everything
    for engine in (barque.ok, docker.cli):
        out = engine("create", "--network", "none", "-v", "prunevol:/data", busybox, "true")
        cid = out.stdout.strip() if hasattr(out, "stdout") else out.strip()
        engine("commit", cid)
    ours, theirs = barque.ok("image", "prune", "-f").stdout, docker.cli("image", "prune", "-f")
    assert _mask(ours) == _mask(theirs), (ours, theirs)
    system = ("system", "prune", "-a", "-f", "--volumes")
    ours, theirs = barque.ok(*system).stdout, docker.cli(*system)
    assert [line for line in ours.splitlines() if line.endswith(":")] == \
        [line for line in theirs.splitlines() if line.endswith(":")] == \
        ["Deleted Containers:", "Deleted Volumes:", "Deleted Images:"], (ours, theirs)
    assert "Deleted Volumes:\nprunevol\n" in ours and "Deleted Volumes:\nprunevol\n" in theirs
    assert sorted(line for line in ours.splitlines() if line.startswith(("untagged", "deleted"))) == \
        sorted(line for line in theirs.splitlines() if line.startswith(("untagged", "deleted")))
