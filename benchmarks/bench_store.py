"""Scale benchmark of the crystal store (``cft_pyg.data.store``): featurization, storage,
random reads, a streamed training epoch against the in-memory path, memory against store
size, and an extrapolation to 10^6 and 10^8 crystals.

Parts (each in its own subprocess where memory or a code version matters):

1. **Input.**  ``--n`` synthetic crystals (:func:`cft_pyg.data.generator.generate_crystal`
   over all 230 groups, Morse energy label) written to an ASE database (``ase.db`` SQLite).
2. **Featurization, side by side in one run**, both from that database on ``--workers``
   processes: *today's path* (the code of ``--baseline-repo``, default the main checkout:
   ``from_structure`` with the neighbour graph in the shared process pool, then one
   collated ``InMemoryDataset`` file, as the datasets of ``cft_pyg.data`` do) and *the
   store* (``build_store``: standardized crystals, no graph, in chunks).  Crystals/s per
   core from CPU time (robust to the load of other users) and from wall time; peak memory;
   bytes per crystal.  A profile of the store's standardization says where the time goes.
3. **Backends**: LMDB and SQLite on the same crystals: bytes per crystal and random-read
   crystals/s through a ``DataLoader`` with 0, 2 and 4 workers.
4. **Training epochs** (CGCNN, same batch, one thread), streamed from the store with
   graphs built in 2 loader workers (through ``CrystalLoader``, and through PyG's
   ``DataLoader`` for comparison), against the in-memory list of the same ``Data``:
   crystals/s and peak memory (the process and its workers, summed), in ``--epoch-repeats``
   rounds with the paths interleaved; the ratio to the in-memory path of the same round.
5. **Memory against size**: ``--scale`` stores (default 20,000 and 200,000 entries) made
   by repeating the featurized records under new keys (reads do not depend on the
   content), then ``--scale-batches`` streamed training steps over each: peak memory.
6. **Extrapolation** to 10^6 and 10^8 crystals from the measured CPU seconds and bytes
   per crystal: hours on N cores, disk, memory per rank (the index: 12 bytes per crystal).

Usage::

    python benchmarks/bench_store.py --quick          # 300 crystals, small scale stores
    python benchmarks/bench_store.py --n 2000         # the recorded run
    python benchmarks/bench_store.py --update-epoch 4000 --epoch-repeats 12  # part 4 again
    python benchmarks/bench_store.py --update-profile 200   # the profile again
    python benchmarks/bench_store.py --update-scale 600   # part 5 again
    python benchmarks/bench_store.py --distinct 200000 --workdir W   # part 7 (resumable)

Writes ``benchmarks/results/store.json`` and the block between ``<!-- store:begin -->`` and
``<!-- store:end -->`` of ``benchmarks/README.md``.  Timings on a shared machine are noisy;
the load average is recorded with each part.  No GPU part runs without CUDA.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# the code measured: this checkout, or (today's path) the one named by the parent process
sys.path.insert(0, os.environ.get("BENCH_STORE_CODE", str(REPO)))
OUT = REPO / "benchmarks" / "results" / "store.json"
README = REPO / "benchmarks" / "README.md"


def _load() -> float:
    return round(os.getloadavg()[0], 2)


class PeakRSS:
    """Peak of the summed resident memory of this process and its children (psutil, every
    20 ms).

    The list of children is refreshed every 0.5 s only: finding them scans every process of
    the machine (about 1.4 CPU-ms here, 7% of a core at 20 ms, in the measured process),
    while reading the memory of the known ones costs about 0.02 ms each.  Loader workers
    live for the whole run, so a child is found within 0.5 s of its start.
    """

    REFRESH_S = 0.5

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._children: list[Any] = []
        self._found = -1e9
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, refresh: bool = False) -> int:
        now = time.perf_counter()
        if refresh or now - self._found > self.REFRESH_S:
            with contextlib.suppress(Exception):
                self._children = self.proc.children(recursive=True)
            self._found = now
        total = 0
        for p in [self.proc, *self._children]:
            with contextlib.suppress(Exception):  # a worker that just ended
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample(refresh=True))

    @property
    def mib(self) -> float:
        return round(self.peak / 2**20, 1)


# ---------------------------------------------------------------------------- 1. input
def _generate(job: tuple[int, int]) -> tuple[Any, ...]:
    import numpy as np

    from cft_pyg.data.generator import generate_crystal
    from cft_pyg.data.morse import morse_energy_per_atom

    index, number = job
    cell, frac, z = generate_crystal(number, np.random.default_rng([0, index]))
    return cell, frac, z, float(morse_energy_per_atom(cell, frac, z))


def _generate_unlabelled(job: tuple[int, int]) -> tuple[Any, ...]:
    """:func:`_generate` with the volume per atom as label instead of the Morse energy
    (whose neighbour sum is 2/3 of the generator's cost and is irrelevant to
    featurization, storage and memory)."""
    import numpy as np

    from cft_pyg.data.generator import generate_crystal

    index, number = job
    cell, frac, z = generate_crystal(number, np.random.default_rng([0, index]))
    return cell, frac, z, float(abs(np.linalg.det(cell)) / len(z))


def make_database_resumable(n: int, path: Path, workers: int, chunk: int = 2000
                            ) -> dict[str, Any]:
    """:func:`make_database` in transactions of ``chunk`` rows, resumed after a kill, labelled
    with the volume per atom (:func:`_generate_unlabelled`).

    Row ``i`` is a function of ``i`` only (group ``assign_space_groups(n, 0)[i]``, generator
    seed ``[0, i]``), so a rerun keeps the committed rows and writes the rest; a transaction
    cut by a kill leaves no row.  CPU seconds are those of this run (the parent and its pool).
    """
    import multiprocessing as mp

    import ase.db
    from ase import Atoms

    from cft_pyg.data.processing import cpu_seconds
    from cft_pyg.data.synthetic import assign_space_groups

    start, cpu0 = time.perf_counter(), cpu_seconds()
    db = ase.db.connect(str(path))
    done = db.count()
    jobs = [(i, int(g)) for i, g in enumerate(assign_space_groups(n, 0))][done:]
    with mp.get_context("fork").Pool(workers) as pool:
        for c in range(0, len(jobs), chunk):
            with db:
                for cell, frac, z, v in pool.imap(_generate_unlabelled, jobs[c:c + chunk],
                                                  chunksize=16):
                    db.write(Atoms(numbers=z, scaled_positions=frac, cell=cell, pbc=True),
                             volume_per_atom=v)
            written = done + c + len(jobs[c:c + chunk])
            rate = (written - done) / (time.perf_counter() - start)
            print(f"    {written:,}/{n:,} rows, {rate:.1f}/s, "
                  f"{(n - written) / max(rate, 1e-9) / 60:.0f} min left (load {_load()})",
                  flush=True)
    return {"crystals": n, "resumed_from": done, "seconds": round(time.perf_counter() - start, 1),
            "cpu_seconds": round(cpu_seconds() - cpu0, 1), "bytes": path.stat().st_size}


def make_database(n: int, path: Path, workers: int) -> dict[str, Any]:
    import multiprocessing as mp

    import ase.db
    from ase import Atoms

    from cft_pyg.data.synthetic import assign_space_groups

    start = time.perf_counter()
    jobs = [(i, int(g)) for i, g in enumerate(assign_space_groups(n, 0))]
    db = ase.db.connect(str(path))
    atoms_total = 0
    with mp.get_context("fork").Pool(workers) as pool, db:
        for cell, frac, z, e in pool.imap(_generate, jobs, chunksize=16):
            db.write(Atoms(numbers=z, scaled_positions=frac, cell=cell, pbc=True), e_morse=e)
            atoms_total += len(z)
    return {"crystals": n, "mean_atoms": round(atoms_total / n, 2),
            "seconds": round(time.perf_counter() - start, 1), "bytes": path.stat().st_size}


# ---------------------------------------------------------------------------- 2. featurization
def _baseline_one(row_atoms: tuple[Any, float, str]) -> Any:
    from cft_pyg.data import from_structure

    atoms, y, ident = row_atoms
    try:
        data = from_structure(atoms, y=y, material_id=ident)
    except ValueError:
        return None
    return data


def run_baseline(db: str, out: str, workers: int) -> dict[str, Any]:
    """Today's path (run with the baseline checkout first on sys.path)."""
    import ase.db
    import torch
    from torch_geometric.data import InMemoryDataset

    import cft_pyg
    from cft_pyg.data.processing import cpu_seconds, parallel_map

    torch.set_num_threads(1)
    start, cpu0 = time.perf_counter(), cpu_seconds()
    with PeakRSS() as peak:
        rows = [(r.toatoms(), r.e_morse, str(r.id)) for r in ase.db.connect(db).select()]
        data = [d for d in parallel_map(_baseline_one, rows, num_workers=workers,
                                        use_pool=workers > 1, desc="baseline", log=False,
                                        chunksize=16) if d is not None]
        InMemoryDataset.save(data, out)
    seconds = time.perf_counter() - start
    return {"code": str(Path(cft_pyg.__file__).parents[1]), "kept": len(data),
            "seconds": seconds, "cpu_seconds": cpu_seconds() - cpu0, "peak_mib": peak.mib,
            "bytes": os.path.getsize(out)}


