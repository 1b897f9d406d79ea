"""Pretraining of the positional encoding on orbit distances (as in the published CFT).

The published model first trains its encoder so that the distance between the encodings
of two positions reproduces their *orbit distance*, then fine-tunes it with the model;
this helped it most on the elastic moduli.  Here the same is available for the
:class:`~cft_pyg.nn.CrystalPositionalEncoding` of any
:class:`~cft_pyg.nn.CrystalFourierTransformer`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ..symmetry.distance import orbit_distance
from ..symmetry.lattice import random_lattice as _random_lattice
from ..symmetry.space_group import SpaceGroup
from .cft import CrystalFourierTransformer, CrystalPositionalEncoding

__all__ = ["encoding_distance", "orbit_distance", "pretrain_encoding", "synthetic_pairs"]


def _pair_cell(group: SpaceGroup, rng: np.random.Generator) -> np.ndarray:
    """The cell of one synthetic pair: a random lattice of the group's Bravais type whose
    volume is the product of three lengths drawn in 3-10 Å."""
    return _random_lattice(group, float(np.prod(rng.uniform(3.0, 10.0, size=3))), rng)


def synthetic_pairs(
    groups: list[int], pairs_per_group: int, seed: int
) -> tuple[torch.Tensor, ...]:
    """``(x1, x2, cell, space_group, orbit_distance)`` of synthetic two-atom crystals:
    ``pairs_per_group`` random cells of each group's lattice type with two random positions
    (float64; the distance in Å)."""
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
    pe: CrystalPositionalEncoding, x1: torch.Tensor, x2: torch.Tensor, cell: torch.Tensor,
    space_group: torch.Tensor,
) -> torch.Tensor:
    """``(n,)`` distances ``|p(x1) - p(x2)|`` of the positional tokens of ``n`` two-atom
    crystals (each with its own cell and group; differentiable, finite gradient at 0)."""
    n = x1.shape[0]
    crystal = torch.arange(n, device=x1.device).repeat(2)
    enc = pe(torch.cat([x1, x2]), space_group.repeat(2), cell,
             torch.full((n,), 2, device=x1.device), crystal)
    return ((enc[:n] - enc[n:]).square().sum(-1) + 1e-12).sqrt()


def pretrain_encoding(
    model: CrystalFourierTransformer | CrystalPositionalEncoding,
    groups: Iterable[int] = range(1, 231),
    *,
    pairs_per_group: int = 64,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    r"""Train the positional encoding so that :math:`\|p(x_1) - p(x_2)\|` regresses the
    orbit distance :math:`d_G(x_1, x_2)` (Å), as the published CFT does.

    Synthetic two-atom crystals: for every group, ``pairs_per_group`` random lattices of
    the group's crystal system (:func:`random_lattice`) with two random general positions
    :math:`x_1, x_2`; the encoding of each position is computed with its crystal's
    lattice features (two atoms per cell).  Only the parameters of the positional
    encoding are updated (the symmetry-adapted basis itself has none); fine-tuning with
    the whole model happens in normal training afterwards.

    Args:
        model: a CFT or its ``positional`` module (trained in place).
        groups: space-group numbers to sample (default all 230; leave groups out to
            pretrain for a zero-shot split).
        pairs_per_group: synthetic pairs per group (the published model used 125k).
        epochs: passes over the synthetic pairs.
        batch_size: pairs per optimizer step.
        lr: AdamW learning rate.
        seed: seed of the synthetic data and of the shuffling.

    Returns:
        The mean squared error (Å²) of every epoch.
    """
    pe = model.positional if isinstance(model, CrystalFourierTransformer) else model
    if pe.encoding is None and pe.lattice is None:
        raise ValueError("the model has no positional encoding to pretrain")
    param = next(pe.parameters())
    device, dtype = param.device, param.dtype
    x1, x2, cell, sg, target = (
        t.to(device) for t in synthetic_pairs(sorted(set(groups)), pairs_per_group, seed)
    )
    x1, x2, cell, target = (t.to(dtype) for t in (x1, x2, cell, target))
    opt = torch.optim.AdamW([p for p in pe.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    was_training = pe.training
    pe.train()
    history = []
    for _ in range(epochs):
        order = torch.randperm(target.numel(), generator=gen).to(device)
        total = 0.0
        for idx in order.split(batch_size):
            n = idx.numel()
            pred = encoding_distance(pe, x1[idx], x2[idx], cell[idx], sg[idx])
            loss = nn.functional.mse_loss(pred, target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * n
        history.append(total / target.numel())
    pe.train(was_training)
    return history
