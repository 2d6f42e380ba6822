"""Static checks as tests: types (mypy with the generated .pyi stubs) and
fresh generated code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "services", "cli", "deploy"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_code_is_fresh():
    proc = subprocess.run(["make", "-s", "check-protos", f"PY={sys.executable}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
