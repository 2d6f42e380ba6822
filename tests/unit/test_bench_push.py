"""bench.push's pure parts: paired ratios and its argument checks."""

from __future__ import annotations

import pytest

from bench.push import main, paired_ratios


def test_paired_ratios_pair_iterations_in_order():
    assert paired_ratios([1.0, 3.0, 2.0], [2.0, 3.0, 4.0]) == [0.5, 1.0, 0.5]
    assert paired_ratios([1.0, 2.0], [0.0, 4.0]) == [0.5]  # a zero time pairs with nothing


def test_unknown_tool_and_zero_runs_are_refused(capsys):
    for argv in (["--tools", "barque,crane"], ["--runs", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "unknown tools ['crane']" in capsys.readouterr().err