def run_store(db: str, out: str, workers: int, backend: str, target: str = "e_morse"
              ) -> dict[str, Any]:
    from cft_pyg.data.processing import cpu_seconds
    from cft_pyg.data.store import CrystalStore, build_store
    from cft_pyg.data.streams import iter_ase_db

    start, cpu0 = time.perf_counter(), cpu_seconds()
    with PeakRSS() as peak:
        report = build_store(iter_ase_db(db, [target]), out, targets=[target],
                             backend=backend, num_workers=workers, log=False)
    seconds = time.perf_counter() - start
    store = CrystalStore(out)
    return {"kept": report.kept, "skipped": report.skipped, "seconds": seconds,
            "cpu_seconds": cpu_seconds() - cpu0, "peak_mib": peak.mib,
            "bytes": store.file_bytes(), "atoms": int(store.natoms.sum())}


def run_steady(db: str, path: str, warm: int) -> dict[str, Any]:
    """Per-crystal CPU time in one process once the per-group caches are warm.

    The first ``warm`` rows (one crystal of every group: the generator cycles through all
    230) fill the caches of the canonical-origin step (the affine normalizer of each group,
    about 0.1-0.2 s per group and process, paid once); the remaining rows are timed.
    ``path``: ``'today'`` (``from_structure`` with the graph, then the ``Data`` pickled as a
    pool worker would send it) or ``'store'`` (``standardize`` and the stored record).
    """
    import pickle

    import ase.db
    import numpy as np
    import torch

    torch.set_num_threads(1)
    rows = [(r.toatoms(), r.e_morse, str(r.id)) for r in ase.db.connect(db).select()]
    if path == "today":
        from cft_pyg.data import from_structure

        def one(item: tuple[Any, float, str]) -> int:
            return len(pickle.dumps(from_structure(item[0], y=item[1], material_id=item[2])))
    else:
        from cft_pyg.data import standardize
        from cft_pyg.data.store.record import StoredCrystal, encode

        def one(item: tuple[Any, float, str]) -> int:
            return len(encode(StoredCrystal(standardize(item[0]), np.array([item[1]]),
                                            item[2])))
    start = time.process_time()
    for item in rows[:warm]:
        one(item)
    cold = time.process_time() - start
    start = time.process_time()
    for item in rows[warm:]:
        one(item)
    steady = time.process_time() - start
    timed = len(rows) - warm
    return {"path": path, "warm_crystals": warm, "warm_cpu_s": round(cold, 2),
            "timed_crystals": timed, "cpu_ms_per_crystal": round(1e3 * steady / timed, 2),
            "per_core_per_s": round(timed / steady, 2)}


