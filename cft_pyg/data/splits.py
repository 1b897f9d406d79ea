"""Seeded dataset splits: random, space-group hold-out (zero-shot) and few-shot.

All functions return :class:`Split`, a named tuple of three ``(n,)`` long index tensors
``(train, val, test)`` into the dataset (sorted ascending, disjoint, together covering every
crystal); use them with ``dataset[split.train]`` or ``torch.utils.data.Subset``.  The same
arguments and seed always give the same split.

* :func:`random_split`: a seeded random split by fractions.
* :func:`holdout_space_groups`: every crystal of the held-out groups goes to ``test``; the
  others are split randomly into ``train``/``val``.  The published zero-shot protocol holds
  out every group that contains inversion, :func:`centrosymmetric_groups` (the 92
  centrosymmetric groups); any list of groups works.
* :func:`few_shot_split`: the hold-out split, then ``k`` seeded crystals of each held-out
  group moved from ``test`` into ``train`` (at most ``n_g - 1`` of a group with ``n_g``
  crystals, so every held-out group keeps at least one test crystal).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from ..symmetry.space_group import SpaceGroup

__all__ = [
    "Split",
    "random_split",
    "holdout_space_groups",
    "few_shot_split",
    "centrosymmetric_groups",
    "space_groups_of",
    "project_split",
    "PROJECT_SPLITS",
    "PROJECT_SPLIT_SEED",
    "PROJECT_SPLIT_FRACTIONS",
]


class Split(NamedTuple):
    """Index tensors of a split.

    Attributes:
        train: ``(n_train,)`` long indices.
        val: ``(n_val,)`` long indices.
        test: ``(n_test,)`` long indices.
    """

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


@functools.cache
def _centrosymmetric() -> tuple[int, ...]:
    return tuple(n for n in range(1, 231) if SpaceGroup(n).has_inversion)


def centrosymmetric_groups() -> list[int]:
    """The ITA numbers of the 92 space groups that contain inversion (``-I`` in the group)."""
    return list(_centrosymmetric())


def space_groups_of(dataset: Any) -> torch.Tensor:
    """Space-group number of every crystal of a dataset.

    Args:
        dataset: A PyG ``InMemoryDataset`` / sequence of crystal ``Data`` (with
            ``space_group``), or directly a sequence/tensor of space-group numbers.

    Returns:
        ``(N,)`` long tensor.
    """
    if isinstance(dataset, torch.Tensor):
        return dataset.reshape(-1).to(torch.long)
    if isinstance(dataset, np.ndarray):
        return torch.as_tensor(dataset.reshape(-1), dtype=torch.long)
    data = getattr(dataset, "_data", None)
    if data is not None and getattr(dataset, "_indices", None) is None \
            and "space_group" in data and len(data.space_group) == len(dataset):
        return data.space_group.reshape(-1).to(torch.long)
    values = []
    for item in dataset:
        values.append(int(item.space_group.reshape(-1)[0]) if hasattr(item, "space_group")
                      else int(item))
    return torch.tensor(values, dtype=torch.long)


def _length(dataset: Any) -> int:
    return int(dataset) if isinstance(dataset, (int, np.integer)) else len(dataset)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, "
                         f"got {fractions}")
    return fractions


def _sorted(idx: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.sort(np.asarray(idx, dtype=np.int64)), dtype=torch.long)


def _random_parts(indices: np.ndarray, fractions: Sequence[float],
                  rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle ``indices`` and cut into parts of the given fractions (first gets remainder)."""
    perm = indices[rng.permutation(indices.shape[0])]
    sizes = [round(f * indices.shape[0]) for f in fractions[1:]]
    first = indices.shape[0] - sum(sizes)
    if first < 0:
        raise ValueError("fractions leave no room for the first part")
    bounds = np.cumsum([first, *sizes])
    return np.split(perm, bounds[:-1])


def random_split(dataset: Any, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 seed: int = 0) -> Split:
    """A seeded random split.

    Args:
        dataset: A dataset (anything with ``len``) or the number of crystals.
        fractions: Train, val, test fractions (sum 1); val and test sizes are rounded and
            train takes the remainder.
        seed: Random seed.

    Returns:
        :class:`Split` of index tensors.
    """
    fractions = _check_fractions(fractions)
    n = _length(dataset)
    train, val, test = _random_parts(np.arange(n), fractions, np.random.default_rng(seed))
    return Split(_sorted(train), _sorted(val), _sorted(test))


