"""The composition-only floor: how far a model gets without any structure.

Features of a crystal (no positions, no lattice, no symmetry): its element fractions
(118 numbers) and the fraction-weighted mean and standard deviation of the physical element
descriptors of :func:`cft_pyg.nn.elements.element_descriptors` (2 x 44).  Model: scikit-learn
``KernelRidge`` with an RBF kernel on standardized features; ``alpha`` and ``gamma`` are
chosen on the validation split from a fixed 3 x 3 grid (fitted on at most ``grid_train``
training crystals, a seeded subset, because each exact kernel solve costs O(n³)), then the
model is refit once on the whole training split and evaluated on the test split. A
structural model that does not beat this floor has learned nothing from the structure.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["composition_features", "composition_floor"]

ALPHAS = (1e-3, 1e-2, 1e-1)
GAMMAS = (0.003, 0.01, 0.03)


def composition_features(dataset: Sequence[Any]) -> np.ndarray:
    """``(n, 118 + 88)`` composition features of every crystal ``Data`` of ``dataset``."""
    from cft_pyg.nn.elements import NUM_ELEMENTS, element_descriptors

    table = element_descriptors(torch.float64).numpy()
    rows = []
    for data in dataset:
        z = data.z.numpy()
        frac = np.bincount(z, minlength=NUM_ELEMENTS)[1:].astype(np.float64) / z.size
        desc = table[z]
        mean = desc.mean(axis=0)
        rows.append(np.concatenate([frac, mean, desc.std(axis=0)]))
    return np.stack(rows)


def _targets(dataset: Sequence[Any], column: int) -> np.ndarray:
    return np.array([float(d.y.reshape(-1)[column]) for d in dataset])


def composition_floor(train: Sequence[Any], val: Sequence[Any], test: Sequence[Any],
                      column: int = 0, grid_train: int = 5000) -> dict[str, Any]:
    """Fit the composition-only model (module docstring) and return its MAEs.

    Args:
        train, val, test: the splits (crystal ``Data`` with ``z`` and ``y``).
        column: column of ``data.y`` to fit.
        grid_train: training crystals of the grid search (the final fit uses all).

    Returns:
        ``{"val_mae", "test_mae", "alpha", "gamma", "n_train", "seconds", "model"}``.
    """
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    scaler = StandardScaler().fit(composition_features(train))
    x_train, x_val, x_test = (scaler.transform(composition_features(d)) for d in (train, val,
                                                                                    test))
    y_train, y_val, y_test = (_targets(d, column) for d in (train, val, test))
    offset = y_train.mean()
    rows = np.arange(len(y_train))
    if len(rows) > grid_train:
        rows = np.sort(np.random.default_rng(0).choice(rows, grid_train, replace=False))
    best = None
    for alpha, gamma in itertools.product(ALPHAS, GAMMAS):
        model = KernelRidge(alpha=alpha, kernel="rbf", gamma=gamma).fit(
            x_train[rows], y_train[rows] - offset)
        mae = float(np.abs(model.predict(x_val) + offset - y_val).mean())
        if best is None or mae < best[0]:
            best = (mae, alpha, gamma, model)
    _, alpha, gamma, model = best
    if len(rows) < len(y_train):
        model = KernelRidge(alpha=alpha, kernel="rbf", gamma=gamma).fit(x_train,
                                                                         y_train - offset)
    val_mae = float(np.abs(model.predict(x_val) + offset - y_val).mean())
    test_mae = float(np.abs(model.predict(x_test) + offset - y_test).mean())
    return {"val_mae": val_mae, "test_mae": test_mae, "alpha": alpha, "gamma": gamma,
            "n_train": len(train), "seconds": time.perf_counter() - start,
            "model": "KernelRidge(rbf) on element fractions + descriptor mean/std"}
