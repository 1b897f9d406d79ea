"""What the commands of ``cft-pyg`` spend importing, and where (``python -X importtime``).

Each target is imported in a fresh interpreter; the cumulative import time of the target and
of the heaviest modules it pulls in are recorded (median over ``--repeats`` runs), with the
chain that pulled each in. Timings depend on the machine and its load: the JSON records the
cores and the load average, and only figures of one run compare.

    python studies/import_cost/run.py --quick     # one repeat
    python studies/import_cost/run.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {
    "cft-pyg --help / pretrained (cft_pyg.cli)": "import cft_pyg.cli",
    "cft-pyg pretrained listing": "from cft_pyg.cli import main; main(['pretrained'])",
    "train (cft_pyg.training.fitting)": "import cft_pyg.training.fitting",
    "predict (cft_pyg.training.prediction, load_predictor, cft_pyg.data)":
        "import cft_pyg.training.prediction, cft_pyg.training.checkpoints, "
        "cft_pyg.training.property_model, cft_pyg.data",
    "the LightningModule (what predict imported before 0.5)":
        "import cft_pyg.training.module, cft_pyg.training.prediction, cft_pyg.data",
    "torch alone": "import torch",
    "lightning alone": "import lightning",
}
WATCH = ("torch", "lightning", "torch_geometric", "torchmetrics", "pymatgen.core", "scipy.signal",
         "matplotlib", "torch._dynamo", "sympy", "pandas", "spglib")


def _parse(stderr: str) -> list[tuple[int, str, int]]:
    """(cumulative microseconds, module, depth) of every ``-X importtime`` line."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        rows.append((int(cumulative), name.strip(), len(name) - len(name.lstrip())))
    return rows


def _chain(rows: list[tuple[int, str, int]], module: str) -> list[str]:
    """The modules that pulled ``module`` in, innermost first."""
    for i, (_, name, depth) in enumerate(rows):
        if name == module:
            chain = []
            for _, parent, d in rows[i + 1:]:
                if d < depth:
                    chain.append(parent)
                    depth = d
            return chain
    return []


def measure(code: str, repeats: int) -> dict[str, Any]:
    totals, watched = [], {m: [] for m in WATCH}
    chains: dict[str, list[str]] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    for _ in range(repeats):
        run = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                             capture_output=True, text=True, env=env, check=True)
        rows = _parse(run.stderr)
        totals.append(sum(c for c, _, d in rows if d == 1) / 1e6)
        for m in WATCH:
            found = [c for c, name, _ in rows if name == m]
            if found:
                watched[m].append(found[0] / 1e6)
                chains.setdefault(m, _chain(rows, m)[:6])
    return {"seconds": round(statistics.median(totals), 2),
            "modules": {m: {"seconds": round(statistics.median(v), 2), "pulled_in_by": chains[m]}
                        for m, v in watched.items() if v}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", default=str(HERE / "results" / "import_cost.json"))
    args = p.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    out: dict[str, Any] = {"repeats": repeats, "machine": {
        "cpu_count": os.cpu_count(), "loadavg_start": list(os.getloadavg()),
        "platform": platform.platform(), "python": platform.python_version()}, "targets": {}}
    for label, code in TARGETS.items():
        out["targets"][label] = result = measure(code, repeats)
        heavy = sorted(result["modules"].items(), key=lambda kv: -kv[1]["seconds"])[:4]
        print(f"{label}: {result['seconds']:.2f} s; "
              + ", ".join(f"{m} {v['seconds']:.2f}" for m, v in heavy))
    out["machine"]["loadavg_end"] = list(os.getloadavg())
    path = Path(args.output)
    if args.quick:
        path = path.with_name(path.stem + "_quick.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
