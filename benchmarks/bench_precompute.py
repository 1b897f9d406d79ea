"""Benchmark: precompute the symmetry core of all 230 space groups, and the cache load.

Measures, for cutoffs R = 5 and R = 8 (default settings, ball in the reference metric):

* ``graphs``: :func:`cft_pyg.constraint_graph` of all 230 groups (graph, orbits, absences);
* ``bases``: :class:`cft_pyg.SymmetryAdaptedBasis` of all 230 groups (graph, orbits,
  routing and real basis: everything a model needs);
* ``cache_load``: :func:`cft_pyg.load_bases` reading an existing cache file (R = 5).

Each figure is the best and the median of several repeats, with torch's default number
of intra-op threads and with one thread (the tensors are small; on a busy machine the
spinning second thread can cost more than it gains).  Targets on the project's 2-core
machine: all 230 groups at R=5 in < 3 s, cache load < 0.3 s.  The 1-minute load average
is recorded because other jobs on a shared machine make timings noisy.

Usage::

    python benchmarks/bench_precompute.py [--repeats 3] [--out benchmarks/results/precompute.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

import cft_pyg
from cft_pyg import SpaceGroup, SymmetryAdaptedBasis, constraint_graph, load_bases

TARGETS_S = {"bases_R5": 3.0, "cache_load_R5": 0.3}


def _timeit(fn: Callable[[], object], repeats: int) -> dict[str, float | list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"best_s": min(times), "median_s": statistics.median(times), "runs_s": times}


def _all_graphs(cutoff: float) -> None:
    for number in range(1, 231):
        constraint_graph(number, cutoff)


def _all_bases(cutoff: float) -> None:
    for number in range(1, 231):
        SymmetryAdaptedBasis(number, cutoff)


def run(repeats: int) -> dict[str, object]:
    """Run all measurements; returns the JSON-serialisable results."""
    for number in range(1, 231):  # spglib tables, imports: not part of the figures
        SpaceGroup(number)
    SymmetryAdaptedBasis(1, 1.0)

    default_threads = torch.get_num_threads()
    results: dict[str, object] = {}
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        rows: dict[str, object] = {}
        for cutoff, reps in ((5.0, repeats), (8.0, max(1, repeats - 1))):
            tag = f"R{cutoff:g}"
            rows[f"graphs_{tag}"] = _timeit(lambda c=cutoff: _all_graphs(c), reps)
            rows[f"bases_{tag}"] = _timeit(lambda c=cutoff: _all_bases(c), reps)
        with tempfile.TemporaryDirectory() as tmp:
            rows["cache_build_and_write_R5"] = _timeit(
                lambda d=tmp: load_bases(5.0, cache_dir=d, rebuild=True, progress=False), 1
            )
            rows["cache_load_R5"] = _timeit(
                lambda d=tmp: load_bases(5.0, cache_dir=d, progress=False), repeats + 2
            )
        results[f"threads_{threads}"] = rows
    torch.set_num_threads(default_threads)
    best = {
        key: min(float(rows[key]["best_s"]) for rows in results.values())  # type: ignore[index]
        for key in TARGETS_S
    }
    return {
        "cft_pyg_version": cft_pyg.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before": LOAD_BEFORE,
        "load_average_1min_after": os.getloadavg()[0],
        "timings": results,
        "targets_s": TARGETS_S,
        "best_s": best,
        "meets_targets": {key: best[key] < target for key, target in TARGETS_S.items()},
    }


def _print(report: dict[str, object]) -> None:
    print(
        f"cft-pyg {report['cft_pyg_version']}, torch {report['torch_version']}, "
        f"{report['cpu_count']} CPUs, load average {report['load_average_1min_before']:.1f} "
        f"-> {report['load_average_1min_after']:.1f}"
    )
    for threads, rows in report["timings"].items():  # type: ignore[union-attr]
        print(f"\n[{threads.replace('_', ' ')}]")
        for key, row in rows.items():
            target = TARGETS_S.get(key)
            note = f"   target < {target:g} s" if target else ""
            print(
                f"  {key:28s} best {row['best_s']:7.3f} s   median {row['median_s']:7.3f} s{note}"
            )
    print()
    for key, ok in report["meets_targets"].items():  # type: ignore[union-attr]
        print(
            f"{key}: best {report['best_s'][key]:.3f} s vs target "  # type: ignore[index]
            f"{TARGETS_S[key]:g} s -> {'OK' if ok else 'MISSED'}"
        )


LOAD_BEFORE = os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "precompute.json"
    )
    args = parser.parse_args()
    report = run(args.repeats)
    _print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
