"""Symmetry-adapted basis functions drawn on a 2D slice of the unit cell."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..symmetry import SpaceGroup, SymmetryAdaptedBasis
from ..symmetry.frequencies import DEFAULT_CUTOFF

__all__ = ["basis_on_slice", "plot_basis_functions"]

_AXES = ("x", "y", "z")


def _slice_points(axis: int, value: float, resolution: int) -> torch.Tensor:
    """``(resolution**2, 3)`` float64 fractional points of the plane ``x_axis = value``."""
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    t = torch.linspace(0.0, 1.0, resolution, dtype=torch.float64)
    u, v = torch.meshgrid(t, t, indexing="xy")  # u varies along columns
    pts = torch.full((resolution * resolution, 3), float(value), dtype=torch.float64)
    other = [a for a in range(3) if a != axis]
    pts[:, other[0]] = u.reshape(-1)
    pts[:, other[1]] = v.reshape(-1)
    return pts


def basis_on_slice(basis: SymmetryAdaptedBasis, functions: Sequence[int], *, axis: int = 2,
                   value: float = 0.0, resolution: int = 64) -> np.ndarray:
    """Values of some basis functions on the plane ``x_axis = value`` of the unit cell.

    Args:
        basis: a :class:`~cft_pyg.SymmetryAdaptedBasis`.
        functions: indices of the functions (``0 .. num_functions - 1``).
        axis: fractional axis held fixed (0, 1, 2).
        value: its value.
        resolution: grid points per side (the grid includes both cell edges).

    Returns:
        ``(len(functions), resolution, resolution)`` float64; row index runs along the
        second free axis, column index along the first.
    """
    idx = [int(f) for f in functions]
    for f in idx:
        if not 0 <= f < basis.num_functions:
            raise ValueError(f"function index {f} out of range 0..{basis.num_functions - 1}")
    with torch.no_grad():
        vals = basis(_slice_points(axis, value, resolution))[:, idx]
    return vals.T.reshape(len(idx), resolution, resolution).numpy()


def plot_basis_functions(
    group: SpaceGroup | int,
    cutoff: float = DEFAULT_CUTOFF,
    functions: Sequence[int] | None = None,
    *,
    basis: SymmetryAdaptedBasis | None = None,
    axis: int = 2,
    value: float = 0.0,
    resolution: int = 64,
    ncols: int = 3,
) -> Figure:
    """Heat maps of basis functions of ``group`` on a slice of the unit cell.

    Args:
        group: a :class:`~cft_pyg.SpaceGroup` or number 1-230.
        cutoff: frequency-ball radius of the basis.
        functions: indices to draw (default: the first six, the smoothest).
        basis: a precomputed basis of ``group`` (else built).
        axis, value: the plane ``x_axis = value`` (fractional).
        resolution: grid points per side.
        ncols: panels per row.

    Returns:
        The figure: one image per function (gid ``'basis_<j>'``), a shared symmetric colour
        scale.
    """
    group = group if isinstance(group, SpaceGroup) else SpaceGroup(int(group))
    if basis is None:
        basis = SymmetryAdaptedBasis(group, cutoff)
    if functions is None:
        functions = list(range(min(6, basis.num_functions)))
    functions = list(functions)
    if not functions:
        raise ValueError("no functions to draw")
    vals = basis_on_slice(basis, functions, axis=axis, value=value, resolution=resolution)
    vmax = float(np.abs(vals).max()) or 1.0
    ncols = max(1, min(ncols, len(functions)))
    nrows = -(-len(functions) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), squeeze=False)
    other = [a for a in range(3) if a != axis]
    im = None
    for ax, j, v in zip(axes.flat, functions, vals, strict=False):
        im = ax.imshow(v, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r",
                       vmin=-vmax, vmax=vmax)
        im.set_gid(f"basis_{j}")
        ax.set_title(f"f_{j}", fontsize=9)
        ax.set_xlabel(_AXES[other[0]])
        ax.set_ylabel(_AXES[other[1]])
    for ax in list(axes.flat)[len(functions):]:
        ax.set_axis_off()
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(f"{group.number} {group.hermann_mauguin}: basis functions on "
                 f"{_AXES[axis]} = {value:g} ({basis.num_functions} functions at "
                 f"R = {basis.frequencies.cutoff:g})")
    return fig
