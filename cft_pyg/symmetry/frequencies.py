"""Sets of integer Fourier frequencies closed under a point group.

A frequency ``k`` is an integer vector in the reciprocal basis of the conventional cell:
the plane wave is ``exp(2 pi i k.x)`` for fractional ``x``.  The group acts on
frequencies by ``k -> W^T k``; a usable frequency set must be closed under that action,
otherwise orbits are cut and the "invariant" functions are not invariant.

The default set for a cutoff ``R`` is the ball ``|k| <= R`` without ``k = 0``, measured
in the *reference metric* of the group's lattice family:

* ``"identity"``: reciprocal metric ``I`` (groups 1-142 and 195-230), 514 frequencies at R=5;
* ``"hexagonal"``: the reference cell ``a = b = c = 1, gamma = 120 deg`` (groups 143-194,
  rhombohedral groups in hexagonal axes), reciprocal metric
  ``[[4/3, 2/3, 0], [2/3, 4/3, 0], [0, 0, 1]]``, 418 frequencies at R=5.

Norms are compared in exact integer arithmetic (``3 |k|^2`` is an integer in both metrics).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .space_group import HEXAGONAL_FAMILY_NUMBERS

__all__ = ["DEFAULT_CUTOFF", "FrequencySet", "ball_frequencies", "reference_metric",
           "ReferenceMetric"]

DEFAULT_CUTOFF = 5.0
"""The default frequency-ball radius ``R`` of every basis, encoding and cache: 514
(identity metric) / 418 (hexagonal metric) frequencies."""

ReferenceMetric = Literal["identity", "hexagonal"]
_METRICS: tuple[str, ...] = ("identity", "hexagonal")


def reference_metric(number: int) -> ReferenceMetric:
    """The reference metric of space-group ``number``'s lattice family."""
    return "hexagonal" if int(number) in HEXAGONAL_FAMILY_NUMBERS else "identity"


def _norm2_times3(freq: np.ndarray, metric: str) -> np.ndarray:
    """``3 |k|^2`` in the reference metric, exact in int64."""
    h, k, l = freq[:, 0], freq[:, 1], freq[:, 2]
    if metric == "identity":
        return 3 * (h * h + k * k + l * l)
    return 4 * (h * h + h * k + k * k) + 3 * l * l


def reciprocal_metric_tensor(metric: str) -> np.ndarray:
    """``(3, 3)`` reciprocal metric of the reference cell (``|k|^2 = k^T G* k``)."""
    if metric == "identity":
        return np.eye(3)
    if metric == "hexagonal":
        return np.array([[4 / 3, 2 / 3, 0.0], [2 / 3, 4 / 3, 0.0], [0.0, 0.0, 1.0]])
    raise ValueError(f"unknown reference metric {metric!r}; expected one of {_METRICS}")


