r"""CFT vs CGCNN vs ALIGNN on MP-20, and zero-shot / few-shot on the centrosymmetric groups.

Everything runs through the project's training engine (:func:`cft_pyg.training.fit` /
:func:`cft_pyg.training.evaluate`), on the project's fixed MP-20 split
(:class:`cft_pyg.data.MP20`, ``project-train/val/test``; the first ``n_*`` rows of each part,
which are a random subset because the split is a seeded permutation).

This module is the command line and the writer of the JSON files; the parts live in
:mod:`~cft_pyg.experiments.settings`, :mod:`~cft_pyg.experiments.runner`,
:mod:`~cft_pyg.experiments.statistics`, :mod:`~cft_pyg.experiments.figures`,
:mod:`~cft_pyg.experiments.notebooks` and the shared zero-shot protocol
:mod:`~cft_pyg.experiments.zero_shot` (their public names are importable from here too).
Paths are arguments (``--data-root``, ``--out``, ``--notebooks``), so it runs from an
installed package.

**Benchmark** (``results/benchmark_mp20.json``): for every target (formation energy, band gap)
and model, one training per seed with the same data, epoch budget, batch size, optimizer and
schedule; test MAE overall, per crystal system and per space group, parameter count and
training time.  Early stopping is off: every model gets exactly ``epochs`` epochs and is
evaluated at its best validation epoch.

**Zero-shot / few-shot** (``results/zeroshot_mp20.json``): the MP-20 crystals above are pooled
and split at random (``zs_fractions``).  The *held-out test set* is the test crystals whose group
contains inversion (:func:`cft_pyg.data.centrosymmetric_groups`).  Per model and seed:

* ``all``: trained on the whole training part (all groups);
* ``k = 0`` (zero-shot): trained on the training crystals of the non-centrosymmetric groups
  only (validation likewise), so no held-out group is ever seen;
* ``k = 1, 5, 20``: as ``k = 0`` plus ``k`` training crystals of each held-out group
  (:func:`cft_pyg.data.few_shot_split`; a group with ``n`` training crystals gives
  ``min(k, n - 1)``).

All variants are evaluated on the same held-out test crystals (paired).  The published
GB-Gap metric is ``mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)|``.

This is a small-budget CPU comparison (few thousand crystals, a few epochs), not the published
full training; the JSON files record every setting, seed and the spread over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .figures import write_figures
from .notebooks import run_notebooks
from .runner import load_parts, run_benchmark, run_zero_shot, target_index, zero_shot_split
from .settings import DEFAULT_MODEL_KWARGS, MODEL_LABELS, TARGET_UNITS, CompareSettings
from .statistics import summarize_benchmark, summarize_zero_shot
from .zero_shot import GB_GAP_DEFINITION, gb_gap

__all__ = [
    "CompareSettings",
    "DEFAULT_MODEL_KWARGS",
    "MODEL_LABELS",
    "NOTE",
    "TARGET_UNITS",
    "deviations",
    "gb_gap",
    "load_parts",
    "main",
    "run",
    "run_benchmark",
    "run_notebooks",
    "run_zero_shot",
    "summarize_benchmark",
    "summarize_zero_shot",
    "target_index",
    "write_figures",
    "zero_shot_split",
]


def _environment() -> dict[str, Any]:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    # compact: the per-seed predictions make an indented file exceed 1 MB
    tmp.write_text(json.dumps(payload, separators=(",", ":"), allow_nan=True) + "\n")
    tmp.replace(path)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    # compact: the per-seed predictions make an indented file exceed 1 MB
    tmp.write_text(json.dumps(payload, separators=(",", ":"), allow_nan=True) + "\n")
    tmp.replace(path)


NOTE = ("Small-budget CPU comparison on a subset of the project's fixed MP-20 split (the "
        "official MP-20 train file is not available here): every model gets the same "
        "crystals, epochs, batch size, optimizer and schedule; reduced model sizes; not the "
        "published full training. Training times are wall-clock seconds on a shared 2-core "
        "machine with `jobs` trainings in parallel and vary with its load.")


def deviations(settings: CompareSettings) -> list[str]:
    """Where a model got less than the others (fewer seeds or variants), in words."""
    return settings.deviations()


def run(settings: CompareSettings, parts: Sequence[str] = ("benchmark", "zeroshot"),
        log: Callable[[str], None] = print) -> dict[str, Path]:
    """Run the chosen parts and write ``benchmark_mp20.json``, ``zeroshot_mp20.json`` and
    the figures into ``settings.output_dir``; returns the written JSON paths."""
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if settings.work_dir is None:
        settings = dataclasses.replace(settings,
                                       work_dir=tempfile.mkdtemp(prefix="cft-compare-"))
    load_parts(settings)  # process the data once, before the workers start
    env = _environment()
    written: dict[str, Path] = {}
    results: dict[str, Any] = {"benchmark": None, "zeroshot": None}
    studies = {"benchmark": (run_benchmark, summarize_benchmark, {}),
               "zeroshot": (run_zero_shot, summarize_zero_shot, {
                   "held_out_groups": "every space group containing inversion (92 groups)",
                   "metric": GB_GAP_DEFINITION})}
    for part, (train, summarize, extra) in studies.items():
        if part not in parts:
            continue
        t0 = time.perf_counter()
        results[part] = summarize(train(settings, log))
        written[part] = out / f"{part}_mp20.json"
        _write_json(written[part], {
            "experiment": f"{part}_mp20", "note": NOTE, "deviations": deviations(settings),
            "settings": settings.to_dict(), "environment": env,
            "wall_time_s": time.perf_counter() - t0, **extra, "results": results[part]})
    write_figures(results["benchmark"], results["zeroshot"], out)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m cft_pyg.experiments.compare --full|--quick [options]``."""
    p = argparse.ArgumentParser(prog="python -m cft_pyg.experiments.compare",
                                description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true", help="the README's settings (~30 min)")
    mode.add_argument("--quick", action="store_true", help="tiny settings (minutes)")
    p.add_argument("--parts", default="benchmark,zeroshot,notebooks",
                   help="comma-separated: benchmark, zeroshot, notebooks (execute the notebooks "
                        "of --notebooks with full settings into <out>/notebooks; with --full "
                        "only)")
    p.add_argument("--out", default=None,
                   help="output folder (default: ./results for --full, ./runs/compare-quick "
                        "for --quick)")
    p.add_argument("--data-root", default=None,
                   help="MP-20 folder (val/test.csv.gz; default $CFT_PYG_MP20 or <home>/mp_20, "
                        "home = $CFT_PYG_HOME or ~/.cache/cft_pyg)")
    p.add_argument("--notebooks", default="notebooks",
                   help="folder of the notebooks to execute (default ./notebooks)")
    p.add_argument("--jobs", type=int, default=None, help="trainings in parallel")
    p.add_argument("--models", default=None, help="comma-separated model names")
    p.add_argument("--work-dir", default=None, help="keep the run folders here")
    a = p.parse_args(argv)
    changes: dict[str, Any] = {}
    if a.out:
        changes["output_dir"] = a.out
    if a.data_root:
        changes["data_root"] = a.data_root
    if a.jobs:
        changes["jobs"] = a.jobs
    if a.models:
        models = tuple(m.strip() for m in a.models.split(",") if m.strip())
        changes["models"] = models
        changes["zs_models"] = models
    if a.work_dir:
        changes["work_dir"] = a.work_dir
    settings = CompareSettings.from_preset("full" if a.full else "quick", **changes)
    parts = tuple(x.strip() for x in a.parts.split(",") if x.strip())
    bad = set(parts) - {"benchmark", "zeroshot", "notebooks"}
    if bad:
        p.error(f"unknown part(s): {', '.join(sorted(bad))}")
    start = time.perf_counter()
    written: dict[str, Path] = {}
    runs = tuple(x for x in parts if x != "notebooks")
    if runs:
        written = run(settings, runs, log=lambda s: print(s, flush=True))
    if "notebooks" in parts and a.full:
        figures = {"01_constraint_graphs.ipynb": {"save_dir": str(Path(settings.output_dir))}}
        for path in run_notebooks(a.notebooks, Path(settings.output_dir) / "notebooks",
                                  parameters=figures, log=lambda s: print(s, flush=True)):
            written[path.stem] = path
    print(f"done in {time.perf_counter() - start:.0f} s: "
          + ", ".join(str(v) for v in written.values()), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
