"""The package layout follows the data flow: no module imports a later stage, no cycles.

Stages, in order (docs/architecture.md draws them)::

    foundation (errors, schema, config, version, html_page)
    → data → encoding → sampling → model → decoding → evaluation
    → runtime → inference → training → serve → cli

Every ``import``/``from`` statement counts, also the ones inside functions (kept there only to
make start-up fast); relative imports are refused, so none escapes the check. (A module named
by a string for ``importlib`` is not seen: serve/server.py checks that fastapi is installed
that way.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "spertmt"

LAYERS = [
    ("spertmt.errors", "spertmt.schema", "spertmt.version", "spertmt.config", "spertmt.html_page"),
    ("spertmt.data",),
    ("spertmt.encoding",),
    ("spertmt.sampling",),
    ("spertmt.model",),
    ("spertmt.decoding",),
    ("spertmt.evaluation",),
    ("spertmt.runtime",),
    ("spertmt.inference", "spertmt.api"),
    ("spertmt.training",),
    ("spertmt.serve",),
    ("spertmt.cli", "spertmt.__main__"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "spertmt"}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports (from spertmt.x import y)"
            if node.module and node.module.split(".")[0] == "spertmt":
                found.add(node.module)
    return found


MODULES = {_module_name(p): _imports(p) for p in sorted(SRC.rglob("*.py")) if p.name != "py.typed"}


def test_every_module_belongs_to_a_stage():
    unplaced = [m for m in MODULES if m != "spertmt" and _layer(m) is None]
    assert not unplaced, f"add these modules to a stage (LAYERS, docs/architecture.md): {unplaced}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "spertmt"))
def test_no_module_imports_a_later_stage_or_the_package_root(module):
    own = _layer(module)
    for imported in MODULES[module]:
        assert imported != "spertmt", f"{module} imports the package root"
        target = _layer(imported)
        assert target is not None, f"{module} imports {imported}, which is in no stage"
        assert target <= own, f"{module} (stage {own}) imports {imported} (later stage {target})"


def _resolve(name: str) -> str:
    # "from spertmt.data import x" may name a package; both forms are nodes of the graph.
    return name if name in MODULES else name.rsplit(".", 1)[0]


def test_no_import_cycles():
    graph = {
        m: {_resolve(i) for i in deps if _resolve(i) in MODULES} for m, deps in MODULES.items()
    }
    graph.pop("spertmt", None)  # the public facade re-exports; nothing imports it
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


def test_the_layout_has_the_stage_folders():
    for folder in (
        "data",
        "encoding",
        "model",
        "evaluation",
        "inference",
        "training",
        "runtime",
        "serve",
        "cli",
    ):
        assert (SRC / folder / "__init__.py").is_file(), folder
    for module in ("sampling.py", "decoding.py"):
        assert (SRC / module).is_file(), module
