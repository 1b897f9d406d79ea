"""Vectorized periodic neighbour search in pure torch (CPU and GPU, batched).

PyG's ``radius_graph`` needs ``pyg-lib``/``torch-cluster`` and knows nothing about
periodic images, so :func:`radius_graph_pbc` enumerates, for every centre atom ``i``
of every crystal, all atoms ``j`` of the same crystal in all periodic images ``T`` that
can lie within ``radius``, keeps the pairs with ``|pos[j] + T @ cell - pos[i]| <= radius``,
and optionally only the ``max_neighbors`` nearest per centre.

How many images: the distance between opposite faces of the cell along axis ``k`` is
``d_k = 1 / |b_k|`` (``b_k`` the reciprocal vectors, rows of ``inv(cell).T``).  With
fractional coordinates wrapped into ``[0, 1)`` and ``df = f_j - f_i``, a neighbour within
``radius`` has ``|df_k + T_k| <= radius / d_k``, so each pair ``(i, j)`` needs only the
``floor(2 radius / d_k) + 1`` consecutive images starting at
``ceil(-radius / d_k - df_k)`` along each axis: one dense box of images per crystal,
the same shape for all its pairs.  This is exact for any cell shape: very short lattice
vectors (many images) and very skewed cells included.  Positions need not be wrapped on
input; returned offsets refer to the positions as given.

Implementation: crystals are grouped by the shape of their image box; within a group,
centres are processed in chunks of at most ``max_candidates`` (centre, neighbour, image)
candidates (a single centre above the budget is processed alone), so memory is bounded.
Squared distances of a chunk are evaluated as a broadcast sum of small products in
float64 (no per-candidate gathers), whatever the input dtype; distances are returned in
``pos.dtype``.  All pairs of atoms of a crystal are enumerated (``O(n_b^2)`` per crystal
times the images), which suits unit cells (up to a few hundred atoms) batched in any
number; it is not a cell list for one huge supercell.  One float64 crystal on the CPU
(what a data-loader worker builds per crystal) takes a compiled path (Numba) that repeats the
same arithmetic operation by operation and returns the same bits, without the per-call
overhead of ~100 small torch ops (:mod:`cft_pyg.data.neighbors_single`).

Conventions follow ``docs/conventions.md`` (PyG flow source -> target):
``edge_index[0] = j`` (neighbour), ``edge_index[1] = i`` (centre), and the edge vector is
``pos[j] + cell_offsets @ cell - pos[i]``.

Tie rule for ``max_neighbors`` (:func:`nearest_neighbor_mask`): per centre, edges are
ordered by distance and the ``max_neighbors`` nearest are kept **together with every
further edge whose distance ties the last kept one** within ``tie_tolerance`` (default
``1e-4`` Å, far above the float32 rounding of stored coordinates, ~1e-6 Å, and far below
any physical distinction).  A shell of symmetry-equivalent neighbours is therefore never
cut, and the graph does not depend on the order of the atoms: it is invariant under
permutations and under every operation of the crystal's space group.  ``strict_cap=True``
restores CGCNN's strict "at most ``max_neighbors``" rule, which cuts such shells by atom
index and **breaks permutation and space-group invariance**; it is off by default.
"""

from __future__ import annotations

import functools

import torch

from .featurization import DEFAULT_FEATURIZATION
from .neighbors_single import _EPS, _fast_path_applies, _frac_radius, _radius_graph_single

__all__ = ["radius_graph_pbc", "num_images", "nearest_neighbor_mask", "DEFAULT_TIE_TOLERANCE"]

DEFAULT_MAX_CANDIDATES = 1 << 21
_EPS_DEFAULT = 1e-4  # float32 / float16
DEFAULT_TIE_TOLERANCE = 1e-4
"""Distances (Å) within this of the ``k``-th neighbour's are ties and kept with it."""


