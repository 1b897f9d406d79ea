"""LightningDataModule over crystal ``Data`` sequences, with a deterministic data order.

The training order of epoch ``e`` is a permutation drawn from ``seed`` and ``e`` only
(:class:`EpochSeededSampler`), so it is the same whether a run is continuous or resumed
from a checkpoint. Under DDP, Lightning wraps the sampler in its distributed sampler, which
is seeded and epoch-aware as well.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import Sampler
from torch_geometric.loader import DataLoader

__all__ = ["CrystalDataModule", "EpochSeededSampler", "class_statistics", "target_statistics"]


class EpochSeededSampler(Sampler[int]):
    """Random permutation of ``range(n)`` determined by ``(seed, epoch)``, shared out over
    data-parallel processes so that their batches together are the single-process batch.

    With ``num_replicas = W`` processes of ``batch_size = b`` crystals each, the permutation
    is cut into global batches of ``W b`` and process ``rank`` takes the ``rank``-th slice of
    ``b`` of each: global batch ``t`` is exactly batch ``t`` of one process with batch
    ``W b``, so (loss a mean over crystals, gradients averaged over processes) a run on ``W``
    processes follows the single-process run. A last global batch of ``m < W b`` crystals is
    split into ``ceil(m / W)`` per process, the last processes repeating crystals of that
    batch where it does not divide (processes must take the same number of steps).

    Lightning calls :meth:`set_epoch` at the start of every epoch.

    Args:
        n: number of crystals.
        seed: seed of the order.
        num_replicas, rank: data-parallel processes and this one's index.
        batch_size: crystals per batch and process (only used with ``num_replicas > 1``).
    """

    def __init__(self, n: int, seed: int = 0, *, num_replicas: int = 1, rank: int = 0,
                 batch_size: int = 1) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.n = int(n)
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.batch_size = int(batch_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = int(epoch)

    def _chunks(self) -> list[tuple[int, int]]:
        """``(start, size)`` of every global batch."""
        step = self.batch_size * self.num_replicas
        return [(s, min(step, self.n - s)) for s in range(0, self.n, step)]

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        if self.num_replicas == 1:
            return iter(perm)
        mine: list[int] = []
        for start, size in self._chunks():
            chunk = perm[start:start + size]
            per = -(-size // self.num_replicas)
            part = [chunk[(self.rank * per + k) % size] for k in range(per)]
            mine.extend(part)
        return iter(mine)

    def __len__(self) -> int:
        if self.num_replicas == 1:
            return self.n
        return sum(-(-size // self.num_replicas) for _, size in self._chunks())


def target_statistics(dataset: Sequence[Any], target_index: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the targets of a dataset (``std`` 1 when degenerate).

    Raises:
        ValueError: a crystal has no target, or a target is not finite.
    """
    values = []
    for i in range(len(dataset)):
        y = dataset[i].y
        if y is None:
            raise ValueError(f"crystal {i} of the training set has no target (data.y)")
        values.append(float(torch.as_tensor(y).reshape(-1)[target_index]))
    t = torch.tensor(values, dtype=torch.float64)
    if t.numel() == 0:
        raise ValueError("empty training set")
    if not torch.isfinite(t).all():
        raise ValueError("the training targets contain NaN or infinite values")
    mean = float(t.mean())
    std = float(t.std(unbiased=False)) if t.numel() > 1 else 0.0
    if not std > 1e-12:
        std = 1.0
    return mean, std


def class_statistics(dataset: Sequence[Any], target_index: int = 0,
                     num_classes: int | None = None) -> tuple[int, list[int]]:
    """Number of classes and crystals per class of a classification training set.

    Labels must be the integers ``0 .. num_classes - 1`` (stored as floats in ``data.y``, as
    CGCNN's ``id_prop.csv`` gives them). ``num_classes=None`` takes ``max label + 1``.

    Raises:
        ValueError: a crystal has no target, a label is not a non-negative integer or not
            below ``num_classes``, or the training set holds a single class.
    """
    labels = []
    for i in range(len(dataset)):
        y = dataset[i].y
        if y is None:
            raise ValueError(f"crystal {i} of the training set has no target (data.y)")
        value = float(torch.as_tensor(y).reshape(-1)[target_index])
        if not (math.isfinite(value) and value >= 0 and value == round(value)):
            raise ValueError(f"classification labels must be integers 0, 1, ...; crystal {i} "
                             f"has {value!r}")
        labels.append(int(value))
    if not labels:
        raise ValueError("empty training set")
    n = max(labels) + 1 if num_classes is None else int(num_classes)
    if max(labels) >= n:
        raise ValueError(f"label {max(labels)} is not below num_classes={n}")
    if n < 2 or len(set(labels)) < 2:
        raise ValueError("classification needs at least two classes in the training set; "
                         f"its labels are all {labels[0]}")
    counts = [0] * n
    for label in labels:
        counts[label] += 1
    return n, counts


class CrystalDataModule(L.LightningDataModule):
    """Train/val/test/predict loaders over sequences of crystal ``Data``.

    Args:
        train, val, test: datasets (any sequence of ``Data``, e.g. PyG datasets or subsets);
            ``val``/``test`` may be ``None``.
        batch_size: crystals per batch.
        seed: seed of the training order.
        num_workers: loader worker processes.
        predict: dataset for ``trainer.predict`` (defaults to ``test``).
    """

    def __init__(
        self,
        train: Sequence[Any] | None = None,
        val: Sequence[Any] | None = None,
        test: Sequence[Any] | None = None,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
        predict: Sequence[Any] | None = None,
    ) -> None:
        super().__init__()
        self.train_set = train
        self.val_set = val
        self.test_set = test
        self.predict_set = predict if predict is not None else test
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_workers = int(num_workers)

    def _loader(self, dataset: Sequence[Any] | None, sampler: Sampler[int] | None = None
                ) -> DataLoader:
        if dataset is None or len(dataset) == 0:
            raise ValueError("this split is empty")
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, sampler=sampler,
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        """Shuffled in a ``(seed, epoch)``-determined order, shared out over the processes of
        a data-parallel run (:class:`EpochSeededSampler`)."""
        trainer = getattr(self, "trainer", None)
        world = int(getattr(trainer, "world_size", 1) or 1) if trainer is not None else 1
        rank = int(getattr(trainer, "global_rank", 0) or 0) if trainer is not None else 0
        n = 0 if self.train_set is None else len(self.train_set)
        return self._loader(self.train_set, EpochSeededSampler(
            n, self.seed, num_replicas=world, rank=rank, batch_size=self.batch_size))

    def val_dataloader(self) -> DataLoader:
        """Validation crystals in dataset order (every process sees all of them, so the
        validation MAE is the same exact figure on every process and in a single one)."""
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        """Test crystals in dataset order."""
        return self._loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        """Crystals to predict, in dataset order."""
        return self._loader(self.predict_set)
