"""Datasets of any size: a store of standardized crystals on disk, built in parallel,
resumably and in shards from streamed inputs, read as PyG ``Data`` with graphs built as
crystals are read.

* :mod:`.record` - one crystal as bytes (float64, exact);
* :mod:`.backends` - LMDB (default) and SQLite key-value files;
* :mod:`.build` - :func:`build_store`, :func:`merge_stores` (parallel, chunked, resumable,
  ``shard=(k, N)``);
* :mod:`.dataset` - :class:`CrystalStore`, the dataset;
* :mod:`.device_graph` - :func:`add_neighbor_graph`, a batch's graph on its device.

Command line: ``python -m cft_pyg.store_cli build|merge|info`` (:mod:`cft_pyg.store_cli`).
"""

from .backends import BACKENDS, open_backend
from .build import (
    BuildReport,
    build_store,
    build_store_from,
    finalize_store,
    merge_stores,
    parse_shard,
)
from .dataset import CrystalStore
from .device_graph import add_neighbor_graph
from .record import StoredCrystal, decode, encode

__all__ = ["BACKENDS", "BuildReport", "CrystalStore", "StoredCrystal", "build_store",
           "add_neighbor_graph", "build_store_from", "decode",
           "encode", "finalize_store", "merge_stores", "open_backend", "parse_shard"]
