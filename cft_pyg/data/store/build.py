"""Featurize a stream of crystals into a store: parallel, chunked, resumable and shardable.

:func:`build_store` reads a stream of :class:`~cft_pyg.data.streams.RawCrystal` (never
whole), cuts it into chunks of ``chunk_size`` consecutive entries, standardizes the chunks
in a process pool (:func:`~cft_pyg.data.standardize`, the one standardization of the
library) and writes every finished chunk in **one transaction**: its crystals, its skipped
entries and the chunk's *done* mark.  So

* a build killed at any moment (``kill -9`` included) and run again redoes only the chunks
  without their mark and ends with exactly the store of an uninterrupted run (keys are the
  entries' positions in the stream, so nothing is duplicated, missed or half-written);
* a bad entry (unreadable row, malformed file, overlapping atoms, failed symmetry
  detection, ...) is recorded with its :class:`~cft_pyg.data.SkipReason` and message and
  never stops the build;
* ``shard=(k, N)`` featurizes only the chunks ``c`` with ``c % N == k``: N machines (a
  SLURM array, ``joblib``/Dask/Ray tasks) each build one shard store, and
  :func:`merge_stores` unites them into the store a single run would have made.

Keys of the store (big-endian integers, so key order is stream order)::

    b"e" + u64 position   a crystal (:mod:`cft_pyg.data.store.record`)
    b"s" + u64 position   a skipped entry: JSON {id, reason, message}
    b"c" + u64 chunk      a done chunk: JSON {entries, kept}
    b"m:config"           JSON: record version, chunk size, symmetry options, targets
    b"m:total"            JSON: entries in the whole stream (once it was read to its end)
    b"m:index", b"m:natoms"   after finalize: positions of the crystals (int64) and their
                          atom counts (int32), read by the dataset and the batch sampler
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import SkipReason, StructureError
from ..featurization import Featurization
from ..processing import cpu_seconds
from ..standardization import standardize
from ..streams import RawCrystal
from .backends import Backend, open_backend
from .record import RECORD_VERSION, StoredCrystal, encode

__all__ = ["BuildReport", "SYMMETRY_OPTIONS", "build_store", "build_store_from", "chunk_key",
           "entry_key",
           "finalize_store", "merge_stores", "parse_shard", "skip_key"]

SYMMETRY_OPTIONS = ("symprec", "angle_tolerance", "min_distance", "canonical_origin",
                    "canonical_handedness")
"""The :class:`~cft_pyg.data.Featurization` options a store is made with (the graph and
encoding options are applied when crystals are read)."""


def entry_key(position: int) -> bytes:
    """Key of the crystal at ``position`` of the stream."""
    return b"e" + int(position).to_bytes(8, "big")


def skip_key(position: int) -> bytes:
    """Key of the skipped entry at ``position`` of the stream."""
    return b"s" + int(position).to_bytes(8, "big")


def chunk_key(chunk: int) -> bytes:
    """Key of the done mark of ``chunk``."""
    return b"c" + int(chunk).to_bytes(8, "big")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``'k/N'`` -> ``(k, N)`` with ``0 <= k < N`` (``None`` passes through).

    Raises:
        ValueError: anything else.
    """
    if text is None:
        return None
    try:
        k, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"shard must be 'k/N' (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"shard k/N needs 0 <= k < N, got {text!r}")
    return k, n


@dataclass
class BuildReport:
    """What a build did (also ``store_dir/build.json`` of the last run).

    Attributes:
        entries: entries of the stream seen (all shards).
        featurized: entries standardized by this run (resumed chunks excluded).
        kept / skipped: crystals and skipped entries in the store now.
        skipped_by_reason: counts per reason code.
        seconds / cpu_seconds: wall and CPU time of this run (workers included).
        chunks_done_before: chunks found done when the run started (resume).
    """

    entries: int = 0
    featurized: int = 0
    kept: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    chunks_done_before: int = 0
    num_workers: int = 0
    shard: tuple[int, int] | None = None


