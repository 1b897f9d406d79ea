"""AtomBalancedBatchSampler: the atom budget, every crystal exactly once per epoch over 2 gloo
CPU processes, the same batches for the same epoch, and resuming in the middle of an epoch."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
import torch

from cft_pyg.data.sampler import AtomBalancedBatchSampler, atom_balanced_batches, atom_counts

NATOMS = np.random.default_rng(0).integers(1, 60, size=97)
MAX_ATOMS = 150


def _rank(rank: int, world: int, init: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        result = {}
        sampler = AtomBalancedBatchSampler(NATOMS, MAX_ATOMS, seed=3)  # ranks from dist
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            mine = list(sampler)
            gathered: list = [None] * world
            dist.all_gather_object(gathered, mine)
            result[epoch] = gathered
        # resume in the middle of epoch 1: a fresh sampler (a restarted process)
        sampler.set_epoch(1)
        it = iter(sampler)
        first = [next(it), next(it)]
        state = sampler.state_dict(batches_done=2)
        fresh = AtomBalancedBatchSampler(NATOMS, MAX_ATOMS, seed=3)
        fresh.load_state_dict(state)
        result["resumed"] = first + list(fresh)
        result["len"] = len(fresh)
        if rank == 0:
            Path(out).write_text(json.dumps({str(k): v for k, v in result.items()}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_cover_every_crystal_once_and_resume(tmp_path) -> None:
    ctx = mp.get_context("fork")
    init = f"file://{tmp_path / 'pg'}"
    out = str(tmp_path / "out.json")
    procs = [ctx.Process(target=_rank, args=(r, 2, init, out)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    result = json.loads(Path(out).read_text())
    for epoch in ("0", "1"):
        ranks = result[epoch]
        assert len(ranks[0]) == len(ranks[1])  # same number of steps on both processes
        seen = [i for rank in ranks for batch in rank for i in batch]
        assert sorted(seen) == list(range(len(NATOMS)))  # every crystal exactly once
        for rank in ranks:
            for batch in rank:
                assert NATOMS[batch].sum() <= MAX_ATOMS or len(batch) == 1
    assert result["0"] != result["1"]  # a new permutation each epoch
    # rank 0 of a run resumed after 2 batches of epoch 1 sees exactly the batches of epoch 1
    assert result["resumed"] == result["1"][0]
    assert result["len"] == len(result["1"][0])


def test_deterministic_per_epoch_and_budget() -> None:
    a = AtomBalancedBatchSampler(NATOMS, MAX_ATOMS, seed=1, num_replicas=3, rank=2)
    b = AtomBalancedBatchSampler(NATOMS, MAX_ATOMS, seed=1, num_replicas=3, rank=2)
    a.set_epoch(4)
    b.set_epoch(4)
    assert list(a) == list(b) and list(a) == list(a)
    everything = [i for r in range(3) for batch in
                  AtomBalancedBatchSampler(NATOMS, MAX_ATOMS, seed=1, num_replicas=3, rank=r)
                  for i in batch]
    assert sorted(everything) == list(range(len(NATOMS)))
    # a crystal over the budget is a batch of its own; splitting keeps every crystal once
    batches = atom_balanced_batches(np.array([5, 500, 5, 5]), np.arange(4), 100, 4)
    assert sorted(map(tuple, batches)) == [(0,), (1,), (2,), (3,)]
    with pytest.raises(ValueError, match="fewer crystals"):
        atom_balanced_batches(np.array([5, 5]), np.arange(2), 100, 3)
    with pytest.raises(ValueError, match="every batch already holds a single crystal"):
        atom_balanced_batches(np.array([500, 500, 500]), np.arange(3), 100, 2)
    with pytest.raises(ValueError, match="seed"):
        a.load_state_dict({**a.state_dict(), "seed": 9})


def test_with_a_loader_over_a_dataset() -> None:
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader

    data = [Data(z=torch.zeros(int(n), dtype=torch.long), idx=k, num_nodes=int(n))
            for k, n in enumerate(NATOMS)]
    sampler = AtomBalancedBatchSampler(NATOMS, MAX_ATOMS, seed=0)
    seen = []
    for batch in DataLoader(data, batch_sampler=sampler):
        assert batch.num_nodes <= MAX_ATOMS or batch.num_graphs == 1
        seen.extend(batch.idx.tolist())
    assert sorted(seen) == list(range(len(NATOMS)))


def test_atom_counts_without_building_the_crystals(tmp_path) -> None:
    from torch_geometric.data import Data

    from cft_pyg.data import SyntheticCrystals

    plain = [Data(z=torch.zeros(3, dtype=torch.long), num_nodes=3),
             Data(z=torch.zeros(2, dtype=torch.long), natoms=torch.tensor([2]), num_nodes=2)]
    assert atom_counts(plain).tolist() == [3, 2]
    dataset = SyntheticCrystals(tmp_path, num_crystals=12, seed=3, log=False)
    view = dataset.index_select([5, 2, 7, 2])
    for part in (dataset, view):
        assert atom_counts(part).tolist() == [d.num_nodes for d in part]
    natoms = dataset.slices.pop("natoms")  # an in-memory dataset without natoms: its slices
    try:
        assert "natoms" not in view.slices
        assert atom_counts(view).tolist() == [d.z.numel() for d in view]
    finally:
        dataset.slices["natoms"] = natoms


def _batches_as_lists(natoms: np.ndarray, order: np.ndarray, max_atoms: int,
                      num_replicas: int) -> list[list[int]]:
    """The packing as it was written with a Python list per batch (the reference)."""
    batches: list[list[int]] = []
    current: list[int] = []
    atoms = 0
    for i in order.tolist():
        a = int(natoms[i])
        if current and atoms + a > max_atoms:
            batches.append(current)
            current, atoms = [], 0
        current.append(i)
        atoms += a
    if current:
        batches.append(current)
    while len(batches) % num_replicas:
        k = max(range(len(batches)), key=lambda j: (len(batches[j]), -j))
        if len(batches[k]) < 2:
            raise ValueError("cannot")
        half = len(batches[k]) // 2
        batches[k:k + 1] = [batches[k][:half], batches[k][half:]]
    return batches


def test_arrays_give_the_batches_of_the_lists() -> None:
    """The offsets into the order (two int64 arrays) cut exactly the batches that the list
    per batch did: random counts (crystals over the budget too), budgets and processes."""
    from cft_pyg.data.sampler import atom_balanced_cuts

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        natoms = rng.integers(1, 60, n)
        natoms[rng.random(n) < 0.02] = 500
        order = rng.permutation(n)
        max_atoms = int(rng.integers(20, 400))
        replicas = int(rng.integers(1, 9))
        try:
            expected = _batches_as_lists(natoms, order, max_atoms, replicas)
        except ValueError:
            with pytest.raises(ValueError):
                atom_balanced_cuts(natoms, order, max_atoms, replicas)
            continue
        offsets = atom_balanced_cuts(natoms, order, max_atoms, replicas)
        assert offsets.dtype == np.int64 and offsets[0] == 0 and offsets[-1] == n
        assert atom_balanced_batches(natoms, order, max_atoms, replicas) == expected
        for rank in range(replicas):
            sampler = AtomBalancedBatchSampler(natoms, max_atoms, seed=trial,
                                               num_replicas=replicas, rank=rank)
            sampler.set_epoch(2)
            g = torch.Generator().manual_seed(trial * 1_000_003 + 2)
            perm = torch.randperm(n, generator=g).numpy()
            assert list(sampler) == _batches_as_lists(natoms, perm, max_atoms,
                                                      replicas)[rank::replicas]
            assert len(sampler) == len(sampler.batches())
