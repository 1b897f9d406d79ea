"""Pretraining of the positional encoding on orbit distances (as in the published CFT).

The published model first trains its encoder so that the distance between the encodings
of two positions reproduces their *orbit distance*, then fine-tunes it with the model;
this helped it most on the elastic moduli.  Here the same is available for the positional
module of any :class:`~cft_pyg.nn.CrystalFourierTransformer`
(:class:`~cft_pyg.nn.CrystalPositionalEncoding`, or the published two-branch encoder
:class:`~cft_pyg.nn.PublishedPositionalEncoding` of :class:`~cft_pyg.nn.PublishedCFT`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..symmetry.distance import orbit_distance
from ..symmetry.lattice import random_lattice as _random_lattice
from ..symmetry.space_group import SpaceGroup
from .cft import CrystalFourierTransformer, CrystalPositionalEncoding

__all__ = ["OrbitDistancePretrainer", "encoding_distance", "orbit_distance", "pretrain_encoding",
           "synthetic_pairs"]


def _pair_cell(group: SpaceGroup, rng: np.random.Generator) -> np.ndarray:
    """The cell of one synthetic pair: a random lattice of the group's Bravais type whose
    volume is the product of three lengths drawn in 3-10 Å."""
    return _random_lattice(group, float(np.prod(rng.uniform(3.0, 10.0, size=3))), rng)


def synthetic_pairs(
    groups: list[int], pairs_per_group: int, seed: int | Sequence[int]
) -> tuple[torch.Tensor, ...]:
    """``(x1, x2, cell, space_group, orbit_distance)`` of synthetic two-atom crystals:
    ``pairs_per_group`` random cells of each group's lattice type with two random positions
    (float64; the distance in Å).  ``seed`` is a numpy seed (an int or a sequence such as
    ``(seed, epoch)``)."""
    rng = np.random.default_rng(seed)
    x1s, x2s, cells, sgs, dists = [], [], [], [], []
    for number in groups:
        group = SpaceGroup(number)
        cell = torch.as_tensor(
            np.stack([_pair_cell(group, rng) for _ in range(pairs_per_group)])
        )
        x1 = torch.as_tensor(rng.random((pairs_per_group, 3)))
        x2 = torch.as_tensor(rng.random((pairs_per_group, 3)))
        x1s.append(x1)
        x2s.append(x2)
        cells.append(cell)
        sgs.append(torch.full((pairs_per_group,), number, dtype=torch.long))
        dists.append(orbit_distance(x1, x2, cell, group))
    return tuple(torch.cat(t) for t in (x1s, x2s, cells, sgs, dists))


def encoding_distance(
    pe: CrystalPositionalEncoding | nn.Module, x1: torch.Tensor, x2: torch.Tensor,
    cell: torch.Tensor, space_group: torch.Tensor,
) -> torch.Tensor:
    """``(n,)`` distances ``|p(x1) - p(x2)|`` of the positional tokens of ``n`` two-atom
    crystals (each with its own cell and group; differentiable, finite gradient at 0)."""
    n = x1.shape[0]
    crystal = torch.arange(n, device=x1.device).repeat(2)
    enc = pe(torch.cat([x1, x2]), space_group.repeat(2), cell,
             torch.full((n,), 2, device=x1.device), crystal)
    return ((enc[:n] - enc[n:]).square().sum(-1) + 1e-12).sqrt()


class OrbitDistancePretrainer:
    r"""Epoch-by-epoch training of a positional encoding on orbit distances (resumable).

    Each epoch draws ``pairs_per_group`` synthetic two-atom crystals of every group
    (:func:`synthetic_pairs`; new lattices and positions every epoch with ``fresh_pairs``,
    numpy seed ``(seed, epoch)``, otherwise the same pairs every epoch) and takes AdamW steps
    on :math:`\big(\|p(x_1) - p(x_2)\| - d_G(x_1, x_2)\big)^2` over shuffled batches, with
    a linear warm-up over ``warmup_fraction`` of all steps, a cosine decay to
    ``min_lr_ratio * lr`` and gradient clipping at ``clip_norm`` (as the published
    pretraining).  :meth:`state_dict` holds everything needed to continue bit for bit
    (weights are the module's own; optimizer, schedule, epoch, history), so a run can stop
    after any epoch and go on in another process.

    Args:
        positional: the positional module (``model.positional`` of a CFT).
        groups: space-group numbers to sample.
        pairs_per_group: pairs per group and epoch.
        epochs: total epochs (fixes the schedule).
        batch_size: pairs per step.
        lr: peak AdamW learning rate.
        seed: seed of the pairs and of the shuffling.
        fresh_pairs: new pairs every epoch.
        warmup_fraction, min_lr_ratio: the schedule.
        clip_norm: gradient-norm clipping (``None``: off).
    """

    def __init__(
        self, positional: nn.Module, groups: Iterable[int], *, pairs_per_group: int,
        epochs: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
        fresh_pairs: bool = True, warmup_fraction: float = 0.02, min_lr_ratio: float = 0.01,
        clip_norm: float | None = 1.0,
    ) -> None:
        if getattr(positional, "encoding", None) is None and getattr(
                positional, "lattice", None) is None:
            raise ValueError("the model has no positional encoding to pretrain")
        for name, value in (("pairs_per_group", pairs_per_group), ("epochs", epochs),
                            ("batch_size", batch_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self.pe = positional
        self.groups = sorted(set(int(g) for g in groups))
        self.pairs_per_group, self.epochs, self.batch_size = pairs_per_group, epochs, batch_size
        self.seed, self.fresh_pairs, self.clip_norm = seed, fresh_pairs, clip_norm
        self.epoch = 0
        self.history: list[float] = []
        self.pairs_seen = 0
        self.optimizer = torch.optim.AdamW(
            [p for p in positional.parameters() if p.requires_grad], lr=lr)
        n_pairs = pairs_per_group * len(self.groups)
        total = epochs * math.ceil(n_pairs / batch_size)
        warmup = max(1, round(warmup_fraction * total))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            done = min(1.0, (step - warmup) / max(1, total - warmup))
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * done))

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self._fixed: tuple[torch.Tensor, ...] | None = None

    @property
    def done(self) -> bool:
        """Whether all epochs have run."""
        return self.epoch >= self.epochs

    def _pairs(self) -> tuple[torch.Tensor, ...]:
        if not self.fresh_pairs and self._fixed is not None:
            return self._fixed
        seed = (self.seed, self.epoch) if self.fresh_pairs else self.seed
        param = next(self.pe.parameters())
        x1, x2, cell, sg, target = (
            t.to(param.device) for t in synthetic_pairs(self.groups, self.pairs_per_group, seed))
        pairs = (*(t.to(param.dtype) for t in (x1, x2, cell)), sg, target.to(param.dtype))
        if not self.fresh_pairs:
            self._fixed = pairs
        return pairs

    def run_epoch(self) -> float:
        """One epoch; returns its mean squared error (Å²)."""
        if self.done:
            raise RuntimeError(f"all {self.epochs} epochs have run")
        x1, x2, cell, sg, target = self._pairs()
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(target.numel(), generator=gen).to(target.device)
        was_training = self.pe.training
        self.pe.train()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        total = 0.0
        for idx in order.split(self.batch_size):
            pred = encoding_distance(self.pe, x1[idx], x2[idx], cell[idx], sg[idx])
            loss = nn.functional.mse_loss(pred, target[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
            self.optimizer.step()
            self.schedule.step()
            total += float(loss.detach()) * idx.numel()
        self.pe.train(was_training)
        self.epoch += 1
        self.pairs_seen += target.numel()
        self.history.append(total / target.numel())
        return self.history[-1]

    def state_dict(self) -> dict[str, Any]:
        """The optimizer, schedule and progress (the module's weights are saved apart)."""
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "epoch": self.epoch, "history": list(self.history),
                "pairs_seen": self.pairs_seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        self.pairs_seen = int(state["pairs_seen"])


def pretrain_encoding(
    model: CrystalFourierTransformer | nn.Module,
    groups: Iterable[int] = range(1, 231),
    *,
    pairs_per_group: int = 64,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    fresh_pairs: bool = True,
) -> list[float]:
    r"""Train the positional encoding so that :math:`\|p(x_1) - p(x_2)\|` regresses the
    orbit distance :math:`d_G(x_1, x_2)` (Å), as the published CFT does.

    Synthetic two-atom crystals: for every group, ``pairs_per_group`` random lattices of
    the group's crystal system (:func:`random_lattice`) with two random general positions
    :math:`x_1, x_2`; the encoding of each position is computed with its crystal's
    lattice features (two atoms per cell).  Only the parameters of the positional
    encoding are updated (the symmetry-adapted basis itself has none); fine-tuning with
    the whole model happens in normal training afterwards.  The loop is
    :class:`OrbitDistancePretrainer` (warm-up, cosine decay, clipping).

    Args:
        model: a CFT (any model with a ``positional`` module) or the module itself
            (trained in place).
        groups: space-group numbers to sample (default all 230; leave groups out to
            pretrain for a zero-shot split).
        pairs_per_group: synthetic pairs per group and epoch (the published model used 125k).
        epochs: passes.
        batch_size: pairs per optimizer step.
        lr: peak AdamW learning rate.
        seed: seed of the synthetic data and of the shuffling.
        fresh_pairs: draw new pairs every epoch (``False``: the same pairs every epoch).

    Returns:
        The mean squared error (Å²) of every epoch.
    """
    pe = getattr(model, "positional", model)
    trainer = OrbitDistancePretrainer(pe, groups, pairs_per_group=pairs_per_group,
                                      epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                      fresh_pairs=fresh_pairs)
    while not trainer.done:
        trainer.run_epoch()
    return trainer.history
