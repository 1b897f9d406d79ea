"""Constraint-graph figures: the right nodes, colours per orbit, absences and edge phases."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pytest

from cft_pyg import SpaceGroup, constraint_graph
from cft_pyg.viz import (
    absences_vs_gemmi,
    constraint_graph_networkx,
    largest_orbit_colors,
    orbit_colors,
    plot_constraint_graph_3d,
    plot_constraint_graph_networkx,
    plot_constraint_graph_slice,
)
from cft_pyg.viz.graphs import OTHER_ORBITS_COLOR, undirected_edges


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _by_gid(fig, gid):
    found = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) <= 1, f"several artists with gid {gid}"
    return found[0] if found else None


def _offsets3d(coll) -> np.ndarray:
    return np.stack([np.asarray(c, dtype=float) for c in coll._offsets3d], axis=1)


def test_orbit_colors_one_distinct_colour_per_orbit():
    orbit = np.random.default_rng(0).integers(0, 600, size=3000)
    colors = orbit_colors(orbit)
    assert colors.shape == (3000, 4)
    for o in np.unique(orbit)[:50]:
        assert np.unique(colors[orbit == o], axis=0).shape[0] == 1
    assert np.unique(colors, axis=0).shape[0] == np.unique(orbit).shape[0]


@pytest.mark.parametrize("number", [14, 227])
def test_3d_view_plots_every_frequency_once_with_absences_marked(number):
    graph = constraint_graph(number, 3.0)
    fig = plot_constraint_graph_3d(number, graph=graph, max_edges=None, colored_orbits=None,
                                   edge_color="phase")
    nodes, absent = _by_gid(fig, "nodes"), _by_gid(fig, "absent")
    freq = graph.freq.numpy()
    mask = graph.absent.numpy()
    assert mask.any()  # both groups have absences at R = 3
    got_nodes, got_absent = _offsets3d(nodes), _offsets3d(absent)
    assert got_nodes.shape[0] == int((~mask).sum())
    assert got_absent.shape[0] == int(mask.sum())
    np.testing.assert_array_equal(got_nodes, freq[~mask])
    np.testing.assert_array_equal(got_absent, freq[mask])
    # colours: the orbit colours of the plotted nodes (3D scatter sorts them by depth)
    fig.canvas.draw()
    fc = np.asarray(nodes.get_facecolors())
    expected = orbit_colors(graph.orbit.numpy())[~mask]
    assert fc.shape == expected.shape
    np.testing.assert_allclose(np.unique(fc, axis=0), np.unique(expected, axis=0))
    assert np.unique(fc, axis=0).shape[0] == len(np.unique(graph.orbit.numpy()[~mask]))
    # edges: one segment per distinct pair, coloured by phase / 12
    edges = _by_gid(fig, "edges")
    pairs, phase = undirected_edges(graph)
    assert len(edges._segments3d) == pairs.shape[0] > 0
    np.testing.assert_allclose(edges.get_array(), phase / 12)


def test_3d_view_colours_the_largest_orbits_distinctly():
    """Default 3D view: the 8 largest orbits in 8 distinct tab10 colours, the others grey."""
    graph = constraint_graph(14, 3.0)
    fig = plot_constraint_graph_3d(14, graph=graph)
    fig.canvas.draw()
    fc = np.unique(np.asarray(_by_gid(fig, "nodes").get_facecolors()), axis=0)
    orbit = graph.orbit.numpy()[~graph.absent.numpy()]
    assert len(np.unique(orbit)) > 9
    assert fc.shape[0] == 9  # 8 colours and grey
    expected = largest_orbit_colors(orbit, 8)
    np.testing.assert_allclose(np.unique(expected, axis=0), fc)
    ids, counts = np.unique(orbit, return_counts=True)
    biggest = ids[np.argmax(counts)]
    assert tuple(expected[orbit == biggest][0]) != OTHER_ORBITS_COLOR
    with pytest.raises(ValueError, match="1-10"):
        largest_orbit_colors(orbit, 11)


def test_3d_view_draws_a_star_per_coloured_orbit_in_its_colour():
    """Default 3D view: edges only inside the coloured orbits, one star per orbit (its first
    frequency to each other one), each edge in its orbit's colour; grey orbits and absences
    get none; tab10's own grey is never one of the first nine colours."""
    graph = constraint_graph(194, 2.5)
    fig = plot_constraint_graph_3d(194, graph=graph, max_edges=None)
    orbit, absent = graph.orbit.numpy(), graph.absent.numpy()
    freq = graph.freq.numpy().astype(float)
    node_of = {tuple(k): i for i, k in enumerate(freq)}
    edges = _by_gid(fig, "edges")
    shown = [o for o in np.unique(orbit[~absent]) if (orbit[~absent] == o).sum() > 1]
    sizes = {o: int((orbit == o).sum()) for o in shown}
    assert len(edges._segments3d) == sum(n - 1 for n in sizes.values())
    colors = largest_orbit_colors(orbit[~absent], 8)
    color_of = {o: tuple(colors[orbit[~absent] == o][0]) for o in shown}
    centres = {}
    for seg, rgba in zip(edges._segments3d, edges.get_colors()):
        a, b = node_of[tuple(seg[0])], node_of[tuple(seg[1])]
        assert orbit[a] == orbit[b] and not absent[a] and not absent[b]
        np.testing.assert_allclose(rgba[:3], color_of[orbit[a]][:3])
        centres.setdefault(orbit[a], []).append({a, b})
    assert sorted(centres) == sorted(shown)
    for o, star in centres.items():  # n - 1 edges through one frequency reach all n
        assert set.intersection(*star) and len(set.union(*star)) == sizes[o]
    grey = np.asarray(plt.get_cmap("tab10").colors)[7]
    many = np.arange(30).repeat(np.arange(30, 0, -1))
    assert not np.isclose(largest_orbit_colors(many, 9)[:, :3], grey).all(axis=1).any()
    with pytest.raises(ValueError, match="edge_color"):
        plot_constraint_graph_3d(194, graph=graph, edge_color="rainbow")


