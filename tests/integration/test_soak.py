"""Issue 17's soak, shorter: ``make soak``'s barque loop (bench/soak.py) with
three clients for about half a minute, and the same checks, minus the peers
and any figure of speed.

Each client, round after round: a batch of busybox containers through
create, start, exec, logs, stop and rm (every other one on the engine's
bridge, a veth pair each), and at a lower rate a pull of an image of its own
(busybox plus one small layer) and its rmi, a build (COPY of a file rewritten
each time, then RUN), and the prunes barque has. Afterwards:

* every call was answered, with status 0 and the output it must print (the
  exec's echo, the container's line in its logs);
* no container is listed, and none the clients made was left unremoved;
* nothing of the engine's is left on the host (tests/support/leaks.py, kept to
  what names this engine or one of its containers): mounts, cgroups, veths,
  netns, firewall rules, processes, exec dirs;
* the image-store's committed snapshots are exactly the chains of its images,
  with no active or half-made one;
* each service's mean RSS in the last quarter is within 10% of the second
  quarter's, and its descriptors at the end at most the second quarter's most
  plus a small slack.
"""

from __future__ import annotations

import pytest

from bench.soak import failures, soak_barque
from bench.soak_loop import LoopOptions
from tests.support.layers import marker_layer

pytestmark = pytest.mark.root

CLIENTS = 3
SECONDS = 32.0
LIFECYCLE = ("create", "start", "exec", "logs", "stop", "rm")


def test_soak_answers_every_call_leaks_nothing_and_keeps_services_flat(test_images, hand_built_image, tmp_path):
    image = test_images["oci-gzip"].ref
    pulls = [hand_built_image(f"soak-c{i}", extra_layers=[marker_layer(f"soak client {i}")]).ref
             for i in range(CLIENTS)]
    run = soak_barque(image, pulls, tmp_path, LoopOptions(clients=CLIENTS, seconds=SECONDS, batch=3))

    assert failures(run) == []
    kinds = run["ops"]["by_kind"]
    missing = [kind for kind in (*LIFECYCLE, "pull", "rmi", "build", *run["prunes"]) if kind not in kinds]
    assert missing == [], f"the soak never made these calls: {missing}"
    # each started container answered exec, logs and stop: the lifecycle ran whole, not only create/rm
    assert kinds["exec"]["count"] == kinds["logs"]["count"] == kinds["stop"]["count"] >= 3 * CLIENTS
    assert run["peak_held"] >= CLIENTS
    assert set(run["services"]) == {"registry-proxy", "image-store", "runtime"}
    assert all(facts["samples"] >= SECONDS * 0.8 for facts in run["services"].values())
