"""Measure the installed package: lines of ``cft_pyg/**/*.py``, the largest modules of
``training/``, import circles and upward imports (the architecture test's graph).

``python tools/package_metrics.py [--out studies/results/package_metrics.json]`` prints the
figures and writes them as JSON (run from the repository root).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=REPO / "studies" / "results" / "package_metrics.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tests.test_imports import LAYERS, PACKAGE, _graph

    files = sorted(PACKAGE.rglob("*.py"))
    lines = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in files}
    graph = _graph()

    def layer(module: str) -> int:
        top = module.split(".")[1] if "." in module else ""
        return LAYERS.index(top) if top in LAYERS else -1

    upward = [(a, b) for a, b in graph.edges if layer(a) >= 0 and layer(b) > layer(a)
              and not (a.startswith("cft_pyg.viz") and layer(b) <= LAYERS.index("training"))]
    training = {k: v for k, v in lines.items() if k.startswith("cft_pyg/training/")}
    out = {
        "package_lines": sum(lines.values()),
        "package_files": len(files),
        "studies_in_package": (PACKAGE / "experiments").exists(),
        "import_circles": len(list(nx.simple_cycles(graph))),
        "upward_imports": len(upward),
        "training_largest": sorted(training.items(), key=lambda kv: -kv[1])[:5],
        "training_over_400": sorted(k for k, v in training.items() if v > 400),
    }
    print(json.dumps(out, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
