""":class:`CrystalStore`: a dataset of any size, read from a store of standardized crystals.

The same API as the in-memory datasets of :mod:`cft_pyg.data` (``len``, ``dataset[i]``,
``index_select`` views, ``featurization``, ``skipped``, PyG's ``transform``): each item is
the crystal ``Data`` of :func:`~cft_pyg.data.from_structure`, **built when it is read** - in
the ``DataLoader`` workers - from the stored standardized crystal
(:func:`~cft_pyg.data.from_standardized`: float32 fields, the neighbour graph with the
featurization's radius and neighbour cap).  Nothing but the index (8 + 4 bytes per crystal)
is held in memory, so memory does not grow with the store; every worker opens its own
read-only handle.

With ``neighbor_graph=False`` items carry no graph: build it for a whole batch on its device
with :func:`~cft_pyg.data.store.add_neighbor_graph` (the same edges, collated).

Load it with :class:`~cft_pyg.data.CrystalLoader` (PyG's ``DataLoader`` whose workers send
each batch as one buffer: the same batches, about 0.3 CPU-ms less per crystal for the
training process and for its workers) or any PyG loader.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data, Dataset

from ..featurization import Featurization
from ..structure import from_standardized
from .backends import open_backend
from .build import SYMMETRY_OPTIONS, entry_key
from .record import StoredCrystal, decode

__all__ = ["CrystalStore"]


class CrystalStore(Dataset):
    """Crystals read from a store made by :func:`~cft_pyg.data.store.build_store`.

    Args:
        root: the store folder.
        target: the stored target(s) that make ``y`` (one name: ``y`` of shape ``(1,)``,
            several: ``(1, T)``; default: every stored target).
        featurization: the graph and encoding options of the items (``radius``,
            ``max_neighbors``, ``cutoff``); its symmetry options must be those the store
            was made with (default: the store's, with the default graph options).
        neighbor_graph: build each crystal's neighbour graph when it is read.
        transform: PyG transform applied to every item.
        **options: changes to ``featurization`` by name.

    Attributes:
        featurization: the :class:`~cft_pyg.data.Featurization` of the items.
        natoms: ``(len,)`` int64 atom counts (for :class:`AtomBalancedBatchSampler`).
        positions: ``(len,)`` int64 positions of the crystals in the input stream.
        targets: names of the stored targets.
        target_names: the targets that make ``y``.

    Raises:
        FileNotFoundError: no finalized store in ``folder``.
        FeaturizationMismatchError: symmetry options other than the store's.
    """

    def __init__(self, root: str | os.PathLike[str],
                 target: str | Sequence[str] | None = None,
                 featurization: Featurization | None = None, *, neighbor_graph: bool = True,
                 transform: Callable[[Data], Data] | None = None, **options: Any) -> None:
        from ..featurization import FeaturizationMismatchError

        self.folder = Path(root)
        self._db = open_backend(self.folder)
        config = self._db.get(b"m:config")
        index = self._db.get(b"m:index")
        if config is None or index is None:
            raise FileNotFoundError(f"{self.folder} holds no finished crystal store "
                                    "(build it to the end, or merge its shards)")
        self.config = json.loads(config)
        stored = Featurization(**self.config["symmetry"])
        f = Featurization.resolve(featurization)
        if featurization is None:
            f = f.replace(**self.config["symmetry"])
        f = f.replace(**options)
        diff = stored.differences(f, SYMMETRY_OPTIONS)
        if diff:
            raise FeaturizationMismatchError(
                f"the store {self.folder} was made with other symmetry options: {diff} "
                "(store value, requested value)")
        if f.geometry == "measured":
            raise ValueError("a store holds standardized crystals only: geometry='measured' "
                             "needs the input's own positions (use the in-memory datasets)")
        self.featurization = f
        self.neighbor_graph = bool(neighbor_graph)
        self.positions = np.frombuffer(index, dtype="<i8").astype(np.int64)
        self.natoms = np.frombuffer(self._db.get(b"m:natoms"), dtype="<i4").astype(np.int64)
        self.targets: list[str] = list(self.config["targets"])
        names = self.targets if target is None else [target] if isinstance(target, str) \
            else list(target)
        unknown = [t for t in names if t not in self.targets]
        if unknown:
            raise ValueError(f"the store {self.folder} holds no target(s) {unknown}; "
                             f"stored: {self.targets}")
        self.target_names = names
        self._columns = np.array([self.targets.index(t) for t in names], dtype=np.int64)
        self._record = f.to_json()
        self._db.close()
        super().__init__(None, transform, log=False)

    # PyG Dataset interface
    def len(self) -> int:
        return int(self.positions.shape[0])

    def read(self, idx: int) -> StoredCrystal:
        """The stored crystal ``idx`` (``0 <= idx < len``), exactly as stored."""
        blob = self._db.get(entry_key(int(self.positions[idx])))
        if blob is None:
            raise KeyError(f"crystal {idx} missing from {self.folder}")
        return decode(blob)

    def get(self, idx: int) -> Data:
        stored = self.read(idx)
        t = stored.targets[self._columns] if stored.targets.shape[0] else stored.targets
        y = None if t.shape[0] == 0 else (t[0] if t.shape[0] == 1 else t)
        data = from_standardized(stored.crystal, self.featurization,
                                 neighbor_graph=self.neighbor_graph, y=y,
                                 material_id=stored.entry_id)
        data.num_nodes = stored.natoms
        return data

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """``(id, '<reason>: <message>')`` of every skipped entry, in stream order."""
        out = []
        for _, value in self._db.items(b"s"):
            row = json.loads(value)
            out.append((row["id"], f"{row['reason']}: {row['message']}"))
        return out

    @property
    def summary(self) -> dict[str, Any]:
        """Counts of kept and skipped entries (``m:summary``) and the stream's length."""
        out = json.loads(self._db.get(b"m:summary"))
        out["entries"] = json.loads(self._db.get(b"m:total") or b"{}").get("entries")
        return out

    def view_natoms(self) -> torch.Tensor:
        """``(len(self),)`` atom counts of this (possibly ``index_select``-ed) view."""
        return torch.as_tensor(self.natoms[np.asarray(list(self.indices()), dtype=np.int64)])

    def file_bytes(self) -> int:
        """Bytes of the store file on disk."""
        return self._db.file_bytes()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)}, folder={str(self.folder)!r})"
