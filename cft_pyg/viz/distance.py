"""Encoding distance against orbit distance for random pairs of points.

The orbit distance ``d_G`` is :func:`cft_pyg.symmetry.orbit_distance`.  An invariant encoding
must give ``|enc(x_1) - enc(x_2)| = 0`` whenever ``d_G = 0``; the published CFT pretrains its
encoder so that the encoding distance tracks ``d_G``.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..symmetry import SpaceGroup
from ..symmetry.distance import orbit_distance as _orbit_distance
from ..symmetry.lattice import random_lattice

__all__ = ["encoding_orbit_distances", "plot_encoding_vs_orbit_distance"]


def _group(group: SpaceGroup | int) -> SpaceGroup:
    return group if isinstance(group, SpaceGroup) else SpaceGroup(int(group))


def encoding_orbit_distances(
    group: SpaceGroup | int,
    encodings: Mapping[str, nn.Module],
    *,
    cell: np.ndarray | None = None,
    num_pairs: int = 400,
    near_fraction: float = 0.5,
    sigma: float = 0.03,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Orbit distance and encoding distances of random pairs of points.

    Pairs are of two kinds: *random* (``x1``, ``x2`` uniform in the cell) and *near-image*
    (``x2`` = a random group image of ``x1``, moved by a Gaussian of ``sigma`` in
    fractional units, so ``d_G`` is small although ``|x1 - x2|`` is not).

    Args:
        group: a :class:`~cft_pyg.SpaceGroup` or number 1-230 (default setting).
        encodings: name -> module called as ``module(frac_coords, space_group)`` (e.g.
            :class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding`,
            :class:`~cft_pyg.nn.PlainFourierFeatures`).
        cell: lattice rows in Angstrom (default: a seeded random lattice of the group's
            Bravais type, 150 A^3).
        num_pairs: number of pairs.
        near_fraction: fraction of near-image pairs.
        sigma: displacement of near-image pairs.
        seed: seed of the points (and of the default cell).

    Returns:
        ``{'orbit': d_G, 'near': bool mask of near-image pairs, '<name>': encoding distance
        for every encoding}``, each ``(num_pairs,)``; ``'cell'`` holds the lattice used.
    """
    group = _group(group)
    if not 0.0 <= near_fraction <= 1.0:
        raise ValueError(f"near_fraction must be in [0, 1], got {near_fraction}")
    rng = np.random.default_rng(seed)
    cell = (random_lattice(group, 150.0, np.random.default_rng(seed)) if cell is None
            else np.asarray(cell, dtype=np.float64))
    x1 = rng.random((num_pairs, 3))
    x2 = rng.random((num_pairs, 3))
    near = np.zeros(num_pairs, dtype=bool)
    near[: round(near_fraction * num_pairs)] = True
    ops = rng.integers(0, group.num_operations, size=num_pairs)
    images = np.einsum("nij,nj->ni", group.rotations[ops], x1) + group.translations[ops]
    moved = images + sigma * rng.standard_normal((num_pairs, 3))
    x2[near] = (moved - np.floor(moved))[near]
    out: dict[str, np.ndarray] = {"orbit": _orbit_distance(x1, x2, cell, group), "near": near,
                                  "cell": cell}
    sg = torch.full((num_pairs,), group.number, dtype=torch.long)
    a = torch.from_numpy(x1)
    b = torch.from_numpy(x2)
    with torch.no_grad():
        for name, enc in encodings.items():
            out[name] = (enc(a, sg) - enc(b, sg)).norm(dim=-1).numpy()
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def plot_encoding_vs_orbit_distance(distances: Mapping[str, np.ndarray],
                                    title: str | None = None) -> Figure:
    """Scatter of encoding distance against orbit distance, one panel per encoding.

    Args:
        distances: the output of :func:`encoding_orbit_distances`.
        title: figure title.

    Returns:
        The figure; the scatter of encoding ``name`` has gid ``'pairs_<name>'``; panel titles
        give Spearman's rank correlation with ``d_G``.
    """
    names = [k for k in distances if k not in ("orbit", "near", "cell")]
    if not names:
        raise ValueError("no encoding distances to plot")
    d = distances["orbit"]
    near = distances["near"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.0), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        e = distances[name]
        colors = np.where(near, "tab:red", "tab:blue")
        sc = ax.scatter(d, e, c=colors, s=8, alpha=0.7)
        sc.set_gid(f"pairs_{name}")
        ax.scatter([], [], c="tab:red", s=8, label="near a group image")
        ax.scatter([], [], c="tab:blue", s=8, label="random pair")
        ax.set_xlabel("orbit distance d_G (A)")
        ax.set_ylabel(f"|enc(x1) - enc(x2)|  ({name})")
        ax.set_title(f"{name}: Spearman {_spearman(d, e):.2f}", fontsize=10)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
