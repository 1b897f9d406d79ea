"""The neighbour graph of one small float64 crystal on the CPU, compiled with Numba: the fast
path of :func:`cft_pyg.data.neighbors.radius_graph_pbc`, bit-identical to its torch path.

A loader worker builds one crystal's graph at a time, where the torch path spends its time in
the overhead of ~100 small tensor operations.  Two compiled loops do the work instead:
:func:`_pair_candidates` evaluates every (pair, image) candidate of the torch path's image box
with the torch path's float64 formula, term by term and summed in the same order (torch's
small batched products sum a 3-term contraction left to right; Numba, without ``fastmath``,
neither reassociates nor fuses multiply-adds), and :func:`_select_edges` sorts each centre's
edges by distance (stably) and applies the neighbour cap.  Torch itself gives the cell inverse
and the square roots, whose last bits other libraries do not reproduce.  Where the torch path
would switch kernels (image boxes with ``3 s_a s_b >= 400``, where torch's ``bmm`` calls BLAS)
or exceed ``max_candidates``, this path hands back (``None``).  Checked bit for bit against the
torch path in ``tests/data/test_neighbors_fast.py``.  ``_frac_radius`` and ``_EPS`` are shared
with the torch path.

The loops are compiled on first use (about 5 s) and cached on disk (Numba's ``cache=True``;
``NUMBA_CACHE_DIR`` moves the cache): a new process loads them in about 0.2 s.  Every array
is passed C-contiguous, so that one compiled version serves every call.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

_EPS = {torch.float64: 1e-9}  # widening of per-pair image ranges (the distance test decides)
_NEAR = 1e-7  # a floor/ceil argument within this of an integer is recomputed from torch's bits


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


@numba.njit(cache=True, nogil=True)
def _pair_candidates(
    pos: np.ndarray, lat: np.ndarray, inv_cell: np.ndarray, r_frac: np.ndarray, eps: float,
    r2: float, s0: int, s1: int, s2: int, check_x: bool, near: float,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate of the torch path within the radius, in its order.

    Args (NumPy): ``pos`` ``(n, 3)`` float64, ``lat`` and ``inv_cell`` ``(3, 3)``,
    ``r_frac`` ``(3,)`` radius over the face distances, ``eps``, ``r2 = radius ** 2``, the
    image box ``s0, s1, s2``, ``check_x``: stop if a first-image argument lies within
    ``near`` of an integer.

    Returns:
        ``(count, pair, image, d2, low, shift)``: the first ``count`` entries of ``pair``
        (``i * n + j``), ``image`` (flat index in the box) and ``d2`` (squared distance) are
        the candidates with ``d2 <= r2``, by pair then image; ``low`` ``(n * n, 3)`` each
        pair's first image, ``shift`` ``(n, 3)`` the wrapping of each atom.  ``count == -1``
        when ``check_x`` found a near-integer argument (nothing else is valid then).
    """
    n = pos.shape[0]
    frac_w = np.empty((n, 3))
    pos_w = np.empty((n, 3))
    shift = np.empty((n, 3), dtype=np.int64)
    for i in range(n):  # wrap into the cell: pos = pos_w + shift @ lat
        for k in range(3):
            f = ((0.0 + pos[i, 0] * inv_cell[0, k]) + pos[i, 1] * inv_cell[1, k]) \
                + pos[i, 2] * inv_cell[2, k]
            s = math.floor(f)
            frac_w[i, k] = f - s
            shift[i, k] = np.int64(s)
        for k in range(3):
            pos_w[i, k] = ((0.0 + frac_w[i, 0] * lat[0, k]) + frac_w[i, 1] * lat[1, k]) \
                + frac_w[i, 2] * lat[2, k]
    npair = n * n
    box = s0 * s1 * s2
    low = np.empty((npair, 3), dtype=np.int64)
    pair = np.empty(npair * box, dtype=np.int64)
    image = np.empty(npair * box, dtype=np.int64)
    d2s = np.empty(npair * box)
    sv1 = np.empty(s1)
    sv2 = np.empty(s2)
    v12 = np.empty((s1, s2))
    for b in range(s1):
        x, y, z = b * lat[1, 0], b * lat[1, 1], b * lat[1, 2]
        sv1[b] = (x * x + y * y) + z * z
    for c in range(s2):
        x, y, z = c * lat[2, 0], c * lat[2, 1], c * lat[2, 2]
        sv2[c] = (x * x + y * y) + z * z
    for b in range(s1):
        for c in range(s2):
            v12[b, c] = ((b * lat[1, 0] * (c * lat[2, 0]) + b * lat[1, 1] * (c * lat[2, 1]))
                         + b * lat[1, 2] * (c * lat[2, 2])) * 2
    count = 0
    for i in range(n):
        for j in range(n):
            p = i * n + j
            for k in range(3):
                x = (-r_frac[k] - (frac_w[j, k] - frac_w[i, k])) - eps
                if check_x and abs(x - np.rint(x)) < near:
                    return -1, pair, image, d2s, low, shift
                low[p, k] = np.int64(math.ceil(x))
            l0, l1, l2 = float(low[p, 0]), float(low[p, 1]), float(low[p, 2])
            b0 = (pos_w[j, 0] - pos_w[i, 0]) + (((0.0 + l0 * lat[0, 0]) + l1 * lat[1, 0])
                                                + l2 * lat[2, 0])
            b1 = (pos_w[j, 1] - pos_w[i, 1]) + (((0.0 + l0 * lat[0, 1]) + l1 * lat[1, 1])
                                                + l2 * lat[2, 1])
            b2 = (pos_w[j, 2] - pos_w[i, 2]) + (((0.0 + l0 * lat[0, 2]) + l1 * lat[1, 2])
                                                + l2 * lat[2, 2])
            for a in range(s0):
                u0 = b0 + a * lat[0, 0]
                u1 = b1 + a * lat[0, 1]
                u2 = b2 + a * lat[0, 2]
                su = (u0 * u0 + u1 * u1) + u2 * u2
                for b in range(s1):
                    w0, w1, w2 = b * lat[1, 0], b * lat[1, 1], b * lat[1, 2]
                    uv1 = ((u0 * w0 + u1 * w1) + u2 * w2) * 2
                    for c in range(s2):
                        if i == j and a == -low[p, 0] and b == -low[p, 1] and c == -low[p, 2]:
                            continue  # the atom itself
                        t0, t1, t2 = c * lat[2, 0], c * lat[2, 1], c * lat[2, 2]
                        d2 = (su + sv1[b]) + sv2[c]
                        d2 += uv1
                        d2 += ((u0 * t0 + u1 * t1) + u2 * t2) * 2
                        d2 += v12[b, c]
                        if d2 <= r2:
                            pair[count] = p
                            image[count] = (a * s1 + b) * s2 + c
                            d2s[count] = d2
                            count += 1
    return count, pair, image, d2s, low, shift


