"""Throughput of the crystal data pipeline, and how canonical its standardization is.

Three parts (all on the real MP-20 val/test files in ``../shared/data/mp_20``):

1. **MP-20 processing** (structures/s), from parsed pymatgen ``Structure`` objects (CIF
   parsing excluded, it is the same for both):
   * ours: ``cft_pyg.data.from_structure`` (validation, spglib standardization to the
     ``SpaceGroup(n)`` setting, symmetrization, 8 Å / 12-neighbour graph);
   * pymatgen: ``SpacegroupAnalyzer(s).get_conventional_standard_structure()`` then
     ``Structure.get_neighbor_list(8.0)`` and the 12 nearest per centre (CGCNN's path);
   * the neighbour graph alone: ours per crystal, ours batched over all crystals at once,
     and pymatgen's ``get_neighbor_list`` per crystal.
   Both paths run in the same process, interleaved, with the ratio printed.
2. **Neighbour search alone for ~1e5 atoms**: MP-20 conventional cells concatenated into
   one batch (radius 8 Å, 12 neighbours), on CPU and on CUDA when available.
3. ``--ambiguity N``: for N seeded MP-20 crystals, one random re-description per kind
   (atom permutation, origin shift, unimodular change of basis, rotation, all together)
   is standardized and compared with the original by
   :func:`cft_pyg.data.compare_standardized`: ``identical`` (up to atom order),
   ``within_0.01A`` (identical only with a 0.01 Å tolerance: a near-tie between
   equivalent descriptions of a pseudo-symmetric crystal), ``origin`` (equal after a
   translation: another equivalent origin) or ``different`` (another normalizer choice,
   e.g. an inversion or axis swap).  Fractions are reported for polar and non-polar
   groups.  ``--no-canonical`` measures spglib's own choice (``canonical_origin=False``).

Usage::

    python benchmarks/bench_data.py                    # 300 crystals, 1e5-atom search
    python benchmarks/bench_data.py --ambiguity 1000   # also measure canonicality
    python benchmarks/bench_data.py --device both      # GPU neighbour search too
    python benchmarks/bench_data.py --rounds 0 --threads 1   # only part 2, one thread

Writes ``benchmarks/results/data.json`` (``--out``).  Timings on a shared machine are
noisy; the load average is recorded.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cft_pyg import SpaceGroup  # noqa: E402
from cft_pyg.data import (  # noqa: E402
    compare_standardized,
    from_structure,
    parse_cif,
    radius_graph_pbc,
    standardize,
    to_cell,
)


def _data_dir() -> Path:
    env = os.environ.get("CFT_PYG_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_mp20(n: int | None, seed: int = 0) -> pd.DataFrame:
    """MP-20 val + test rows (a seeded sample of ``n`` rows, or all when ``n`` is None)."""
    root = _data_dir() / "mp_20"
    df = pd.concat([pd.read_csv(root / f) for f in ("val.csv.gz", "test.csv.gz")])
    return df if n is None else df.sample(n, random_state=seed)


def pymatgen_path(structure, radius: float = 8.0, max_neighbors: int = 12) -> tuple:
    """CGCNN-style: conventional standard cell, pymatgen neighbour list, k nearest."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    conv = SpacegroupAnalyzer(structure, symprec=0.01).get_conventional_standard_structure()
    return pymatgen_graph(conv, radius, max_neighbors)


def pymatgen_graph(structure, radius: float = 8.0, max_neighbors: int = 12) -> tuple:
    centre, neighbour, images, dist = structure.get_neighbor_list(radius)
    order = np.lexsort((dist, centre))
    centre, neighbour, images, dist = centre[order], neighbour[order], images[order], dist[order]
    start = np.searchsorted(centre, centre, side="left")
    keep = (np.arange(len(centre)) - start) < max_neighbors
    return centre[keep], neighbour[keep], images[keep], dist[keep]


