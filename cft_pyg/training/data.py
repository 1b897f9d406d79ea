"""From a :class:`TrainConfig` to train / val / test (/ zero-shot) crystal sets.

The dataset is built by name (:func:`cft_pyg.training.registry.build_dataset`), optionally
subsampled (seeded), and split by :mod:`cft_pyg.data.splits`:

* ``split='random'``: seeded random train/val/test;
* ``split='holdout-centrosymmetric'`` / ``'holdout'``: the crystals of the held-out groups
  (every group with inversion, or ``holdout_groups``) form the **zero-shot** set, never seen
  in training; the others are split at random into train/val/test (``test`` is then the
  in-distribution test set of the seen groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .config import TrainConfig
from .registry import build_dataset

__all__ = ["DataSplits", "build_splits", "load_dataset", "subset"]


@dataclass
class DataSplits:
    """The crystal sets of one run (``zeroshot`` is ``None`` for a random split)."""

    train: Sequence[Any]
    val: Sequence[Any]
    test: Sequence[Any]
    zeroshot: Sequence[Any] | None = None
    holdout_groups: tuple[int, ...] = ()

    def part(self, name: str) -> Sequence[Any]:
        """``'train'``, ``'val'``, ``'test'`` or ``'zeroshot'``."""
        if name not in ("train", "val", "test", "zeroshot"):
            raise KeyError(f"unknown part {name!r}: use train, val, test or zeroshot")
        value = getattr(self, name)
        if value is None:
            raise KeyError(f"this split has no {name!r} part (use a hold-out split)")
        return value


def subset(dataset: Sequence[Any], indices: Sequence[int]) -> Sequence[Any]:
    """The crystals ``indices`` of ``dataset`` (a PyG dataset view, or a list)."""
    idx = [int(i) for i in indices]
    if hasattr(dataset, "index_select"):
        return dataset.index_select(idx)
    return [dataset[i] for i in idx]


def load_dataset(config: TrainConfig) -> Sequence[Any]:
    """The full dataset of ``config`` (before subsampling and splitting)."""
    kwargs = dict(config.dataset_kwargs)
    if config.target is not None:
        kwargs["target"] = config.target
    return build_dataset(config.dataset, config.data_root, **kwargs)


def space_groups_of(dataset: Sequence[Any]) -> torch.Tensor:
    """``(len(dataset),)`` space-group number of every crystal."""
    return torch.tensor([int(dataset[i].space_group.reshape(-1)[0]) for i in range(len(dataset))],
                        dtype=torch.long)


def build_splits(config: TrainConfig, dataset: Sequence[Any] | None = None) -> DataSplits:
    """Subsample and split the dataset as ``config`` says.

    Args:
        config: run settings (``dataset``, ``max_crystals``, ``split``, fractions, ``seed``).
        dataset: use this instead of building ``config.dataset``.
    """
    from ..data import splits as S

    ds = load_dataset(config) if dataset is None else dataset
    if config.max_crystals is not None and config.max_crystals < len(ds):
        g = torch.Generator().manual_seed(config.seed)
        keep = torch.randperm(len(ds), generator=g)[: config.max_crystals].sort().values
        ds = subset(ds, keep.tolist())
    fractions = (1.0 - config.val_fraction - config.test_fraction, config.val_fraction,
                 config.test_fraction)
    if config.split == "random":
        tr, va, te = S.random_split_indices(len(ds), fractions, seed=config.seed)
        return DataSplits(subset(ds, tr), subset(ds, va), subset(ds, te))
    groups = space_groups_of(ds).tolist()
    if config.split == "holdout-centrosymmetric":
        held = S.centrosymmetric_groups()
    else:
        held = sorted({int(g) for g in config.holdout_groups})
    seen_idx, held_idx = S.holdout_indices(groups, held)
    tr, va, te = S.random_split_indices(len(seen_idx), fractions, seed=config.seed)
    pick = lambda part: [seen_idx[i] for i in part]  # noqa: E731
    return DataSplits(subset(ds, pick(tr)), subset(ds, pick(va)), subset(ds, pick(te)),
                      subset(ds, held_idx), tuple(held))
