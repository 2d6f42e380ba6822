"""bench-net's clean-up of the networks it made runs each engine's
``network rm`` as a subprocess (here a stand-in interpreter) and records
what it did; in tools/ because it starts processes."""

from __future__ import annotations

import sys

from bench.net import Peer, remove_networks


def test_remove_networks_records_what_network_rm_did(monkeypatch):
    ok = Peer("barque", "", lambda *a: [sys.executable, "-c", "pass"], {})
    ok.networks = {"benchnet-1": "bqbrnosuchbr00"}
    remove_networks(ok)
    assert ok.networks == {}
    assert ok.removed == {"benchnet-1": {"bridge": "bqbrnosuchbr00", "removed": True, "bridge_left": False}}
    bad = Peer("docker", "", lambda *a: [sys.executable, "-c", "import sys; sys.exit('has active endpoints')"], {})
    bad.networks = {"benchnet-2": ""}
    remove_networks(bad)
    assert bad.removed["benchnet-2"]["removed"] is False and "active endpoints" in bad.removed["benchnet-2"]["error"]
    assert bad.networks == {"benchnet-2": ""}  # tried again at the engine's close
