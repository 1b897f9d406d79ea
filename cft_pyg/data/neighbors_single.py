"""The neighbour graph of one small float64 crystal on the CPU, in NumPy: the fast path of
:func:`cft_pyg.data.neighbors.radius_graph_pbc`, bit-identical to its torch path.

A loader worker builds one crystal's graph at a time, where the torch path spends its time in
the overhead of ~100 small tensor operations.  This module follows the torch path operation
by operation (the same float64 formulas, summed in the same order as torch's small batched
products; torch itself for the cell inverse and the square roots, whose last bits NumPy does
not reproduce) and hands back (``None``) where the torch path would switch kernels.
``_frac_radius`` and ``_EPS`` are shared with the torch path.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_EPS = {torch.float64: 1e-9}  # widening of per-pair image ranges (the distance test decides)


def _frac_radius(cell: torch.Tensor, radius: float) -> torch.Tensor:
    """``(B, 3)`` radius divided by the face distances ``d_k`` of each cell."""
    cell64 = cell.to(torch.float64)
    if not torch.isfinite(cell64).all():
        raise ValueError("cell has non-finite entries")
    det = torch.linalg.det(cell64)
    if (det.abs() < 1e-12).any():
        raise ValueError("cell is singular (zero volume)")
    a0, a1, a2 = cell64[:, 0], cell64[:, 1], cell64[:, 2]
    cross = torch.stack(
        [torch.linalg.cross(a1, a2), torch.linalg.cross(a2, a0), torch.linalg.cross(a0, a1)],
        dim=1,
    )
    face_dist = det.abs()[:, None] / torch.linalg.norm(cross, dim=-1)
    return (radius / face_dist).to(cell.dtype)


_BMM_SMALL = 400  # torch's CPU bmm sums contractions with k * rows * cols < 400 in order


def _fast_path_applies(
    pos: torch.Tensor,
    cell: torch.Tensor,
    batch: torch.Tensor | None,
    natoms: torch.Tensor | None,
) -> bool:
    """Whether :func:`_radius_graph_single` may answer: one float64 CPU crystal, no grad."""
    return (
        batch is None
        and natoms is None
        and pos.dtype == torch.float64
        and pos.device.type == "cpu"
        and cell.device.type == "cpu"
        and cell.shape in ((3, 3), (1, 3, 3))
        and pos.shape[0] > 0
        and not pos.requires_grad
        and not cell.requires_grad
    )


def _vecmat3(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for ``(N, 3) @ (3, 3)``, summed as torch's small ``bmm`` kernel sums it."""
    return ((0.0 + x[:, 0, None] * m[0]) + x[:, 1, None] * m[1]) + x[:, 2, None] * m[2]


