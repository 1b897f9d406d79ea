r"""Metrics of tensor predictions: errors, derived scalars and Neumann violations.

* Frobenius error :math:`\|\hat T - T\|_F` and its ratio to :math:`\|T\|_F`
  (:func:`tensor_metrics`);
* per-component MAE of the Voigt form (no factors, :func:`~cft_pyg.symmetry.tensors.to_voigt`);
* derived scalars (:func:`derived_scalars`): dielectric: the polycrystalline average
  :math:`\mathrm{tr}\,\varepsilon/3`; elastic: Voigt-Reuss-Hill bulk and shear moduli;
  piezoelectric: the largest longitudinal coefficient :math:`\max_{|n|=1} |e_{ijk}n_in_jn_k|`;
* the Neumann violation of every prediction (:func:`neumann_violations`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from torch_geometric.data import Data

from ..symmetry.space_group import SpaceGroup
from ..symmetry.tensors import cartesian_rotations, neumann_violation, to_voigt

__all__ = ["derived_scalars", "neumann_violations", "symmetric_cell", "tensor_metrics"]


@functools.cache
def _directions(count: int = 4000) -> np.ndarray:
    """Fibonacci-sphere unit vectors (the longitudinal maximum's search grid)."""
    i = np.arange(count) + 0.5
    phi = np.arccos(1 - 2 * i / count)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


def derived_scalars(tensors: np.ndarray, kind: str) -> dict[str, np.ndarray]:
    """Frame-independent scalars of each tensor ``(N, 3, ..., 3)``.

    Returns:
        dielectric: ``{'poly': tr/3}``; elastic: ``{'K_VRH', 'G_VRH'}`` (GPa; Reuss from the
        inverse Voigt matrix, NaN where it is singular); piezoelectric: ``{'e_long_max'}``
        (the largest :math:`|e_{ijk} n_i n_j n_k|` over 4,000 directions of a Fibonacci
        sphere, so invariant to ~1e-3 relative, not exactly).
    """
    T = np.asarray(tensors, dtype=np.float64)
    if kind == "dielectric":
        return {"poly": np.trace(T, axis1=1, axis2=2) / 3.0}
    if kind == "piezoelectric":
        n = _directions()
        e_long = np.einsum("bijk,di,dj,dk->bd", T, n, n, n)
        return {"e_long_max": np.abs(e_long).max(axis=1)}
    if kind == "elastic":
        C = to_voigt(T, 4)
        d = np.arange(3)
        a = C[:, d, d].sum(1)
        b = C[:, [0, 0, 1], [1, 2, 2]].sum(1)
        c = C[:, d + 3, d + 3].sum(1)
        K_V, G_V = (a + 2 * b) / 9.0, (a - b + 3 * c) / 15.0
        K_R = np.full(len(C), np.nan)
        G_R = np.full(len(C), np.nan)
        for i, Ci in enumerate(C):
            if np.linalg.cond(Ci) < 1e12:
                S = np.linalg.inv(Ci)
                sa, sb = S[d, d].sum(), S[[0, 0, 1], [1, 2, 2]].sum()
                sc = S[d + 3, d + 3].sum()
                K_R[i] = 1.0 / (sa + 2 * sb)
                G_R[i] = 15.0 / (4 * sa - 4 * sb + 3 * sc)
        return {"K_VRH": 0.5 * (K_V + K_R), "G_VRH": 0.5 * (G_V + G_R)}
    raise ValueError(f"unknown tensor kind {kind!r}")


def tensor_metrics(pred: np.ndarray, target: np.ndarray, kind: str) -> dict[str, float]:
    """Errors of predicted tensors ``(N, 3, ..., 3)`` against targets (same frames).

    Returns:
        ``frobenius_mae`` (mean ``||T_hat - T||_F``), ``frobenius_rel`` (mean of its ratio to
        ``||T||_F``, crystals with ``||T||_F > 0``; dominated by the smallest tensors when
        norms span decades, as the piezoelectric ones do), ``frobenius_rel_median`` (the
        median ratio), ``frobenius_rel_pooled`` (``sum ||T_hat - T||_F / sum ||T||_F``),
        ``voigt_mae`` (mean absolute Voigt
        component error), and ``<scalar>_mae`` for each derived scalar (NaNs skipped).
    """
    P = np.asarray(pred, dtype=np.float64)
    T = np.asarray(target, dtype=np.float64)
    rank = T.ndim - 1
    err = np.linalg.norm((P - T).reshape(len(T), -1), axis=1)
    norm = np.linalg.norm(T.reshape(len(T), -1), axis=1)
    ratio = err[norm > 0] / norm[norm > 0]
    out = {"frobenius_mae": float(err.mean()),
           "frobenius_rel": float(ratio.mean()),
           "frobenius_rel_median": float(np.median(ratio)),
           "frobenius_rel_pooled": float(err.sum() / norm.sum()),
           "voigt_mae": float(np.abs(to_voigt(P, rank) - to_voigt(T, rank)).mean())}
    sp, st = derived_scalars(P, kind), derived_scalars(T, kind)
    for name in sp:
        ok = np.isfinite(sp[name]) & np.isfinite(st[name])
        out[f"{name}_mae"] = float(np.abs(sp[name][ok] - st[name][ok]).mean()) if ok.any() \
            else math.nan
    return out


def neumann_violations(pred: np.ndarray, crystals: Sequence[Data]) -> np.ndarray:
    """``(N,)`` Neumann violation ``max_g ||g.T - T||_F / ||T||_F`` of each predicted tensor
    (input frame) under the operations of its crystal's group, taken to the input frame
    with ``std_rotation`` (polar tensors)."""
    out = np.empty(len(crystals))
    for i, data in enumerate(crystals):
        R = data.std_rotation.reshape(3, 3).double().numpy()
        ops = cartesian_rotations(SpaceGroup(int(data.space_group)),
                                  symmetric_cell(data))
        out[i] = neumann_violation(pred[i], R.T @ ops @ R)
    return out


def symmetric_cell(data: Data) -> np.ndarray:
    """The float64 standardized cell (the stored one is float32; its metric is averaged over
    the point group again so that the Cartesian operations are orthogonal to rounding)."""
    from ..symmetry.lattice import symmetric_metric

    L = data.cell.reshape(3, 3).double().numpy()
    G = symmetric_metric(SpaceGroup(int(data.space_group)), L @ L.T)
    return np.linalg.cholesky(G)
