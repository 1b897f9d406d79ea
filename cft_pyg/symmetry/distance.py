r"""Orbit distance: how far a point is from the orbit of another under a space group.

.. math::

    d_G(x_1, x_2) = \min_{(W, w) \in G,\; n \in \mathbb{Z}^3} \| (W x_2 + w + n - x_1) L \|,

the Cartesian distance from :math:`x_1` to the nearest image of :math:`x_2` (all periodic
images of all group images).  An invariant encoding gives ``|enc(x1) - enc(x2)| = 0``
whenever :math:`d_G = 0`; the published CFT pretrains its encoder on :math:`d_G`.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from .space_group import SpaceGroup

__all__ = ["NEIGHBOR_CELL_SHIFTS", "ZERO_SHIFT_INDEX", "orbit_distance"]

NEIGHBOR_CELL_SHIFTS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.float64)
"""``(27, 3)`` lattice translations to the 27 cells around (and including) the home cell."""
ZERO_SHIFT_INDEX = 13
"""Row of :data:`NEIGHBOR_CELL_SHIFTS` that is the zero translation."""


def orbit_distance(
    x1: torch.Tensor | np.ndarray,
    x2: torch.Tensor | np.ndarray,
    cell: torch.Tensor | np.ndarray,
    group: SpaceGroup | int,
) -> torch.Tensor | np.ndarray:
    r"""Orbit distance :math:`d_G(x_1, x_2)` of pairs of fractional points (units of ``cell``).

    Every image :math:`W x_2 + w` is reduced to the cell around :math:`x_1` and the 27
    neighbouring lattice translations are searched: exact for cells that are not extremely
    skewed (all standardized cells of :mod:`cft_pyg.data`).  Invariant under any operation
    of ``group`` applied to either argument.

    Args:
        x1, x2: ``(n, 3)`` fractional coordinates in the group's setting (torch tensors or
            NumPy arrays).
        cell: ``(n, 3, 3)`` or ``(3, 3)`` lattice vectors as rows (Å).
        group: a :class:`~cft_pyg.SpaceGroup` or number 1-230.

    Returns:
        ``(n,)`` distances: a tensor of ``x1``'s dtype and device for tensor input, a float64
        NumPy array otherwise.

    Raises:
        ValueError: ``x1`` and ``x2`` differ in shape, or ``cell`` is not ``(3, 3)``/``(n, 3, 3)``.
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(int(group))
    as_numpy = not isinstance(x1, torch.Tensor)
    if as_numpy:
        x1 = torch.as_tensor(np.asarray(x1, dtype=np.float64).reshape(-1, 3))
        x2 = torch.as_tensor(np.asarray(x2, dtype=np.float64).reshape(-1, 3))
    x2 = torch.as_tensor(x2, dtype=x1.dtype, device=x1.device)
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have the same shape, got {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}")
    cell = torch.as_tensor(cell).to(device=x1.device, dtype=x1.dtype)
    if cell.shape not in ((3, 3), (x1.shape[0], 3, 3)):
        raise ValueError(f"cell must be (3, 3) or (n, 3, 3), got {tuple(cell.shape)}")
    if cell.ndim == 2:
        cell = cell.expand(x1.shape[0], 3, 3)
    W = torch.as_tensor(group.rotations.copy(), dtype=x1.dtype, device=x1.device)
    w = torch.as_tensor(group.translations, dtype=x1.dtype, device=x1.device)
    diff = torch.einsum("gij,nj->gni", W, x2) + w[:, None, :] - x1  # (G, n, 3)
    diff = diff - torch.round(diff)
    shifts = torch.as_tensor(NEIGHBOR_CELL_SHIFTS, device=x1.device, dtype=x1.dtype)
    cand = diff[:, :, None, :] + shifts  # (G, n, 27, 3)
    cart = torch.einsum("gnsi,nij->gnsj", cand, cell)
    out = cart.norm(dim=-1).amin(dim=(0, 2))
    return out.numpy() if as_numpy else out
