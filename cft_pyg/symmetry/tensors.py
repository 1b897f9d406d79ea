r"""Symmetry-allowed forms of Cartesian tensors (Neumann's principle), computed exactly.

A property tensor :math:`T` of rank :math:`n` of a crystal is invariant under the crystal's
point group (Neumann's principle).  A **polar** tensor transforms with the rotation matrix
:math:`R` of every operation, proper or improper, on each index,

.. math::

    (R \cdot T)_{i_1 \dots i_n} = R_{i_1 j_1} \cdots R_{i_n j_n} T_{j_1 \dots j_n},

an **axial** tensor with the extra factor :math:`\det R` (so an improper operation flips
it once more).  The dielectric (rank 2), piezoelectric (rank 3) and elastic (rank 4)
tensors are polar.

**Exactness.**  In the lattice basis of a setting the point-group operations are integer
matrices :math:`W` (columns: the lattice vectors; ``SpaceGroup.rotations``).  Writing a
tensor by its contravariant components :math:`t` in the lattice basis,
:math:`T = A^{\otimes n} t` with :math:`A = L^\top` (lattice vectors as columns), an
operation acts as :math:`t \mapsto (\pm) W^{\otimes n} t`, an integer matrix.  The invariant
subspace of tensors with the index symmetries of the type is the image of the Reynolds
operator :math:`\sum_W (\det W)^{a} W^{\otimes n}` on the integer spanning set of symmetric
tensors (orbit sums of multi-indices): an integer matrix, whose rank and pivot columns are
found **exactly** by Gaussian elimination over the rationals (no threshold).  The pivot
columns, mapped to Cartesian components by :math:`A^{\otimes n}` and orthonormalized (QR in
float64), give the orthonormal Cartesian basis :math:`Q` (``(3**n, k)``) and the orthogonal
projector :math:`Q Q^\top`.  Because the Cartesian operations :math:`A W A^{-1}` are
orthogonal for a lattice whose metric the group preserves, the Cartesian Reynolds average
equals :math:`Q Q^\top` on tensors with the index symmetries (the tests check both).

Voigt forms (index order 1..6 = xx, yy, zz, yz, xz, xy) follow the convention of the Materials
Project data (``docs`` of ``/work/shared/data`` section 8): :math:`\varepsilon_{IJ}` is the
symmetric 3x3 itself, :math:`e_{iJ} = e_{ijk}` and :math:`C_{IJ} = C_{ijkl}`, **no factors**.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from .space_group import SpaceGroup

__all__ = [
    "TENSOR_TYPES",
    "TensorKind",
    "TensorType",
    "VOIGT_PAIRS",
    "cartesian_rotations",
    "from_voigt",
    "independent_components",
    "integer_rotations",
    "invariant_basis",
    "invariant_projector",
    "neumann_violation",
    "reference_lattice",
    "rotate_tensor",
    "to_voigt",
]

TensorKind = Literal["dielectric", "piezoelectric", "elastic"]

VOIGT_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
"""Voigt index J = 0..5 -> Cartesian pair (xx, yy, zz, yz, xz, xy)."""


@dataclass(frozen=True)
class TensorType:
    """A Cartesian tensor type: rank, index symmetries and parity.

    Attributes:
        rank: number of indices ``n`` (>= 1).
        symmetries: index permutations (tuples of length ``n``, images of ``0..n-1``) under
            which the tensor is unchanged, e.g. ``((1, 0),)`` for a symmetric rank-2 tensor;
            they generate the permutation group of the type (empty: no index symmetry).
        axial: ``True`` for an axial (pseudo-)tensor, which takes the extra factor
            ``det R`` under every operation; ``False`` (polar) for the three tensors here.
        name: a label.
    """

    rank: int
    symmetries: tuple[tuple[int, ...], ...] = ()
    axial: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank must be a positive integer, got {self.rank!r}")
        for perm in self.symmetries:
            if sorted(perm) != list(range(self.rank)):
                raise ValueError(f"index symmetry {perm} is not a permutation of "
                                 f"0..{self.rank - 1}")

    @property
    def size(self) -> int:
        """Number of Cartesian components, ``3**rank``."""
        return 3**self.rank

    @functools.cached_property
    def symmetric_spanning_set(self) -> np.ndarray:
        """``(3**n, m)`` int64 0/1 matrix: one column per orbit of multi-indices under the
        index symmetries (the sum of the orbit's unit tensors).  The columns are an exact
        basis of the tensors with the index symmetries; ``m`` is its dimension."""
        seen: dict[tuple[int, ...], int] = {}
        columns: list[list[int]] = []
        for multi in itertools.product(range(3), repeat=self.rank):
            if multi in seen:
                continue
            orbit = {multi}
            frontier = [multi]
            while frontier:
                current = frontier.pop()
                for perm in self.symmetries:
                    image = tuple(current[perm[i]] for i in range(self.rank))
                    if image not in orbit:
                        orbit.add(image)
                        frontier.append(image)
            flat = [int(np.ravel_multi_index(o, (3,) * self.rank)) for o in sorted(orbit)]
            for o in orbit:
                seen[o] = len(columns)
            columns.append(flat)
        out = np.zeros((self.size, len(columns)), dtype=np.int64)
        for j, flat in enumerate(columns):
            out[flat, j] = 1
        return out

    @property
    def symmetric_dimension(self) -> int:
        """Dimension ``m`` of the tensors with the index symmetries (6, 18, 21 for the
        dielectric, piezoelectric and elastic types)."""
        return int(self.symmetric_spanning_set.shape[1])

    @functools.cached_property
    def symmetric_basis(self) -> np.ndarray:
        """``(3**n, m)`` float64 orthonormal basis of the tensors with the index symmetries
        (normalized orbit sums; Frobenius inner product of full tensors)."""
        s = self.symmetric_spanning_set.astype(np.float64)
        return s / np.sqrt(s.sum(axis=0, keepdims=True))


TENSOR_TYPES: dict[str, TensorType] = {
    "dielectric": TensorType(2, ((1, 0),), name="dielectric"),
    "piezoelectric": TensorType(3, ((0, 2, 1),), name="piezoelectric"),
    "elastic": TensorType(4, ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)), name="elastic"),
}
"""The three polar tensor types of the Materials Project data: symmetric rank 2, rank 3
symmetric in its last pair, rank 4 with the minor and major symmetries of elasticity."""


def _resolve_type(tensor_type: TensorType | str) -> TensorType:
    if isinstance(tensor_type, TensorType):
        return tensor_type
    if tensor_type not in TENSOR_TYPES:
        raise ValueError(f"unknown tensor type {tensor_type!r}; use a TensorType or one of "
                         f"{sorted(TENSOR_TYPES)}")
    return TENSOR_TYPES[tensor_type]


# ------------------------------------------------------------------------------ exact algebra
def _pivot_columns(matrix: np.ndarray) -> list[int]:
    """Pivot columns of an integer matrix, by Gaussian elimination over the rationals.

    The columns returned are linearly independent and span the column space (exact rank).
    """
    rows = [[Fraction(int(v)) for v in row] for row in matrix.tolist() if any(row)]
    pivots: list[int] = []
    r = 0
    n_cols = matrix.shape[1]
    for c in range(n_cols):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        head = rows[r][c]
        for i in range(r + 1, len(rows)):
            factor = rows[i][c]
            if factor != 0:
                scale = factor / head
                rows[i] = [a - scale * b for a, b in zip(rows[i], rows[r])]
        pivots.append(c)
        r += 1
        if r == len(rows):
            break
    return pivots


def _kron_power(W: np.ndarray, n: int) -> np.ndarray:
    out = W
    for _ in range(n - 1):
        out = np.kron(out, W)
    return out


def integer_rotations(group: SpaceGroup | np.ndarray) -> np.ndarray:
    """The distinct point-group matrices ``(g, 3, 3)`` int64 of a group in its lattice basis.

    Args:
        group: a :class:`SpaceGroup` (any setting) or integer matrices ``(g, 3, 3)`` acting
            on fractional coordinates (e.g. a crystal's operations from spglib).

    Raises:
        ValueError: matrices that are not integer ``3x3`` with determinant ``+-1``.
    """
    W = group.point_group_rotations if isinstance(group, SpaceGroup) else np.asarray(group)
    if W.ndim != 3 or W.shape[1:] != (3, 3):
        raise ValueError(f"rotations must have shape (g, 3, 3), got {W.shape}")
    Wi = np.rint(W).astype(np.int64)
    if np.abs(W - Wi).max() > 1e-6:
        raise ValueError("rotations in the lattice basis must be integer matrices")
    if not np.all(np.isin(np.rint(np.linalg.det(Wi)), (-1, 1))):
        raise ValueError("rotations must have determinant +1 or -1")
    return np.unique(Wi, axis=0)


@functools.lru_cache(maxsize=4096)
def _exact_invariant_columns(tensor_type: TensorType, rotations_key: bytes) -> np.ndarray:
    W = np.frombuffer(rotations_key, dtype=np.int64).reshape(-1, 3, 3)
    n = tensor_type.rank
    reynolds = np.zeros((3**n, 3**n), dtype=np.int64)
    for w in W:
        sign = round(float(np.linalg.det(w))) if tensor_type.axial else 1
        reynolds += sign * _kron_power(w, n)
    image = reynolds @ tensor_type.symmetric_spanning_set  # integer, spans the invariants
    return image[:, _pivot_columns(image)]


def independent_components(tensor_type: TensorType | str,
                           group: SpaceGroup | np.ndarray) -> int:
    """Number of independent components of a tensor type under a point group (exact).

    Args:
        tensor_type: a :class:`TensorType` or ``'dielectric'``, ``'piezoelectric'``,
            ``'elastic'``.
        group: a :class:`SpaceGroup` (any setting) or its integer rotations ``(g, 3, 3)``.
    """
    t = _resolve_type(tensor_type)
    W = integer_rotations(group)
    return int(_exact_invariant_columns(t, W.tobytes()).shape[1])


def reference_lattice(group: SpaceGroup) -> np.ndarray:
    """A lattice (rows, Cholesky frame: ``a`` along ``x``, ``b`` in the ``xy`` plane) whose
    metric the group's point group preserves: the identity metric averaged over the point
    group (:func:`~cft_pyg.symmetry.symmetric_metric`), a fixed, deterministic choice."""
    from .lattice import symmetric_metric

    g0 = np.array([[1.0, 0.1, 0.15], [0.1, 1.21, 0.2], [0.15, 0.2, 1.44]])
    return np.linalg.cholesky(symmetric_metric(group, g0))


def cartesian_rotations(group: SpaceGroup | np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Point-group operations as Cartesian matrices ``R = A W A^-1`` (``A = L^T``).

    Args:
        group: :class:`SpaceGroup` or integer rotations ``(g, 3, 3)`` in the lattice basis.
        lattice: ``(3, 3)`` lattice vectors as rows (Å), in the Cartesian frame wanted.

    Returns:
        ``(g, 3, 3)`` float64; orthogonal when the group preserves the lattice's metric.
    """
    W = integer_rotations(group).astype(np.float64)
    A = np.asarray(lattice, dtype=np.float64).T
    return A @ W @ np.linalg.inv(A)


def invariant_basis(tensor_type: TensorType | str, group: SpaceGroup | np.ndarray,
                    lattice: np.ndarray | None = None) -> np.ndarray:
    """Orthonormal Cartesian basis of the symmetry-allowed tensors (exact dimension).

    Args:
        tensor_type: a :class:`TensorType` or one of :data:`TENSOR_TYPES`.
        group: :class:`SpaceGroup` (any setting) or integer rotations ``(g, 3, 3)`` in the
            lattice basis of ``lattice``.
        lattice: ``(3, 3)`` lattice rows fixing the Cartesian frame; its metric must be
            invariant under the group.  Default: :func:`reference_lattice` (needs a
            :class:`SpaceGroup`); for the default settings the Cartesian operations in the
            Cholesky frame, hence the basis's span, do not depend on the lattice.

    Returns:
        ``(3**n, k)`` float64 with orthonormal columns, ``k`` =
        :func:`independent_components`; each column reshaped to ``(3,) * n`` is a tensor.

    Raises:
        ValueError: the lattice's metric is not invariant under the group (relative 1e-8).
    """
    t = _resolve_type(tensor_type)
    if lattice is None:
        if not isinstance(group, SpaceGroup):
            raise ValueError("pass the lattice of the basis the rotations act in")
        lattice = reference_lattice(group)
    W = integer_rotations(group)
    L = np.asarray(lattice, dtype=np.float64)
    G = L @ L.T
    drift = np.abs(np.einsum("gji,jk,gkl->gil", W, G, W) - G).max()
    if drift > 1e-8 * np.abs(G).max():
        raise ValueError(f"the lattice's metric is not invariant under the group "
                         f"(deviation {drift:.2e}); symmetrize it first")
    exact = _exact_invariant_columns(t, W.tobytes())
    if exact.shape[1] == 0:
        return np.zeros((t.size, 0))
    cart = _kron_power(L.T, t.rank) @ exact.astype(np.float64)
    q, _ = np.linalg.qr(cart)
    return q


def invariant_projector(tensor_type: TensorType | str, group: SpaceGroup | np.ndarray,
                        lattice: np.ndarray | None = None, *,
                        coordinates: Literal["full", "symmetric"] = "full") -> np.ndarray:
    """Orthogonal projector onto the symmetry-allowed tensors.

    Args:
        tensor_type, group, lattice: as in :func:`invariant_basis`.
        coordinates: ``'full'``: ``(3**n, 3**n)`` on flattened Cartesian tensors;
            ``'symmetric'``: ``(m, m)`` in the orthonormal basis
            :attr:`TensorType.symmetric_basis` of the tensors with the index symmetries.

    Returns:
        the symmetric, idempotent projector ``Q Q^T`` (in the chosen coordinates).
    """
    t = _resolve_type(tensor_type)
    q = invariant_basis(t, group, lattice)
    if coordinates == "symmetric":
        q = t.symmetric_basis.T @ q
    elif coordinates != "full":
        raise ValueError(f"coordinates must be 'full' or 'symmetric', got {coordinates!r}")
    return q @ q.T


# ---------------------------------------------------------------------------- tensor algebra
def rotate_tensor(tensor: np.ndarray, rotation: np.ndarray, *, axial: bool = False) -> np.ndarray:
    """``R`` applied on every index of a Cartesian tensor (times ``det R`` if ``axial``).

    Args:
        tensor: ``(..., 3, ..., 3)`` with the last ``n`` axes the tensor's indices; the rank
            ``n`` is the number of trailing axes of size 3 that ``rotation`` is applied to,
            given by ``tensor.ndim - rotation.ndim + 2``.
        rotation: ``(3, 3)`` or ``(..., 3, 3)`` broadcastable over the leading axes.

    Returns:
        the rotated tensor, same shape.
    """
    R = np.asarray(rotation, dtype=np.float64)
    T = np.asarray(tensor, dtype=np.float64)
    n = T.ndim - R.ndim + 2
    letters = "abcdefgh"[:n]
    out_letters = "ijklmnop"[:n]
    spec = ",".join(f"...{o}{a}" for o, a in zip(out_letters, letters))
    out = np.einsum(f"{spec},...{letters}->...{out_letters}", *([R] * n), T)
    if axial:
        out = out * np.linalg.det(R).reshape(R.shape[:-2] + (1,) * n)
    return out


def neumann_violation(tensor: np.ndarray, rotations: np.ndarray, *, axial: bool = False) -> float:
    """``max_R ||R.T - T||_F / ||T||_F`` over Cartesian operations ``R`` (0 for ``T = 0``)."""
    T = np.asarray(tensor, dtype=np.float64)
    norm = np.linalg.norm(T)
    if norm == 0:
        return 0.0
    return float(max(np.linalg.norm(rotate_tensor(T, R, axial=axial) - T) for R in rotations)
                 / norm)


def to_voigt(tensor: np.ndarray, rank: Literal[2, 3, 4]) -> np.ndarray:
    """Voigt form without factors: ``(..., 3, 3)`` -> ``(..., 6)``, ``(..., 3, 3, 3)`` ->
    ``(..., 3, 6)``, ``(..., 3, 3, 3, 3)`` -> ``(..., 6, 6)``.

    Args:
        tensor: full Cartesian tensors (trailing ``rank`` axes of size 3).
        rank: 2, 3 or 4.
    """
    T = np.asarray(tensor)
    if T.ndim < rank or T.shape[-rank:] != (3,) * rank:
        raise ValueError(f"expected trailing axes {(3,) * rank}, got shape {T.shape}")
    i, j = np.array(VOIGT_PAIRS).T
    if rank == 2:
        return T[..., i, j]
    if rank == 3:
        return T[..., :, i, j]
    if rank == 4:
        return T[..., i[:, None], j[:, None], i[None, :], j[None, :]]
    raise ValueError(f"rank must be 2, 3 or 4, got {rank}")


def from_voigt(voigt: np.ndarray, rank: Literal[2, 3, 4]) -> np.ndarray:
    """Full Cartesian tensor from the Voigt form of :func:`to_voigt` (no factors).

    Args:
        voigt: ``(..., 6)`` (rank 2), ``(..., 3, 6)`` (rank 3) or ``(..., 6, 6)`` (rank 4).
        rank: 2, 3 or 4.
    """
    V = np.asarray(voigt, dtype=np.float64)
    index = np.zeros((3, 3), dtype=np.int64)
    for J, (a, b) in enumerate(VOIGT_PAIRS):
        index[a, b] = index[b, a] = J
    if rank == 2:
        return V[..., index]
    if rank == 3:
        return V[..., :, index]
    if rank == 4:
        return V[..., index[:, :, None, None], index[None, None, :, :]]
    raise ValueError(f"rank must be 2, 3 or 4, got {rank}")
