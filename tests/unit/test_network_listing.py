"""``network ls`` filters as Docker's, over user and predefined networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.runtime.network.listing import filter_networks, predefined
from services.runtime.network.state import Network

BRIDGE = Network("b" * 64, "bridge", "barque0", "172.18.0.0/16", "172.18.0.1", builtin=True)
APP = Network("a" * 64, "appnet", "bqbra", "172.19.0.0/16", "172.19.0.1", labels={"tier": "web", "x": ""})
IDLE = Network("c" * 64, "idle", "bqbrc", "172.20.0.0/16", "172.20.0.1")
HOST = predefined(Path("/state"), "host")
NETS = [(BRIDGE, 2), (APP, 1), (IDLE, 0), (HOST, 0)]


def _names(filters: list[str]) -> list[str]:
    return [n.name for n, _ in filter_networks(NETS, filters)]


def test_filters():
    assert _names(["type=custom"]) == ["appnet", "idle"]
    assert _names(["type=builtin"]) == ["bridge", "host"]
    assert _names(["name=app", "name=idl"]) == ["appnet", "idle"]
    assert _names(["label=tier=web"]) == ["appnet"] and _names(["label=x"]) == ["appnet"]
    assert _names(["dangling=true"]) == ["idle"]
    assert _names(["driver=host"]) == ["host"] and _names(["id=aaaa"]) == ["appnet"]
    assert _names(["type=custom", "label=tier"]) == ["appnet"]


@pytest.mark.parametrize("bad", ["nofilter", "colour=red", "type=other", "dangling=maybe"])
def test_bad_filters_are_refused(bad):
    with pytest.raises(InvalidArgument):
        filter_networks(NETS, [bad])


def test_predefined_ids_are_stable_per_engine():
    assert predefined(Path("/state"), "none").id == predefined(Path("/state"), "none").id
    assert predefined(Path("/state"), "none").id != predefined(Path("/other"), "none").id
    assert predefined(Path("/state"), "none").driver == "null"