def nearest_neighbor_mask(
    centre: torch.Tensor,
    dist: torch.Tensor,
    max_neighbors: int,
    *,
    tie_tolerance: float = DEFAULT_TIE_TOLERANCE,
    strict_cap: bool = False,
) -> torch.Tensor:
    """Which edges the ``max_neighbors`` cap keeps, shells of tied distances kept whole.

    Args:
        centre: ``(E,)`` centre atom of each edge, sorted (edges of a centre contiguous).
        dist: ``(E,)`` edge lengths, ascending within each centre.
        max_neighbors: ``k``, the number of nearest neighbours to keep per centre.
        tie_tolerance: edges with ``dist <= d_k + tie_tolerance`` are kept too, ``d_k``
            the ``k``-th smallest distance of their centre (Å).
        strict_cap: keep exactly the first ``k`` edges of each centre, cutting a shell of
            equal distances by edge order: **not invariant** under permutations of the
            atoms or the operations of the space group (CGCNN's rule; off by default).

    Returns:
        ``(E,)`` bool mask.
    """
    if max_neighbors < 1:
        raise ValueError(f"max_neighbors must be >= 1, got {max_neighbors}")
    if not tie_tolerance >= 0:
        raise ValueError(f"tie_tolerance must be >= 0, got {tie_tolerance}")
    num = centre.numel()
    if num == 0:
        return torch.zeros(0, dtype=torch.bool, device=centre.device)
    is_first = torch.ones(num, dtype=torch.bool, device=centre.device)
    is_first[1:] = centre[1:] != centre[:-1]
    seg = torch.cumsum(is_first.to(torch.long), 0) - 1
    seg_start = torch.nonzero(is_first).squeeze(1)
    rank = torch.arange(num, device=centre.device) - seg_start[seg]
    within = rank < max_neighbors
    if strict_cap:
        return within
    # k-th distance of each centre (the last one for centres with fewer edges)
    seg_end = torch.cat([seg_start[1:], seg_start.new_tensor([num])]) - 1
    kth = dist[torch.minimum(seg_start + max_neighbors - 1, seg_end)]
    return within | (dist <= kth[seg] + tie_tolerance)


def num_images(cell: torch.Tensor, radius: float) -> torch.Tensor:
    """Number of periodic images per axis needed for wrapped positions.

    Args:
        cell: ``(B, 3, 3)`` lattice vectors as rows (Å).
        radius: cutoff radius (Å).

    Returns:
        ``(B, 3)`` long, ``floor(radius / d_k) + 1`` with ``d_k`` the face distance; images
        ``T_k`` in ``[-n_k, n_k]`` are searched.

    Raises:
        ValueError: if a cell is singular or not finite.
    """
    if cell.ndim == 2:
        cell = cell.unsqueeze(0)
    return torch.floor(_frac_radius(cell, radius)).to(torch.long) + 1


def _counts_from(
    batch: torch.Tensor | None, natoms: torch.Tensor | None, n: int, device: torch.device
) -> torch.Tensor:
    if natoms is not None:
        natoms = torch.as_tensor(natoms, dtype=torch.long, device=device).reshape(-1)
        if int(natoms.sum()) != n:
            raise ValueError(f"natoms sums to {int(natoms.sum())} but pos has {n} rows")
        return natoms
    if batch is None:
        return torch.tensor([n], dtype=torch.long, device=device)
    batch = torch.as_tensor(batch, dtype=torch.long, device=device).reshape(-1)
    if batch.numel() != n:
        raise ValueError(f"batch has {batch.numel()} entries but pos has {n} rows")
    if n and (batch[1:] < batch[:-1]).any():
        raise ValueError("batch must be sorted (atoms of a crystal contiguous)")
    num = int(batch.max()) + 1 if n else 0
    return torch.bincount(batch, minlength=num)


