"""The shared machinery of dataset processing: a parallel map with progress, CPU time and
the hash that names a processed cache.

Used by :class:`~cft_pyg.data.crystal_dataset.CrystalDataset` (real datasets) and
:class:`~cft_pyg.data.SyntheticCrystals`.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import torch
from tqdm.auto import tqdm

__all__ = ["cpu_seconds", "options_hash", "parallel_map"]

T = TypeVar("T")
R = TypeVar("R")


def _worker_init() -> None:
    torch.set_num_threads(1)


def parallel_map(
    func: Callable[[T], R],
    tasks: Sequence[T],
    *,
    num_workers: int,
    use_pool: bool,
    desc: str,
    log: bool = True,
    total: int | None = None,
    size: Callable[[R], int] = lambda _: 1,
    ordered: bool = True,
    chunksize: int = 1,
) -> Iterator[R]:
    """``func`` over ``tasks``, in worker processes or in this one, with a progress bar.

    Workers are forked where the platform allows (spawned otherwise) and run one torch
    thread each; in-process, torch is limited to one thread meanwhile (many tiny tensor ops:
    threads only add overhead).

    Args:
        func: A picklable function of one task.
        tasks: The tasks.
        num_workers: Worker processes of the pool.
        use_pool: Use the pool (the caller decides: e.g. only for enough tasks).
        desc: Progress-bar label.
        log: Show the progress bar.
        total: Progress-bar total (default ``len(tasks)``).
        size: How many progress units a result counts for (default 1).
        ordered: Results in task order (``False``: as they finish; pool only).
        chunksize: Tasks sent to a worker at once.

    Yields:
        The results.
    """
    bar = tqdm(total=len(tasks) if total is None else total, desc=desc, unit="crystal",
               disable=None if log else True)  # None: only on a terminal
    try:
        if use_pool:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(num_workers, initializer=_worker_init) as pool:
                run = pool.imap if ordered else pool.imap_unordered
                for result in run(func, tasks, chunksize=chunksize):
                    bar.update(size(result))
                    yield result
        else:
            yield from _in_process(func, tasks, bar, size)
    finally:
        bar.close()


def _in_process(func: Callable[[T], R], tasks: Iterable[T], bar: Any,
                size: Callable[[R], int]) -> Iterator[R]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for task in tasks:
            result = func(task)
            bar.update(size(result))
            yield result
    finally:
        torch.set_num_threads(threads)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished worker processes."""
    try:
        import resource
    except ImportError:  # not on Unix
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def options_hash(payload: dict[str, Any]) -> str:
    """12 hex digits of the SHA-1 of ``payload`` as sorted JSON: the name of a processed cache."""
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
