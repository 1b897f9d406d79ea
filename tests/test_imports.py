"""The import graph of the package has no circle, and data flows one way:
symmetry -> data -> nn -> transforms -> training -> pretrained/experiments/cli (no lower layer
imports a higher one, at module level or inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "cft_pyg"
LAYERS = ["home", "symmetry", "data", "nn", "transforms", "training", "viz", "pretrained",
          "experiments", "cli", "testing"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name and not name.startswith(t + ".") and t != "cft_pyg":
                    graph.add_edge(name, t)
    return graph


def test_no_import_circle() -> None:
    cycles = list(nx.simple_cycles(_graph()))
    assert cycles == [], cycles[:5]


def test_no_lower_layer_imports_a_higher_one() -> None:
    def layer(module: str) -> int:
        top = module.split(".")[1] if "." in module else ""
        return LAYERS.index(top) if top in LAYERS else -1

    bad = [(a, b) for a, b in _graph().edges if layer(a) >= 0 and layer(b) > layer(a)
           and not (a.startswith("cft_pyg.viz") and layer(b) <= LAYERS.index("training"))]
    assert bad == [], bad


def test_studies_never_import_each_other() -> None:
    studies = {f"cft_pyg.experiments.{s}" for s in
               ("demo", "compare", "ablation", "curves", "transfer", "published")}
    edges = [(a, b) for a, b in _graph().edges if a in studies and b in studies]
    assert edges == [], edges
