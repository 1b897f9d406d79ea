"""From a :class:`TrainConfig` to train / val / test (/ zero-shot) crystal sets.

The dataset is built by name (:func:`cft_pyg.training.registry.build_dataset`), optionally
subsampled (seeded), and split by :mod:`cft_pyg.data.splits`:

* ``split='dataset'``: the dataset's own train/val/test (``mp20``, ``perov5``, ``carbon24``);
* ``split='random'``: seeded random train/val/test;
* ``split='holdout-centrosymmetric'`` / ``'holdout'``: the crystals of the held-out groups
  (every group with inversion, or ``holdout_groups``) form the **zero-shot** set, never seen
  in training; the others are split at random into train/val/test (``test`` is then the
  in-distribution test set of the seen groups).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import ConcatDataset

from ..data.crystal_dataset import sample_indices
from .config import ConfigError, TrainConfig
from .registry import build_dataset, dataset_accepts

__all__ = ["DataSplits", "PROJECT_SPLIT_NAMES", "build_splits", "evaluation_sizes",
           "load_dataset", "subset"]

PROJECT_SPLIT_NAMES = ("project-train", "project-val", "project-test")
"""Default parts of datasets with their own split (the locally available rows)."""


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


def _has_own_split(config: TrainConfig) -> bool:
    """The dataset has parts to choose from, and ``dataset_kwargs`` does not pin one."""
    return "split" not in config.dataset_kwargs and dataset_accepts(config.dataset, "split")


_UNIONS = {PROJECT_SPLIT_NAMES: "project-all", ("train", "val", "test"): "all"}
"""The one-dataset form of a concatenation of parts (:class:`~cft_pyg.data.CDVAEDataset`)."""


def load_dataset(config: TrainConfig, part: str | None = None,
                 sample: int | None = None) -> Sequence[Any]:
    """The dataset of ``config`` (before splitting).

    For a dataset with its own splits (``mp20``, ``perov5``, ``carbon24``: the ``split``
    argument of :class:`~cft_pyg.data.cdvae.CDVAEDataset`), ``part`` (``'train'``,
    ``'val'``, ``'test'``) selects one of ``split_names`` (``dataset_kwargs['split_names']``,
    default the project's ``project-train/val/test`` of the locally available rows);
    ``part=None`` concatenates the three. ``dataset_kwargs['split']`` pins one part, which
    is then treated as a dataset without a split of its own.

    Args:
        config: The run settings.
        part: See above.
        sample: A seeded (``config.seed``) random subset of this many crystals. Datasets
            that take a ``sample`` option (the real datasets) choose it **before**
            processing, so only the chosen crystals are converted; others are subsampled
            after building, with the same rule (:func:`~cft_pyg.data.sample_indices`).
    """
    kwargs = dict(config.dataset_kwargs)
    names = list(kwargs.pop("split_names", PROJECT_SPLIT_NAMES))
    if config.featurization:
        if not dataset_accepts(config.dataset, "featurization"):
            raise ConfigError(f"dataset {config.dataset!r} takes no featurization")
        from ..data.featurization import Featurization

        kwargs["featurization"] = Featurization.from_dict(config.featurization)
    if config.target is not None:
        kwargs["target"] = config.target
    if config.cache_dir is not None:
        if not dataset_accepts(config.dataset, "processed_root"):
            raise ConfigError(f"dataset {config.dataset!r} keeps no processed cache "
                              "(cache_dir does not apply)")
        kwargs["processed_root"] = config.cache_dir
    if config.download:
        if not dataset_accepts(config.dataset, "download"):
            raise ConfigError(f"dataset {config.dataset!r} cannot be downloaded")
        kwargs["download"] = True
    early = sample is not None and dataset_accepts(config.dataset, "sample")
    if early:
        kwargs.update(sample=sample, sample_seed=config.seed)
    try:
        if not _has_own_split(config):
            ds = build_dataset(config.dataset, config.data_root, **kwargs)
        elif part is not None:
            ds = build_dataset(config.dataset, config.data_root,
                               split=names[("train", "val", "test").index(part)], **kwargs)
        elif early and tuple(names) in _UNIONS:
            ds = build_dataset(config.dataset, config.data_root, split=_UNIONS[tuple(names)],
                               **kwargs)
        else:
            if early:  # no one-dataset form of these parts: sample their concatenation
                kwargs.pop("sample"), kwargs.pop("sample_seed")
                early = False
            ds = ConcatDataset([build_dataset(config.dataset, config.data_root, split=n,
                                              **kwargs) for n in names])
    except TypeError as err:
        raise ConfigError(f"bad options for dataset {config.dataset!r}: {err}") from err
    return ds if early else _subsample(ds, sample, config.seed)


def _subsample(ds: Sequence[Any], n: int | None, seed: int) -> Sequence[Any]:
    if n is None or n >= len(ds):
        return ds
    return subset(ds, sample_indices(len(ds), n, seed))


def evaluation_sizes(config: TrainConfig) -> tuple[int | None, int | None]:
    """Crystals of the validation and test parts of a ``split='dataset'`` run with
    ``max_crystals``: ``ceil(max_crystals * f / (1 - val_fraction - test_fraction))`` for
    ``f`` = ``val_fraction``, ``test_fraction`` (the proportions of a random split, at least
    one crystal each); ``(None, None)`` (the whole parts) without ``max_crystals``."""
    n = config.max_crystals
    if n is None:
        return None, None
    train = 1.0 - config.val_fraction - config.test_fraction
    return tuple(max(1, math.ceil(n * f / train - 1e-9))  # type: ignore[return-value]
                 for f in (config.val_fraction, config.test_fraction))


def build_splits(config: TrainConfig, dataset: Sequence[Any] | None = None) -> DataSplits:
    """Subsample and split the dataset as ``config`` says.

    ``split='auto'`` is ``'dataset'`` (the dataset's own train/val/test) for datasets that
    have one and ``'random'`` otherwise. With ``'dataset'``, ``max_crystals`` limits the
    training part to that many crystals and the validation and test parts in proportion
    (:func:`evaluation_sizes`), so that no part is processed whole. The subsets are chosen
    before processing where the dataset allows (see :func:`load_dataset`).

    Args:
        config: run settings (``dataset``, ``max_crystals``, ``split``, fractions, ``seed``).
        dataset: use this instead of building ``config.dataset`` (``'dataset'`` splits are
            then unavailable).
    """
    from ..data import splits as S

    mode = config.split
    own = dataset is None and _has_own_split(config)
    if mode == "auto":
        mode = "dataset" if own else "random"
    if mode == "dataset":
        if not own:
            raise ConfigError(f"dataset {config.dataset!r} has no predefined split; use "
                              "split 'random' or a hold-out split")
        val_n, test_n = evaluation_sizes(config)
        train = load_dataset(config, "train", sample=config.max_crystals)
        return DataSplits(train, load_dataset(config, "val", sample=val_n),
                          load_dataset(config, "test", sample=test_n))

    if dataset is None:
        ds = load_dataset(config, sample=config.max_crystals)
    else:
        ds = _subsample(dataset, config.max_crystals, config.seed)
    fractions = (1.0 - config.val_fraction - config.test_fraction, config.val_fraction,
                 config.test_fraction)
    if mode == "random":
        tr, va, te = S.random_split(len(ds), fractions, seed=config.seed)
        return DataSplits(subset(ds, tr.tolist()), subset(ds, va.tolist()),
                          subset(ds, te.tolist()))
    held = S.centrosymmetric_groups() if mode == "holdout-centrosymmetric" \
        else sorted({int(g) for g in config.holdout_groups})
    groups = S.space_groups_of(ds)
    is_held = torch.isin(groups, torch.tensor(held, dtype=torch.long))
    seen_idx = torch.nonzero(~is_held).flatten().tolist()
    held_idx = torch.nonzero(is_held).flatten().tolist()
    if not seen_idx:
        raise ConfigError("every crystal belongs to a held-out group: nothing to train on")
    tr, va, te = S.random_split(len(seen_idx), fractions, seed=config.seed)
    pick = lambda part: [seen_idx[i] for i in part.tolist()]  # noqa: E731
    return DataSplits(subset(ds, pick(tr)), subset(ds, pick(va)), subset(ds, pick(te)),
                      subset(ds, held_idx), tuple(held))

