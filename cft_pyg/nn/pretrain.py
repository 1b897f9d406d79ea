"""Pretraining of the positional encoding on orbit distances (as in the published CFT).

The published model first trains its encoder so that the distance between the encodings
of two positions reproduces their *orbit distance*, then fine-tunes it with the model;
this helped it most on the elastic moduli.  Here the same is available for the
:class:`~cft_pyg.nn.CrystalPositionalEncoding` of any
:class:`~cft_pyg.nn.CrystalFourierTransformer`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ..symmetry.space_group import SpaceGroup
from .cft import CrystalFourierTransformer, CrystalPositionalEncoding

__all__ = ["orbit_distance", "random_lattice", "pretrain_encoding"]

_NEIGHBOUR_SHIFTS = torch.tensor(
    [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=torch.float64
)


def orbit_distance(
    x1: torch.Tensor, x2: torch.Tensor, cell: torch.Tensor, group: SpaceGroup | int
) -> torch.Tensor:
    r"""Orbit distance :math:`d_G(x_1, x_2) = \min_{(W, w) \in G,\ n \in \mathbb{Z}^3}
    \big\| (W x_2 + w + n - x_1)\, L \big\|`.

    The distance in Å from :math:`x_1` to the nearest point of the orbit of :math:`x_2`
    (all periodic images of all group images).  Invariant under any operation applied to
    either argument.  The lattice translation is found by reducing the fractional
    difference to :math:`[-1/2, 1/2)` and searching the 27 neighbouring cells, exact for
    cells that are not extremely skewed (all standardized cells of ``cft_pyg.data``).

    Args:
        x1, x2: ``(n, 3)`` fractional coordinates in the group's setting.
        cell: ``(n, 3, 3)`` or ``(3, 3)`` lattice vectors as rows (Å).
        group: the space group.

    Returns:
        ``(n,)`` distances (dtype of ``x1``).
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(group)
    W = torch.as_tensor(group.rotations.copy(), dtype=x1.dtype, device=x1.device)
    w = torch.as_tensor(group.translations, dtype=x1.dtype, device=x1.device)
    cell = cell.to(x1.dtype)
    if cell.ndim == 2:
        cell = cell.expand(x1.shape[0], 3, 3)
    diff = torch.einsum("gij,nj->gni", W, x2) + w[:, None, :] - x1  # (G, n, 3)
    diff = diff - torch.round(diff)
    shifts = _NEIGHBOUR_SHIFTS.to(device=x1.device, dtype=x1.dtype)
    cand = diff[:, :, None, :] + shifts  # (G, n, 27, 3)
    cart = torch.einsum("gnsi,nij->gnsj", cand, cell)
    return cart.norm(dim=-1).amin(dim=(0, 2))


def random_lattice(group: SpaceGroup | int, generator: np.random.Generator) -> np.ndarray:
    """A random ``(3, 3)`` cell (rows, Å) of the right shape for the group's default setting.

    Lengths in 3-10 Å; monoclinic cells are b-unique (beta in 90-120 deg), trigonal and
    hexagonal ones use hexagonal axes (gamma = 120 deg), triclinic angles in 70-110 deg.
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(group)
    a, b, c = generator.uniform(3.0, 10.0, size=3)
    alpha = beta = gamma = 90.0
    system = group.crystal_system
    if system == "triclinic":
        alpha, beta, gamma = generator.uniform(70.0, 110.0, size=3)
    elif system == "monoclinic":
        beta = generator.uniform(90.0, 120.0)
    elif system == "tetragonal":
        b = a
    elif system in ("trigonal", "hexagonal"):
        b, gamma = a, 120.0
    elif system == "cubic":
        b = c = a
    al, be, ga = (math.radians(v) for v in (alpha, beta, gamma))
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cz = math.sqrt(max(c * c - cx * cx - cy * cy, 1e-6))
    return np.array([[a, 0.0, 0.0], [b * math.cos(ga), b * math.sin(ga), 0.0], [cx, cy, cz]])


def _synthetic_pairs(
    groups: list[int], pairs_per_group: int, seed: int
) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(seed)
    x1s, x2s, cells, sgs, dists = [], [], [], [], []
    for number in groups:
        group = SpaceGroup(number)
        cell = torch.as_tensor(
            np.stack([random_lattice(group, rng) for _ in range(pairs_per_group)])
        )
        x1 = torch.as_tensor(rng.random((pairs_per_group, 3)))
        x2 = torch.as_tensor(rng.random((pairs_per_group, 3)))
        x1s.append(x1)
        x2s.append(x2)
        cells.append(cell)
        sgs.append(torch.full((pairs_per_group,), number, dtype=torch.long))
        dists.append(orbit_distance(x1, x2, cell, group))
    return tuple(torch.cat(t) for t in (x1s, x2s, cells, sgs, dists))


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
        t.to(device) for t in _synthetic_pairs(sorted(set(groups)), pairs_per_group, seed)
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
            both = torch.cat([x1[idx], x2[idx]])
            crystal = torch.arange(n, device=device).repeat(2)
            enc = pe(both, sg[idx].repeat(2), cell[idx], torch.full((n,), 2, device=device),
                     crystal)
            pred = ((enc[:n] - enc[n:]).square().sum(-1) + 1e-12).sqrt()
            loss = nn.functional.mse_loss(pred, target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * n
        history.append(total / target.numel())
    pe.train(was_training)
    return history
