"""Pictures of a space group's constraint graph over reciprocal-lattice frequencies.

Nodes are the frequencies ``k`` of the group's ball (:func:`cft_pyg.constraint_graph`),
coloured by orbit (connected component); systematically absent frequencies are drawn as black
crosses; edges ``k -> W^T k`` are coloured by their exact phase ``k.w`` (in turns, a cyclic
colour map).  Three views: a 2D slice (e.g. ``l = 0``), a networkx drawing for small cutoffs
(through :func:`torch_geometric.utils.to_networkx`) and a 3D overview of the whole ball that
highlights a few of the largest orbits in distinct colours (edges in their orbit's colour).
"""

from __future__ import annotations

import colorsys
from typing import Any, Literal

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch_geometric.data import Data
from torch_geometric.utils import to_networkx

from ..symmetry import SpaceGroup, constraint_graph
from ..symmetry.frequencies import DEFAULT_CUTOFF
from ..symmetry.space_group import TRANSLATION_DENOMINATOR

__all__ = [
    "PHASE_CMAP",
    "absences_vs_gemmi",
    "constraint_graph_networkx",
    "largest_orbit_colors",
    "orbit_colors",
    "plot_constraint_graph_3d",
    "plot_constraint_graph_networkx",
    "plot_constraint_graph_slice",
    "undirected_edges",
]

PHASE_CMAP = "twilight"
"""Cyclic colour map of edge phases (0 and 1 turn get the same colour)."""

ABSENT_COLOR = (0.0, 0.0, 0.0, 1.0)
AXIS_NAMES = ("h", "k", "l")


def _group(group: SpaceGroup | int) -> SpaceGroup:
    return group if isinstance(group, SpaceGroup) else SpaceGroup(int(group))


def _graph(group: SpaceGroup, cutoff: float, graph: Data | None) -> Data:
    return constraint_graph(group, cutoff) if graph is None else graph


def orbit_colors(orbit: torch.Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """One distinct RGBA colour per orbit, the same for all nodes of an orbit.

    Hues are spread evenly over the colour wheel and assigned to orbits in a seeded random
    order (so neighbouring orbits rarely look alike); brightness alternates in three levels.
    Distinct orbits always get distinct colours, whatever their number.

    Args:
        orbit: ``(N,)`` integer orbit id of every node.
        seed: seed of the hue order.

    Returns:
        ``(N, 4)`` float RGBA colours.
    """
    orbit = np.asarray(orbit, dtype=np.int64).reshape(-1)
    ids, inverse = np.unique(orbit, return_inverse=True)
    n = ids.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    palette = np.array([
        (*colorsys.hsv_to_rgb((r + 0.5) / max(n, 1), 0.85, (0.95, 0.75, 0.55)[r % 3]), 1.0)
        for r in order
    ]).reshape(n, 4)
    return palette[inverse]


OTHER_ORBITS_COLOR = (0.78, 0.78, 0.78, 1.0)
"""Colour of the orbits left uncoloured by :func:`largest_orbit_colors` (light grey)."""


TAB10_ORDER = (0, 1, 2, 3, 4, 5, 6, 8, 9, 7)
"""Order of ``tab10``'s colours in :func:`largest_orbit_colors`: its grey (7) comes last, so
up to nine coloured orbits never look like the grey of the others."""


def largest_orbit_colors(orbit: torch.Tensor | np.ndarray, k: int = 10) -> np.ndarray:
    """Colours that tell the ``k`` largest orbits apart at a glance: matplotlib's ``tab10``
    qualitative palette (distinct hues, at most 10; its grey last, :data:`TAB10_ORDER`) for
    the largest orbits (ties: lower id first), light grey (:data:`OTHER_ORBITS_COLOR`) for
    every other orbit.

    Args:
        orbit: ``(N,)`` integer orbit id of every node.
        k: orbits to colour, 1-10.

    Returns:
        ``(N, 4)`` float RGBA colours.
    """
    if not 1 <= k <= 10:
        raise ValueError(f"k must be 1-10 (the distinct colours of tab10), got {k}")
    orbit = np.asarray(orbit, dtype=np.int64).reshape(-1)
    ids, inverse, counts = np.unique(orbit, return_inverse=True, return_counts=True)
    ranked = np.lexsort((ids, -counts))[:k]
    palette = np.tile(np.asarray(OTHER_ORBITS_COLOR), (ids.shape[0], 1))
    tab10 = np.asarray(plt.get_cmap("tab10").colors)[list(TAB10_ORDER[:len(ranked)])]
    palette[ranked] = np.concatenate([tab10, np.ones((len(ranked), 1))], axis=1)
    return palette[inverse]


def undirected_edges(graph: Data) -> tuple[np.ndarray, np.ndarray]:
    """Distinct node pairs ``i < j`` joined by an operation, with one phase per pair.

    Self-loops (stabilisers) are dropped; of the operations mapping ``i`` to ``j`` (in either
    direction), the phase of the first edge in ``edge_index`` order is kept.

    Returns:
        ``(pairs, phase_12)``: ``(M, 2)`` int64 node pairs and ``(M,)`` phases in twelfths.
    """
    src, dst = graph.edge_index.numpy()
    phase = graph.edge_phase_12.numpy()
    keep = src < dst
    pairs = np.stack([src[keep], dst[keep]], axis=1)
    if pairs.shape[0] == 0:
        return pairs.reshape(0, 2), np.zeros(0, dtype=np.int64)
    _, first = np.unique(pairs, axis=0, return_index=True)
    first = np.sort(first)
    return pairs[first], phase[keep][first]


def _subsample(n: int, max_edges: int | None, seed: int) -> np.ndarray:
    if max_edges is None or n <= max_edges:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_edges, replace=False))


