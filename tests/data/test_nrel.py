"""Tests of :class:`cft_pyg.data.NRELHypothetical` and :func:`composition_split` on a small
folder cut from ``shared/data/nrel_hypothetical`` (skipped where the data is absent)."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cft_pyg.data import NRELHypothetical, composition_split
from cft_pyg.data.nrel import nrel_table

SOURCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nrel_hypothetical"
_NO_DATA = "shared/data/nrel_hypothetical is absent (it holds the NREL hypothetical pnictides)"
needs_data = pytest.mark.skipif(not (SOURCE / "energies.csv.gz").exists(), reason=_NO_DATA)


def _quiet(*args, **kwargs) -> NRELHypothetical:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NRELHypothetical(*args, **kwargs)


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory) -> Path:
    """Eight rows of three compositions (one row not clean) with both POSCAR files."""
    if not (SOURCE / "energies.csv.gz").exists():
        pytest.skip(_NO_DATA)
    frame = pd.read_csv(SOURCE / "energies.csv.gz")
    names = frame.loc[frame.clean, "composition"].drop_duplicates().iloc[:3].tolist()
    rows = pd.concat([frame[frame.clean & (frame.composition == c)].head(2 + k)
                      for k, c in enumerate(names)])
    dirty = frame[~frame.clean & frame.unrelaxed_composition_ok].head(1)
    rows = pd.concat([rows, dirty])
    folder = tmp_path_factory.mktemp("nrel")
    rows.to_csv(folder / "energies.csv.gz", index=False)
    for kind in ("unrelaxed", "relaxed"):
        with gzip.open(SOURCE / f"{kind}.json.gz", "rt") as f:
            texts = json.load(f)
        with gzip.open(folder / f"{kind}.json.gz", "wt") as f:
            json.dump({i: texts[i] for i in rows.id}, f)
    return folder


@needs_data
def test_reads_both_inputs(small_folder: Path, tmp_path: Path) -> None:
    kw = {"split": "all", "processed_root": tmp_path, "num_workers": 0, "log": False}
    unrelaxed = _quiet(small_folder, input="unrelaxed", **kw)
    relaxed = _quiet(small_folder, input="relaxed", **kw)
    table = pd.read_csv(small_folder / "energies.csv.gz")
    clean = table[table.clean]
    assert len(unrelaxed) == len(relaxed) == len(clean) == 9
    assert [d.material_id for d in unrelaxed] == clean.id.tolist()
    assert [d.material_id for d in relaxed] == clean.id.tolist()
    energies = torch.tensor(clean.energy_per_atom.to_numpy(), dtype=torch.float32)
    torch.testing.assert_close(torch.cat([d.y for d in unrelaxed]), energies)
    torch.testing.assert_close(torch.cat([d.y for d in relaxed]), energies)
    # the two inputs are different structures (relaxation changed every volume here)
    vol = lambda d: float(torch.linalg.det(d.cell[0]).abs()) / d.num_nodes  # noqa: E731
    expected_u = clean.volume_per_atom_unrelaxed.to_numpy()
    expected_r = clean.volume_per_atom_relaxed.to_numpy()
    np.testing.assert_allclose([vol(d) for d in unrelaxed], expected_u, rtol=1e-4)
    np.testing.assert_allclose([vol(d) for d in relaxed], expected_r, rtol=1e-4)
    # the filter removed the dirty row and says why
    assert len(unrelaxed.excluded) == 1 and "clean is False" in unrelaxed.excluded[0][1]
    everything = _quiet(small_folder, input="unrelaxed", flags={}, **kw)
    assert len(everything) == 10 and everything.excluded == []


@needs_data
def test_volume_rescaling_keeps_fractions(small_folder: Path, tmp_path: Path) -> None:
    kw = {"split": "all", "processed_root": tmp_path, "num_workers": 0, "log": False}
    plain = _quiet(small_folder, **kw)
    scaled = _quiet(small_folder, volume_per_atom=30.0, **kw)
    for a, b in zip(plain, scaled, strict=True):
        assert float(torch.linalg.det(b.cell[0]).abs()) / b.num_nodes == pytest.approx(30.0,
                                                                                        rel=1e-4)
        assert int(a.space_group) == int(b.space_group)
        assert torch.equal(a.z, b.z)
    with pytest.raises(ValueError, match="volume_per_atom"):
        _quiet(small_folder, volume_per_atom=-1.0, **kw)


def test_refuses_folder_without_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"energies\.csv\.gz.*unrelaxed\.json\.gz"):
        _quiet(tmp_path, split="all", processed_root=tmp_path / "cache", log=False)
    (tmp_path / "energies.csv.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        _quiet(tmp_path, split="all", input="relaxed", processed_root=tmp_path / "cache",
               log=False)
    assert "relaxed.json.gz" in str(info.value) and "no energies" not in str(info.value)


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="input must be"):
        _quiet(tmp_path, input="initial")
    with pytest.raises(ValueError, match="split must be"):
        _quiet(tmp_path, split="train")
    with pytest.raises(ValueError, match="unknown flag"):
        _quiet(tmp_path, flags={"cleanish": True})


def test_composition_split_is_by_composition() -> None:
    rng = np.random.default_rng(1)
    names = [f"C{k}" for k in range(40)]
    rows = [names[i] for i in rng.integers(0, 40, size=600)]
    parts = composition_split(rows)
    assert set(parts) == set(rows)  # one part per composition, so never two
    counts = pd.Series(parts).value_counts()
    n = len(set(rows))
    assert counts["project-val"] == round(0.1 * n) and counts["project-test"] == round(0.1 * n)
    assert composition_split(list(reversed(rows))) == parts  # row order does not matter
    assert composition_split(rows, seed=1) != parts


@needs_data
def test_dataset_parts_share_no_composition() -> None:
    frames = {part: nrel_table(SOURCE / "energies.csv.gz", part)
              for part in ("project-train", "project-val", "project-test")}
    comps = {part: set(f.composition) for part, f in frames.items()}
    assert not comps["project-train"] & comps["project-val"]
    assert not comps["project-train"] & comps["project-test"]
    assert not comps["project-val"] & comps["project-test"]
    table = pd.read_csv(SOURCE / "energies.csv.gz")
    clean = table[table.clean]
    assert sum(len(f) for f in frames.values()) == len(clean)
    n = clean.composition.nunique()
    assert sum(len(c) for c in comps.values()) == n
    assert len(comps["project-test"]) == len(comps["project-val"]) == round(0.1 * n)
    assert frames["project-test"].id.tolist() == [
        i for i in clean.id if i in set(frames["project-test"].id)]


def test_registered_for_the_command_line() -> None:
    from cft_pyg.training.registry import available_datasets, dataset_accepts, dataset_factory

    assert "nrel-hypothetical" in available_datasets()
    assert dataset_factory("nrel-hypothetical") is NRELHypothetical
    for option in ("split", "input", "flags", "volume_per_atom", "sample"):
        assert dataset_accepts("nrel-hypothetical", option)
