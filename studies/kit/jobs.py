"""Running a study's trainings: the one job pool and the append-only run log.

Every study runs its jobs through :func:`run_logged`: one job per worker process (``fork``,
so data processed in the parent are shared), each finished result appended at once as one
JSON line of ``<output>/<study>_runs.jsonl``, so a run cut short keeps what finished and
``--resume`` runs only the rest (:func:`pending`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["pending", "read_runs", "recorded", "run_logged", "wait_for"]


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    """The results of a ``*_runs.jsonl`` log (one JSON object per line)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def recorded(results: str | Path, key: str) -> Any:
    """Entry ``key`` of a study's results JSON (``None`` when there is no file or entry):
    rewriting a summary from the log (``--summarize-only``) keeps the wall time and the
    composition floors that the run recorded."""
    path = Path(results)
    return json.loads(path.read_text()).get(key) if path.is_file() else None


def pending(log: Path, jobs: Sequence[Any], key: Callable[[dict[str, Any]], Hashable],
            job_key: Callable[[Any], Hashable], resume: bool
            ) -> tuple[list[dict[str, Any]], list[Any]]:
    """``(runs already in the log, jobs still to run)``; without ``resume`` nothing is kept."""
    done = read_runs(log) if resume and Path(log).is_file() else []
    finished = {key(r) for r in done}
    return done, [j for j in jobs if job_key(j) not in finished]


def wait_for(path: Path, seconds: float = 3600.0) -> Path:
    """Wait until ``path`` exists (a file another worker writes, e.g. a pretrained
    encoding that the first job produces)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {seconds:.0f} s")
        time.sleep(5)
    return path


def run_logged(job: Callable[[Any], dict[str, Any]], args: Sequence[Any], workers: int,
               log: Path, *, append: bool, describe: Callable[[dict[str, Any]], str],
               echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run ``job(a)`` for every ``a`` of ``args`` on ``workers`` processes (in this process
    when ``workers <= 1``), append each result to ``log`` as it finishes and print
    ``describe(result)`` with the progress; returns the results in finishing order."""
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    finished = (pool.imap_unordered(job, args) if pool is not None
                else (job(a) for a in args))
    try:
        with Path(log).open("a" if append else "w") as handle:
            for k, res in enumerate(finished):
                results.append(res)
                handle.write(json.dumps(res) + "\n")
                handle.flush()
                echo(f"[{k + 1}/{len(args)} {time.perf_counter() - start:.0f} s, load "
                     f"{os.getloadavg()[0]:.1f}] {describe(res)}")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results
