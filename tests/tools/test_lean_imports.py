"""What barque-oci and the shared unit parsers import, seen from a fresh
interpreter (a subprocess: this test process has imported everything already).
The parsers themselves are tests/unit/test_units.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_units_and_barque_oci_stay_lean():
    """barque-oci imports the parsers; neither may pull in grpc, protobuf or fractions."""
    probe = ("import sys, client.units, services.runtime.oci.cli; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('grpc', 'google', 'fractions', 'decimal', 'barque', 'structlog')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
