"""The systemd units ship as containerd's do, and systemd accepts them."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).resolve().parents[2] / "deploy").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(path)
    return cp


def test_one_unit_per_service():
    assert [u.name for u in UNITS] == ["barque-imagesd.service", "barque-registryd.service",
                                       "barque-runtimed.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_shape(unit):
    svc = _unit(unit)["Service"]
    assert svc["Type"] == "notify" and svc["Restart"] == "always"
    if unit.name == "barque-runtimed.service":
        assert svc["Delegate"] == "yes" and svc["KillMode"] == "process"


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify(unit, tmp_path):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: make deps installs systemd"
    exe = Path(_unit(unit)["Service"]["ExecStart"].split()[0])
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run make install first")
    proc = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
