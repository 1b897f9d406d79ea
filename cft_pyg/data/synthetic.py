"""Random symmetric crystals for all 230 space groups, labelled with a pair-potential energy.

:class:`SyntheticCrystals` is the built-in dataset of ``cft-pyg demo``: it needs no download
and covers **every** space group, which no real dataset does (MP-20 has 168 of the 230).

The crystals come from :func:`cft_pyg.data.generator.generate_crystal` (every group, Wyckoff
positions, minimum distances, exact symmetry) and are labelled with
:func:`cft_pyg.data.morse.morse_energy_per_atom`; this module makes them a cached dataset.

Cost: about 33 ms of CPU per crystal (generation, label and graph); 2,000 crystals take
about 66 s of CPU, so about 35-40 s with the default 2 worker processes on 2 free cores.
Crystal ``i`` is generated from ``numpy.random.default_rng([seed, i])``, so the data do not
depend on the number of worker processes.  The groups are assigned by cycling through seeded
permutations of the requested groups, so every group appears once ``num_crystals`` reaches
their number (230 by default).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from ..home import get_home_dir
from ..symmetry.lattice import random_lattice, symmetric_metric
from ..symmetry.space_group import SpaceGroup
from .featurization import Featurization
from .generator import SPECIES_POOL, generate_crystal, pair_distances
from .morse import MORSE_CUTOFF, MORSE_STIFFNESS, morse_energy_per_atom, morse_sum
from .neighbors import nearest_neighbor_mask
from .processing import options_hash, parallel_map

__all__ = [
    "SyntheticCrystals",
    "assign_space_groups",
    "generate_crystal",
    "morse_energy_per_atom",
    "pair_distances",
    "random_lattice",
    "symmetric_metric",
    "SPECIES_POOL",
]


def _record_chunk(args: tuple[list[tuple[int, int]], int, dict]) -> list[dict]:
    """Generate a chunk of crystals with labels and neighbour graphs (one batched search).

    The neighbour search runs once, for all crystals of the chunk, with radius
    ``max(radius, MORSE_CUTOFF)`` and no neighbour cap; the Morse sum uses the edges within
    ``MORSE_CUTOFF`` and the graph the first ``max_neighbors`` edges per centre (edges come
    sorted by centre, then distance, with the same tie rule as ``radius_graph_pbc``), within
    ``radius``.
    """
    from .neighbors import radius_graph_pbc

    jobs, seed, options = args
    crystals = []
    for index, number in jobs:
        cell, frac, z = generate_crystal(number, np.random.default_rng([seed, index]),
                                         **options["generator"])
        frac32 = frac.astype(np.float32)
        frac32[frac32 >= 1.0] = 0.0
        cell32 = cell.astype(np.float32)
        crystals.append((index, number, cell32, frac32, z))
    cells = torch.as_tensor(np.stack([c[2] for c in crystals]).astype(np.float64))
    counts = torch.tensor([c[4].shape[0] for c in crystals])
    crystal_of = torch.repeat_interleave(torch.arange(len(crystals)), counts)
    frac_all = torch.as_tensor(np.concatenate([c[3] for c in crystals]).astype(np.float64))
    pos = torch.einsum("ni,nij->nj", frac_all, cells[crystal_of])
    radius, max_neighbors = options["radius"], options["max_neighbors"]
    edge_index, offsets, dist = radius_graph_pbc(
        pos, cells, natoms=counts, radius=max(radius, MORSE_CUTOFF), max_neighbors=None)
    src, dst = edge_index.numpy()
    offsets_np, dist_np = offsets.numpy(), dist.numpy()
    first = np.concatenate([[0], np.cumsum(counts.numpy())])
    edge_crystal = crystal_of.numpy()[dst]
    edge_ptr = np.searchsorted(edge_crystal, np.arange(len(crystals) + 1))
    pos_np = pos.numpy()
    records = []
    for c, (index, number, cell32, frac32, z) in enumerate(crystals):
        lo, hi = edge_ptr[c], edge_ptr[c + 1]
        s, d = src[lo:hi] - first[c], dst[lo:hi] - first[c]
        r, off = dist_np[lo:hi], offsets_np[lo:hi]
        energy = morse_sum(z, s, d, r, MORSE_CUTOFF, MORSE_STIFFNESS) / z.shape[0]
        keep = r <= radius
        if max_neighbors is not None:  # edges within radius stay sorted by centre, distance
            kept = np.flatnonzero(keep)
            capped = nearest_neighbor_mask(
                torch.from_numpy(d[kept]), torch.from_numpy(r[kept]), max_neighbors
            ).numpy()
            keep[kept[~capped]] = False
        records.append({
            "index": index, "number": number, "cell": cell32, "frac": frac32, "z": z,
            "pos": pos_np[first[c]:first[c + 1]].astype(np.float32), "y": energy,
            "edge_index": np.stack([s[keep], d[keep]]), "cell_offsets": off[keep],
            "edge_dist": r[keep].astype(np.float32),
        })
    return records


def _record_to_data(rec: dict, seed: int, featurization: str) -> Data:
    n = rec["z"].shape[0]
    return Data(
        z=torch.as_tensor(rec["z"], dtype=torch.long),
        frac_coords=torch.as_tensor(rec["frac"]),
        pos=torch.as_tensor(rec["pos"]),
        cell=torch.as_tensor(rec["cell"]).unsqueeze(0),
        space_group=torch.tensor([rec["number"]], dtype=torch.long),
        natoms=torch.tensor([n], dtype=torch.long),
        edge_index=torch.as_tensor(rec["edge_index"], dtype=torch.long),
        cell_offsets=torch.as_tensor(rec["cell_offsets"], dtype=torch.long),
        edge_dist=torch.as_tensor(rec["edge_dist"]),
        y=torch.tensor([rec["y"]], dtype=torch.float32),
        transformation_matrix=torch.eye(3, dtype=torch.float64).unsqueeze(0),
        origin_shift=torch.zeros(1, 3, dtype=torch.float64),
        material_id=f"synthetic-s{seed}-{rec['index']}",
        featurization=featurization,
        num_nodes=n,
    )


def assign_space_groups(num_crystals: int, seed: int,
                        space_groups: Sequence[int] | None = None) -> np.ndarray:
    """Group of each crystal: consecutive seeded permutations of ``space_groups``.

    Args:
        num_crystals: How many crystals.
        seed: Random seed.
        space_groups: The groups to cover (default all 230).

    Returns:
        ``(num_crystals,)`` int64; every group appears once ``num_crystals >=
        len(space_groups)``, and counts differ by at most one between groups.
    """
    groups = np.arange(1, 231) if space_groups is None else np.asarray(space_groups, np.int64)
    rng = np.random.default_rng([seed, 2**31 - 1])
    reps = -(-num_crystals // len(groups)) if num_crystals else 0
    return np.concatenate([rng.permutation(groups) for _ in range(reps)]
                          or [np.zeros(0, np.int64)])[:num_crystals].astype(np.int64)


class SyntheticCrystals(InMemoryDataset):
    """Random symmetric crystals of all 230 space groups with a Morse energy label.

    See the module docstring for how crystals are made.  Each item is a crystal ``Data`` with
    the fields of ``docs/conventions.md`` (``z``, ``frac_coords`` in the default setting of
    ``SpaceGroup(space_group)``, ``pos``, ``cell``, ``space_group``, ``natoms``, the neighbour
    graph ``edge_index``/``cell_offsets``/``edge_dist``, identity ``transformation_matrix``,
    zero ``origin_shift``, ``material_id`` ``'synthetic-s<seed>-<i>'``) and ``y`` ``(1,)`` the
    Morse energy per atom (eV/atom).

    The processed data are cached in ``<root>/processed/<key>/data.pt`` where ``key`` hashes
    every option that changes the data, so changed options re-generate and unchanged ones
    load from disk.  ``generation_seconds`` holds the wall time of the generation (``None``
    when loaded from the cache).

    Args:
        root: Cache folder; default ``get_home_dir() / 'synthetic'`` (``$CFT_PYG_HOME``).
        num_crystals: Number of crystals.
        seed: Random seed (same seed and options give identical data).
        space_groups: Groups to cover (default all 230), cycled in seeded random order.
        max_atoms: Maximum atoms per conventional cell.
        max_orbits: Maximum number of Wyckoff orbits per crystal.
        min_distance: Minimum interatomic distance (A).
        exact_symmetry: Re-draw crystals with accidental extra symmetry (see
            :func:`generate_crystal`).
        featurization: The neighbour graph (``radius``, ``max_neighbors``) comes from it
            (default :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`).
            The crystals are generated exactly in the default setting of their group and
            are not re-standardized, so its symmetry options only say how *new* structures
            are featurized for a model trained on them (``predict`` uses the record).
        num_workers: Worker processes (default ``min(2, cpu_count)``; 0 runs in-process).
        transform, pre_transform, pre_filter: As in PyG.
        force_reload: Re-generate even if a cache exists.
        log: Show progress bars and messages.
        **options: Changes to ``featurization`` by name (``radius=6.0``, ...).

    Attributes:
        featurization: The :class:`~cft_pyg.data.Featurization` recorded on every crystal.
    """

    VERSION = 4  # 3: neighbour cap keeps tied shells; 4: Featurization recorded

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        num_crystals: int = 2000,
        seed: int = 0,
        *,
        space_groups: Sequence[int] | None = None,
        max_atoms: int = 48,
        max_orbits: int = 4,
        min_distance: float = 1.5,
        exact_symmetry: bool = True,
        featurization: Featurization | None = None,
        num_workers: int | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        pre_filter: Callable | None = None,
        force_reload: bool = False,
        log: bool = True,
        **options: Any,
    ) -> None:
        if num_crystals < 1:
            raise ValueError(f"num_crystals must be >= 1, got {num_crystals}")
        if space_groups is not None:
            space_groups = sorted({int(g) for g in space_groups})
            for g in space_groups:
                SpaceGroup(g)  # validates 1..230
        self.num_crystals = int(num_crystals)
        self.seed = int(seed)
        self.space_groups = space_groups
        self.featurization = Featurization.resolve(featurization, **options)
        self.options = {
            "generator": {"max_atoms": int(max_atoms), "max_orbits": int(max_orbits),
                          "min_distance": float(min_distance),
                          "exact_symmetry": bool(exact_symmetry)},
            "radius": self.featurization.radius,
            "max_neighbors": self.featurization.max_neighbors,
            "featurization": self.featurization.cache_dict(),
        }
        self.num_workers = min(2, os.cpu_count() or 1) if num_workers is None else num_workers
        self.generation_seconds: float | None = None
        root = get_home_dir() / "synthetic" if root is None else Path(root)
        super().__init__(str(root), transform, pre_transform, pre_filter,
                         force_reload=force_reload, log=log)
        self.load(self.processed_paths[0])

    @property
    def cache_key(self) -> str:
        """Hash of every option that changes the generated data."""
        return options_hash({"v": self.VERSION, "n": self.num_crystals, "seed": self.seed,
                             "groups": self.space_groups, "options": self.options})

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_dir(self) -> str:
        return os.path.join(self.root, "processed", f"n{self.num_crystals}_s{self.seed}_"
                            f"{self.cache_key}")

    @property
    def processed_file_names(self) -> list[str]:
        return ["data.pt"]

    def process(self) -> None:
        start = time.perf_counter()
        numbers = assign_space_groups(self.num_crystals, self.seed, self.space_groups)
        jobs = [(i, int(n)) for i, n in enumerate(numbers)]
        chunk = 20
        tasks = [(jobs[k:k + chunk], self.seed, self.options) for k in range(0, len(jobs), chunk)]
        records: list[dict] = []
        for out in parallel_map(_record_chunk, tasks, num_workers=self.num_workers,
                                use_pool=self.num_workers > 0 and len(tasks) > 1,
                                desc="SyntheticCrystals", log=self.log, total=len(jobs),
                                size=len, ordered=False):
            records.extend(out)
        records.sort(key=lambda r: r["index"])
        record = self.featurization.to_json()
        data_list = [_record_to_data(r, self.seed, record) for r in records]
        if self.pre_filter is not None:
            data_list = [d for d in data_list if self.pre_filter(d)]
        if self.pre_transform is not None:
            data_list = [self.pre_transform(d) for d in data_list]
        self.save(data_list, self.processed_paths[0])
        self.generation_seconds = time.perf_counter() - start
        if self.log:
            print(f"SyntheticCrystals: generated {len(data_list)} crystals in "
                  f"{self.generation_seconds:.1f} s ({self.num_workers} workers)")