def radius_graph_pbc(
    pos: torch.Tensor,
    cell: torch.Tensor,
    batch: torch.Tensor | None = None,
    *,
    natoms: torch.Tensor | None = None,
    radius: float = DEFAULT_FEATURIZATION.radius,
    max_neighbors: int | None = 12,
    tie_tolerance: float = DEFAULT_TIE_TOLERANCE,
    strict_cap: bool = False,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Periodic radius graph of a batch of crystals.

    Args:
        pos: ``(N, 3)`` Cartesian positions (Å) of all atoms of all crystals, crystals
            contiguous.  Distances are computed in float64 from these values and
            returned in ``pos.dtype``.
        cell: ``(B, 3, 3)`` (or ``(3, 3)`` for one crystal) lattice vectors as rows.
        batch: ``(N,)`` crystal index of each atom (sorted), as in PyG.  Give either
            ``batch`` or ``natoms``; with neither, all atoms form one crystal.
        natoms: ``(B,)`` number of atoms of each crystal.
        radius: cutoff (Å); pairs with distance ``<= radius`` are kept.
        max_neighbors: keep this many nearest neighbours per centre, plus every further
            neighbour tied with the last one (see :func:`nearest_neighbor_mask`);
            ``None`` keeps all within ``radius``.
        tie_tolerance: distance tolerance (Å) of the tie rule.
        strict_cap: cut at exactly ``max_neighbors`` (CGCNN's rule): **breaks the
            invariance** under atom permutations and space-group operations when a shell
            straddles the cut.  Off by default.
        max_candidates: memory bound, the largest number of candidate triplets
            evaluated at once.

    Returns:
        ``edge_index`` ``(2, E)`` long (``[j, i]``: neighbour, centre),
        ``cell_offsets`` ``(E, 3)`` long (image of ``j``), and
        ``distances`` ``(E,)`` in ``pos.dtype``.  Edges are sorted by centre, then
        distance.  The self pair ``(i, i)`` with zero offset is excluded; an atom's own
        images with nonzero offsets are included.

    Raises:
        ValueError: on inconsistent shapes, singular or non-finite cells, ``radius <= 0``.
    """
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape (N, 3), got {tuple(pos.shape)}")
    if not pos.is_floating_point():
        raise ValueError("pos must be a floating-point tensor")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    if max_neighbors is not None and max_neighbors < 1:
        raise ValueError(f"max_neighbors must be >= 1 or None, got {max_neighbors}")
    device, dtype = pos.device, pos.dtype
    if _fast_path_applies(pos, cell, batch, natoms):
        fast = _radius_graph_single(
            pos, cell.to(dtype=dtype).reshape(3, 3), radius=radius, max_neighbors=max_neighbors,
            tie_tolerance=tie_tolerance, strict_cap=strict_cap, max_candidates=max_candidates,
        )
        if fast is not None:
            return fast
    cell = cell.to(device=device, dtype=dtype)
    if cell.ndim == 2:
        cell = cell.unsqueeze(0)
    if cell.ndim != 3 or cell.shape[1:] != (3, 3):
        raise ValueError(f"cell must have shape (B, 3, 3), got {tuple(cell.shape)}")
    n = pos.shape[0]
    counts = _counts_from(batch, natoms, n, device)
    num_crystals = counts.numel()
    if cell.shape[0] != num_crystals:
        raise ValueError(f"cell has {cell.shape[0]} crystals but batch/natoms has {num_crystals}")
    if not torch.isfinite(pos).all():
        raise ValueError("pos has non-finite entries")

    empty = (
        torch.empty(2, 0, dtype=torch.long, device=device),
        torch.empty(0, 3, dtype=torch.long, device=device),
        torch.empty(0, dtype=dtype, device=device),
    )
    if n == 0:
        return empty

    crystal = torch.repeat_interleave(torch.arange(num_crystals, device=device), counts)
    first_atom = torch.cumsum(counts, 0) - counts  # (B,)
    r_frac = _frac_radius(cell, radius)  # (B, 3): radius / face distance
    # every pair needs at most floor(2 r_k) + 1 consecutive images along axis k: one dense
    # box per crystal, the same for all its pairs
    box = (torch.floor(2 * r_frac) + 1).to(torch.long)  # (B, 3)

    # wrap positions into the cell: pos = pos_w + shift @ cell
    inv_cell = torch.linalg.inv(cell)
    frac = torch.einsum("ni,nij->nj", pos, inv_cell[crystal])
    shift_f = torch.floor(frac)
    frac_w = frac - shift_f
    pos_w = torch.einsum("ni,nij->nj", frac_w, cell[crystal])
    shift = shift_f.to(torch.long)

    radius_sq = radius * radius
    eps = _EPS.get(dtype, _EPS_DEFAULT)
    arange = functools.partial(torch.arange, device=device)
    out_src, out_dst, out_off, out_dist = [], [], [], []
    # crystals with the same box shape are processed together, by chunks of centres
    shapes, shape_of_crystal = torch.unique(box, dim=0, return_inverse=True)
    per_centre = (counts * box.prod(dim=1))[crystal]  # candidates of each centre
    for g, shape in enumerate(shapes.tolist()):
        centres_g = torch.nonzero(shape_of_crystal[crystal] == g).squeeze(1)
        cum = torch.cumsum(per_centre[centres_g], 0).cpu()
        begin = 0
        while begin < centres_g.numel():
            base_count = int(cum[begin - 1]) if begin > 0 else 0
            end = int(torch.searchsorted(cum, base_count + max_candidates, right=True))
            end = min(max(end, begin + 1), centres_g.numel())
            centres = centres_g[begin:end]
            begin = end
            edges = _chunk_edges(
                centres, crystal, counts, first_atom, frac_w, pos_w, cell, r_frac, shape,
                radius_sq, eps, max_neighbors, tie_tolerance, strict_cap, arange,
            )
            if edges is None:
                continue
            ci, j, img, dist = edges
            # offsets w.r.t. the positions as given: T = T_w + shift_i - shift_j
            out_off.append(img + shift[ci] - shift[j])
            out_src.append(j)
            out_dst.append(ci)
            out_dist.append(dist)

    if not out_src:
        return empty
    src, dst = torch.cat(out_src), torch.cat(out_dst)
    off, dist = torch.cat(out_off), torch.cat(out_dist)
    if len(out_src) > 1:  # chunks hold whole centres: a stable sort by centre keeps the rest
        order = torch.sort(dst, stable=True).indices
        src, dst, off, dist = src[order], dst[order], off[order], dist[order]
    return torch.stack([src, dst], dim=0), off, dist


def _chunk_edges(
    centres: torch.Tensor,
    crystal: torch.Tensor,
    counts: torch.Tensor,
    first_atom: torch.Tensor,
    frac_w: torch.Tensor,
    pos_w: torch.Tensor,
    cell: torch.Tensor,
    r_frac: torch.Tensor,
    shape: list[int],
    radius_sq: float,
    eps: float,
    max_neighbors: int | None,
    tie_tolerance: float,
    strict_cap: bool,
    arange: functools.partial,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Edges of a chunk of centres whose crystals share the image box ``shape``.

    Returns ``(centre, neighbour, wrapped image offset, distance)`` sorted by centre,
    distance, neighbour, offset, and cut by :func:`nearest_neighbor_mask`.
    """
    dtype = pos_w.dtype
    f64 = torch.float64
    # ---- pairs (i, j), j running over i's crystal, in (i, j) order
    npc = counts[crystal[centres]]
    num_pairs = int(npc.sum())
    if num_pairs == 0:
        return None
    pi = torch.repeat_interleave(centres, npc, output_size=num_pairs)
    pb = crystal[pi]
    pj = first_atom[pb] + arange(num_pairs) - torch.repeat_interleave(
        torch.cumsum(npc, 0) - npc, npc, output_size=num_pairs
    )
    dfrac = frac_w[pj] - frac_w[pi]
    low = torch.ceil(-r_frac[pb] - dfrac - eps).to(torch.long)  # (P, 3) first image per axis
    lat = cell[pb].to(f64)  # (P, 3, 3)
    base = (pos_w[pj] - pos_w[pi]).to(f64) + torch.einsum("pi,pij->pj", low.to(f64), lat)
    # ---- dense box of images T = low + (a, b, c), 0 <= a < shape[0], ... (lexicographic)
    s0, s1, s2 = shape
    u = base[:, None, :] + arange(s0, dtype=f64)[None, :, None] * lat[:, None, 0, :]
    v1 = arange(s1, dtype=f64)[None, :, None] * lat[:, None, 1, :]  # (P, s1, 3)
    v2 = arange(s2, dtype=f64)[None, :, None] * lat[:, None, 2, :]  # (P, s2, 3)
    # |u + v1 + v2|^2 expanded into small products and broadcast, in float64 (rounding
    # ~1e-13 Å^2, far below any tolerance) without a (P, s0, s1, s2, 3) tensor
    d2 = (
        (u * u).sum(-1)[:, :, None, None]
        + (v1 * v1).sum(-1)[:, None, :, None]
        + (v2 * v2).sum(-1)[:, None, None, :]
        + 2 * torch.bmm(u, v1.transpose(1, 2))[:, :, :, None]
        + 2 * torch.bmm(u, v2.transpose(1, 2))[:, :, None, :]
        + 2 * torch.bmm(v1, v2.transpose(1, 2))[:, None, :, :]
    )  # (P, s0, s1, s2)
    self_pair = torch.nonzero(pi == pj).squeeze(1)  # exclude (i, i) with T = 0
    d2[self_pair, -low[self_pair, 0], -low[self_pair, 1], -low[self_pair, 2]] = float("inf")
    p, a, b, c = torch.nonzero(d2 <= radius_sq, as_tuple=True)  # sorted by pair: by centre
    if p.numel() == 0:
        return None
    # distances as returned (output dtype): the tie rule applies to these values
    dist = torch.sqrt(d2[p, a, b, c]).to(dtype)
    ci = pi[p]
    # ---- per centre: sort by distance (stable: ties keep the (j, offset) order), then cap
    num = ci.numel()
    is_first = torch.ones(num, dtype=torch.bool, device=ci.device)
    is_first[1:] = ci[1:] != ci[:-1]
    seg = torch.cumsum(is_first.to(torch.long), 0) - 1  # segment (centre) id of each edge
    seg_start = torch.nonzero(is_first).squeeze(1)
    rank = arange(num) - seg_start[seg]
    width = int(rank.max()) + 1
    padded = torch.full((seg_start.numel(), width), float("inf"), dtype=dtype, device=ci.device)
    padded[seg, rank] = dist
    order = torch.sort(padded, dim=1, stable=True).indices
    valid = torch.gather(padded, 1, order) < float("inf")
    sel = (seg_start[:, None] + order)[valid]  # flat indices, by centre then distance
    if max_neighbors is not None:
        sel = sel[
            nearest_neighbor_mask(
                ci[sel], dist[sel], max_neighbors,
                tie_tolerance=tie_tolerance, strict_cap=strict_cap,
            )
        ]
    p = p[sel]
    img = low[p] + torch.stack([a[sel], b[sel], c[sel]], dim=1)
    return pi[p], pj[p], img, dist[sel]

