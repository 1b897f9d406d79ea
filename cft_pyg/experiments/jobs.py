"""Running an experiment's trainings in parts: worker processes and an append-only log.

Every experiment (:mod:`~cft_pyg.experiments.ablation`, :mod:`~cft_pyg.experiments.curves`,
:mod:`~cft_pyg.experiments.transfer`) runs its jobs through :func:`run_logged`: one job per
worker process (``fork``, so data processed in the parent are shared), each finished result
appended at once as one JSON line, so a run cut short keeps what finished and ``--resume``
runs only the rest (:func:`read_runs`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["read_runs", "recorded_seconds", "run_logged"]


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    """The results of a ``*_runs.jsonl`` log (one JSON object per line)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def recorded_seconds(results: str | Path) -> float | None:
    """The wall time (``total_seconds``) that an experiment's results JSON recorded for the
    last part that ran (``None`` when there is no file or no figure): rewriting a summary
    from the log (``--summarize-only``) keeps it."""
    path = Path(results)
    return json.loads(path.read_text()).get("total_seconds") if path.is_file() else None


def run_logged(job: Callable[[Any], dict[str, Any]], args: Sequence[Any], workers: int,
               log: Path, *, append: bool, describe: Callable[[dict[str, Any]], str],
               echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run ``job(a)`` for every ``a`` of ``args`` on ``workers`` processes (in this process
    when ``workers <= 1``), append each result to ``log`` as it finishes and print
    ``describe(result)`` with the progress; returns the results in finishing order."""
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    finished = (pool.imap_unordered(job, args) if pool is not None
                else (job(a) for a in args))
    try:
        with Path(log).open("a" if append else "w") as handle:
            for k, res in enumerate(finished):
                results.append(res)
                handle.write(json.dumps(res) + "\n")
                handle.flush()
                echo(f"[{k + 1}/{len(args)} {time.perf_counter() - start:.0f} s] "
                     f"{describe(res)}")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results