class FrequencySet:
    """An ordered set of distinct nonzero integer frequencies.

    Frequencies are sorted by their norm in the reference metric, then
    lexicographically, so index ``i`` means the same thing for every group that uses
    the same (metric, cutoff).

    Args:
        freq: ``(N, 3)`` integer frequencies (reciprocal basis of the conventional cell).
        metric: reference metric used for ordering (``"identity"`` or ``"hexagonal"``).
        cutoff: radius the set was built with, or ``None`` for a custom set.
    """

    def __init__(self, freq: np.ndarray, metric: str = "identity", cutoff: float | None = None):
        if metric not in _METRICS:
            raise ValueError(f"unknown reference metric {metric!r}; expected one of {_METRICS}")
        arr = np.asarray(freq)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"frequencies must have shape (N, 3), got {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError("a frequency set must not be empty")
        if not np.issubdtype(arr.dtype, np.integer) and (
            not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr))
        ):
            raise ValueError("frequencies must be integer vectors")
        arr = arr.astype(np.int64)
        if np.any(np.all(arr == 0, axis=1)):
            raise ValueError("the zero frequency is not part of a frequency set")
        norm3 = _norm2_times3(arr, metric)
        order = np.lexsort((arr[:, 2], arr[:, 1], arr[:, 0], norm3))
        arr = arr[order]
        if np.any(np.all(arr[1:] == arr[:-1], axis=1)):
            raise ValueError("frequency set contains duplicate frequencies")
        arr.setflags(write=False)
        self.freq = arr
        self.metric: str = metric
        self.cutoff = cutoff
        self._span = int(np.abs(arr).max())
        side = 2 * self._span + 1
        lookup = np.full(side**3, -1, dtype=np.int64)
        lookup[self._flat(arr)] = np.arange(arr.shape[0])
        self._lookup = lookup

    def __len__(self) -> int:
        return int(self.freq.shape[0])

    def __repr__(self) -> str:
        return f"FrequencySet(N={len(self)}, metric={self.metric!r}, cutoff={self.cutoff})"

    def _flat(self, k: np.ndarray) -> np.ndarray:
        side = 2 * self._span + 1
        s = k + self._span
        return (s[..., 0] * side + s[..., 1]) * side + s[..., 2]

    def index_of(self, k: np.ndarray) -> np.ndarray:
        """Indices of integer frequencies ``k`` (..., 3) in this set, ``-1`` where absent."""
        k = np.asarray(k, dtype=np.int64)
        inside = np.all(np.abs(k) <= self._span, axis=-1)
        out = np.full(k.shape[:-1], -1, dtype=np.int64)
        out[inside] = self._lookup[self._flat(k[inside])]
        return out

    @property
    def norm(self) -> np.ndarray:
        """``(N,)`` float64 norms in the reference metric."""
        return np.sqrt(_norm2_times3(self.freq, self.metric) / 3.0)

    def check_closed(self, rotations: np.ndarray) -> np.ndarray:
        """Raise ``ValueError`` unless ``W^T k`` is in the set for all ``W`` and ``k``.

        Returns:
            ``(n_ops, N)`` int64 index of ``W_g^T k_i`` in the set.
        """
        # (W_g^T k)_i = sum_j k_j W_gji, i.e. freq @ W_g; matmul is ~4x faster than einsum here
        images = np.matmul(self.freq, np.asarray(rotations, dtype=np.int64))  # (n_ops, N, 3)
        index = self.index_of(images)
        if np.any(index < 0):
            g, i = np.argwhere(index < 0)[0]
            raise ValueError(
                "frequency set is not closed under the point group: "
                f"W^T k = {images[g, i].tolist()} is missing for k = {self.freq[i].tolist()} "
                f"(operation {g}); use a set closed under the group, e.g. a ball in the "
                "group's reference metric"
            )
        return index


def ball_frequencies(cutoff: float, metric: str = "identity") -> FrequencySet:
    """Nonzero integer frequencies with ``|k| <= cutoff`` in a reference metric.

    Args:
        cutoff: radius ``R > 0`` (in reciprocal units of the reference cell).
        metric: ``"identity"`` or ``"hexagonal"``.

    Returns:
        The frequency set; 514 (identity) or 418 (hexagonal) frequencies at ``R = 5``.
    """
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, np.integer, np.floating)):
        raise ValueError(f"cutoff must be a positive number, got {cutoff!r}")
    if not math.isfinite(float(cutoff)) or cutoff <= 0:
        raise ValueError(f"cutoff must be a positive finite number, got {cutoff}")
    if metric not in _METRICS:
        raise ValueError(f"unknown reference metric {metric!r}; expected one of {_METRICS}")
    # |h|, |k| <= R * sqrt(4/3)... a generous bounding box, filtered exactly below.
    span = math.floor(1.2 * cutoff) + 1
    axis = np.arange(-span, span + 1, dtype=np.int64)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    bound3 = 3.0 * float(cutoff) ** 2 * (1 + 1e-12)
    norm3 = _norm2_times3(grid, metric)
    keep = (norm3 <= bound3) & (norm3 > 0)
    return FrequencySet(grid[keep], metric=metric, cutoff=float(cutoff))