def _title(group: SpaceGroup, cutoff: float | None, extra: str = "") -> str:
    r = "" if cutoff is None else f", R = {cutoff:g}"
    return f"{group.number} {group.hermann_mauguin}{r}{extra}"


def plot_constraint_graph_3d(
    group: SpaceGroup | int,
    cutoff: float = 2.5,
    *,
    graph: Data | None = None,
    show_edges: bool = True,
    max_edges: int | None = 3000,
    seed: int = 0,
    ax: Any | None = None,
    colored_orbits: int | None = 8,
    edge_color: Literal["orbit", "phase"] = "orbit",
) -> Figure:
    """3D overview of a constraint graph: a few orbits highlighted, absences as crosses.

    Read the slice and network views first (:func:`plot_constraint_graph_slice`,
    :func:`plot_constraint_graph_networkx`); this view shows the whole ball at once.  By
    default it highlights the ``colored_orbits`` largest orbits of consistent frequencies
    (orbits of one frequency are never highlighted), each in one distinct colour, with the
    edges from one of its frequencies to the others in that colour (an orbit is a clique: any
    two of its frequencies are related by an operation, so all its edges would be a tangle);
    every other consistent frequency is a light grey dot, and the edges of the other orbits
    (absences included) are left out.

    Args:
        group: a :class:`~cft_pyg.SpaceGroup` or number 1-230 (default setting).
        cutoff: radius of the frequency ball (ignored when ``graph`` is given).
        graph: a precomputed :func:`~cft_pyg.constraint_graph` of ``group``.
        show_edges: draw the edges ``k -> W^T k`` (one per node pair).
        max_edges: draw at most this many edges (a seeded random subset; ``None``: all);
            the title says when edges were left out.
        seed: seed of the orbit colours (``colored_orbits=None``) and of the edge subset.
        ax: a 3D axes to draw into (default: a new figure).
        colored_orbits: highlight this many (1-10) of the largest orbits with more than one
            frequency (:func:`largest_orbit_colors`; the others grey, their edges not drawn);
            ``None``: one colour per orbit (:func:`orbit_colors`, hard to tell apart beyond
            ten or so) and every edge (one per node pair).
        edge_color: ``"orbit"``: an edge takes the colour of its orbit; ``"phase"``: its
            phase ``k.w`` in turns on the cyclic :data:`PHASE_CMAP`, with a colour bar.

    Returns:
        The figure.  Its artists carry gids: ``'nodes'`` (consistent frequencies),
        ``'absent'`` (systematic absences) and ``'edges'``.
    """
    from matplotlib.lines import Line2D
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    if edge_color not in ("orbit", "phase"):
        raise ValueError(f"edge_color must be 'orbit' or 'phase', got {edge_color!r}")
    group = _group(group)
    shown_cutoff = cutoff if graph is None else None
    graph = _graph(group, cutoff, graph)
    if ax is None:
        fig = plt.figure(figsize=(6.5, 5.5))
        ax = fig.add_subplot(projection="3d")
    fig = ax.get_figure()
    freq = graph.freq.numpy().astype(float)
    absent = graph.absent.numpy()
    orbit = graph.orbit.numpy()
    n_orbits = len(np.unique(orbit[~absent]))
    if colored_orbits is None:
        colors = orbit_colors(orbit, seed)
        colors[absent] = ABSENT_COLOR
        highlighted = np.ones(orbit.shape[0], dtype=bool)
    else:
        colors = np.tile(np.asarray(OTHER_ORBITS_COLOR), (orbit.shape[0], 1))
        ids, counts = np.unique(orbit[~absent], return_counts=True)
        shared = np.isin(orbit, ids[counts > 1]) & ~absent
        if shared.any():
            colors[shared] = largest_orbit_colors(orbit[shared], min(colored_orbits, 10))
        highlighted = shared & np.any(colors != np.asarray(OTHER_ORBITS_COLOR), axis=1)
    n_highlighted = len(np.unique(orbit[highlighted & ~absent]))
    extra = ""
    pairs, phase = undirected_edges(graph)
    if show_edges and colored_orbits is not None:
        # an orbit is a clique (any two of its frequencies are related by an operation):
        # draw only the star from its first frequency, k0 -> W^T k0
        first = np.zeros(orbit.shape[0], dtype=bool)
        first[np.unique(orbit, return_index=True)[1]] = True
        ends = first[pairs[:, 0]] | first[pairs[:, 1]]
        keep = highlighted[pairs[:, 0]] & highlighted[pairs[:, 1]] & ends
        pairs, phase = pairs[keep], phase[keep]
    if show_edges and pairs.shape[0]:
        idx = _subsample(pairs.shape[0], max_edges, seed)
        if idx.shape[0] < pairs.shape[0]:
            extra = f" ({idx.shape[0]} of {pairs.shape[0]} edges)"
        segments = np.stack([freq[pairs[idx, 0]], freq[pairs[idx, 1]]], axis=1)
        if edge_color == "phase":
            lines = Line3DCollection(segments, cmap=PHASE_CMAP, norm=Normalize(0, 1),
                                     linewidths=0.8, alpha=0.6)
            lines.set_array(phase[idx] / TRANSLATION_DENOMINATOR)
            fig.colorbar(lines, ax=ax, shrink=0.6, pad=0.1, label="edge phase k.w (turns)")
        else:
            lines = Line3DCollection(segments, colors=colors[pairs[idx, 0]], linewidths=0.9,
                                     alpha=0.55)
        lines.set_gid("edges")
        ax.add_collection3d(lines)
    sc = ax.scatter(*freq[~absent].T, c=colors[~absent], s=18, depthshade=False,
                    edgecolors="k", linewidths=0.2)
    sc.set_gid("nodes")
    sa = ax.scatter(*freq[absent].T, c=[ABSENT_COLOR], marker="x", s=18, depthshade=False)
    sa.set_gid("absent")
    if colored_orbits is None:
        what = f"{int((~absent).sum())} frequencies, {n_orbits} orbits (one colour each)"
    elif n_highlighted:
        which = "all" if n_highlighted == n_orbits else f"the {n_highlighted} largest"
        what = (f"{int((~absent).sum())} frequencies, {n_orbits} "
                f"orbit{'s' * (n_orbits != 1)} ({which} in colour)")
    else:
        what = f"{int((~absent).sum())} frequencies, each its own orbit"
    handles = [Line2D([], [], ls="", marker="o", mfc=OTHER_ORBITS_COLOR, mec="k", mew=0.3,
                      label=what),
               Line2D([], [], ls="", marker="x", color="k",
                      label=f"{int(absent.sum())} systematic absences")]
    ax.set_xlabel("h")
    ax.set_ylabel("k")
    ax.set_zlabel("l")
    ax.set_title(_title(group, shown_cutoff, extra))
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    return fig