def _subprocess(args: list[str], pythonpath: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": pythonpath, "BENCH_STORE_CODE": pythonpath,
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def profile_standardize(db: str, n: int) -> dict[str, Any]:
    """Where the store's featurization time goes, per crystal (ms), on ``n`` crystals."""
    import cProfile
    import pstats

    import ase.db
    import torch

    from cft_pyg.data import standardize
    from cft_pyg.data.structure import from_standardized

    torch.set_num_threads(1)
    atoms = [r.toatoms() for r in ase.db.connect(db).select(limit=n)]
    for a in atoms:  # warm the per-group caches (the steady state of a long build)
        standardize(a)
    prof = cProfile.Profile()
    prof.enable()
    stds = [standardize(a) for a in atoms]
    prof.disable()
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)

    def cumulative(name: str) -> float:
        return sum(v[3] for k, v in stats.items() if k[2] == name)

    from_standardized(stds[0])  # loads the compiled neighbour loops (once per process)
    start = time.process_time()
    for s in stds:
        from_standardized(s)
    graph = time.process_time() - start
    total = cumulative("standardize")
    parts = {
        "spglib": cumulative("get_symmetry_dataset"),
        "lll_reduction": cumulative("_reduced_lattice"),
        "overlap_check": cumulative("validate_cell"),
        "symmetrize_loop": cumulative("symmetrize_frac_coords"),
        "measured_positions": cumulative("_measured_std_positions"),
        "canonical_origin": cumulative("_canonical_origin"),
        "metric_preserving_matrices": cumulative("metric_preserving_matrices"),
    }
    ms = {k: round(1e3 * v / n, 2) for k, v in parts.items()}
    ms["standardize_total_profiled"] = round(1e3 * total / n, 2)
    ms["from_standardized_with_graph_not_profiled"] = round(1e3 * graph / n, 2)
    return {"crystals": n, "ms_per_crystal": ms, "load": _load(), "code": _git_head(),
            "note": "second pass, per-group caches warm; cProfile adds overhead; the parts "
                    "overlap (spglib and LLL are inside "
                    "the symmetrize/detect passes, the overlap check is a neighbour "
                    "search); from_standardized (the Data with its neighbour graph, timed "
                    "without cProfile) is what the loader workers do per crystal"}


# ---------------------------------------------------------------------------- 3. backends
def read_rates(folder: str, workers_list: list[int], graph: bool) -> dict[str, float]:
    """Random-read crystals/s through a ``DataLoader`` (batches of 64), per number of
    workers: a warm-up pass (worker start-up excluded), then a timed pass over the store.
    ``cpu_ms_per_read``: CPU time of one read in this process (0 workers)."""
    import torch
    from torch.utils.data import RandomSampler
    from torch_geometric.loader import DataLoader

    from cft_pyg.data.store import CrystalStore

    torch.set_num_threads(1)
    store = CrystalStore(folder, neighbor_graph=graph)
    out: dict[str, float] = {}
    for workers in workers_list:
        loader = DataLoader(store, batch_size=64, num_workers=workers,
                            persistent_workers=workers > 0,
                            sampler=RandomSampler(store, generator=torch.Generator()
                                                  .manual_seed(0)))
        for _ in loader:  # warm-up: workers started, pages cached
            pass
        start, cpu = time.perf_counter(), time.process_time()
        count = sum(batch.num_graphs for batch in loader)
        out[str(workers)] = round(count / (time.perf_counter() - start), 1)
        if workers == 0:
            out["cpu_ms_per_read"] = round(1e3 * (time.process_time() - cpu) / count, 3)
        del loader
    return out


# ---------------------------------------------------------------------------- 4./5. epochs
def _model() -> Any:
    import torch

    from cft_pyg.nn import CGCNN

    torch.manual_seed(0)
    return CGCNN(atom_fea_len=32, n_conv=2, h_fea_len=64)


def _train(loader: Any, steps: int | None, model: Any,
           prepare: Any = None) -> tuple[int, float]:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    seen, start = 0, time.perf_counter()
    for k, batch in enumerate(loader):
        if steps is not None and k >= steps:
            break
        if prepare is not None:
            batch = prepare(batch)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch), batch.y.view(-1))
        loss.backward()
        opt.step()
        seen += batch.num_graphs
    return seen, time.perf_counter() - start


EPOCH_MODES = ("memory", "stream", "stream-shm", "stream-batch")
"""``memory``: the in-memory list of the same ``Data``, no workers; ``stream``: the store
through :class:`~cft_pyg.data.CrystalLoader` (graphs built in the workers, each batch sent as
one buffer: the library's path); ``stream-shm``: the same through PyG's ``DataLoader`` (one
shared-memory segment per tensor); ``stream-batch``: the workers only decode, the batch's
graph is built at once in the training process (``add_neighbor_graph``)."""


def run_epoch(folder: str, mode: str, batch_size: int, workers: int,
              steps: int | None, epochs: int = 2) -> dict[str, Any]:
    """``epochs`` training epochs (or ``steps`` steps of one) of the same model over the
    store in one of :data:`EPOCH_MODES`; the first epoch includes the workers' start."""
    import torch
    from torch_geometric.loader import DataLoader

    from cft_pyg.data import CrystalLoader
    from cft_pyg.data.store import CrystalStore, add_neighbor_graph

    if mode not in EPOCH_MODES:
        raise SystemExit(f"unknown epoch mode {mode}")
    torch.set_num_threads(1)
    prepare = None
    with PeakRSS() as peak:
        store = CrystalStore(folder, neighbor_graph=mode != "stream-batch")
        if mode == "stream-batch":  # workers only decode; the batch's graph in this process

            def prepare(batch: Any) -> Any:
                return add_neighbor_graph(batch, store.featurization)
        order = torch.Generator().manual_seed(0)
        if mode == "memory":
            data = [store[i] for i in range(len(store))]  # the in-memory path's Data
            loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=order)
        else:
            make = DataLoader if mode == "stream-shm" else CrystalLoader
            loader = make(store, batch_size=batch_size, shuffle=True, num_workers=workers,
                          persistent_workers=workers > 0, generator=order)
        model = _model()
        runs = [_train(loader, steps, model, prepare) for _ in range(1 if steps else epochs - 1)]
        if not steps:  # the last epoch, with the CPU time of this process and its workers
            cpu, workers_cpu = time.process_time(), _children_cpu()
            runs.append(_train(loader, steps, model, prepare))
            cpu, workers_cpu = time.process_time() - cpu, _children_cpu() - workers_cpu
    seen, seconds = runs[-1]
    cpu_ms = {} if steps else {
        "trainer_cpu_ms_per_crystal": round(1e3 * cpu / seen, 3),
        "workers_cpu_ms_per_crystal": round(1e3 * workers_cpu / seen, 3)}
    return {"mode": mode, "crystals": seen, "seconds": round(seconds, 2), **cpu_ms,
            "crystals_per_s": round(seen / seconds, 1),
            "first_epoch_crystals_per_s": round(runs[0][0] / runs[0][1], 1),
            "peak_mib": peak.mib, "workers": workers if mode != "memory" else 0,
            "store_size": len(store), "epochs": len(runs)}


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's live children (the loader workers)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(Exception):
            t = child.cpu_times()
            total += t.user + t.system
    return total


