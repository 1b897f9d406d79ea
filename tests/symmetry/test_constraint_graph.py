"""The dual constraint graph: absences against gemmi, fields, orbits, networkx."""

from __future__ import annotations

import gemmi
import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.utils import to_networkx

from cft_pyg import SpaceGroup, constraint_graph
from cft_pyg.symmetry import connected_components

from .reference import gemmi_absent, gemmi_default_ops, gemmi_operations

ALL_NUMBERS = range(1, 231)


def test_absences_equal_gemmi_for_all_230_groups_at_r5() -> None:
    """Forced zeros == gemmi's systematic absences, every frequency of every group."""
    wrong = {}
    total_absent = 0
    for number in ALL_NUMBERS:
        graph = constraint_graph(number, 5.0)
        ref = gemmi_absent(gemmi_default_ops(number), graph.freq.numpy())
        ours = graph.absent.numpy()
        total_absent += int(ours.sum())
        if not np.array_equal(ref, ours):
            wrong[number] = int((ref != ours).sum())
    assert wrong == {}
    assert total_absent > 0  # the comparison is not vacuous


def test_absences_equal_gemmi_for_all_530_hall_settings_at_r3() -> None:
    """Every Hall setting, with gemmi's own parse of the Hall symbol as reference.

    gemmi's operations are first checked to be the same set as spglib's, so both
    describe the same setting (no assumption about gemmi's setting conventions).
    """
    wrong = []
    for hall in range(1, 531):
        group = SpaceGroup.from_hall(hall)
        ops = gemmi.symops_from_hall(group.hall_symbol)
        W, t24 = gemmi_operations(ops)
        ref_set = {
            tuple(r) + tuple(t)
            for r, t in zip(W.reshape(-1, 9).tolist(), t24.tolist(), strict=True)
        }
        ours_set = {
            tuple(r) + tuple(t)
            for r, t in zip(
                group.rotations.reshape(-1, 9).tolist(),
                (2 * group.translations_12).tolist(),
                strict=True,
            )
        }
        assert ref_set == ours_set, f"gemmi and spglib disagree on Hall setting {hall}"
        graph = constraint_graph(group, 3.0)
        if not np.array_equal(gemmi_absent(ops, graph.freq.numpy()), graph.absent.numpy()):
            wrong.append(hall)
    assert wrong == []


