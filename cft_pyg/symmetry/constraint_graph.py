r"""The dual constraint graph of a space group over reciprocal-lattice frequencies.

A periodic function ``f(x) = sum_k F(k) exp(2 pi i k.x)`` is invariant under
``x -> W x + w`` exactly when

.. math::

    F(W^T k) = \exp(+2\pi i\, k\cdot w)\, F(k)

for every operation.  The constraint graph has one node per frequency ``k`` and, for
every operation ``g = (W, w)`` and every node, an edge ``k -> W^T k`` with weight
``exp(2 pi i k.w)``.  Its connected components are the orbits of the point group on
frequencies.  A node fixed by an operation whose phase is not 1 forces ``F = 0`` on its
whole orbit: these forced zeros are the systematic absences.  Every other orbit carries
one invariant function (see :class:`cft_pyg.SymmetryAdaptedBasis`).

Phases are exact: with ``w = t / 12`` (``t`` integer), the phase of an edge is
``exp(2 pi i p / 12)`` with the integer ``p = k.t mod 12``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from .frequencies import (
    DEFAULT_CUTOFF,
    FrequencySet,
    ball_frequencies,
    reciprocal_metric_tensor,
    reference_metric,
)
from .space_group import TRANSLATION_DENOMINATOR, SpaceGroup

__all__ = [
    "constraint_graph",
    "connected_components",
    "resolve_group",
    "group_frequencies",
    "setting_metric",
]


def resolve_group(group: SpaceGroup | int) -> SpaceGroup:
    """Accept a :class:`SpaceGroup` or a space-group number (default setting)."""
    if isinstance(group, SpaceGroup):
        return group
    return SpaceGroup(group)


def group_frequencies(
    group: SpaceGroup, cutoff: float | None, frequencies: FrequencySet | None
) -> FrequencySet:
    """The frequency set of a group: ``frequencies`` if given, else the reference ball.

    ``cutoff=None`` means :data:`DEFAULT_CUTOFF` (5) when no set is given; a cutoff given
    together with a set must agree with the set's own.
    """
    if frequencies is not None:
        if cutoff is not None and frequencies.cutoff is not None and frequencies.cutoff != cutoff:
            raise ValueError(
                f"cutoff={cutoff} disagrees with the given frequency set (cutoff "
                f"{frequencies.cutoff}); pass one or the other"
            )
        return frequencies
    if cutoff is None:
        cutoff = DEFAULT_CUTOFF
    return ball_frequencies(cutoff, setting_metric(group))


def setting_metric(group: SpaceGroup) -> str:
    """Reference metric whose ball is closed under ``k -> W^T k`` in the group's setting.

    The metric of the lattice family (:func:`reference_metric`) in general; the
    rhombohedral-axes settings of the R groups (Hall symbols ``P 3*``, 7 of the 530)
    permute the axes instead and keep the identity metric, not the hexagonal one.
    The choice is checked exactly: ``W (3 G*) W^T == 3 G*`` for every rotation.
    """
    preferred = reference_metric(group.number)
    rotations = group.point_group_rotations
    for metric in (preferred, *(m for m in ("identity", "hexagonal") if m != preferred)):
        g3 = np.rint(3 * reciprocal_metric_tensor(metric)).astype(np.int64)
        if np.array_equal(
            rotations @ g3 @ rotations.transpose(0, 2, 1), np.broadcast_to(g3, rotations.shape)
        ):
            return metric
    raise ValueError(  # pragma: no cover - one of the two fits every one of the 530 settings
        f"no reference metric is invariant under the point group of {group!r}"
    )


def connected_components(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Connected components of a graph by vectorized min-label propagation.

    Every node's label becomes the smallest node index of its component.  Each round
    is one scatter-min over all edges (no Python loop over nodes); on the constraint
    graph, whose components are complete graphs, it converges after one round.

    Args:
        edge_index: ``(2, E)`` long; the graph is treated as undirected.
        num_nodes: number of nodes ``N``.

    Returns:
        ``(N,)`` long, the component label (minimum node index) of every node.
    """
    src = torch.cat([edge_index[0], edge_index[1]])
    dst = torch.cat([edge_index[1], edge_index[0]])
    label = torch.arange(num_nodes, device=edge_index.device)
    while True:
        incoming = scatter(label[src], dst, dim=0, dim_size=num_nodes, reduce="min")
        # nodes without edges keep their own label (scatter-min fills them with 0)
        has_edge = torch.zeros(num_nodes, dtype=torch.bool, device=label.device)
        has_edge[dst] = True
        new = torch.where(has_edge, torch.minimum(label, incoming), label)
        # pointer jumping: follow labels to their own labels
        new = new[new]
        if torch.equal(new, label):
            return label
        label = new