def measure_epochs(folder: str, batch_size: int, repeats: int) -> dict[str, Any]:
    """Every mode of :data:`EPOCH_MODES` on ``folder``, ``repeats`` rounds, the modes
    interleaved within a round (so that a change of the machine's load hits them alike);
    each mode's crystals/s and its ratio to the in-memory path of the same round, as mean
    and sample standard deviation over the rounds."""
    import statistics

    rounds = []
    for r in range(repeats):
        row = {mode: _subprocess(["_epoch", folder, mode, str(batch_size), "2", "-1"],
                                 str(REPO)) for mode in EPOCH_MODES}
        row["load"] = _load()
        rounds.append(row)
        print(f"  round {r + 1}/{repeats}: " + ", ".join(
            f"{m} {row[m]['crystals_per_s']}" for m in EPOCH_MODES) + f" (load {row['load']})",
            flush=True)

    def stats(values: list[float]) -> dict[str, float]:
        return {"mean": round(statistics.mean(values), 3),
                "std": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
                "median": round(statistics.median(values), 3)}

    out: dict[str, Any] = {"batch_size": batch_size, "repeats": repeats, "rounds": rounds,
                           "threads": 1, "workers": 2, "code": _git_head(),
                           "model": "CGCNN(atom_fea_len=32, n_conv=2, h_fea_len=64)"}
    for mode in EPOCH_MODES:
        out[mode] = {"crystals_per_s": stats([r[mode]["crystals_per_s"] for r in rounds]),
                     **{k: stats([r[mode][k] for r in rounds])
                        for k in ("trainer_cpu_ms_per_crystal", "workers_cpu_ms_per_crystal")
                        if k in rounds[0][mode]},
                     "first_epoch_crystals_per_s":
                         stats([r[mode]["first_epoch_crystals_per_s"] for r in rounds]),
                     "peak_mib": max(r[mode]["peak_mib"] for r in rounds)}
        if mode != "memory":
            out[mode]["ratio"] = stats([r[mode]["crystals_per_s"] /
                                        r["memory"]["crystals_per_s"] for r in rounds])
    out["ratio"] = out["stream"]["ratio"]["mean"]
    out["load"] = [r["load"] for r in rounds]
    return out


def _copy_store(source: str, folder: str, size: int, records: Any) -> int:
    """A store of ``size`` entries in ``folder`` taking ``records`` (an iterator of stored
    records) with ``source``'s configuration; returns its bytes."""
    from cft_pyg.data.store import open_backend
    from cft_pyg.data.store.build import entry_key, finalize_store

    src = open_backend(source)
    out = open_backend(folder, "lmdb", write=True)
    out.put_many({b"m:config": src.get(b"m:config"),
                  b"m:total": json.dumps({"entries": size}).encode()})
    batch: dict[bytes, bytes] = {}
    for k, value in zip(range(size), records, strict=False):
        batch[entry_key(k)] = value
        if len(batch) == 20000:
            out.put_many(batch)
            batch = {}
    if batch:
        out.put_many(batch)
    finalize_store(out)
    out.close()
    return open_backend(folder).file_bytes()


def replicate_store(source: str, folder: str, size: int) -> int:
    """A store of ``size`` entries repeating ``source``'s records under new keys."""
    import itertools

    from cft_pyg.data.store import open_backend

    records = [v for _, v in open_backend(source).items(b"e")]
    return _copy_store(source, folder, size, itertools.cycle(records))


def prefix_store(source: str, folder: str, size: int) -> int:
    """A store of the first ``size`` (distinct) entries of ``source``."""
    from cft_pyg.data.store import open_backend

    return _copy_store(source, folder, size, (v for _, v in open_backend(source).items(b"e")))


def measure_scale(folder: str, work: Path, sizes: list[int], batches: int,
                  batch_size: int) -> dict[str, Any]:
    """Part 5: peak memory of ``batches`` streamed training steps over stores of each size
    in ``sizes``, made by repeating ``folder``'s records under new keys."""
    runs = []
    for size in sizes:
        big = str(work / f"scale_{size}")
        shutil.rmtree(big, ignore_errors=True)
        nbytes = replicate_store(folder, big, size)
        run = _subprocess(["_epoch", big, "stream", str(batch_size), "2", str(batches)],
                          str(REPO))
        run["bytes"] = nbytes
        runs.append(run)
        shutil.rmtree(big, ignore_errors=True)
    flat = runs[-1]["peak_mib"] / runs[0]["peak_mib"] if runs else None
    return {"batches": batches, "runs": runs,
            "peak_ratio_largest_to_smallest": None if flat is None else round(flat, 3),
            "how": "stores of the featurized records repeated under new keys",
            "load": _load(), "code": _git_head()}


