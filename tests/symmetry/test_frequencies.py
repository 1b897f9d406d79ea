"""Frequency sets: sizes, ordering, closure under every point group, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cft_pyg import FrequencySet, SpaceGroup, ball_frequencies, constraint_graph
from cft_pyg.symmetry import reference_metric
from cft_pyg.symmetry.constraint_graph import setting_metric

# reciprocal metrics written out independently of the package
_G_STAR = {
    "identity": np.eye(3),
    "hexagonal": np.array([[4 / 3, 2 / 3, 0], [2 / 3, 4 / 3, 0], [0, 0, 1.0]]),
}


def _brute_force_ball(cutoff: float, metric: str) -> set[tuple[int, int, int]]:
    span = int(2 * cutoff) + 1
    out = set()
    for k in itertools.product(range(-span, span + 1), repeat=3):
        v = np.array(k, dtype=float)
        n2 = v @ _G_STAR[metric] @ v
        if 0 < n2 <= cutoff**2 + 1e-9:
            out.add(k)
    return out


@pytest.mark.parametrize(("metric", "size"), [("identity", 514), ("hexagonal", 418)])
def test_ball_sizes_at_r5(metric: str, size: int) -> None:
    fset = ball_frequencies(5.0, metric)
    assert len(fset) == size
    assert {tuple(k) for k in fset.freq.tolist()} == _brute_force_ball(5.0, metric)


@pytest.mark.parametrize("cutoff", [1.0, 2.5, 3.0, math.sqrt(2), 4.0])
@pytest.mark.parametrize("metric", ["identity", "hexagonal"])
def test_ball_matches_brute_force(cutoff: float, metric: str) -> None:
    fset = ball_frequencies(cutoff, metric)
    assert {tuple(k) for k in fset.freq.tolist()} == _brute_force_ball(cutoff, metric)


def test_order_is_by_norm_then_lexicographic_and_index_of_inverts() -> None:
    fset = ball_frequencies(5.0, "hexagonal")
    norm = fset.norm
    assert np.all(np.diff(norm) >= -1e-12)
    np.testing.assert_allclose(
        norm**2, np.einsum("ni,ij,nj->n", fset.freq, _G_STAR["hexagonal"], fset.freq)
    )
    np.testing.assert_array_equal(fset.index_of(fset.freq), np.arange(len(fset)))
    assert fset.index_of(np.array([0, 0, 0])) == -1
    assert fset.index_of(np.array([99, 0, 0])) == -1
    # the same set given in another order is the same ordered set
    shuffled = FrequencySet(fset.freq[::-1].copy(), metric="hexagonal")
    np.testing.assert_array_equal(shuffled.freq, fset.freq)


def test_default_ball_closed_for_all_groups_and_all_hall_settings() -> None:
    for number in range(1, 231):
        group = SpaceGroup(number)
        assert setting_metric(group) == reference_metric(number)
        ball_frequencies(4.0, reference_metric(number)).check_closed(group.rotations)
    for hall in range(1, 531):
        group = SpaceGroup.from_hall(hall)
        ball_frequencies(3.0, setting_metric(group)).check_closed(group.rotations)


def _cube(K: int) -> np.ndarray:
    axis = np.arange(-K, K + 1)
    cube = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    return cube[np.any(cube != 0, axis=1)]


def test_cube_is_closed_exactly_outside_the_hexagonal_family() -> None:
    cube = FrequencySet(_cube(3), metric="identity")
    closed = []
    for number in range(1, 231):
        try:
            cube.check_closed(SpaceGroup(number).rotations)
            closed.append(number)
        except ValueError:
            pass
    assert len(closed) == 178
    assert not set(closed) & set(range(143, 195))


def test_unclosed_set_raises_clear_error() -> None:
    cube = FrequencySet(_cube(5), metric="hexagonal")
    with pytest.raises(ValueError, match="not closed under the point group"):
        constraint_graph(143, frequencies=cube, cutoff=None)
    with pytest.raises(ValueError, match="not closed under the point group"):
        constraint_graph(SpaceGroup(143), None, frequencies=cube)
    # a hexagonal prism is closed for P3, the cube is fine for a cubic group
    K = 3
    prism = _cube(K)
    prism = prism[np.abs(prism[:, 0] + prism[:, 1]) <= K]
    graph = constraint_graph(143, None, frequencies=FrequencySet(prism, metric="hexagonal"))
    assert graph.num_nodes == len(prism)
    constraint_graph(225, None, frequencies=FrequencySet(_cube(K)))


@pytest.mark.parametrize("cutoff", [0, 0.0, -1.0, float("nan"), float("inf"), -math.inf])
def test_bad_cutoff(cutoff: float) -> None:
    with pytest.raises(ValueError, match="cutoff must be a positive"):
        ball_frequencies(cutoff)
    with pytest.raises(ValueError, match="cutoff must be a positive"):
        constraint_graph(1, cutoff)


@pytest.mark.parametrize("cutoff", ["5", None, True, [5.0]])
def test_non_numeric_cutoff(cutoff: object) -> None:
    with pytest.raises(ValueError, match="cutoff must be a positive number"):
        ball_frequencies(cutoff)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("freq", "message"),
    [
        (np.zeros((0, 3), dtype=int), "must not be empty"),
        (np.array([[1, 0], [0, 1]]), r"shape \(N, 3\)"),
        (np.array([[1, 0, 0], [0, 0, 0]]), "zero frequency"),
        (np.array([[1, 0, 0], [1, 0, 0]]), "duplicate"),
        (np.array([[0.5, 0, 0]]), "integer"),
        (np.array([[np.nan, 0, 0]]), "integer"),
    ],
)
def test_bad_frequency_sets(freq: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrequencySet(freq)


def test_unknown_metric() -> None:
    with pytest.raises(ValueError, match="unknown reference metric"):
        ball_frequencies(2.0, "cubic")
    with pytest.raises(ValueError, match="unknown reference metric"):
        FrequencySet(np.array([[1, 0, 0]]), metric="cubic")


def test_cutoff_clash_with_given_set() -> None:
    fset = ball_frequencies(3.0)
    with pytest.raises(ValueError, match="disagrees"):
        constraint_graph(1, 5.0, frequencies=fset)
