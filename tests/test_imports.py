"""The import graph of the package has no circle, and data flows one way:
symmetry -> data -> nn -> transforms -> training -> experimental -> pretrained/demo/cli (no
lower layer imports a higher one, at module level or inside functions).  The package is the
library only: it never imports the studies (``studies/``, beside it in the checkout, not
installed)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cft_pyg"
STUDIES = REPO / "studies"
LAYERS = ["home", "symmetry", "data", "nn", "transforms", "training", "experimental", "viz",
          "pretrained", "demo", "store_cli", "cli_tensors", "cli_parser", "cli", "testing"]
CORE = ("symmetry", "data", "nn", "transforms", "training")
"""The core path: it never imports :mod:`cft_pyg.experimental` (which attaches through hooks)."""


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


def test_the_core_never_imports_the_experimental_package() -> None:
    """Subgroup augmentation and descent attach through hooks (``fit(train_transform=...,
    callbacks=...)``, ``evaluate(predictor=...)``) wired by the caller: no core module
    imports ``cft_pyg.experimental``, at module level or inside a function."""
    graph = _graph()
    assert any(n.startswith("cft_pyg.experimental") for n in graph.nodes)
    bad = [(a, b) for a, b in graph.edges if a.split(".")[1:2] and a.split(".")[1] in CORE
           and b.startswith("cft_pyg.experimental")]
    assert bad == [], bad
    assert any(b.startswith("cft_pyg.experimental") for _, b in graph.out_edges("cft_pyg.cli"))


def _imported_names(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (module level or inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_package_never_imports_the_studies() -> None:
    bad = [(str(p.relative_to(REPO)), n) for p in PACKAGE.rglob("*.py")
           for n in _imported_names(p) if n == "studies" or n.startswith("studies.")]
    assert bad == [], bad


def test_package_has_no_study_left() -> None:
    assert not (PACKAGE / "experiments").exists()
    assert not (PACKAGE / "pretrained" / "build.py").exists()  # a maintainer tool


def test_studies_never_import_each_other() -> None:
    """A study is a thin module over the kit: no study imports another study."""
    names = ("compare", "ablation", "curves", "transfer", "published")
    edges = [(s, n) for s in names for n in _imported_names(STUDIES / f"{s}.py")
             if n.removeprefix("studies.") in names and n != f"studies.{s}"]
    edges += [(s, n) for s in names for n in _relative_imports(STUDIES / f"{s}.py")
              if n in names]
    assert edges == [], edges


def _relative_imports(path: Path) -> set[str]:
    return {node.module.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}


def test_the_kit_never_imports_a_study() -> None:
    names = {"compare", "ablation", "curves", "transfer", "published"}
    bad = [(str(p.relative_to(REPO)), n) for p in (STUDIES / "kit").glob("*.py")
           for n in _imported_names(p) | {f"studies.{m}" for m in _relative_imports(p)}
           if n.removeprefix("studies.") in names]
    assert bad == [], bad


def test_no_module_imports_the_package_face() -> None:
    """The version has one owner (``cft_pyg/_version.py``): no module reads a name from the
    package's ``__init__`` (``from .. import __version__`` would import the face)."""
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    bad = []
    for path in PACKAGE.rglob("*.py"):
        depth = len(path.relative_to(PACKAGE).parts)  # 1: top-level module
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            face = (node.level == 0 and node.module == "cft_pyg") or (
                node.level == depth and node.module is None)
            if face:
                bad += [(str(path.relative_to(PACKAGE)), a.name) for a in node.names
                        if a.name not in subpackages | modules]
    assert bad == [], bad