def plot_constraint_graph_slice(
    group: SpaceGroup | int,
    cutoff: float = DEFAULT_CUTOFF,
    *,
    axis: int = 2,
    value: int = 0,
    graph: Data | None = None,
    show_edges: bool = True,
    annotate_orbits: bool = False,
    seed: int = 0,
    ax: Any | None = None,
) -> Figure:
    """The frequencies of one lattice plane (default ``l = 0``) with their in-plane edges.

    Args:
        group: a :class:`~cft_pyg.SpaceGroup` or number 1-230.
        cutoff: radius of the frequency ball (ignored when ``graph`` is given).
        axis: the fixed Miller index (0: ``h``, 1: ``k``, 2: ``l``).
        value: its value.
        graph: a precomputed constraint graph of ``group``.
        show_edges: draw edges between two nodes of the slice, coloured by phase.
        annotate_orbits: write each node's orbit id next to it.
        seed: seed of the orbit colours.
        ax: 2D axes to draw into (default: a new figure).

    Returns:
        The figure; artists with gids ``'nodes'``, ``'absent'`` and ``'edges'`` as in
        :func:`plot_constraint_graph_3d` (only the slice's nodes).
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    group = _group(group)
    shown_cutoff = cutoff if graph is None else None
    graph = _graph(group, cutoff, graph)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 5.2))
    fig = ax.get_figure()
    freq = graph.freq.numpy()
    in_slice = freq[:, axis] == value
    other = [a for a in range(3) if a != axis]
    xy = freq[:, other].astype(float)
    absent = graph.absent.numpy()
    colors = orbit_colors(graph.orbit.numpy(), seed)
    pairs, phase = undirected_edges(graph)
    both = in_slice[pairs[:, 0]] & in_slice[pairs[:, 1]]
    if show_edges and both.any():
        segments = np.stack([xy[pairs[both, 0]], xy[pairs[both, 1]]], axis=1)
        lines = LineCollection(segments, cmap=PHASE_CMAP, norm=Normalize(0, 1),
                               linewidths=0.6, alpha=0.5, zorder=1)
        lines.set_array(phase[both] / TRANSLATION_DENOMINATOR)
        lines.set_gid("edges")
        ax.add_collection(lines)
        fig.colorbar(lines, ax=ax, label="edge phase k.w (turns)")
    present = in_slice & ~absent
    sc = ax.scatter(*xy[present].T, c=colors[present], s=40, edgecolors="k",
                    linewidths=0.3, zorder=2, label="consistent frequencies")
    sc.set_gid("nodes")
    gone = in_slice & absent
    sa = ax.scatter(*xy[gone].T, c=[ABSENT_COLOR], marker="x", s=40, zorder=3,
                    label="systematic absences")
    sa.set_gid("absent")
    if annotate_orbits:
        for i in np.flatnonzero(in_slice):
            ax.annotate(str(int(graph.orbit[i])), xy[i], fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_aspect("equal")
    ax.set_xlabel(AXIS_NAMES[other[0]])
    ax.set_ylabel(AXIS_NAMES[other[1]])
    ax.set_title(_title(group, shown_cutoff,
                        f", slice {AXIS_NAMES[axis]} = {value}"))
    ax.legend(loc="upper right", fontsize=7)
    return fig


def constraint_graph_networkx(
    group: SpaceGroup | int, cutoff: float = 1.5, *, graph: Data | None = None
) -> nx.Graph:
    """The constraint graph as an undirected :class:`networkx.Graph` (no self-loops).

    Built with :func:`torch_geometric.utils.to_networkx`; nodes carry ``orbit``, ``absent``
    and ``freq`` (a ``(h, k, l)`` tuple), edges ``edge_phase_12`` and ``edge_op``.  Its
    connected components are exactly the orbits.
    """
    group = _group(group)
    graph = _graph(group, cutoff, graph)
    data = Data(edge_index=graph.edge_index, orbit=graph.orbit, absent=graph.absent,
                edge_phase_12=graph.edge_phase_12, edge_op=graph.edge_op,
                num_nodes=graph.num_nodes)
    g = to_networkx(data, node_attrs=["orbit", "absent"],
                    edge_attrs=["edge_phase_12", "edge_op"], to_undirected=True,
                    remove_self_loops=True)
    for i, k in enumerate(graph.freq.tolist()):
        g.nodes[i]["freq"] = tuple(k)
    return g


def plot_constraint_graph_networkx(
    group: SpaceGroup | int,
    cutoff: float = 1.5,
    *,
    graph: Data | None = None,
    labels: bool | None = None,
    seed: int = 0,
    ax: Any | None = None,
) -> Figure:
    """networkx drawing of a small constraint graph: one cluster per orbit.

    Args:
        group: a :class:`~cft_pyg.SpaceGroup` or number 1-230.
        cutoff: radius of the frequency ball; keep it small (``<= 2``: tens of nodes).
        graph: a precomputed constraint graph of ``group``.
        labels: write ``hkl`` on the nodes (default: when there are at most 60 nodes).
        seed: seed of the spring layout and of the colours.
        ax: axes to draw into.

    Returns:
        The figure; node collections with gids ``'nodes'`` and ``'absent'``, edges
        ``'edges'``.
    """
    group = _group(group)
    shown_cutoff = cutoff if graph is None else None
    graph = _graph(group, cutoff, graph)
    g = constraint_graph_networkx(group, cutoff, graph=graph)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 6.0))
    fig = ax.get_figure()
    pos = nx.spring_layout(g, seed=seed, k=1.5 / max(np.sqrt(g.number_of_nodes()), 1.0))
    colors = orbit_colors(graph.orbit.numpy(), seed)
    absent = graph.absent.numpy()
    nodes = [i for i in g.nodes if not absent[i]]
    gone = [i for i in g.nodes if absent[i]]
    edges = list(g.edges)
    phases = [g.edges[e]["edge_phase_12"] / TRANSLATION_DENOMINATOR for e in edges]
    if edges:
        ec = nx.draw_networkx_edges(g, pos, edgelist=edges, edge_color=phases,
                                    edge_cmap=plt.get_cmap(PHASE_CMAP), edge_vmin=0,
                                    edge_vmax=1, width=1.0, alpha=0.7, ax=ax)
        if hasattr(ec, "set_gid"):
            ec.set_gid("edges")
    nc = nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=colors[nodes], node_size=120,
                                edgecolors="k", linewidths=0.4, ax=ax)
    nc.set_gid("nodes")
    if gone:
        na = nx.draw_networkx_nodes(g, pos, nodelist=gone, node_color=[ABSENT_COLOR],
                                    node_shape="X", node_size=90, ax=ax)
        na.set_gid("absent")
    if labels if labels is not None else g.number_of_nodes() <= 60:
        nx.draw_networkx_labels(g, pos, labels={i: "".join(map(str, g.nodes[i]["freq"]))
                                                for i in g.nodes}, font_size=6, ax=ax)
    sm = plt.cm.ScalarMappable(cmap=PHASE_CMAP, norm=Normalize(0, 1))
    fig.colorbar(sm, ax=ax, shrink=0.7, label="edge phase k.w (turns)")
    ax.set_title(_title(group, shown_cutoff, f": {len(nodes)} nodes in "
                        f"{len(set(graph.orbit[nodes].tolist()))} orbits, {len(gone)} absent"))
    ax.set_axis_off()
    return fig


def absences_vs_gemmi(group: SpaceGroup | int, cutoff: float = DEFAULT_CUTOFF,
                      *, graph: Data | None = None) -> pd.DataFrame:
    """Systematic absences of the constraint graph next to gemmi's, one row per frequency.

    gemmi (an independent crystallographic library, in the ``dev`` extra) parses the group's
    Hall symbol and applies its own absence rule (``GroupOps.is_systematically_absent``).

    Returns:
        Columns ``h``, ``k``, ``l``, ``orbit``, ``absent_cft``, ``absent_gemmi``, ``agree``.

    Raises:
        ImportError: gemmi is not installed.
    """
    import gemmi

    group = _group(group)
    graph = _graph(group, cutoff, graph)
    ops = gemmi.symops_from_hall(group.hall_symbol)
    freq = graph.freq.numpy()
    ref = np.array([ops.is_systematically_absent(k) for k in freq.tolist()], dtype=bool)
    ours = graph.absent.numpy().astype(bool)
    return pd.DataFrame({"h": freq[:, 0], "k": freq[:, 1], "l": freq[:, 2],
                         "orbit": graph.orbit.numpy(), "absent_cft": ours,
                         "absent_gemmi": ref, "agree": ours == ref})