def constraint_graph(
    group: SpaceGroup | int,
    cutoff: float | None = None,
    *,
    frequencies: FrequencySet | None = None,
) -> Data:
    """Build the dual constraint graph of ``group`` as a PyG :class:`~torch_geometric.data.Data`.

    Args:
        group: a :class:`SpaceGroup` or a number 1-230 (default setting).
        cutoff: ball radius ``R`` in the group's reference metric (default 5; must agree
            with the cutoff of ``frequencies`` when both are given).
        frequencies: an explicit frequency set; must be closed under the point group.

    Returns:
        ``Data`` with

        * ``freq`` ``(N, 3)`` long: the frequency of each node;
        * ``edge_index`` ``(2, E)`` long, ``E = N * n_ops``: edge ``k -> W_g^T k``
          for every node and operation ``g``;
        * ``edge_op`` ``(E,)`` long: the operation index of each edge;
        * ``edge_phase_12`` ``(E,)`` long: exact phase ``p`` with weight
          ``exp(2 pi i p / 12)``, ``p = k.(12 w) mod 12``;
        * ``edge_weight`` ``(E,)`` complex128: ``exp(2 pi i k.w)``;
        * ``orbit`` ``(N,)`` long: orbit (connected component) id, orbits numbered by
          their smallest node;
        * ``absent`` ``(N,)`` bool: frequencies forced to zero (systematic absences);
        * ``phase_12`` ``(N,)`` long: the coefficient ``c_k = exp(2 pi i p / 12)`` of
          ``k`` in its orbit's invariant function, relative to the orbit's first node
          (0 on absent orbits);
        * ``num_orbits``, ``space_group``, ``hall_number``, ``metric`` (attributes).

    Raises:
        ValueError: if the frequency set is not closed under the point group.

    Example:
        >>> from cft_pyg import constraint_graph
        >>> g = constraint_graph(227, cutoff=5)  # Fd-3m, the ball |k| <= 5
        >>> g.freq.shape, g.num_orbits
        (torch.Size([514, 3]), 26)
        >>> int(g.absent.sum())                  # forced zeros: the systematic absences
        408
    """
    group = resolve_group(group)
    fset = group_frequencies(group, cutoff, frequencies)
    with single_intra_op_thread():
        return _build_graph(group, fset)


@contextlib.contextmanager
def single_intra_op_thread() -> Iterator[None]:
    """Run the enclosed torch ops with one intra-op thread, restoring the setting after.

    The graph tensors are small (at most ~10^6 edges), so a second intra-op thread gains
    little; on a busy 2-core machine its spin-waiting made building all 230 graphs
    ~8x slower (measured 2.1 s -> 23 s at load average 11).  ``torch.set_num_threads``
    is process-wide: torch work in other Python threads also runs single-threaded
    while a graph is being built.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build_graph(group: SpaceGroup, fset: FrequencySet) -> Data:
    """The body of :func:`constraint_graph` (see there for the fields)."""
    target = fset.check_closed(group.rotations)  # (n_ops, N)
    n_ops, num_nodes = target.shape

    freq = torch.from_numpy(np.array(fset.freq))
    t12 = torch.from_numpy(np.array(group.translations_12))
    # phase p(g, k) = k . t_g mod 12, exact
    node_phase = torch.remainder(t12 @ freq.T, TRANSLATION_DENOMINATOR)  # (n_ops, N)

    src = torch.arange(num_nodes).repeat(n_ops)
    dst = torch.from_numpy(target.reshape(-1))
    edge_op = torch.arange(n_ops).repeat_interleave(num_nodes)
    edge_phase = node_phase.reshape(-1)
    edge_index = torch.stack([src, dst])

    root = connected_components(edge_index, num_nodes)
    orbit_roots, orbit = torch.unique(root, return_inverse=True)
    num_orbits = int(orbit_roots.numel())

    # (1) absences from stabilisers: k fixed by g with a nontrivial phase
    fixed_bad = (src == dst) & (edge_phase != 0)
    absent_node = torch.zeros(num_nodes, dtype=torch.bool)
    absent_node[src[fixed_bad]] = True
    absent_orbit = scatter(absent_node.long(), orbit, dim=0, dim_size=num_orbits, reduce="max")
    absent = absent_orbit[orbit].bool()

    # (2) phases propagated from each orbit's root in one step (orbits are complete graphs)
    from_root = src == root[src]
    dst_r, ph_r = dst[from_root], edge_phase[from_root]
    lo = scatter(ph_r, dst_r, dim=0, dim_size=num_nodes, reduce="min")
    hi = scatter(ph_r, dst_r, dim=0, dim_size=num_nodes, reduce="max")
    inconsistent = lo != hi
    if not torch.equal(inconsistent & ~absent, torch.zeros_like(absent)):  # pragma: no cover
        raise RuntimeError(f"phase propagation disagrees with stabiliser absences in {group}")
    phase_12 = torch.where(absent, torch.zeros_like(lo), lo)

    edge_weight = torch.polar(
        torch.ones(edge_phase.shape, dtype=torch.float64),
        edge_phase.to(torch.float64) * (2 * np.pi / TRANSLATION_DENOMINATOR),
    )
    data = Data(
        freq=freq,
        edge_index=edge_index,
        edge_op=edge_op,
        edge_phase_12=edge_phase,
        edge_weight=edge_weight,
        orbit=orbit,
        absent=absent,
        phase_12=phase_12,
        num_nodes=num_nodes,
    )
    data.num_orbits = num_orbits
    data.space_group = group.number
    data.hall_number = group.hall_number
    data.metric = fset.metric
    return data
