"""Crystals of a cft-pyg batch as pymatgen structures, for adapters of external packages.

The adapters of :mod:`cft_pyg.nn.matgl` and :mod:`cft_pyg.nn.chgnet` build their inputs with
the external package's own graph construction, which takes a
:class:`pymatgen.core.Structure`.  :func:`structures_of` turns each crystal of a batch back
into one (its cell, atomic numbers and Cartesian positions, exactly as stored), and
:class:`CrystalCache` keeps what the package built for a crystal, keyed by those values, so
that a crystal seen again (the next epoch) is not converted again.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import torch
from torch_geometric.data import Batch, Data

from .inputs import graph_inputs

__all__ = ["CrystalCache", "crystal_key", "crystals_of", "structures_of"]

T = TypeVar("T")


def crystals_of(data: Data | Batch) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(z, pos, cell)`` of each crystal of ``data`` (cell ``(3, 3)``, rows are vectors)."""
    _, num_graphs, natoms = graph_inputs(data)
    cells = data.cell.reshape(-1, 3, 3)
    if cells.shape[0] != num_graphs:
        raise ValueError(f"{cells.shape[0]} cells for {num_graphs} crystals")
    ends = torch.cumsum(natoms, 0).tolist()
    starts = [0, *ends[:-1]]
    return [(data.z[s:e], data.pos[s:e], cells[b]) for b, (s, e) in enumerate(zip(starts, ends))]


def crystal_key(z: torch.Tensor, pos: torch.Tensor, cell: torch.Tensor) -> str:
    """A digest of one crystal's atomic numbers, positions and cell (its cache key)."""
    h = hashlib.blake2b(digest_size=16)
    for t in (z, pos, cell):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _structure(z: torch.Tensor, pos: torch.Tensor, cell: torch.Tensor) -> Any:
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(cell.detach().double().cpu().numpy()), z.tolist(),
                     pos.detach().double().cpu().numpy(), coords_are_cartesian=True)


def structures_of(data: Data | Batch) -> list[Any]:
    """Each crystal of ``data`` as a :class:`pymatgen.core.Structure` (float64 coordinates,
    the stored cell and Cartesian positions, nothing wrapped or reordered)."""
    return [_structure(*crystal) for crystal in crystals_of(data)]


class CrystalCache(Generic[T]):
    """What ``build(structure)`` returns for each crystal of a batch, kept per crystal.

    A least-recently-used store of at most ``size`` crystals (``size=0``: nothing is kept).

    Args:
        build: maps a :class:`pymatgen.core.Structure` to the package's input (a graph).
        size: largest number of crystals kept.
    """

    def __init__(self, build: Callable[[Any], T], size: int = 20000) -> None:
        if size < 0:
            raise ValueError(f"cache size must be >= 0, got {size}")
        self.build = build
        self.size = size
        self._store: OrderedDict[str, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._store)

    def __deepcopy__(self, memo: dict) -> CrystalCache[T]:
        """Copies of a model share its cache: the cache is a convenience, not state (the
        built graphs depend only on the crystal, and ``build`` may hold an unpicklable
        converter)."""
        return self

    def clear(self) -> None:
        """Forget every crystal."""
        self._store.clear()

    def __call__(self, data: Data | Batch) -> list[T]:
        """The built input of each crystal of ``data``, in order."""
        out: list[T] = []
        for z, pos, cell in crystals_of(data):
            key = crystal_key(z, pos, cell) if self.size else ""
            if self.size and key in self._store:
                self._store.move_to_end(key)
                out.append(self._store[key])
                continue
            item = self.build(_structure(z, pos, cell))
            if self.size:
                self._store[key] = item
                if len(self._store) > self.size:
                    self._store.popitem(last=False)
            out.append(item)
        return out
