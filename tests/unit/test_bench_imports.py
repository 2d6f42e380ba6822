"""bench/ measures barque from the outside: its modules import the client
library (``client``), the contracts (``barque.*``), ``tests.support`` and
the standard library or third-party packages, never a service's or the CLI's
internals. Read with ``ast``, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("services", "cli", "deploy")


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            out.append(node.module or "")
    return out


def test_bench_imports_no_service_or_cli_internals():
    bad = {f"{path.relative_to(ROOT)}: {name}"
           for path in sorted((ROOT / "bench").glob("*.py")) for name in _imports(path)
           if name.split(".")[0] in FORBIDDEN or (name.startswith("tests") and not name.startswith("tests.support"))}
    assert bad == set()