@numba.njit(cache=True, nogil=True)
def _select_edges(
    pair: np.ndarray, image: np.ndarray, dist: np.ndarray, n: int, s1: int, s2: int,
    low: np.ndarray, shift: np.ndarray, cap: int, tie_tolerance: float, strict_cap: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges kept from the candidates, sorted by centre, then distance (stably: ties keep
    the candidates' order), and the neighbour cap.

    Args (NumPy): the candidates' ``pair``, ``image`` and ``dist`` (``(m,)``, by pair, so by
    centre ``i = pair // n``), the box's ``s1, s2``, ``low`` and ``shift`` of
    :func:`_pair_candidates`, ``cap`` (``max_neighbors``, ``-1`` for none), the tie rule's
    ``tie_tolerance`` and ``strict_cap`` (:func:`~cft_pyg.data.neighbors.nearest_neighbor_mask`).

    Returns:
        ``edge_index`` ``(2, E)`` (``[j, i]``), ``cell_offsets`` ``(E, 3)``, ``dist`` ``(E,)``.
    """
    m = pair.shape[0]
    kept = np.empty(m, dtype=np.int64)
    best = np.empty(max(cap, 1))  # the cap smallest distances of a centre, ascending
    e = 0
    start = 0
    while start < m:
        centre = pair[start] // n
        end = start + 1
        while end < m and pair[end] // n == centre:
            end += 1
        if cap < 0 or end - start <= cap:  # every edge of the centre
            order = np.argsort(dist[start:end], kind="mergesort") + start
            kept[e:e + end - start] = order
            e += end - start
        else:
            filled = 0
            for c in range(start, end):
                d = dist[c]
                if filled == cap and not d < best[cap - 1]:
                    continue
                t = filled if filled < cap else cap - 1
                while t > 0 and best[t - 1] > d:
                    best[t] = best[t - 1]
                    t -= 1
                best[t] = d
                if filled < cap:
                    filled += 1
            # the cap-th nearest and every edge tied with it (strict: no farther than it)
            limit = best[cap - 1] if strict_cap else best[cap - 1] + tie_tolerance
            first = e
            for c in range(start, end):  # in the candidates' order, then sorted stably
                if dist[c] <= limit:
                    t = e
                    while t > first and dist[kept[t - 1]] > dist[c]:
                        kept[t] = kept[t - 1]
                        t -= 1
                    kept[t] = c
                    e += 1
            if strict_cap:
                e = first + cap
        start = end
    edge_index = np.empty((2, e), dtype=np.int64)
    offsets = np.empty((e, 3), dtype=np.int64)
    out = np.empty(e)
    for q in range(e):
        c = kept[q]
        p = pair[c]
        r = image[c]
        i = p // n
        j = p - i * n
        edge_index[0, q] = j
        edge_index[1, q] = i
        offsets[q, 0] = low[p, 0] + r // (s1 * s2) + shift[i, 0] - shift[j, 0]
        offsets[q, 1] = low[p, 1] + (r // s2) % s1 + shift[i, 1] - shift[j, 1]
        offsets[q, 2] = low[p, 2] + r % s2 + shift[i, 2] - shift[j, 2]
        out[q] = dist[c]
    return edge_index, offsets, out


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
    """:func:`radius_graph_pbc` of one float64 CPU crystal, compiled; the same output.

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
    p_np = np.ascontiguousarray(pos.numpy())
    lat = np.ascontiguousarray(cell.numpy())
    if not np.isfinite(p_np).all():
        raise ValueError("pos has non-finite entries")
    n = p_np.shape[0]
    # radius / face distances: NumPy's value differs from torch's in the last bits, which
    # matters only through floor/ceil at integers (the image box and each pair's first
    # image); where a value is near an integer, torch's is taken (and on singular cells,
    # whose error torch raises)
    r_frac = _frac_radius_np(lat, radius)
    exact_r = r_frac is None or bool((np.abs(2 * r_frac - np.rint(2 * r_frac)) < _NEAR).any())
    if exact_r:
        r_frac = _frac_radius(cell.unsqueeze(0), radius)[0].numpy()
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
    inv_cell = np.ascontiguousarray(inv_t.numpy())  # (LAPACK's is column-major)
    eps = _EPS[torch.float64]
    r2 = float(radius) * float(radius)
    count, pair, image, d2, low, shift = _pair_candidates(
        p_np, lat, inv_cell, r_frac, eps, r2, s0, s1, s2, not exact_r, _NEAR)
    if count < 0:  # a pair's first image is near an integer: torch's radius decides
        r_frac = _frac_radius(cell.unsqueeze(0), radius)[0].numpy()
        count, pair, image, d2, low, shift = _pair_candidates(
            p_np, lat, inv_cell, r_frac, eps, r2, s0, s1, s2, False, _NEAR)
    # torch's CPU sqrt is not always correctly rounded, and may round an element differently
    # by its position (vectorized body, scalar tail): take it from torch, on the same array
    # as the torch path (every candidate within the radius, in its order)
    dist = torch.sqrt(torch.from_numpy(d2[:count])).numpy()
    edge_index, offsets, out = _select_edges(
        pair[:count], image[:count], dist, n, s1, s2, low, shift,
        -1 if max_neighbors is None else int(max_neighbors), float(tie_tolerance),
        bool(strict_cap))
    return torch.from_numpy(edge_index), torch.from_numpy(offsets), torch.from_numpy(out)


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
