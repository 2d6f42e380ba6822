"""The import graph of ``services/`` and ``cli/``, read with ``ast``: no
circle, lazy imports (inside functions) included; the CLI reaching the
services only through the client library (:mod:`client`) and the contracts,
never ``services.*``; and the client library importing no service.

An edge is an ``import`` or ``from ... import`` anywhere in a module, except
under ``if TYPE_CHECKING:`` (never executed). ``from pkg import name`` is an
edge to ``pkg.name`` when that is a module, else to ``pkg``. Importing a
submodule also runs its packages' ``__init__``; those implicit edges are left
out (a package importing its own submodules is not a circle worth reporting).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("client", "services", "cli")

def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(name, is_package, node)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]  # an attribute of a module, e.g. os.path
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One member path of each strongly connected component larger than a node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def edges_between(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    """``src -> dst`` for every edge from the top-level package ``source`` into ``target``."""
    return sorted(f"{src} -> {dst}" for src, dsts in graph.items() if src.split(".")[0] == source
                  for dst in dsts if dst.split(".")[0] == target)


def test_graph_sees_lazy_imports_and_skips_type_only_ones():
    graph = import_graph()
    assert "services.runtime.oci.cli" in graph["services.runtime.shim.ocirun"]  # inside a function
    assert "services.runtime.core" not in graph["services.runtime.engine.filters"]  # under TYPE_CHECKING


def test_cycle_finder():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert _cycles(import_graph()) == []


def test_edges_between_sees_cli_to_client():
    assert "cli.main -> client.config" in edges_between(import_graph(), "cli", "client")


def test_cli_imports_no_service_module():
    assert edges_between(import_graph(), "cli", "services") == []


def test_client_library_imports_no_service_and_no_cli():
    graph = import_graph()
    assert edges_between(graph, "client", "services") == []
    assert edges_between(graph, "client", "cli") == []
