"""LightningDataModule over crystal ``Data`` sequences, with a deterministic data order.

The training batches of epoch ``e`` are drawn from ``seed`` and ``e`` only: ``batch_size``
crystals (:class:`EpochSeededSampler`) or, with ``max_atoms_per_batch``, at most that many
atoms (:class:`~cft_pyg.data.sampler.AtomBalancedBatchSampler`); both are shared out over the
data-parallel processes by the samplers themselves. A checkpoint records how many batches of
its epoch were trained (:meth:`CrystalDataModule.state_dict`), and a run resumed from it
continues after them (:class:`TrainingOrder`): the same batches whether a run is continuous
or resumed, at the end of an epoch or in its middle.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler
from torch_geometric.loader import DataLoader

from ..data.loader import CrystalLoader
from ..data.sampler import AtomBalancedBatchSampler, atom_counts

__all__ = ["CrystalDataModule", "EpochSeededSampler", "TrainingOrder", "class_statistics",
           "target_statistics"]


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


class TrainingOrder(Sampler[list[int]]):
    """The training batches of the engine: those of the current epoch, from a given batch on.

    Wraps a ``(seed, epoch)``-determined order: an :class:`EpochSeededSampler` cut into
    batches of ``batch_size`` crystals, or an
    :class:`~cft_pyg.data.sampler.AtomBalancedBatchSampler` (its own batches;
    ``batch_size=None``). ``set_epoch`` selects the epoch (Lightning calls it on
    ``batch_sampler.sampler`` at the start of every epoch, the data module when it builds
    the epoch's loader); :meth:`resume` makes epoch ``e`` begin after its first ``k``
    batches, and applies to no other epoch. ``len`` is the whole epoch's number of batches,
    which Lightning counts the epoch (and the resumed steps) against.

    Args:
        sampler: the epoch-seeded order (with ``set_epoch`` and ``epoch``).
        batch_size: crystals per batch of an index sampler; ``None`` for a batch sampler.
    """

    def __init__(self, sampler: EpochSeededSampler | AtomBalancedBatchSampler,
                 batch_size: int | None = None) -> None:
        self.sampler = sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self._resume: tuple[int, int] | None = None

    @property
    def epoch(self) -> int:
        """The epoch whose batches an iteration gives."""
        return int(self.sampler.epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the batches of ``epoch``."""
        self.sampler.set_epoch(epoch)

    def resume(self, epoch: int, batches_done: int) -> None:
        """Begin epoch ``epoch`` after its first ``batches_done`` batches."""
        self._resume = (int(epoch), int(batches_done))

    def _batches(self) -> Iterable[list[int]]:
        if self.batch_size is None:
            return self.sampler  # type: ignore[return-value]
        return BatchSampler(self.sampler, self.batch_size, drop_last=False)

    def __iter__(self) -> Iterator[list[int]]:
        # a generator: the epoch is read at the first batch drawn, not when iter() is called
        skip = self._resume[1] if self._resume and self._resume[0] == self.epoch else 0
        yield from itertools.islice(iter(self._batches()), skip, None)

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.sampler)
        return -(-len(self.sampler) // self.batch_size)


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

    Training batches hold ``batch_size`` crystals, or with ``max_atoms_per_batch`` at most
    that many atoms (a crystal larger than the budget is a batch of its own; ``batch_size``
    then sizes the evaluation batches only); see :class:`TrainingOrder`. The trainer must
    rebuild the training loader every epoch (``reload_dataloaders_every_n_epochs=1``, as
    :func:`~cft_pyg.training.trainer.make_trainer` does): the loader object is kept, so
    worker processes persist, and is set to the epoch and, after a resume, to the batch
    where the checkpoint stopped.

    Args:
        train, val, test: datasets (any sequence of ``Data``, e.g. PyG datasets or subsets);
            ``val``/``test`` may be ``None``.
        batch_size: crystals per batch.
        seed: seed of the training order.
        num_workers: loader worker processes.
        predict: dataset for ``trainer.predict`` (defaults to ``test``).
        max_atoms_per_batch: atom budget of a training batch (``None``: ``batch_size``
            crystals).
        natoms: atom counts of the training crystals for the budget (default:
            :func:`~cft_pyg.data.sampler.atom_counts` of ``train``).
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
        max_atoms_per_batch: int | None = None,
        natoms: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.train_set = train
        self.val_set = val
        self.test_set = test
        self.predict_set = predict if predict is not None else test
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.max_atoms_per_batch = None if max_atoms_per_batch is None \
            else int(max_atoms_per_batch)
        self.natoms = natoms
        self._loaders: dict[Any, DataLoader] = {}
        self._resume: dict[str, Any] | None = None

    def _loader(self, dataset: Sequence[Any] | None, key: Any = None,
                batches: TrainingOrder | None = None) -> DataLoader:
        if dataset is None or len(dataset) == 0:
            raise ValueError("this split is empty")
        if key is None or key not in self._loaders:
            size = {"batch_sampler": batches} if batches is not None \
                else {"batch_size": self.batch_size, "shuffle": False}
            loader = CrystalLoader(dataset, num_workers=self.num_workers,
                                   persistent_workers=self.num_workers > 0, **size)
            if key is None:
                return loader
            self._loaders[key] = loader
        return self._loaders[key]

    def _processes(self) -> tuple[int, int]:
        """``(world size, rank)`` of the attached trainer (``(1, 0)`` without one)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(getattr(trainer, "world_size", 1) or 1), \
            int(getattr(trainer, "global_rank", 0) or 0)

    def order_settings(self) -> dict[str, Any]:
        """What the training batches depend on besides the epoch (recorded with the position
        in a checkpoint, so that a resume in the middle of an epoch can check it)."""
        size = {"batch_size": self.batch_size} if self.max_atoms_per_batch is None \
            else {"max_atoms_per_batch": self.max_atoms_per_batch}
        return {"seed": self.seed, "crystals": len(self.train_set or ()),
                "processes": self._processes()[0], **size}

    def _training_order(self, world: int, rank: int) -> TrainingOrder:
        n = 0 if self.train_set is None else len(self.train_set)
        if self.max_atoms_per_batch is None:
            return TrainingOrder(EpochSeededSampler(n, self.seed, num_replicas=world, rank=rank,
                                                    batch_size=self.batch_size),
                                 self.batch_size)
        natoms = atom_counts(self.train_set) if self.natoms is None else self.natoms
        if len(natoms) != n:
            raise ValueError(f"{len(natoms)} atom counts for {n} training crystals")
        return TrainingOrder(AtomBalancedBatchSampler(natoms, self.max_atoms_per_batch,
                                                      seed=self.seed, num_replicas=world,
                                                      rank=rank))

    def train_dataloader(self) -> DataLoader:
        """Batches of the trainer's current epoch in a ``(seed, epoch)``-determined order,
        shared out over the processes of a data-parallel run (:class:`TrainingOrder`); a
        run resumed from a checkpoint written in the middle of an epoch continues that epoch
        after the batches it had trained."""
        world, rank = self._processes()
        if self.train_set is None or len(self.train_set) == 0:
            raise ValueError("this split is empty")
        key = ("train", world, rank)
        if key not in self._loaders:
            self._loader(self.train_set, key, self._training_order(world, rank))
        loader = self._loaders[key]
        order: TrainingOrder = loader.batch_sampler  # type: ignore[assignment]
        trainer = getattr(self, "trainer", None)
        if self.max_atoms_per_batch is not None and trainer is not None \
                and trainer.reload_dataloaders_every_n_epochs != 1:
            raise ValueError("batches of at most max_atoms_per_batch atoms need a Trainer with "
                             "reload_dataloaders_every_n_epochs=1 (their number changes from "
                             "epoch to epoch)")
        order.set_epoch(int(trainer.current_epoch) if trainer is not None else 0)
        if self._resume is not None:
            state, self._resume = self._resume, None
            ours = self.order_settings()
            if state["order"] != ours:
                raise ValueError(
                    f"cannot resume in the middle of epoch {state['epoch']}: its training "
                    f"batches were cut with {state['order']}, this run's with {ours} (resume "
                    "with the same settings and processes, or from an end-of-epoch checkpoint)")
            order.resume(state["epoch"], state["batches_done"])
        return loader

    def state_dict(self) -> dict[str, Any]:
        """The training position, written into every checkpoint by Lightning: ``epoch``,
        ``batches_done`` (batches of it trained), ``batches`` (of the whole epoch) and the
        ``order`` settings (:meth:`order_settings`)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or self.train_set is None:
            return {}
        batches = trainer.num_training_batches
        return {"epoch": int(trainer.current_epoch),
                "batches_done": int(trainer.fit_loop.epoch_loop.batch_progress.current.processed),
                "batches": int(batches) if math.isfinite(batches) else -1,
                "order": self.order_settings()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue an epoch that a checkpoint left unfinished after its trained batches (an
        end-of-epoch checkpoint continues with the next epoch's first batch, as before)."""
        done, total = int(state_dict.get("batches_done", 0)), int(state_dict.get("batches", 0))
        self._resume = dict(state_dict) if 0 < done < total else None

    def val_dataloader(self) -> DataLoader:
        """Validation crystals in dataset order (every process sees all of them, so the
        validation MAE is the same exact figure on every process and in a single one)."""
        return self._loader(self.val_set, "val")

    def test_dataloader(self) -> DataLoader:
        """Test crystals in dataset order."""
        return self._loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        """Crystals to predict, in dataset order."""
        return self._loader(self.predict_set)