def _group_list(groups: Iterable[int]) -> list[int]:
    out = sorted({int(g) for g in groups})
    for g in out:
        if not 1 <= g <= 230:
            raise ValueError(f"space-group numbers must be in 1..230, got {g}")
    return out


def holdout_space_groups(dataset: Any, groups: Iterable[int], *, val_fraction: float = 0.1,
                         seed: int = 0) -> Split:
    """Zero-shot split: every crystal of ``groups`` is in ``test``, none in train/val.

    Args:
        dataset: Dataset of crystals (or the space-group numbers, see
            :func:`space_groups_of`).
        groups: Held-out ITA numbers (e.g. :func:`centrosymmetric_groups`); any list works,
            also groups absent from the dataset.
        val_fraction: Fraction of the remaining (seen-group) crystals used for validation.
        seed: Random seed of the train/val split.

    Returns:
        :class:`Split`: ``test`` = crystals of the held-out groups; ``train``/``val`` = the
        rest, split at random.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    numbers = space_groups_of(dataset).numpy()
    held = np.isin(numbers, _group_list(groups))
    seen = np.flatnonzero(~held)
    train, val = _random_parts(seen, (1.0 - val_fraction, val_fraction),
                               np.random.default_rng(seed))
    return Split(_sorted(train), _sorted(val), _sorted(np.flatnonzero(held)))


def few_shot_split(dataset: Any, groups: Iterable[int], k: int, *, val_fraction: float = 0.1,
                   seed: int = 0) -> Split:
    """Few-shot split: the hold-out split with ``k`` crystals per held-out group in train.

    Args:
        dataset: Dataset of crystals (or the space-group numbers).
        groups: Held-out ITA numbers.
        k: Crystals of each held-out group moved from test to train (``min(k, n_g - 1)``
            for a group with ``n_g`` crystals, so each keeps at least one test crystal).
        val_fraction: Fraction of the seen-group crystals used for validation.
        seed: Random seed (train/val split and the choice of the ``k`` crystals).

    Returns:
        :class:`Split`; with ``k = 0`` it equals :func:`holdout_space_groups`.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    base = holdout_space_groups(dataset, groups, val_fraction=val_fraction, seed=seed)
    numbers = space_groups_of(dataset).numpy()
    test = base.test.numpy()
    rng = np.random.default_rng([seed, 1])
    moved = []
    for g in np.unique(numbers[test]):
        members = test[numbers[test] == g]
        take = min(k, members.shape[0] - 1)
        if take > 0:
            moved.append(rng.choice(members, size=take, replace=False))
    moved_idx = np.concatenate(moved) if moved else np.zeros(0, dtype=np.int64)
    train = np.concatenate([base.train.numpy(), moved_idx])
    return Split(_sorted(train), base.val, _sorted(np.setdiff1d(test, moved_idx)))


PROJECT_SPLITS = ("project-train", "project-val", "project-test")
"""Names of the project's fixed split of the locally available val + test rows."""
PROJECT_SPLIT_SEED = 0
PROJECT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def project_split(
    material_ids: Sequence[str],
    seed: int = PROJECT_SPLIT_SEED,
    fractions: tuple[float, float, float] = PROJECT_SPLIT_FRACTIONS,
) -> dict[str, list[str]]:
    """The project's fixed split of a set of crystals, by identifier.

    The ids are de-duplicated and sorted (so the file order does not matter), permuted with
    ``numpy.random.default_rng(seed)``, and cut into ``fractions`` (train gets the rounding
    remainder).

    Args:
        material_ids: Identifiers of all crystals (e.g. MP-20 val + test).
        seed: Permutation seed.
        fractions: Train, val and test fractions (summing to 1).

    Returns:
        ``{'project-train': ids, 'project-val': ids, 'project-test': ids}``.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, "
                         f"got {fractions}")
    ids = sorted({str(i) for i in material_ids})
    perm = np.random.default_rng(seed).permutation(len(ids))
    n_val = round(fractions[1] * len(ids))
    n_test = round(fractions[2] * len(ids))
    n_train = len(ids) - n_val - n_test
    shuffled = [ids[i] for i in perm]
    return {
        "project-train": shuffled[:n_train],
        "project-val": shuffled[n_train:n_train + n_val],
        "project-test": shuffled[n_train + n_val:],
    }