def run_distinct(n: int, work: Path, workers: int, sizes: list[int], batches: int,
                 batch_size: int, out: str) -> None:
    """Part 7: ``n`` *distinct* generated crystals, each step resumable (state in ``work``).

    (a) the ASE database (:func:`make_database_resumable`); (b) the store, featurized on
    ``workers`` processes by ``build_store`` (resumed where a kill left it); (c) peak memory
    of ``batches`` streamed training steps over the first ``sizes[0]`` crystals and over all
    of them.  Writes ``res['distinct']`` into the recorded JSON ``out`` and its docs block.
    """
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "distinct.json"
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}

    def save() -> None:
        state_file.write_text(json.dumps(state, indent=1))

    db = work / "crystals.db"
    if "input" not in state:
        print(f"[7a] writing {n:,} distinct crystals to {db} (load {_load()})", flush=True)
        state.setdefault("input_parts", []).append(make_database_resumable(n, db, workers))
        import ase.db

        rows = ase.db.connect(str(db))
        atoms = sum(len(r.numbers) for r in rows.select())
        state["input"] = {"crystals": n, "mean_atoms": round(atoms / n, 2),
                          "bytes": db.stat().st_size, "parts": state.pop("input_parts")}
        save()
    store = work / "store"
    if "featurization" not in state:
        print(f"[7b] featurizing into {store} on {workers} workers (load {_load()})",
              flush=True)
        load0 = _load()
        part = _subprocess(["_store", str(db), str(store), str(workers), "lmdb",
                            "volume_per_atom"], str(REPO))
        part["load"] = [load0, _load()]
        state.setdefault("featurization_parts", []).append(part)
        parts = state["featurization_parts"]
        cpu = sum(p["cpu_seconds"] for p in parts)
        wall = sum(p["seconds"] for p in parts)
        state["featurization"] = {
            "workers": workers, "kept": part["kept"], "skipped": part["skipped"],
            "cpu_seconds": round(cpu, 1), "seconds": round(wall, 1),
            "per_core_cpu": round(part["kept"] / cpu, 2), "per_wall": round(part["kept"] / wall, 2),
            "peak_mib": max(p["peak_mib"] for p in parts), "bytes": part["bytes"],
            "bytes_per_crystal": round(part["bytes"] / max(part["kept"], 1), 1),
            "atoms_per_crystal": round(part["atoms"] / max(part["kept"], 1), 2),
            "parts": parts, "code": _git_head()}
        state.pop("featurization_parts")
        save()
    runs = state.setdefault("scale", {})
    for size in sizes:
        if str(size) in runs:
            continue
        print(f"[7c] {batches} streamed steps over {size:,} crystals (load {_load()})",
              flush=True)
        folder = str(store)
        if size < state["featurization"]["kept"]:
            folder = str(work / f"prefix_{size}")
            shutil.rmtree(folder, ignore_errors=True)
            prefix_store(str(store), folder, size)
        run = _subprocess(["_epoch", folder, "stream", str(batch_size), "2", str(batches)],
                          str(REPO))
        run["load"] = _load()
        run["code"] = _git_head()
        runs[str(size)] = run
        save()
        if folder != str(store):
            shutil.rmtree(folder, ignore_errors=True)
    peaks = [runs[str(s)]["peak_mib"] for s in sizes]
    state["peak_ratio_largest_to_smallest"] = round(peaks[-1] / peaks[0], 3)
    state["batches"] = batches
    save()
    res = json.loads(Path(out).read_text())
    res["distinct"] = state
    res["targets"].update(_distinct_targets(state))
    Path(out).write_text(json.dumps(res, indent=2))
    write_docs(docs_block(res))
    print(json.dumps(state, indent=1))


def _git_head(repo: str | Path = REPO) -> str:
    result = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


# ---------------------------------------------------------------------------- 6. extrapolate
def extrapolate(cpu_per_crystal: float, bytes_per_crystal: float, rank_base_mib: float
                ) -> list[dict[str, Any]]:
    rows = []
    for n in (10**6, 10**8):
        for cores in (2, 64, 1024):
            rows.append({"crystals": n, "cores": cores,
                         "hours": round(n * cpu_per_crystal / cores / 3600, 2),
                         "disk_gb": round(n * bytes_per_crystal / 1e9, 2),
                         "memory_per_rank_mib": round(rank_base_mib + 12 * n / 2**20, 1)})
    return rows