@pytest.mark.parametrize("number", [1, 2, 14, 62, 70, 148, 166, 186, 194, 225, 227, 230])
def test_fields_are_consistent(number: int) -> None:
    group = SpaceGroup(number)
    graph = constraint_graph(group, 5.0)
    N, n_ops = graph.num_nodes, group.num_operations
    freq = graph.freq
    assert freq.dtype == torch.long and freq.shape == (N, 3)
    assert graph.edge_index.dtype == torch.long and graph.edge_index.shape == (2, N * n_ops)
    assert graph.edge_weight.dtype == torch.complex128
    assert graph.edge_phase_12.dtype == torch.long
    assert graph.orbit.shape == (N,) and graph.absent.dtype == torch.bool
    # every edge is k -> W_g^T k with weight exp(2 pi i k.w_g), recomputed here in floats
    src, dst = graph.edge_index
    W = torch.from_numpy(group.rotations.copy())[graph.edge_op]
    np.testing.assert_array_equal(
        torch.einsum("eji,ej->ei", W, freq[src]).numpy(), freq[dst].numpy()
    )
    w = torch.from_numpy(group.translations)[graph.edge_op]
    expected = torch.exp(2j * torch.pi * (freq[src].double() * w).sum(-1))
    torch.testing.assert_close(graph.edge_weight, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(
        graph.edge_weight,
        torch.exp(2j * torch.pi * graph.edge_phase_12.double() / 12),
        atol=1e-12,
        rtol=0,
    )
    assert graph.edge_phase_12.min() >= 0 and graph.edge_phase_12.max() < 12
    # each operation appears once per node
    assert torch.equal(
        torch.bincount(graph.edge_op, minlength=n_ops), torch.full((n_ops,), N, dtype=torch.long)
    )
    # orbits are numbered by their smallest node, and absences are unions of orbits
    orbit = graph.orbit
    assert int(orbit.max()) + 1 == graph.num_orbits
    first = torch.full((graph.num_orbits,), N).scatter_reduce(0, orbit, torch.arange(N), "amin")
    assert torch.equal(first, torch.sort(first).values)
    for o in range(graph.num_orbits):
        members = graph.absent[orbit == o]
        assert bool(members.all()) or not bool(members.any())
    # orbit sizes divide the point-group order
    sizes = torch.bincount(orbit)
    assert bool((group.point_group_order % sizes == 0).all())


def test_edge_count_for_all_groups() -> None:
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        graph = constraint_graph(group, 3.0)
        assert graph.edge_index.shape[1] == graph.num_nodes * group.num_operations, number


@pytest.mark.parametrize(("number", "cutoff"), [(1, 3.0), (14, 5.0), (166, 5.0), (227, 3.0)])
def test_networkx_components_equal_orbits(number: int, cutoff: float) -> None:
    graph = constraint_graph(number, cutoff)
    G = to_networkx(graph, edge_attrs=["edge_weight", "edge_phase_12"], to_undirected=False)
    assert G.number_of_nodes() == graph.num_nodes
    # parallel edges of different operations collapse in a DiGraph; attributes survive
    src, dst = graph.edge_index
    for e in (0, graph.num_edges // 2, graph.num_edges - 1):
        u, v = int(src[e]), int(dst[e])
        phases = set(graph.edge_phase_12[(src == u) & (dst == v)].tolist())
        assert G.edges[u, v]["edge_phase_12"] in phases
        assert abs(G.edges[u, v]["edge_weight"]) == pytest.approx(1.0)
    components = list(nx.weakly_connected_components(G))
    assert len(components) == graph.num_orbits
    orbit = graph.orbit.numpy()
    for comp in components:
        labels = {int(orbit[i]) for i in comp}
        assert len(labels) == 1
        assert int(np.sum(orbit == labels.pop())) == len(comp)


def test_orbits_equal_independent_point_group_orbits() -> None:
    """Orbit partition == sets {W^T k : W in P}, computed with plain numpy, every group."""
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        graph = constraint_graph(group, 4.0)
        freq = graph.freq.numpy()
        images = np.einsum("gji,nj->ngi", group.rotations, freq)  # (N, n_ops, 3)
        canon = images.reshape(len(freq), -1, 3)
        # canonical representative of each orbit: lexicographically largest image
        key = canon[..., 0] * 10_000 + canon[..., 1] * 100 + canon[..., 2]
        rep = key.max(axis=1)
        _, ref = np.unique(rep, return_inverse=True)
        ours = graph.orbit.numpy()
        # same partition: a bijection between labels
        pairs = np.unique(np.stack([ref, ours]), axis=1)
        assert pairs.shape[1] == ref.max() + 1 == ours.max() + 1, number


def test_connected_components_generic_graph() -> None:
    # two paths and an isolated node, given in scrambled order
    edge_index = torch.tensor([[5, 1, 3, 0], [4, 2, 2, 1]])
    labels = connected_components(edge_index, 7)
    assert labels.tolist() == [0, 0, 0, 0, 4, 4, 6]


def test_metadata() -> None:
    graph = constraint_graph(166, 5.0)
    assert graph.space_group == 166 and graph.hall_number == 458
    assert graph.metric == "hexagonal" and graph.num_nodes == 418
    rhombohedral_axes = constraint_graph(SpaceGroup.from_hall(459), 5.0)
    assert rhombohedral_axes.metric == "identity" and rhombohedral_axes.num_nodes == 514


@pytest.mark.parametrize("number", [0, 231])
def test_bad_group(number: int) -> None:
    with pytest.raises(ValueError, match="space-group number"):
        constraint_graph(number, 5.0)