# ---------------------------------------------------------------------------- workers
def _structure_of(source: Any) -> Any:
    if isinstance(source, tuple) and len(source) == 2 and source[0] == "cif":
        from ..cif import parse_cif_text

        return parse_cif_text(source[1])
    if isinstance(source, str):
        from ..readers import read_structure

        return read_structure(Path(source))
    return source


def _featurize_one(item: RawCrystal, f: Featurization, compress: bool
                   ) -> tuple[bytes | None, dict[str, str] | None]:
    entry_id, source, targets, error = item
    if error is not None:
        return None, {"id": entry_id, "reason": str(SkipReason.MALFORMED_FILE), "message": error}
    try:
        if targets is not None and not all(np.isfinite(v) for v in targets):
            return None, {"id": entry_id, "reason": str(SkipReason.MISSING_TARGET),
                          "message": f"target value missing or not finite: {list(targets)}"}
        std = standardize(_structure_of(source), f)
        values = np.zeros(0) if targets is None else np.asarray(targets, dtype=np.float64)
        return encode(StoredCrystal(std, values, entry_id), compress=compress), None
    except StructureError as exc:
        return None, {"id": entry_id, "reason": exc.reason, "message": str(exc)}
    except Exception as exc:  # anything unexpected is recorded, never fatal
        return None, {"id": entry_id, "reason": str(SkipReason.ERROR),
                      "message": f"{type(exc).__name__}: {exc}"}


def _featurize_chunk(task: tuple[int, int, list[RawCrystal], Featurization, bool]
                     ) -> tuple[int, dict[bytes, bytes], int, int]:
    """Standardize one chunk; returns ``(chunk, items to write, entries, kept)``."""
    chunk, start, items, f, compress = task
    out: dict[bytes, bytes] = {}
    kept = 0
    for offset, item in enumerate(items):
        record, skipped = _featurize_one(item, f, compress)
        if record is not None:
            out[entry_key(start + offset)] = record
            kept += 1
        else:
            out[skip_key(start + offset)] = json.dumps(skipped, sort_keys=True).encode()
    out[chunk_key(chunk)] = json.dumps({"entries": len(items), "kept": kept},
                                       sort_keys=True).encode()
    return chunk, out, len(items), kept


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# ---------------------------------------------------------------------------- build
def _config(f: Featurization, chunk_size: int, targets: Sequence[str]) -> bytes:
    options = {k: getattr(f, k) for k in SYMMETRY_OPTIONS}
    return json.dumps({"record_version": RECORD_VERSION, "chunk_size": int(chunk_size),
                       "symmetry": options, "targets": list(targets)},
                      sort_keys=True).encode()


def _chunks(stream: Iterable[RawCrystal], chunk_size: int
            ) -> Iterator[tuple[int, int, list[RawCrystal]]]:
    buffer: list[RawCrystal] = []
    chunk = start = 0
    for item in stream:
        buffer.append(RawCrystal(*item))
        if len(buffer) == chunk_size:
            yield chunk, start, buffer
            chunk, start, buffer = chunk + 1, start + chunk_size, []
    if buffer:
        yield chunk, start, buffer


