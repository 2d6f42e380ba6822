"""bench.push's pure parts: paired ratios and its argument checks."""

from __future__ import annotations

import pytest

from bench.push import main, paired_ratios, push_check


def test_paired_ratios_pair_iterations_in_order():
    assert paired_ratios([1.0, 3.0, 2.0], [2.0, 3.0, 4.0]) == [0.5, 1.0, 0.5]
    assert paired_ratios([1.0, 2.0], [0.0, 4.0]) == [0.5]  # a zero time pairs with nothing


def test_unknown_tool_and_zero_runs_are_refused(capsys):
    for argv in (["--tools", "barque,crane"], ["--runs", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "unknown tools ['crane']" in capsys.readouterr().err


def test_push_check_wants_every_layer_pushed_cold_and_present_warm():
    cold = "The push refers to repository [r/x]\naaa: Preparing\naaa: Pushed\nbbb: Preparing\nbbb: Pushed\n"
    assert push_check("barque", "cold", cold, 2) == ""
    mounted = cold.replace("bbb: Pushed", "bbb: Mounted from bench/source")
    assert push_check("docker", "cold", mounted, 2) == "docker cold push: 1 of 2 layers 'Pushed'"
    warm = "aaa: Layer already exists\nbbb: Layer already exists\n"
    assert push_check("barque", "warm", warm, 2) == ""
    assert push_check("barque", "warm", cold, 2) != ""
    assert push_check("skopeo", "cold", "", 2) == ""
