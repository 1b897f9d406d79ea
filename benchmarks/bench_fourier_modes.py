"""The paper's Figure 7: orbit-distance error of the pretrained encoder against the number of
Fourier modes (frequency cutoff R = 3, 4, 5, 6).

For each cutoff and seed the published encoder (``cft-published``'s two-branch positional
module) is pretrained label-free on orbit distances of all 230 groups with the same budget
(``--pairs-per-group`` fresh pairs per group and epoch, ``--epochs`` epochs, one thread;
:func:`cft_pyg.training.pretraining.run_pretraining`), and its error is measured on 7,360
held-out pairs (32 per group, the same pairs for every cutoff). A budget far below the
published one (125k pairs per group, 200 epochs): the figure is the trend with R at equal
budget, not the published error.

Usage (resumable: finished runs are kept in ``--work``)::

    python benchmarks/bench_fourier_modes.py                   # R = 3..6, seeds 0 and 1
    python benchmarks/bench_fourier_modes.py --quick           # a smoke run

Writes ``benchmarks/results/fourier_modes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "fourier_modes.json"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cutoffs", type=float, nargs="+", default=[3.0, 4.0, 5.0, 6.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--pairs-per-group", type=int, default=128)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--work", type=Path, default=Path("/tmp/cft-fourier-modes"))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--quick", action="store_true", help="R = 3 and 4, one seed, tiny budget")
    args = p.parse_args(argv)
    if args.quick:
        args.cutoffs, args.seeds, args.pairs_per_group, args.epochs = [3.0, 4.0], [0], 2, 1

    import torch

    from cft_pyg.symmetry.frequencies import ball_frequencies
    from cft_pyg.training.pretraining import run_pretraining

    load_before = os.getloadavg()
    runs = []
    for cutoff in args.cutoffs:
        for seed in args.seeds:
            path = args.work / f"R{cutoff:g}_seed{seed}.pt"
            result = run_pretraining(
                path, {"encoding_cutoff": cutoff}, model="cft-published",
                pairs_per_group=args.pairs_per_group, epochs=args.epochs, seed=seed,
                threads=1, resume=True)
            modes = len(ball_frequencies(cutoff))
            runs.append({"cutoff": cutoff, "seed": seed, "frequencies": modes,
                         "heldout_mae": result.heldout_mae, "heldout_rmse": result.heldout_rmse,
                         "heldout_pairs": result.heldout_pairs, "seconds": result.seconds,
                         "pairs_seen": result.pairs_seen,
                         "by_system": result.heldout_mae_by_system})
            print(f"R = {cutoff:g} ({modes} frequencies) seed {seed}: held-out MAE "
                  f"{result.heldout_mae:.4f} Å, {result.seconds:.0f} s", flush=True)
    summary = {}
    for cutoff in args.cutoffs:
        values = [r["heldout_mae"] for r in runs if r["cutoff"] == cutoff]
        summary[f"{cutoff:g}"] = {
            "frequencies": next(r["frequencies"] for r in runs if r["cutoff"] == cutoff),
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "n_seeds": len(values)}
    report = {
        "what": "held-out orbit-distance MAE (Å) of the cft-published encoder against the "
                "frequency cutoff, equal pretraining budget",
        "settings": {"pairs_per_group": args.pairs_per_group, "epochs": args.epochs,
                     "seeds": args.seeds, "threads": 1, "fresh_pairs": True},
        "runs": runs, "summary": summary,
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "cpu_count": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg(),
                    "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for cutoff, s in summary.items():
        std = f" ± {s['std']:.4f}" if s["std"] is not None else ""
        print(f"R = {cutoff}: {s['frequencies']} frequencies, held-out MAE {s['mean']:.4f}{std} Å")
    return report


if __name__ == "__main__":
    main()