def _timed(fn, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - t0


def bench_processing(structures: list, rounds: int) -> dict:
    ours_t, pmg_t, ours_g, pmg_g = [], [], [], []
    std = [standardize(s) for s in structures]
    pos = [torch.from_numpy(c.frac_coords @ c.lattice) for c in std]
    cells = [torch.from_numpy(c.lattice) for c in std]
    from pymatgen.core import Structure

    conv = [Structure(c.lattice, c.numbers, c.frac_coords) for c in std]
    for _ in range(rounds):
        ours_t.append(_timed(from_structure, structures))
        pmg_t.append(_timed(pymatgen_path, structures))
        ours_g.append(_timed(lambda k: radius_graph_pbc(pos[k], cells[k]), range(len(pos))))
        pmg_g.append(_timed(pymatgen_graph, conv))
    batch_pos = torch.cat(pos)
    batch_cell = torch.stack(cells)
    natoms = torch.tensor([p.shape[0] for p in pos])
    t0 = time.perf_counter()
    radius_graph_pbc(batch_pos, batch_cell, natoms=natoms)
    batched = time.perf_counter() - t0
    n = len(structures)
    out = {
        "crystals": n,
        "conventional_atoms": int(natoms.sum()),
        "ours_from_structure_per_s": n / min(ours_t),
        "pymatgen_conventional_plus_neighbor_list_per_s": n / min(pmg_t),
        "ratio_ours_over_pymatgen": min(pmg_t) / min(ours_t),
        "graph_only_ours_per_crystal_per_s": n / min(ours_g),
        "graph_only_ours_batched_per_s": n / batched,
        "graph_only_pymatgen_per_s": n / min(pmg_g),
    }
    return out


def bench_large(structures: list, target_atoms: int, device: str, repeats: int = 3) -> dict:
    std = [standardize(s) for s in structures]
    pos, cells, natoms = [], [], []
    total = 0
    k = 0
    while total < target_atoms:
        c = std[k % len(std)]
        pos.append(torch.from_numpy(c.frac_coords @ c.lattice))
        cells.append(torch.from_numpy(c.lattice))
        natoms.append(len(c.numbers))
        total += len(c.numbers)
        k += 1
    results = {}
    for dtype in (torch.float32, torch.float64):
        p = torch.cat(pos).to(device=device, dtype=dtype)
        cl = torch.stack(cells).to(device=device, dtype=dtype)
        na = torch.tensor(natoms, device=device)
        radius_graph_pbc(p, cl, natoms=na)  # warm-up
        times = []
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            ei, _, _ = radius_graph_pbc(p, cl, natoms=na)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        results[str(dtype).replace("torch.", "")] = {
            "seconds": min(times),
            "atoms_per_s": total / min(times),
            "edges": int(ei.shape[1]),
        }
    return {"atoms": total, "crystals": k, "device": device, "threads": torch.get_num_threads(),
            **results}


# ---------------------------------------------------------------------------- ambiguity
def _rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


def _unimodular(rng: np.random.Generator) -> np.ndarray:
    M = np.eye(3, dtype=np.int64)
    for _ in range(3):
        i, j = rng.choice(3, 2, replace=False)
        M[i] += rng.integers(-1, 2) * M[j]
    return M


KINDS = ("permute", "origin", "basis", "rotate", "all")


def redescribe(cell: tuple, kind: str, rng: np.random.Generator) -> tuple:
    lattice, frac, z = (x.copy() for x in cell)
    if kind in ("permute", "all"):
        p = rng.permutation(len(z))
        frac, z = frac[p], z[p]
    if kind in ("origin", "all"):
        frac = frac + rng.random(3)
    if kind in ("basis", "all"):
        M = _unimodular(rng)
        lattice, frac = M @ lattice, frac @ np.linalg.inv(M)
    if kind in ("rotate", "all"):
        lattice = lattice @ _rotation(rng).T
    return lattice, frac, z


def is_polar(number: int) -> bool:
    """A vector fixed by the whole point group exists (continuous origin freedom)."""
    return bool(np.abs(SpaceGroup(number).point_group_rotations.mean(axis=0)).max() > 1e-9)


def bench_ambiguity(rows: pd.DataFrame, seed: int = 0, canonical: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    counts: dict[str, collections.Counter] = {k: collections.Counter() for k in KINDS}
    failures = 0
    for cif in rows.cif:
        try:
            cell = to_cell(parse_cif(cif))
            ref = standardize(cell, canonical_origin=canonical, canonical_handedness=canonical)
        except ValueError:
            failures += 1
            continue
        polar = "polar" if is_polar(ref.number) else "non_polar"
        for kind in KINDS:
            other = standardize(redescribe(cell, kind, rng), canonical_origin=canonical,
                                canonical_handedness=canonical)
            outcome = compare_standardized(ref, other)
            if outcome != "identical" and compare_standardized(ref, other, tol=1e-2) == "identical":
                outcome = "within_0.01A"  # near-tie between equivalent descriptions
            counts[kind][(polar, outcome)] += 1
    out: dict = {"crystals": len(rows) - failures, "failures": failures, "canonical": canonical}
    for kind, c in counts.items():
        total = sum(c.values())
        entry = {}
        for polar in ("polar", "non_polar", "all"):
            sel = {k: v for k, v in c.items() if polar == "all" or k[0] == polar}
            n = sum(sel.values())
            entry[polar] = {
                "n": n,
                **{
                    r: (sum(v for k, v in sel.items() if k[1] == r) / n if n else 0.0)
                    for r in ("identical", "within_0.01A", "origin", "different")
                },
            }
        entry["n"] = total
        out[kind] = entry
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crystals", type=int, default=300, help="MP-20 crystals for part 1")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of part 1 (0: skip it)")
    parser.add_argument("--atoms", type=int, default=100_000, help="atoms for part 2 (0: skip)")
    parser.add_argument("--ambiguity", type=int, default=0, help="crystals for part 3 (0: skip)")
    parser.add_argument("--no-canonical", action="store_true",
                        help="part 3 with spglib's own origin choice (canonical_origin=False)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or both (cpu,cuda)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "data.json")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_before": os.getloadavg(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        }
    }
    rows = load_mp20(args.crystals, seed=0)
    structures = [parse_cif(c) for c in rows.cif]
    # per-structure work is many tiny tensors: one intra-op thread is fastest there
    threads = torch.get_num_threads()
    if args.rounds:
        torch.set_num_threads(1)
        result["processing"] = bench_processing(structures, args.rounds)
        torch.set_num_threads(threads)
        print(json.dumps(result["processing"], indent=1))
    devices = ["cpu", "cuda"] if args.device in ("both", "cpu,cuda") else [args.device]
    devices = devices if args.atoms else []
    if devices:
        result["neighbor_search_1e5"] = {}
    for dev in devices:
        if dev == "cuda" and not torch.cuda.is_available():
            print("cuda requested but not available: skipped")
            continue
        key = f"{dev}_threads{torch.get_num_threads()}" if dev == "cpu" else dev
        result["neighbor_search_1e5"][key] = bench_large(structures, args.atoms, dev)
        print(json.dumps(result["neighbor_search_1e5"][key], indent=1))
    if args.ambiguity:
        torch.set_num_threads(1)
        key = "ambiguity_spglib_origin" if args.no_canonical else "ambiguity"
        result[key] = bench_ambiguity(
            load_mp20(args.ambiguity, seed=1), seed=1, canonical=not args.no_canonical
        )
        torch.set_num_threads(threads)
        print(json.dumps(result[key], indent=1))
    result["machine"]["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    for key, value in result.items():  # keep parts measured by earlier runs (e.g. cuda)
        if key == "neighbor_search_1e5" and isinstance(previous.get(key), dict):
            previous[key].update(value)
        else:
            previous[key] = value
    args.out.write_text(json.dumps(previous, indent=1))
    print(f"written {args.out}")
    return result


if __name__ == "__main__":
    main()