# ---------------------------------------------------------------------------- docs block
def docs_block(res: dict[str, Any]) -> str:
    f = res["featurization"]
    base, new = f["baseline"], f["store"]
    lines = [
        f"Run of {res['date']} ({res['machine']}, {res['n']} synthetic crystals of all 230 "
        f"groups, mean {res['input']['mean_atoms']} atoms in the input cell; "
        f"{f['workers']} worker processes; load average {f['load']} on "
        f"{res['cpus']} cores shared with other users: wall-clock rates are noisy, the "
        "CPU-time rates less so).",
        "",
        "| featurization | crystals/s per core (CPU time) | crystals/s (wall) | "
        "bytes per crystal | peak memory (MiB) |",
        "|---|---|---|---|---|",
        f"| today (`from_structure` + graph, in-memory file) | {base['per_core_cpu']} | "
        f"{base['per_wall']} | {base['bytes_per_crystal']} | {base['peak_mib']} |",
        f"| store (`build_store`, LMDB) | {new['per_core_cpu']} | {new['per_wall']} | "
        f"{new['bytes_per_crystal']} | {new['peak_mib']} |",
        "",
        f"Today's path is the code of commit {f.get('baseline_commit', '?')} (v0.4, before "
        f"the store), the store that of {f.get('code_commit', '?')}.  "
        f"Speed-up per core (CPU time, whole build, each worker filling its per-group caches): "
        f"**{f['speedup_per_core_cpu']}x** (wall: {f['speedup_wall']}x)"
        + (f"; once the per-group caches are warm (one process, "
           f"{f['steady']['store']['timed_crystals']} crystals): today "
           f"{f['steady']['today']['cpu_ms_per_crystal']} ms, store "
           f"{f['steady']['store']['cpu_ms_per_crystal']} ms CPU per crystal, "
           f"**{f['steady']['speedup_per_core']}x**" if "steady" in f else "")
        + ".  Where the store's time goes (ms per crystal under cProfile, caches warm; parts "
        f"overlap; {res['profile']['crystals']} crystals, load {res['profile']['load']}, code "
        f"{res['profile'].get('code', '?')}): "
        + ", ".join(f"{k} {v}" for k, v in res["profile"]["ms_per_crystal"].items()) + ".",
        "",
        "| backend | bytes per crystal | random reads/s, 0 / 2 / 4 workers (no graph) |",
        "|---|---|---|",
    ]
    for name, b in res["backends"].items():
        r = b["reads_per_s"]
        lines.append(f"| {name} | {b['bytes_per_crystal']} | {r.get('0')} / {r.get('2')} / "
                     f"{r.get('4')} |")
    lines.append("")
    lines.append("Both backends hold a 20-atom crystal in well under 1 KB and read at rates "
                 "that differ less than the noise of this shared machine; LMDB is the "
                 "default (memory-mapped reads without locks or a query per crystal, the "
                 "format of fairchem's datasets), SQLite (smaller here: no page slack) is "
                 "the alternative of the standard library.")
    e = res["epoch"]
    label = {"memory": "in memory (a list of `Data`), no workers",
             "stream": "streamed, graphs built in 2 workers, `CrystalLoader` (each batch "
                       "sent as one buffer)",
             "stream-shm": "streamed, the same through PyG's `DataLoader` (one "
                           "shared-memory segment per tensor)",
             "stream-batch": "streamed, 2 workers decode, the batch's graph built at once "
                             "in the trainer (`add_neighbor_graph`; on the device when there "
                             "is one)"}

    def pm(x: dict[str, float], digits: int) -> str:
        return f"{x['mean']:.{digits}f} ± {x['std']:.{digits}f}"

    lines += [
        "",
        f"Training epochs: CGCNN, batch {e['batch_size']}, one thread, {e['crystals']:,} "
        f"crystals, epoch 2 of each run (epoch 1 starts the workers), {e['repeats']} rounds "
        f"with the modes interleaved (load {min(e['load'])}-{max(e['load'])}, code "
        f"{e.get('code', '?')}); mean ± std over the rounds.",
        "",
        "| path | crystals/s | ratio to in-memory (same round) | CPU-ms per crystal: "
        "trainer / workers | peak MiB (all processes) |",
        "|---|---|---|---|---|",
    ]
    for mode, text in label.items():
        m = e[mode]
        ratio = f"{pm(m['ratio'], 3)} (median {m['ratio']['median']:.3f})" if "ratio" in m \
            else "1"
        cpu = (f"{m['trainer_cpu_ms_per_crystal']['mean']:.2f} / "
               f"{m['workers_cpu_ms_per_crystal']['mean']:.2f}"
               if "trainer_cpu_ms_per_crystal" in m else "-")
        lines.append(f"| {text} | {pm(m['crystals_per_s'], 0)} | {ratio} | {cpu} | "
                     f"{m['peak_mib']} |")
    lines += [
        "",
        f"Streamed / in-memory throughput (the library's path): **{e['ratio']}**, the mean "
        f"of {e['repeats']} rounds (median {e['stream']['ratio']['median']}, round-to-round "
        f"std {e['stream']['ratio']['std']})"
        + (f".  It needs {e['stream']['trainer_cpu_ms_per_crystal']['mean']:.2f} + "
           f"{e['stream']['workers_cpu_ms_per_crystal']['mean']:.2f} CPU-ms per crystal "
           f"(trainer + workers) on the {res['cpus']} cores, the in-memory path "
           f"{e['memory']['trainer_cpu_ms_per_crystal']['mean']:.2f} on one"
           if "trainer_cpu_ms_per_crystal" in e["stream"] else "")
        + ".  Peak "
        f"memory of {res['scale']['batches']} streamed steps (2 workers): "
        + ", ".join(f"{s['store_size']:,} crystals {s['peak_mib']} MiB"
                    for s in res["scale"]["runs"]) + ".",
    ]
    if "distinct" in res:
        d = res["distinct"]
        fd = d["featurization"]
        lines += [
            "",
            f"**{d['input']['crystals']:,} distinct crystals** (the generator over all 230 "
            f"groups, mean {d['input']['mean_atoms']} atoms, written to an ASE database "
            f"first: {d['input']['bytes'] / 2**20:.0f} MiB) featurized into the store on "
            f"{fd['workers']} processes (code {fd['code']}, load "
            f"{fd['parts'][0]['load']}): {fd['kept']:,} kept, {fd['skipped']} skipped, "
            f"**{fd['per_core_cpu']} crystals/s per core** (CPU time; {fd['per_wall']}/s "
            f"wall, {fd['seconds'] / 60:.0f} min), {fd['bytes_per_crystal']} bytes per "
            f"crystal ({fd['atoms_per_crystal']} atoms), peak memory {fd['peak_mib']} MiB "
            "(all processes).  Peak memory of "
            f"{d['batches']} streamed steps (2 workers) over the first "
            + " and over ".join(f"{int(k):,} crystals: {v['peak_mib']} MiB"
                                for k, v in d["scale"].items())
            + f" (ratio {d['peak_ratio_largest_to_smallest']}).",
        ]
    lines += [
        "",
        "| crystals | cores | hours | disk (GB) | memory per rank (MiB) |",
        "|---|---|---|---|---|",
    ]
    for row in res["extrapolation"]:
        lines.append(f"| {row['crystals']:.0e} | {row['cores']} | {row['hours']} | "
                     f"{row['disk_gb']} | {row['memory_per_rank_mib']} |")
    lines.append("")
    t = res["targets"]
    lines.append("Targets: " + ", ".join(f"{k.replace('_', ' ')}: "
                                         f"{'met' if v else 'NOT met' if v is not None else '-'}"
                                         for k, v in t.items()) + ".")
    lines.append("")
    lines.append("Extrapolated (not measured): hours = crystals x measured CPU seconds per "
                 f"crystal ({1e3 * res['extrapolation_cpu_s_per_crystal']:.2f} ms, steady) / "
                 "cores; disk = crystals x measured bytes per crystal; memory per "
                 "rank = measured streamed-epoch peak + the 12-byte index per crystal.")
    return "\n".join(lines)