def build_store(
    stream: Iterable[RawCrystal],
    folder: str | os.PathLike[str],
    featurization: Featurization | None = None,
    *,
    targets: Sequence[str] = (),
    backend: str | None = None,
    num_workers: int | None = None,
    chunk_size: int = 256,
    shard: tuple[int, int] | str | None = None,
    compress: bool = True,
    total: int | None = None,
    log: bool = True,
    finalize: bool = True,
) -> BuildReport:
    """Standardize every crystal of ``stream`` into the store in ``folder`` (resumably).

    Args:
        stream: the crystals (:mod:`cft_pyg.data.streams`); read once, chunk by chunk.
        folder: the store folder (created; an existing store there is resumed).
        featurization: its symmetry options (:data:`SYMMETRY_OPTIONS`) make the crystals;
            a resumed store must have been started with the same ones.
        targets: names of the targets the stream carries (recorded).
        backend: ``'lmdb'`` (default for a new store) or ``'sqlite'``.
        num_workers: processes (default ``os.cpu_count()``; 0: in this process).
        chunk_size: entries per chunk (the unit of work, of a transaction and of resume;
            a resumed store must use the same).
        shard: ``(k, N)`` or ``'k/N'``: only the chunks ``c`` with ``c % N == k``.
        compress: zlib-compress the records.
        total: entries in the stream, for the progress bar's time left (optional).
        log: progress bar (only when stderr is a terminal) and a summary line.
        finalize: write the index of the crystals when done (:func:`finalize_store`).

    Returns:
        The :class:`BuildReport`.

    Raises:
        ValueError: bad options, or a resumed store made with other options.
    """
    f = Featurization.resolve(featurization)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    part = parse_shard(shard) if isinstance(shard, str) else shard
    if part is not None:
        parse_shard(f"{part[0]}/{part[1]}")
    workers = (os.cpu_count() or 1) if num_workers is None else int(num_workers)
    folder = Path(folder)
    db = open_backend(folder, backend, write=True)
    config = _config(f, chunk_size, targets)
    old = db.get(b"m:config")
    if old is None:
        db.put_many({b"m:config": config})
    elif old != config:
        raise ValueError(f"the store in {folder} was started with other options "
                         f"({old.decode()}); this run: {config.decode()}")
    done = {int.from_bytes(k[1:], "big") for k in db.keys(b"c")}
    report = BuildReport(chunks_done_before=len(done), num_workers=workers, shard=part)
    start, cpu0 = time.perf_counter(), cpu_seconds()
    mine = (lambda c: True) if part is None else (lambda c: c % part[1] == part[0])
    bar = tqdm(total=total, desc=f"store {folder.name}", unit="crystal",
               disable=not (log and sys.stderr.isatty()), smoothing=0.05)

    def tasks() -> Iterator[tuple[int, int, list[RawCrystal], Featurization, bool]]:
        for chunk, first, items in _chunks(stream, chunk_size):
            report.entries = first + len(items)
            if mine(chunk) and chunk not in done:
                yield chunk, first, items, f, compress
            else:
                bar.update(len(items))

    def write(result: tuple[int, dict[bytes, bytes], int, int]) -> None:
        _, items, n, _ = result
        db.put_many(items)
        report.featurized += n
        bar.update(n)

    try:
        if workers > 0:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(workers, initializer=_worker_init) as pool:
                pending: deque = deque()
                for task in tasks():  # at most 2 chunks per worker in flight: bounded memory
                    pending.append(pool.apply_async(_featurize_chunk, (task,)))
                    while len(pending) >= 2 * workers or (pending and pending[0].ready()):
                        write(pending.popleft().get())
                while pending:
                    write(pending.popleft().get())
        else:
            for task in tasks():
                write(_featurize_chunk(task))
    finally:
        bar.close()
    db.put_many({b"m:total": json.dumps({"entries": report.entries}).encode()})
    report.seconds = time.perf_counter() - start
    report.cpu_seconds = cpu_seconds() - cpu0
    if finalize:
        summary = finalize_store(db)
        report.kept, report.skipped = summary["kept"], summary["skipped"]
        report.skipped_by_reason = summary["skipped_by_reason"]
    db.close()
    with open(folder / "build.json", "w") as handle:
        json.dump(report.__dict__, handle, indent=2)
    if log:
        rate = report.featurized / max(report.seconds, 1e-9)
        print(f"store {folder}: {report.entries} entries, featurized {report.featurized} in "
              f"{report.seconds:.1f} s ({rate:.1f}/s on {workers} workers), kept "
              f"{report.kept}, skipped {report.skipped}", file=sys.stderr)
    return report


def _header_natoms(blob: bytes) -> int:
    return int.from_bytes(blob[6:10], "little")