def test_3d_view_of_p1_has_no_absences_and_no_edges():
    fig = plot_constraint_graph_3d(1, 2.0)
    assert _offsets3d(_by_gid(fig, "absent")).shape[0] == 0
    assert _by_gid(fig, "edges") is None
    assert _offsets3d(_by_gid(fig, "nodes")).shape[0] == len(constraint_graph(1, 2.0).freq)


def test_edge_subsample_is_reported_in_title():
    fig = plot_constraint_graph_3d(227, 3.0, max_edges=10)
    assert len(_by_gid(fig, "edges")._segments3d) == 10
    assert "10 of" in fig.axes[0].get_title()


def test_slice_of_p21c_marks_the_0k0_screw_absences():
    # P2_1/c (unique axis b): 0k0 with k odd is absent; in the plane l = 0 nothing else is.
    fig = plot_constraint_graph_slice(14, 5.0, axis=2, value=0)
    absent = _by_gid(fig, "absent").get_offsets()
    assert absent.shape[0] > 0
    assert np.all(absent[:, 0] == 0) and np.all(absent[:, 1] % 2 == 1)
    graph = constraint_graph(14, 5.0)
    freq = graph.freq.numpy()
    in_plane = (freq[:, 2] == 0) & ~graph.absent.numpy()
    coll = _by_gid(fig, "nodes")
    nodes = coll.get_offsets()
    assert nodes.shape[0] == int(in_plane.sum())
    np.testing.assert_array_equal(np.asarray(nodes), freq[in_plane][:, :2])
    # nodes of one orbit share a colour, different orbits differ
    fc = np.asarray(coll.get_facecolors())
    orbit = graph.orbit.numpy()[in_plane]
    for o in np.unique(orbit):
        assert np.unique(fc[orbit == o], axis=0).shape[0] == 1
    assert np.unique(fc, axis=0).shape[0] == np.unique(orbit).shape[0]


def test_slice_rejects_bad_axis():
    with pytest.raises(ValueError, match="axis"):
        plot_constraint_graph_slice(14, 2.0, axis=3)


def test_networkx_graph_components_are_the_orbits():
    graph = constraint_graph(227, 2.0)
    g = constraint_graph_networkx(227, graph=graph)
    assert g.number_of_nodes() == graph.num_nodes
    assert nx.number_of_selfloops(g) == 0
    assert nx.number_connected_components(g) == len(np.unique(graph.orbit.numpy()))
    for comp in nx.connected_components(g):
        assert len({g.nodes[i]["orbit"] for i in comp}) == 1
    assert all(0 <= d["edge_phase_12"] < 12 for _, _, d in g.edges(data=True))


def test_networkx_drawing_separates_absent_nodes():
    graph = constraint_graph(227, 2.0)
    fig = plot_constraint_graph_networkx(227, graph=graph)
    mask = graph.absent.numpy()
    assert len(_by_gid(fig, "nodes").get_offsets()) == int((~mask).sum())
    assert len(_by_gid(fig, "absent").get_offsets()) == int(mask.sum())


@pytest.mark.parametrize("number", [14, 194, 227])
def test_absences_agree_with_gemmi(number):
    pytest.importorskip("gemmi", reason="gemmi (dev extra) is the independent reference")
    df = absences_vs_gemmi(number, 4.0)
    assert df["absent_gemmi"].any() and df["agree"].all()


def test_absence_comparison_detects_a_wrong_graph():
    pytest.importorskip("gemmi", reason="gemmi (dev extra) is the independent reference")
    # the graph of P1 (same cubic ball, nothing absent) against Fd-3m's rules must disagree
    df = absences_vs_gemmi(SpaceGroup(227), graph=constraint_graph(1, 3.0))
    assert not df["agree"].all()