def write_docs(block: str) -> None:
    text = README.read_text()
    begin, end = "<!-- store:begin -->", "<!-- store:end -->"
    if begin not in text:
        text = text.rstrip() + ("\n\n## The crystal store at scale (`bench_store.py`)\n\n"
                                f"{begin}\n{end}\n")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{begin}\n{block}\n{end}{tail}")


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scale", type=int, nargs="*", default=[20000, 200000])
    parser.add_argument("--scale-batches", type=int, default=150)
    parser.add_argument("--epoch-repeats", type=int, default=3,
                        help="rounds of the training-epoch measurement (part 4)")
    parser.add_argument("--baseline-repo", default=str(REPO.parent / "main"))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--update-profile", type=int, default=None, metavar="N",
                        help="only re-measure the profile (N crystals) of the recorded run")
    parser.add_argument("--update-epoch", type=int, default=None, metavar="N",
                        help="only re-measure the training epochs (N crystals) of the "
                             "recorded run")
    parser.add_argument("--update-scale", type=int, default=None, metavar="N",
                        help="only re-measure part 5 (memory against --scale store sizes, "
                             "repeating N fresh crystals) of the recorded run")
    parser.add_argument("--distinct", type=int, default=None, metavar="N",
                        help="only part 7: featurize N distinct generated crystals "
                             "(resumable in --workdir) and measure streamed peak memory over "
                             "the first --scale[0] and all N; added to the recorded run")
    args = parser.parse_args()
    if args.distinct:
        if args.workdir is None:
            parser.error("--distinct needs --workdir (its resumable state lives there)")
        run_distinct(args.distinct, Path(args.workdir), args.workers,
                     [s for s in args.scale if s < args.distinct] + [args.distinct],
                     args.scale_batches, args.batch_size, args.out)
        return
    if args.update_epoch:
        update_epoch(args.out, args.update_epoch, args.workers, args.batch_size,
                     args.epoch_repeats)
        return
    if args.update_scale:
        update_scale(args.out, args.update_scale, args.workers, args.batch_size, args.scale,
                     args.scale_batches)
        return
    if args.update_profile:
        update_profile(args.out, args.update_profile, args.workers)
        return
    if args.quick:
        args.n, args.scale, args.scale_batches = 300, [2000, 20000], 40
    baseline_repo = args.baseline_repo if Path(args.baseline_repo, "cft_pyg").is_dir() \
        else str(REPO)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_store_"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "machine": platform.machine(), "cpus": os.cpu_count(), "n": args.n,
                           "python": platform.python_version()}
    db = work / "crystals.db"
    if db.exists():
        db.unlink()
    print(f"[1] writing {args.n} crystals to {db} (load {_load()})", flush=True)
    res["input"] = make_database(args.n, db, args.workers)

    print(f"[2] featurization side by side (load {_load()})", flush=True)
    load0 = _load()
    base = _subprocess(["_baseline", str(db), str(work / "inmemory.pt"), str(args.workers)],
                       baseline_repo)
    new = _subprocess(["_store", str(db), str(work / "store_lmdb"), str(args.workers), "lmdb"],
                      str(REPO))
    for r in (base, new):
        r["per_core_cpu"] = round(args.n / r["cpu_seconds"], 2)
        r["per_wall"] = round(args.n / r["seconds"], 2)
        r["bytes_per_crystal"] = round(r["bytes"] / max(r["kept"], 1), 1)
    res["featurization"] = {
        "workers": args.workers, "load": [load0, _load()], "baseline": base, "store": new,
        "baseline_repo": baseline_repo, "baseline_commit": _git_head(baseline_repo),
        "code_commit": _git_head(),
        "speedup_per_core_cpu": round(new["per_core_cpu"] / base["per_core_cpu"], 2),
        "speedup_wall": round(new["per_wall"] / base["per_wall"], 2),
    }
    if args.n > 230 + 50:
        warm = 230
        today = _subprocess(["_steady", str(db), "today", str(warm)], baseline_repo)
        store = _subprocess(["_steady", str(db), "store", str(warm)], str(REPO))
        res["featurization"]["steady"] = {
            "today": today, "store": store, "load": _load(),
            "speedup_per_core": round(today["cpu_ms_per_crystal"] /
                                      store["cpu_ms_per_crystal"], 2)}
    print(json.dumps(res["featurization"], indent=1), flush=True)
    res["profile"] = _subprocess(["_profile", str(db), str(min(args.n, 200))], str(REPO))

    print(f"[3] backends (load {_load()})", flush=True)
    sqlite = _subprocess(["_store", str(db), str(work / "store_sqlite"), str(args.workers),
                          "sqlite"], str(REPO))
    res["backends"] = {}
    for name, built in (("lmdb", new), ("sqlite", sqlite)):
        folder = str(work / f"store_{name}")
        res["backends"][name] = {
            "bytes_per_crystal": round(built["bytes"] / built["kept"], 1),
            "build_seconds": round(built["seconds"], 1),
            "reads_per_s": _subprocess(["_reads", folder, "0,2,4", "0"], str(REPO)),
            "reads_with_graph_per_s": _subprocess(["_reads", folder, "0,2", "1"], str(REPO)),
            "load": _load()}
    print(json.dumps(res["backends"], indent=1), flush=True)

    print(f"[4] one epoch streamed vs in memory (load {_load()})", flush=True)
    folder = str(work / "store_lmdb")
    res["epoch"] = measure_epochs(folder, args.batch_size, args.epoch_repeats)
    res["epoch"]["crystals"] = args.n
    print(json.dumps(res["epoch"], indent=1), flush=True)

    print(f"[5] memory against store size (load {_load()})", flush=True)
    res["scale"] = measure_scale(folder, work, args.scale, args.scale_batches, args.batch_size)
    runs = res["scale"]["runs"]
    print(json.dumps(res["scale"], indent=1), flush=True)

    _finish(res, new, runs, res["epoch"]["stream"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"wrote {args.out}")
    if not args.no_docs and not args.quick:
        write_docs(docs_block(res))
        print(f"updated {README}")
    shutil.rmtree(work, ignore_errors=True)


def _finish(res: dict[str, Any], new: dict[str, Any], runs: list[dict[str, Any]],
            stream: dict[str, Any]) -> None:
    """Extrapolation and targets from the measured parts."""
    steady = res["featurization"].get("steady")
    # a long build runs at the steady rate (the per-group caches fill once per process)
    cpu_per_crystal = steady["store"]["cpu_ms_per_crystal"] / 1e3 if steady \
        else new["cpu_seconds"] / res["n"]
    res["extrapolation_cpu_s_per_crystal"] = cpu_per_crystal
    rank_mib = max(r["peak_mib"] for r in runs) if runs else stream["peak_mib"]
    flat = runs[-1]["peak_mib"] / runs[0]["peak_mib"] if runs else None
    res["extrapolation"] = extrapolate(cpu_per_crystal, new["bytes"] / new["kept"], rank_mib)
    res["targets"] = {
        "bytes_per_crystal_le_1kb_20_atoms": new["bytes_per_crystal"] /
        max(new["atoms"] / new["kept"] / 20, 1e-9) <= 1024,
        "stream_peak_flat_within_10pct": None if flat is None else abs(flat - 1) <= 0.10,
        "stream_peak_under_2gb": rank_mib < 2048,
        "stream_throughput_ge_90pct": res["epoch"]["ratio"] >= 0.9,
        "featurization_ge_3x_per_core": res["featurization"]["speedup_per_core_cpu"] >= 3,
        "featurization_ge_3x_per_core_steady": None if "steady" not in res["featurization"]
        else res["featurization"]["steady"]["speedup_per_core"] >= 3,
    }
    if "distinct" in res:  # part 7, measured apart: its targets stay with the other parts'
        res["targets"].update(_distinct_targets(res["distinct"]))
    res["gpu"] = "not run: no CUDA device in this run" if not _cuda() else "see gpu_check.sh"


def _distinct_targets(state: dict[str, Any]) -> dict[str, bool]:
    """The memory targets on the distinct crystals of part 7 (its state: ``scale`` runs by
    store size)."""
    peaks = [state["scale"][k]["peak_mib"] for k in sorted(state["scale"], key=int)]
    return {"distinct_peak_flat_within_10pct": abs(peaks[-1] / peaks[0] - 1) <= 0.10,
            "distinct_peak_under_2gb": max(peaks) < 2048}


def _fresh_store(n: int, workers: int) -> tuple[Path, str]:
    """A work folder holding a fresh store of ``n`` generated crystals (Morse labels)."""
    work = Path(tempfile.mkdtemp(prefix="bench_store_update_"))
    db = work / "crystals.db"
    make_database(n, db, workers)
    folder = str(work / "store")
    _subprocess(["_store", str(db), folder, str(workers), "lmdb"], str(REPO))
    return work, folder


def _save_update(out: str, res: dict[str, Any]) -> None:
    _finish(res, res["featurization"]["store"], res["scale"]["runs"], res["epoch"]["stream"])
    Path(out).write_text(json.dumps(res, indent=2))
    write_docs(docs_block(res))


def update_epoch(out: str, n: int, workers: int, batch_size: int, repeats: int) -> None:
    """Re-measure only the training epochs (part 4, :func:`measure_epochs`) of a recorded
    run on a fresh store of ``n`` crystals."""
    res = json.loads(Path(out).read_text())
    work, folder = _fresh_store(n, workers)
    res["epoch"] = measure_epochs(folder, batch_size, repeats)
    res["epoch"]["crystals"] = n
    _save_update(out, res)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: v for k, v in res["epoch"].items() if k != "rounds"}, indent=1))