def finalize_store(db: Backend) -> dict[str, Any]:
    """Write the index of the store's crystals (positions, atom counts) and its summary.

    Returns:
        ``{'kept', 'skipped', 'skipped_by_reason'}``.
    """
    positions, natoms = [], []
    for key, value in db.items(b"e"):
        positions.append(int.from_bytes(key[1:], "big"))
        natoms.append(_header_natoms(value))
    reasons: dict[str, int] = {}
    skipped = 0
    for _, value in db.items(b"s"):
        reason = json.loads(value)["reason"]
        reasons[reason] = reasons.get(reason, 0) + 1
        skipped += 1
    summary = {"kept": len(positions), "skipped": skipped,
               "skipped_by_reason": dict(sorted(reasons.items()))}
    db.put_many({
        b"m:index": np.asarray(positions, dtype="<i8").tobytes(),
        b"m:natoms": np.asarray(natoms, dtype="<i4").tobytes(),
        b"m:summary": json.dumps(summary, sort_keys=True).encode(),
    })
    db.compact()
    return summary


def merge_stores(parts: Sequence[str | os.PathLike[str]], folder: str | os.PathLike[str], *,
                 backend: str | None = None, log: bool = True) -> dict[str, Any]:
    """Unite shard stores (same options) into one store: the store one run would make.

    Args:
        parts: the shard store folders.
        folder: the merged store (created).
        backend: of the merged store (default: that of the first part).

    Raises:
        ValueError: parts made with different options, or overlapping entries.
    """
    if not parts:
        raise ValueError("merge_stores needs at least one part")
    sources = [open_backend(p) for p in parts]
    configs = {s.get(b"m:config") for s in sources}
    if len(configs) != 1 or None in configs:
        raise ValueError("the parts were built with different options (or are not stores)")
    out = open_backend(folder, backend or sources[0].name, write=True)
    out.put_many({b"m:config": configs.pop()})
    totals = [json.loads(s.get(b"m:total") or b'{"entries": 0}')["entries"] for s in sources]
    seen: set[bytes] = set()
    for source in sources:
        for prefix in (b"c", b"e", b"s"):
            batch: dict[bytes, bytes] = {}
            for key, value in source.items(prefix):
                if key in seen and prefix == b"c":
                    raise ValueError(f"chunk {int.from_bytes(key[1:], 'big')} is in two parts")
                seen.add(key)
                batch[key] = value
                if len(batch) >= 4096:
                    out.put_many(batch)
                    batch = {}
            if batch:
                out.put_many(batch)
        source.close()
    out.put_many({b"m:total": json.dumps({"entries": max(totals)}).encode()})
    summary = finalize_store(out)
    out.close()
    if log:
        print(f"merged {len(parts)} stores into {folder}: kept {summary['kept']}, skipped "
              f"{summary['skipped']}", file=sys.stderr)
    return summary


def build_store_from(source: str | os.PathLike[str], folder: str | os.PathLike[str],
                     featurization: Featurization | None = None, *,
                     targets: Sequence[str] = (), **kwargs: Any) -> BuildReport:
    """:func:`build_store` of the stream of a path (:func:`~cft_pyg.data.streams.iter_source`:
    a folder of structure files, an ASE database, extended XYZ or a CIF CSV).

    A module-level function of plain arguments, so that any task engine can run it on
    another machine, one shard per task, e.g. with joblib (whose Dask and Ray backends
    spread the tasks over a cluster)::

        from joblib import Parallel, delayed
        parts = [f"store.part{k}" for k in range(N)]
        Parallel(n_jobs=N)(delayed(build_store_from)("omat.aselmdb", parts[k],
                                                     shard=(k, N), num_workers=8)
                           for k in range(N))
        merge_stores(parts, "store")
    """
    from ..streams import count_entries, iter_source

    total = kwargs.pop("total", None)
    if total is None:
        total = count_entries(source)
    return build_store(iter_source(source, targets), folder, featurization, targets=targets,
                       total=total, **kwargs)