def _twice_dot3(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``2 * (x @ v.T)`` for ``x`` given by its components ``x0, x1, x2`` (any shape ``S``)
    and ``v`` ``(m, 3)``: shape ``S + (m,)``, summed as torch's small ``bmm`` kernel sums it
    but for the leading ``0 +``, which only turns a ``-0.0`` into ``+0.0``: the terms are
    added to a nonnegative partial sum that is never ``-0.0``, so it changes nothing."""
    out = x0[..., None] * v[:, 0]
    out += x1[..., None] * v[:, 1]
    out += x2[..., None] * v[:, 2]
    out *= 2
    return out


def _twice_dot3_t(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, v: np.ndarray) -> np.ndarray:
    """:func:`_twice_dot3` with the ``v`` axis first: ``x0`` etc. ``(s, P)``, result
    ``(s, m, P)`` (long inner axis); the same values."""
    out = x0[:, None, :] * v[:, 0, None]
    out += x1[:, None, :] * v[:, 1, None]
    out += x2[:, None, :] * v[:, 2, None]
    out *= 2
    return out


def _sq3(x: np.ndarray) -> np.ndarray:
    """``(x * x).sum(-1)`` for a last axis of 3, in torch's order."""
    return (x[..., 0] * x[..., 0] + x[..., 1] * x[..., 1]) + x[..., 2] * x[..., 2]


def _nearest_neighbor_mask_np(
    centre: np.ndarray,
    dist: np.ndarray,
    max_neighbors: int,
    tie_tolerance: float,
    strict_cap: bool,
) -> np.ndarray:
    """:func:`nearest_neighbor_mask` in NumPy (same rule, same comparisons)."""
    num = centre.shape[0]
    is_first = np.ones(num, dtype=bool)
    is_first[1:] = centre[1:] != centre[:-1]
    seg = np.cumsum(is_first) - 1
    seg_start = np.flatnonzero(is_first)
    rank = np.arange(num) - seg_start[seg]
    within = rank < max_neighbors
    if strict_cap:
        return within
    seg_end = np.append(seg_start[1:], num) - 1
    kth = dist[np.minimum(seg_start + max_neighbors - 1, seg_end)]
    return within | (dist <= kth[seg] + tie_tolerance)


def _radius_graph_single(
    pos: torch.Tensor,
    cell: torch.Tensor,
    *,
    radius: float,
    max_neighbors: int | None,
    tie_tolerance: float,
    strict_cap: bool,
    max_candidates: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """:func:`radius_graph_pbc` of one float64 CPU crystal, in NumPy; the same output.

    Args:
        pos: ``(n, 3)`` float64 CPU positions, ``n >= 1``.
        cell: ``(3, 3)`` float64 CPU lattice rows.
        radius, max_neighbors, tie_tolerance, strict_cap, max_candidates: as in
            :func:`radius_graph_pbc` (already validated).

    Returns:
        ``(edge_index, cell_offsets, distances)`` exactly as the torch path returns them, or
        ``None`` where this path does not apply (the image box is large enough for torch
        to change its summation, or the candidates exceed ``max_candidates``): the caller
        then runs the torch path.

    Raises:
        ValueError: as :func:`radius_graph_pbc` (non-finite positions, singular cell).
    """
    p_np = pos.numpy()
    lat = cell.numpy()
    if not np.isfinite(p_np).all():
        raise ValueError("pos has non-finite entries")
    n = p_np.shape[0]
    eps = _EPS[torch.float64]
    # radius / face distances: NumPy's value differs from torch's in the last bits, which
    # matters only through floor/ceil at integers (the image box and each pair's first
    # image); where a value is near an integer, torch's is taken (and on singular cells,
    # whose error torch raises)
    r_frac = _frac_radius_np(lat, radius)
    if r_frac is None or _near_integer(2 * r_frac):
        r_frac = _frac_radius(cell.unsqueeze(0), radius)[0].numpy()
        exact_r = True
    else:
        exact_r = False
    s0, s1, s2 = (int(v) for v in np.floor(2 * r_frac) + 1)
    if (
        3 * s0 * s1 >= _BMM_SMALL
        or 3 * s0 * s2 >= _BMM_SMALL
        or 3 * s1 * s2 >= _BMM_SMALL
        or n * n * s0 * s1 * s2 > max_candidates
    ):
        return None
    # torch's inverse (the same LAPACK result as the torch path's batched call, whose bits
    # the wrapped positions depend on); the cell is known to be regular here
    inv_t, info = torch.linalg.inv_ex(cell)
    if int(info):
        return None
    inv_cell = inv_t.numpy()

    # wrap positions into the cell: pos = pos_w + shift @ cell
    frac = _vecmat3(p_np, inv_cell)
    shift_f = np.floor(frac)
    frac_w = frac - shift_f
    pos_w = _vecmat3(frac_w, lat)
    shift = shift_f.astype(np.int64)

    # all pairs (i, j) in (i, j) order: pair p = i * n + j
    dfrac = (frac_w[None, :, :] - frac_w[:, None, :]).reshape(n * n, 3)
    x = -r_frac - dfrac - eps
    if not exact_r and _near_integer(x):
        r_frac = _frac_radius(cell.unsqueeze(0), radius)[0].numpy()
        x = -r_frac - dfrac - eps
    low = np.ceil(x).astype(np.int64)  # (P, 3) first image per axis
    # The arrays below put the pair axis last (NumPy is slow on tiny inner axes); the
    # values are the torch path's, element by element.
    P = n * n
    lowf = low.T.astype(np.float64)  # (3, P)
    rel = pos_w.T[:, None, :] - pos_w.T[:, :, None]  # (3, n, n): pos_w[j] - pos_w[i]
    ar0 = np.arange(s0, dtype=np.float64)[:, None]
    u = []  # components of base + a * lat[0], each (s0, P)
    for k in range(3):
        base_k = rel[k].reshape(P) + (((0.0 + lowf[0] * lat[0, k]) + lowf[1] * lat[1, k])
                                      + lowf[2] * lat[2, k])
        u.append(base_k[None, :] + ar0 * lat[0, k])
    u0, u1, u2 = u
    v1 = np.arange(s1, dtype=np.float64)[:, None] * lat[1]  # (s1, 3)
    v2 = np.arange(s2, dtype=np.float64)[:, None] * lat[2]  # (s2, 3)
    # the torch path's sum, term by term and in its order, accumulated in place
    d2 = np.add((((u0 * u0 + u1 * u1) + u2 * u2)[:, None, :] + _sq3(v1)[None, :, None])
                [:, :, None, :], _sq3(v2)[None, None, :, None])  # (s0, s1, s2, P)
    d2 += _twice_dot3_t(u0, u1, u2, v1)[:, :, None, :]
    d2 += _twice_dot3_t(u0, u1, u2, v2)[:, None, :, :]
    d2 += _twice_dot3(v1[:, 0], v1[:, 1], v1[:, 2], v2)[None, :, :, None]
    self_pair = np.arange(n) * (n + 1)  # exclude (i, i) with T = 0
    d2[-low[self_pair, 0], -low[self_pair, 1], -low[self_pair, 2], self_pair] = np.inf
    box = s0 * s1 * s2
    d2 = d2.reshape(box, P)
    # candidates in the torch path's order: by pair, then image (flat = p * box + image)
    flat = np.flatnonzero((d2 <= radius * radius).T)
    if flat.shape[0] == 0:
        return (
            torch.empty(2, 0, dtype=torch.long),
            torch.empty(0, 3, dtype=torch.long),
            torch.empty(0, dtype=torch.float64),
        )
    pair, image = np.divmod(flat, box)
    d2_sel = d2.reshape(-1)[image * P + pair]
    # torch's CPU sqrt is not always NumPy's to the last bit, and may round an element
    # differently by its position (vectorized body, scalar tail): take it from torch, on the
    # same array as the torch path
    dist = torch.sqrt(torch.from_numpy(d2_sel)).numpy()
    ci = pair // n
    if max_neighbors is not None:
        # only edges no farther than their centre's k-th distance (+ tolerance) can be kept:
        # drop the others before sorting (the sorted order of the rest is unchanged)
        keep = _cap_candidates(ci, dist, n, max_neighbors, tie_tolerance, strict_cap)
        flat, dist, ci = flat[keep], dist[keep], ci[keep]
    # by centre, then distance; stable, so ties keep the (j, offset) order
    sel = np.lexsort((dist, ci))
    if max_neighbors is not None and strict_cap:
        # (without strict_cap the pre-cap kept exactly what nearest_neighbor_mask keeps:
        # the first k of a centre are no farther than its k-th distance)
        sel = sel[_nearest_neighbor_mask_np(ci[sel], dist[sel], max_neighbors,
                                            tie_tolerance, strict_cap)]
    flat = flat[sel]
    p, rest = np.divmod(flat, box)
    img = low[p]
    img[:, 0] += rest // (s1 * s2)
    img[:, 1] += (rest // s2) % s1
    img[:, 2] += rest % s2
    src, dst = p % n, p // n
    off = img + shift[dst] - shift[src]
    return (
        torch.from_numpy(np.stack([src, dst], axis=0)),
        torch.from_numpy(off),
        torch.from_numpy(dist[sel]),
    )


def _near_integer(x: np.ndarray, margin: float = 1e-7) -> bool:
    """Whether any entry is within ``margin`` of an integer (floor/ceil could flip)."""
    return bool((np.abs(x - np.rint(x)) < margin).any())


def _frac_radius_np(lat: np.ndarray, radius: float) -> np.ndarray | None:
    """``radius / d_k`` in plain floats (close to :func:`_frac_radius`, not its bits);
    ``None`` for a non-finite or (nearly) singular cell, which the torch function judges."""
    (a, b, c), (d, e, f), (g, h, k) = lat.tolist()
    crosses = ((e * k - f * h, f * g - d * k, d * h - e * g),  # a1 x a2
               (h * c - k * b, k * a - g * c, g * b - h * a),  # a2 x a0
               (b * f - c * e, c * d - a * f, a * e - b * d))  # a0 x a1
    det = a * crosses[0][0] + b * crosses[0][1] + c * crosses[0][2]
    if not (math.isfinite(det) and abs(det) >= 1e-9):
        return None
    return np.array([radius * math.sqrt(x * x + y * y + z * z) / abs(det)
                     for x, y, z in crosses])


def _cap_candidates(
    ci: np.ndarray,
    dist: np.ndarray,
    n: int,
    max_neighbors: int,
    tie_tolerance: float,
    strict_cap: bool,
) -> np.ndarray:
    """Mask of the edges that can survive the cap: ``dist <= kth + tie_tolerance``
    (``dist <= kth`` with ``strict_cap``), ``kth`` the ``max_neighbors``-th smallest distance
    of the edge's centre (infinite for centres with fewer edges).  A superset of what
    :func:`nearest_neighbor_mask` keeps, closed under "nearer in the sorted order"."""
    counts = np.bincount(ci, minlength=n)
    width = int(counts.max())
    if width <= max_neighbors:
        return np.ones(ci.shape[0], dtype=bool)
    start = np.cumsum(counts) - counts
    padded = np.full((n, width), np.inf)
    padded[ci, np.arange(ci.shape[0]) - start[ci]] = dist
    kth = np.partition(padded, max_neighbors - 1, axis=1)[:, max_neighbors - 1]
    if strict_cap:
        return dist <= kth[ci]
    return dist <= kth[ci] + tie_tolerance
