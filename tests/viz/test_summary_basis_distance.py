"""Group summaries, basis-function slices and the orbit/encoding distance figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from cft_pyg import SymmetryAdaptedBasis
from cft_pyg.nn import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
from cft_pyg.viz import (
    basis_on_slice,
    encoding_orbit_distances,
    group_summary,
    plot_basis_functions,
    plot_basis_sizes,
    plot_encoding_vs_orbit_distance,
    plot_orbit_sizes,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _patches(fig, gid):
    return [p for ax in fig.axes for p in ax.patches if p.get_gid() == gid]


@pytest.fixture(scope="module")
def summary():
    return group_summary(5.0)


def test_group_summary_matches_known_basis_sizes(summary):
    assert len(summary) == 230 and list(summary["number"]) == list(range(1, 231))
    row = summary.set_index("number")
    # documented sizes at R = 5 (character formula, see SymmetryAdaptedBasis)
    assert row.loc[1, "num_functions"] == 514 and row.loc[1, "num_absent"] == 0
    assert row.loc[14, "num_functions"] == 129
    assert row.loc[227, "num_functions"] == 7
    assert row.loc[1, "mean_orbit_size"] == 1.0
    assert (summary["max_orbit_size"] <= summary["point_group_order"]).all()
    assert (summary["num_functions"] == summary["num_orbits"]).all()
    assert summary["has_inversion"].sum() == 92


def test_basis_size_bars_one_per_group(summary):
    fig = plot_basis_sizes(summary)
    bars = _patches(fig, "basis_bars")
    assert len(bars) == 230
    np.testing.assert_array_equal([b.get_height() for b in bars], summary["num_functions"])
    assert len(_patches(fig, "absent_bars")) == 230


def test_orbit_size_plot_has_all_groups(summary):
    fig = plot_orbit_sizes(summary)
    mean = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "mean_orbit"]
    assert len(mean) == 1 and len(mean[0].get_offsets()) == 230
    np.testing.assert_allclose(np.asarray(mean[0].get_offsets())[:, 1],
                               summary["mean_orbit_size"])


def test_basis_on_slice_of_p_minus_1_is_centrosymmetric():
    basis = SymmetryAdaptedBasis(2, 3.0)
    vals = basis_on_slice(basis, range(5), axis=2, value=0.0, resolution=17)
    assert vals.shape == (5, 17, 17)
    # inversion maps (x, y, 0) to (-x, -y, 0) = (1 - x, 1 - y, 0): the grid reversed
    np.testing.assert_allclose(vals, vals[:, ::-1, ::-1], atol=1e-10)
    assert np.abs(vals).max() > 0.1


def test_basis_on_slice_rejects_bad_index():
    with pytest.raises(ValueError, match="out of range"):
        basis_on_slice(SymmetryAdaptedBasis(227, 3.0), [10_000])


def test_basis_figure_has_one_image_per_function():
    fig = plot_basis_functions(14, 3.0, [0, 2, 4, 6], resolution=16)
    gids = sorted(im.get_gid() for ax in fig.axes for im in ax.images)
    assert gids == ["basis_0", "basis_2", "basis_4", "basis_6"]


def test_encoding_distance_vanishes_on_orbits_only_for_the_invariant_encoding():
    encs = {"symmetry-adapted": SymmetryAdaptedFourierEncoding(3.0, output="orbit").double(),
            "plain": PlainFourierFeatures(3.0).double()}
    d = encoding_orbit_distances(14, encs, num_pairs=40, near_fraction=1.0, sigma=0.0)
    np.testing.assert_allclose(d["orbit"], 0.0, atol=1e-9)
    np.testing.assert_allclose(d["symmetry-adapted"], 0.0, atol=1e-9)
    assert np.median(d["plain"]) > 1.0
    mixed = encoding_orbit_distances(14, encs, num_pairs=60, seed=1)
    fig = plot_encoding_vs_orbit_distance(mixed, title="P2_1/c")
    pts = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "pairs_plain"]
    assert len(pts) == 1 and len(pts[0].get_offsets()) == 60
    assert mixed["near"].sum() == 30


def test_encoding_distance_input_checks():
    with pytest.raises(ValueError, match="near_fraction"):
        encoding_orbit_distances(2, {}, near_fraction=2.0)
    with pytest.raises(ValueError, match="no encoding"):
        plot_encoding_vs_orbit_distance({"orbit": np.zeros(2), "near": np.zeros(2, bool)})


def test_encodings_called_with_per_atom_groups():
    seen = {}

    def probe(x: torch.Tensor, sg: torch.Tensor) -> torch.Tensor:
        seen["sg"] = sg
        return x

    encoding_orbit_distances(62, {"probe": probe}, num_pairs=8)
    assert seen["sg"].shape == (8,) and bool((seen["sg"] == 62).all())
