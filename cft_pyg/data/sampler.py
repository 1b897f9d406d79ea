"""Atom-balanced batches for data-parallel training: at most ``max_atoms`` atoms per batch,
every crystal exactly once per epoch across all processes, deterministic per epoch and
resumable in the middle of an epoch.

Use as the ``batch_sampler`` of a ``DataLoader`` (one per process)::

    sampler = AtomBalancedBatchSampler(atom_counts(store), max_atoms=2048, seed=0)
    loader = CrystalLoader(store, batch_sampler=sampler, num_workers=2)

The training engine does this for you (``TrainConfig.max_atoms_per_batch``,
``cft-pyg train --max-atoms-per-batch N``). With a ``Trainer`` of your own, pass
``use_distributed_sampler=False`` (the sampler shares the batches out over the processes
itself; Lightning would otherwise wrap it), ``reload_dataloaders_every_n_epochs=1`` (the number
of batches changes a little from epoch to epoch, and Lightning reads it once per loader) and
call :meth:`~AtomBalancedBatchSampler.set_epoch` with the epoch when building the loader.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["AtomBalancedBatchSampler", "atom_balanced_batches", "atom_balanced_cuts",
           "atom_counts"]


def atom_counts(dataset: Sequence[Any]) -> np.ndarray:
    """``(len(dataset),)`` atom counts of a dataset's crystals, read without building them
    where the dataset records them.

    A :class:`~cft_pyg.data.store.CrystalStore` (or an ``index_select`` view of one) gives
    its stored counts; an in-memory PyG dataset (or a view) its collated ``natoms``, else the
    slices of its atomic numbers; anything else (a list of ``Data``) ``natoms`` or
    ``num_nodes`` of every item.
    """
    from torch_geometric.data import InMemoryDataset

    view = getattr(dataset, "view_natoms", None)
    if callable(view):
        return np.asarray(view(), dtype=np.int64)
    if isinstance(dataset, InMemoryDataset) and dataset.slices:
        data, slices = dataset._data, dataset.slices
        idx = torch.as_tensor(list(dataset.indices()), dtype=torch.long)
        if "natoms" in slices:
            return data.natoms.reshape(-1)[slices["natoms"][idx]].numpy().astype(np.int64)
        for key in ("z", "atomic_numbers", "x", "pos"):
            if key in slices:
                return (slices[key][idx + 1] - slices[key][idx]).numpy().astype(np.int64)

    def count(d: Any) -> int:
        natoms = getattr(d, "natoms", None)
        return int(torch.as_tensor(natoms).reshape(-1)[0]) if natoms is not None \
            else int(d.num_nodes)

    return np.array([count(dataset[i]) for i in range(len(dataset))], dtype=np.int64)


def atom_balanced_cuts(natoms: np.ndarray, order: np.ndarray, max_atoms: int,
                       num_replicas: int = 1) -> np.ndarray:
    """Cut ``order`` greedily into batches of at most ``max_atoms`` atoms: the offsets.

    Batch ``b`` is ``order[offsets[b]:offsets[b + 1]]``: the batches are consecutive runs
    of ``order`` (two int64 arrays in all, 8 bytes per crystal, rather than a Python list
    per batch).  A batch takes the next crystals while their atoms fit (one batch-sized
    binary search in the cumulative atom counts); a crystal larger than ``max_atoms`` forms
    a batch of its own.  The number of batches is then made a multiple of
    ``num_replicas`` (every process takes the same number of steps) by halving the batch
    with the most crystals (the first of equals) as often as needed: no crystal is
    repeated or dropped.

    Args:
        natoms: ``(n,)`` atom counts (non-negative).
        order: the crystals in the order to pack them.
        max_atoms: the atom budget of a batch.
        num_replicas: data-parallel processes.

    Returns:
        ``(B + 1,)`` int64 offsets into ``order``, from 0 to ``len(order)``.

    Raises:
        ValueError: the batches cannot be made a multiple of ``num_replicas`` (fewer
            crystals than processes, or every batch already a single crystal).
    """
    order = np.asarray(order, dtype=np.int64)
    total = np.zeros(order.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.asarray(natoms, dtype=np.int64)[order], out=total[1:])
    starts = []
    start = 0
    while start < order.shape[0]:
        starts.append(start)
        # the crystals start..end-1 fit: total[end] - total[start] <= max_atoms (at least one)
        end = int(np.searchsorted(total, total[start] + max_atoms, side="right")) - 1
        start = max(end, start + 1)
    offsets = np.array([*starts, order.shape[0]], dtype=np.int64)
    while (offsets.shape[0] - 1) % num_replicas:
        sizes = np.diff(offsets)
        k = int(np.argmax(sizes))  # the most crystals, the first of equals
        if sizes[k] < 2:
            why = "fewer crystals than processes" if len(order) < num_replicas else \
                "every batch already holds a single crystal"
            raise ValueError(f"{len(order)} crystals cannot be cut into a multiple of "
                             f"{num_replicas} batches without repeating one ({why})")
        offsets = np.insert(offsets, k + 1, offsets[k] + sizes[k] // 2)
    return offsets


def atom_balanced_batches(natoms: np.ndarray, order: np.ndarray, max_atoms: int,
                          num_replicas: int = 1) -> list[list[int]]:
    """The batches of :func:`atom_balanced_cuts` as lists of crystal indices.

    Args:
        natoms: ``(n,)`` atom counts.
        order: the crystals in the order to pack them.
        max_atoms: the atom budget of a batch.
        num_replicas: data-parallel processes.

    Raises:
        ValueError: the batches cannot be made a multiple of ``num_replicas`` (fewer
            crystals than processes, or every batch already a single crystal).
    """
    order = np.asarray(order, dtype=np.int64)
    offsets = atom_balanced_cuts(natoms, order, max_atoms, num_replicas)
    return [order[a:b].tolist() for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


class AtomBalancedBatchSampler(Sampler[list[int]]):
    """Batches of at most ``max_atoms`` atoms (from the stored atom counts), shared out over
    data-parallel processes.

    Each epoch the crystals are permuted by ``(seed, epoch)`` (the same permutation on every
    process), cut into batches by :func:`atom_balanced_batches`, and process ``rank`` takes
    batches ``rank, rank + R, rank + 2R, ...`` of ``R = num_replicas``: every crystal once
    per epoch over all processes, the same number of batches on each.

    **Resuming.**  :meth:`state_dict` records ``(epoch, batches done)``;
    :meth:`load_state_dict` makes the next iteration continue the same epoch after those
    batches.  A ``DataLoader`` draws batches ahead of the training step (prefetching), so
    pass the training loop's own count: ``state_dict(batches_done=step_in_epoch)``.

    Args:
        natoms: ``(n,)`` atom counts of the dataset's crystals (:func:`atom_counts`).
        max_atoms: atom budget of a batch (a larger crystal is a batch on its own).
        shuffle: permute every epoch (``False``: dataset order).
        seed: seed of the permutations.
        num_replicas, rank: processes and this one's index (default: from
            ``torch.distributed`` when initialized, else 1 and 0).
    """

    def __init__(self, natoms: Sequence[int] | np.ndarray | torch.Tensor, max_atoms: int, *,
                 shuffle: bool = True, seed: int = 0, num_replicas: int | None = None,
                 rank: int | None = None) -> None:
        if max_atoms < 1:
            raise ValueError(f"max_atoms must be >= 1, got {max_atoms}")
        dist = torch.distributed
        active = dist.is_available() and dist.is_initialized()
        self.num_replicas = int(num_replicas if num_replicas is not None
                                else dist.get_world_size() if active else 1)
        self.rank = int(rank if rank is not None else dist.get_rank() if active else 0)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank must be in [0, {self.num_replicas}), got {self.rank}")
        self.natoms = np.asarray(torch.as_tensor(natoms).cpu().numpy(), dtype=np.int64)
        if self.natoms.ndim != 1 or (self.natoms.size and self.natoms.min() < 1):
            raise ValueError("natoms must be a 1-D sequence of positive atom counts")
        self.max_atoms = int(max_atoms)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self._start = 0
        self._yielded = 0
        self._packed: tuple[int, np.ndarray, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch`` (from its first batch)."""
        if int(epoch) != self.epoch:
            self._start = 0
        self.epoch = int(epoch)

    def _packing(self) -> tuple[np.ndarray, np.ndarray]:
        """``(order, offsets)`` of the current epoch (:func:`atom_balanced_cuts`): batch
        ``b`` of all processes is ``order[offsets[b]:offsets[b + 1]]``.  Kept for the
        epoch: int64 arrays, 8 bytes per crystal."""
        if self._packed is not None and self._packed[0] == self.epoch:
            return self._packed[1], self._packed[2]
        n = self.natoms.shape[0]
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(n, generator=g).numpy().astype(np.int64, copy=False)
        else:
            order = np.arange(n, dtype=np.int64)
        offsets = atom_balanced_cuts(self.natoms, order, self.max_atoms, self.num_replicas)
        self._packed = (self.epoch, order, offsets)
        return order, offsets

    def _mine(self, skip: int = 0) -> Iterator[list[int]]:
        """This process's batches of the current epoch after its first ``skip``."""
        order, offsets = self._packing()
        first = self.rank + skip * self.num_replicas
        for b in range(first, offsets.shape[0] - 1, self.num_replicas):
            yield order[offsets[b]:offsets[b + 1]].tolist()

    def batches(self) -> list[list[int]]:
        """This process's batches of the current epoch (all of them, from the first)."""
        return list(self._mine())

    def __iter__(self) -> Iterator[list[int]]:
        start, self._start = self._start, 0
        self._yielded = start
        for batch in self._mine(start):
            self._yielded += 1
            yield batch

    def __len__(self) -> int:
        return (self._packing()[1].shape[0] - 1) // self.num_replicas

    def state_dict(self, batches_done: int | None = None) -> dict[str, Any]:
        """``{'epoch', 'batches_done', 'seed', 'max_atoms', 'num_replicas'}``.

        Args:
            batches_done: batches of this epoch already trained on (default: those this
                sampler has yielded, which runs ahead of training under prefetching).
        """
        return {"epoch": self.epoch,
                "batches_done": self._yielded if batches_done is None else int(batches_done),
                "seed": self.seed, "max_atoms": self.max_atoms,
                "num_replicas": self.num_replicas}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the recorded epoch after its done batches.

        Raises:
            ValueError: a state of another seed, budget or number of processes.
        """
        for key in ("seed", "max_atoms", "num_replicas"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(f"sampler state of {key}={state[key]}, this sampler has "
                                 f"{getattr(self, key)}")
        self.epoch = int(state["epoch"])
        self._start = int(state["batches_done"])