def update_scale(out: str, n: int, workers: int, batch_size: int, sizes: list[int],
                 batches: int) -> None:
    """Re-measure only part 5 (:func:`measure_scale`) of a recorded run, repeating a fresh
    store of ``n`` crystals."""
    res = json.loads(Path(out).read_text())
    work, folder = _fresh_store(n, workers)
    res["scale"] = measure_scale(folder, work, sizes, batches, batch_size)
    _save_update(out, res)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res["scale"], indent=1))


def update_profile(out: str, n: int, workers: int) -> None:
    """Re-measure only the profile of a recorded run (a fresh database of ``n`` crystals),
    recompute the extrapolation and targets, rewrite the JSON and the docs block."""
    res = json.loads(Path(out).read_text())
    work = Path(tempfile.mkdtemp(prefix="bench_store_profile_"))
    db = work / "crystals.db"
    make_database(n, db, workers)
    res["profile"] = _subprocess(["_profile", str(db), str(n)], str(REPO))
    _save_update(out, res)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res["profile"], indent=1))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _child() -> None:
    kind, *rest = sys.argv[1:]
    if kind == "_baseline":
        out = run_baseline(rest[0], rest[1], int(rest[2]))
    elif kind == "_store":
        out = run_store(rest[0], rest[1], int(rest[2]), rest[3], *rest[4:5])
    elif kind == "_steady":
        out = run_steady(rest[0], rest[1], int(rest[2]))
    elif kind == "_profile":
        out = profile_standardize(rest[0], int(rest[1]))
    elif kind == "_reads":
        out = read_rates(rest[0], [int(w) for w in rest[1].split(",")], rest[2] == "1")
    elif kind == "_epoch":
        steps = int(rest[4])
        out = run_epoch(rest[0], rest[1], int(rest[2]), int(rest[3]),
                        None if steps < 0 else steps)
    else:
        raise SystemExit(f"unknown part {kind}")
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        _child()
    else:
        main()
