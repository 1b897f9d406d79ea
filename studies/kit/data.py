"""The one data loader of the studies: the project splits of MP-20 and Carbon-24, processed
once per process (forked job workers share them).

The project split (:class:`cft_pyg.data.MP20`, :class:`cft_pyg.data.Carbon24`,
``project-train/val/test``) is a fixed random permutation, so the first ``n`` rows of a part
are a random subset of it. ``data.y`` holds every target of the dataset
(:data:`~studies.kit.catalog.DATASET_COLUMNS`, in that order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .catalog import DATASET_COLUMNS

__all__ = ["load_parts", "load_pool"]

_CACHE: dict[tuple[Any, ...], Any] = {}


def load_parts(dataset: str, root: str, n_train: int | None = None, n_val: int | None = None,
               n_test: int | None = None, featurization: Mapping[str, Any] | None = None
               ) -> tuple[Any, Any, Any]:
    """``(train, val, test)``: the first ``n_*`` rows (all when ``None``) of the project
    split of ``dataset`` (``'mp20'`` or ``'carbon24'``) in ``root``, featurized with
    ``featurization`` (changes to the default; a catalog entry's ``featurization``)."""
    from cft_pyg.data import MP20, Carbon24, Featurization

    classes = {"mp20": MP20, "carbon24": Carbon24}
    if dataset not in classes:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(classes)}")
    f = Featurization.resolve(dict(featurization or {}))
    key = ("parts", dataset, str(root), n_train, n_val, n_test, f.to_json())
    if key not in _CACHE:
        columns = DATASET_COLUMNS[dataset]
        target = list(columns) if len(columns) > 1 else columns[0]
        _CACHE[key] = tuple(
            classes[dataset](root, split=f"project-{part}", target=target, max_rows=n,
                             featurization=f, log=False)
            for part, n in (("train", n_train), ("val", n_val), ("test", n_test)))
    return _CACHE[key]


def load_pool(root: str, max_rows: int | None = None) -> tuple[Any, np.ndarray]:
    """All MP-20 crystals (project train + val + test, the first ``max_rows`` of each part
    when set) as one dataset, and their space groups."""
    import torch
    from torch.utils.data import ConcatDataset

    from cft_pyg.data import space_groups_of

    key = ("pool", str(root), max_rows)
    if key not in _CACHE:
        parts = load_parts("mp20", root, max_rows, max_rows, max_rows)
        groups = torch.cat([space_groups_of(p) for p in parts]).numpy()
        _CACHE[key] = (ConcatDataset(parts), groups)
    return _CACHE[key]
