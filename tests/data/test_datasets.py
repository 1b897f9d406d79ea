"""Tests of the real-data datasets (cft_pyg.data.cdvae, cft_pyg.data.cif_folder) on
../shared/data and crafted rows."""

from __future__ import annotations

import csv
import gzip
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch_geometric.loader import DataLoader

from cft_pyg import SpaceGroup
from cft_pyg.data import MP20, Carbon24, CIFFolder, Perov5, project_split
from cft_pyg.data import cdvae as ds_module

FIELDS = ("z", "frac_coords", "pos", "cell", "space_group", "natoms", "edge_index",
          "cell_offsets", "edge_dist", "y", "transformation_matrix", "origin_shift")


def _check_crystal(data) -> None:
    for field in FIELDS:
        assert field in data, field
    n = data.num_nodes
    assert data.z.shape == (n,) and data.frac_coords.shape == (n, 3)
    assert data.cell.shape == (1, 3, 3) and data.natoms.item() == n
    assert data.frac_coords.min() >= 0 and data.frac_coords.max() < 1
    torch.testing.assert_close(data.pos, data.frac_coords @ data.cell[0], atol=1e-4, rtol=1e-5)
    assert data.edge_index.shape[0] == 2 and data.cell_offsets.shape[1] == 3
    assert 1 <= int(data.space_group) <= 230
    assert isinstance(data.material_id, str)


def _quiet(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(*args, **kwargs)


# --------------------------------------------------------------------------- real data
def test_mp20_val_rows(shared_data_dir: Path, tmp_path: Path) -> None:
    root = shared_data_dir / "mp_20"
    ds = MP20(root, split="val", processed_root=tmp_path, max_rows=12, num_workers=0, log=False)
    frame = pd.read_csv(root / "val.csv.gz", nrows=12)
    assert len(ds) == 12 and ds.skipped == []
    assert [d.material_id for d in ds] == frame["material_id"].tolist()
    for data, (_, row) in zip(ds, frame.iterrows(), strict=True):
        _check_crystal(data)
        assert data.y.shape == (1,)
        assert data.y.item() == pytest.approx(row["formation_energy_per_atom"], rel=1e-6)
        # MP's tolerances reproduce MP's declared group (the README found 999/1000)
        assert int(data.space_group) == row["spacegroup.number"]
        # the standardized crystal is invariant under its group's operations
        group = SpaceGroup(int(data.space_group))
        frac = data.frac_coords.double().numpy()
        images = group.apply(frac)
        diff = images[:, :, None, :] - frac[None, None, :, :]
        diff -= diff.round()
        assert (abs(diff).max(-1) < 1e-4).any(-1).all()
    assert ds.disagreements == []
    assert Path(ds.processed_dir, "skipped.csv").is_file()


def test_mp20_project_split_and_multi_target(shared_data_dir: Path, tmp_path: Path) -> None:
    root = shared_data_dir / "mp_20"
    ids = pd.concat([pd.read_csv(root / f"{s}.csv.gz", usecols=["material_id"])
                     for s in ("val", "test")])["material_id"].tolist()
    split = project_split(ids)
    sizes = {k: len(v) for k, v in split.items()}
    assert sizes == {"project-train": 14475, "project-val": 1809, "project-test": 1809}
    assert set().union(*map(set, split.values())) == set(ids)
    assert project_split(list(reversed(ids))) == split  # file order does not matter
    targets = ["band_gap", "e_above_hull"]
    ds = MP20(root, split="project-test", target=targets, processed_root=tmp_path, max_rows=6,
              num_workers=0, log=False)
    assert [d.material_id for d in ds] == split["project-test"][:6]
    assert ds[0].y.shape == (1, 2)
    batch = next(iter(DataLoader(ds, batch_size=6)))
    assert batch.y.shape == (6, 2) and batch.space_group.shape == (6,)
    with pytest.raises(ValueError, match="unknown target"):
        MP20(root, split="val", target="heat_ref", processed_root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        MP20(root, split="training", processed_root=tmp_path)


def test_mp20_official_train_missing_without_download(shared_data_dir: Path,
                                                      tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train"):
        MP20(shared_data_dir / "mp_20", split="train", download=False, processed_root=tmp_path)


def test_perov5_and_carbon24(shared_data_dir: Path, tmp_path: Path) -> None:
    perov = Perov5(shared_data_dir / "perov_5", split="val", processed_root=tmp_path,
                   max_rows=8, num_workers=0, log=False)
    frame = pd.read_csv(shared_data_dir / "perov_5" / "val.csv.gz", nrows=8)
    assert len(perov) == 8
    for data, value in zip(perov, frame["heat_ref"], strict=True):
        _check_crystal(data)
        assert data.natoms.item() % 5 == 0
        assert int(data.space_group) in {25, 47, 99, 123, 221}
        assert data.y.item() == pytest.approx(value, rel=1e-6)
    gaps = Perov5(shared_data_dir / "perov_5", split="val", target="dir_gap",
                  processed_root=tmp_path, max_rows=8, num_workers=0, log=False)
    assert gaps[3].y.item() == pytest.approx(frame["dir_gap"][3], rel=1e-6)
    carbon = Carbon24(shared_data_dir / "carbon_24", split="project-val",
                      processed_root=tmp_path, max_rows=5, num_workers=0, log=False)
    assert len(carbon) == 5
    for data in carbon:
        _check_crystal(data)
        assert (data.z == 6).all()
        assert -155 < data.y.item() < -154


def test_cif_folder_cgcnn_sample(shared_data_dir: Path, tmp_path: Path) -> None:
    ds = CIFFolder(shared_data_dir / "cgcnn_sample" / "sample-regression",
                   processed_root=tmp_path, num_workers=0, log=False)
    assert len(ds) == 10 and ds.skipped == []
    with open(shared_data_dir / "cgcnn_sample" / "sample-regression" / "id_prop.csv") as f:
        rows = list(csv.reader(f))
    assert [d.material_id for d in ds] == [r[0] for r in rows]
    assert [d.y.item() for d in ds] == [float(r[1]) for r in rows]
    for data in ds:
        _check_crystal(data)
    groups = sorted(int(d.space_group) for d in ds)
    assert groups == sorted([227, 227, 227, 221, 221, 69, 99, 141, 186, 225])


# --------------------------------------------------------------------------- bad input
_GOOD_IDS = 3


def _bad_rows_csv(shared_data_dir: Path, folder: Path) -> dict[str, str]:
    """A val.csv with good rows and crafted bad rows; returns id -> expected reason."""
    frame = pd.read_csv(shared_data_dir / "mp_20" / "val.csv.gz", nrows=_GOOD_IDS)
    good = frame.iloc[0]
    cif = good["cif"]
    rows = [frame.iloc[i].to_dict() for i in range(_GOOD_IDS)]
    expected: dict[str, str] = {}

    def add(mid: str, reason: str, **changes) -> None:
        row = dict(good)
        row.update(material_id=mid, **changes)
        rows.append(row)
        expected[mid] = reason

    add("bad-malformed", "malformed_cif", cif="data_x\n_cell_length_a 5.0\nloop_\n garbage ###\n")
    lines = cif.splitlines()
    site = next(i for i, line in enumerate(lines) if line.strip().startswith("Mg "))
    partial = lines.copy()
    partial[site] = partial[site].rstrip()[:-1] + "0.5"
    add("bad-partial", "disorder", cif="\n".join(partial) + "\n")
    overlap = lines.copy()
    parts = overlap[site].split()
    overlap[site] = "  ".join([parts[0], parts[1], parts[2], "0.00000000", "0.00000000",
                               "0.00010000", parts[6]])
    add("bad-overlap", "overlapping_atoms", cif="\n".join(overlap) + "\n")
    add("bad-nan-target", "missing_target", formation_energy_per_atom=float("nan"))
    add("bad-empty", "malformed_cif", cif="")
    no_atoms = "\n".join(line for line in lines if not line.startswith("  ")
                         and "_atom_site" not in line) + "\n"
    add("bad-no-atoms", "any", cif=no_atoms)
    mismatch = dict(frame.iloc[1])
    mismatch.update({"material_id": "declared-wrong", "spacegroup.number": 1})
    rows.append(mismatch)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "val.csv", index=False)
    return expected


def test_bad_rows_are_skipped_and_reported(shared_data_dir: Path, tmp_path: Path) -> None:
    expected = _bad_rows_csv(shared_data_dir, tmp_path / "data")
    with pytest.warns(UserWarning, match=r"skipped 6 of 10 entries"):
        ds = MP20(tmp_path / "data", split="val", processed_root=tmp_path / "cache",
                  num_workers=0, log=False)
    assert len(ds) == _GOOD_IDS + 1  # the declared-wrong row is kept (report mode)
    reasons = dict(ds.skipped)
    assert set(reasons) == set(expected)
    for mid, reason in expected.items():
        if reason != "any":
            assert reasons[mid].startswith(reason + ":"), (mid, reasons[mid])
    # the processed cache holds every target (the NaN formation energy has a band gap):
    # its report lists the 5 rows no target can use; the dataset leaves out the sixth
    report = pd.read_csv(Path(ds.processed_dir) / "skipped.csv")
    assert sorted(report["id"]) == sorted(set(expected) - {"bad-nan-target"})
    assert ds.meta["skipped"] == 5 and ds.meta["kept"] == 5
    # the declared group of 'declared-wrong' is 1, the crystal's real group is higher
    assert len(ds.disagreements) == 1
    mid, declared, detected = ds.disagreements[0]
    assert mid == "declared-wrong" and declared == 1 and detected > 1
    # strict mode skips the disagreeing entry instead
    with pytest.warns(UserWarning, match=r"skipped 7 of 10"):
        strict = MP20(tmp_path / "data", split="val", processed_root=tmp_path / "cache",
                      space_group_check="strict", num_workers=0, log=False)
    assert dict(strict.skipped)["declared-wrong"].startswith("space_group_mismatch")
    assert len(strict) == _GOOD_IDS


def test_cif_folder_missing_and_bad_files(shared_data_dir: Path, tmp_path: Path) -> None:
    src = shared_data_dir / "cgcnn_sample" / "sample-regression"
    folder = tmp_path / "cifs"
    folder.mkdir()
    shutil.copy(src / "1000041.cif", folder / "a.cif")
    (folder / "b.cif").write_text("this is not a CIF\n")
    with open(folder / "id_prop.csv", "w") as f:
        f.write("a,1.5,2.5\nb,2.0,1.0\nmissing,3.0,1.0\nc.cif,x,1.0\n")
    shutil.copy(src / "1000050.cif", folder / "c.cif")
    with pytest.warns(UserWarning, match="skipped 3 of 4"):
        ds = CIFFolder(folder, num_workers=0, log=False)
    assert len(ds) == 1 and ds[0].y.shape == (1, 2)
    assert ds[0].y.tolist() == [[1.5, 2.5]]
    reasons = {k: v.split(":")[0] for k, v in ds.skipped}
    assert reasons == {"b": "malformed_cif", "missing": "missing_file",
                       "c.cif": "missing_target"}
    second = _quiet(CIFFolder, folder, target=1, num_workers=0, log=False)
    assert len(second) == 2 and second[1].y.tolist() == [1.0]  # c.cif has column 1


# --------------------------------------------------------------------------- caching
def test_cache_reused_and_invalidated(shared_data_dir: Path, tmp_path: Path) -> None:
    root = shared_data_dir / "perov_5"
    kw = {"split": "test", "processed_root": tmp_path, "num_workers": 0, "log": False}
    first = Perov5(root, max_rows=4, **kw)
    assert first.processing_seconds is not None
    again = Perov5(root, max_rows=4, **kw)
    assert again.processing_seconds is None  # loaded from disk
    assert again.processed_dir == first.processed_dir
    assert torch.equal(again._data.frac_coords, first._data.frac_coords)
    for changed in ({"max_rows": 5}, {"max_rows": 4, "max_neighbors": 4},
                    {"max_rows": 4, "symprec": 0.01}):
        other = Perov5(root, **changed, **kw)
        assert other.processing_seconds is not None, changed
        assert other.processed_dir != first.processed_dir
    reloaded = Perov5(root, max_rows=4, force_reload=True, **kw)
    assert reloaded.processing_seconds is not None


def test_second_target_reuses_the_processed_cache(shared_data_dir: Path,
                                                  tmp_path: Path) -> None:
    """The processed cache is keyed by what changes the processed crystals, not by the
    target: another target (or several) on the same crystals loads from disk."""
    import pandas as pd

    root = shared_data_dir / "perov_5"
    kw = {"split": "test", "processed_root": tmp_path, "num_workers": 0, "log": False,
          "max_rows": 4}
    first = Perov5(root, target="heat_ref", **kw)
    assert first.processing_seconds is not None
    raw = pd.read_csv(root / "test.csv").head(4) if (root / "test.csv").exists() else \
        pd.read_csv(root / "test.csv.gz").head(4)
    for target in ("ind_gap", ["dir_gap", "heat_all"], "heat_ref"):
        other = Perov5(root, target=target, **kw)
        assert other.processing_seconds is None, target  # loaded, not processed again
        assert other.processed_dir == first.processed_dir
        names = [target] if isinstance(target, str) else target
        values = torch.stack([other[i].y.reshape(-1) for i in range(len(other))])
        assert values.shape == (len(other), len(names))
        ids = [other[i].material_id for i in range(len(other))]
        expected = raw.set_index(raw["material_id"].astype(str)).loc[ids, names]
        assert values.double().numpy() == pytest.approx(expected.to_numpy(), rel=1e-6)
    assert tuple(first[0].y.shape) == (1,)  # one target: the shape it always had


def test_read_only_root_uses_user_cache(shared_data_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFT_PYG_HOME", str(tmp_path / "usercache"))
    monkeypatch.setattr(ds_module.os, "access", lambda *args, **kwargs: False)
    ds = Carbon24(shared_data_dir / "carbon_24", split="test", max_rows=2, num_workers=0,
                  log=False)
    assert Path(ds.processed_dir).is_relative_to(tmp_path / "usercache")


def test_multiprocessing_matches_in_process(shared_data_dir: Path, tmp_path: Path) -> None:
    root = shared_data_dir / "mp_20"
    kw = {"split": "test", "max_rows": 64, "log": False}
    serial = MP20(root, processed_root=tmp_path / "a", num_workers=0, **kw)
    parallel = MP20(root, processed_root=tmp_path / "b", num_workers=2, **kw)
    assert [d.material_id for d in serial] == [d.material_id for d in parallel]
    for key in ("z", "frac_coords", "cell", "y", "space_group", "edge_index"):
        assert torch.equal(serial._data[key], parallel._data[key]), key


# --------------------------------------------------------------------------- download
def test_download_follows_git_lfs_pointer(shared_data_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with gzip.open(shared_data_dir / "mp_20" / "test.csv.gz", "rt") as f:
        frame = pd.read_csv(f, nrows=3)
    calls: list[str] = []

    def fake_download(url: str, folder: str, log: bool = True) -> str:
        calls.append(url)
        path = Path(folder) / url.rsplit("/", 1)[1]
        if url.startswith("https://raw.githubusercontent.com/"):
            path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n"
                            "size 26846148\n")
        else:
            frame.to_csv(path, index=False)
        return str(path)

    monkeypatch.setattr(ds_module, "download_url", fake_download)
    ds = MP20(tmp_path / "mp20", split="test", download=True, num_workers=0, log=False)
    assert calls == [MP20.url.format(split="test"), MP20.lfs_url.format(split="test")]
    assert [d.material_id for d in ds] == frame["material_id"].tolist()
    assert (tmp_path / "mp20" / "raw" / "test.csv").is_file()

    def pointer_only(url: str, folder: str, log: bool = True) -> str:
        path = Path(folder) / url.rsplit("/", 1)[1]
        path.write_text("version https://git-lfs.github.com/spec/v1\n")
        return str(path)

    monkeypatch.setattr(ds_module, "download_url", pointer_only)
    with pytest.raises(RuntimeError, match="Git LFS"):
        MP20(tmp_path / "other", split="val", download=True, num_workers=0, log=False)


def test_all_entries_bad_raises_with_report(tmp_path: Path) -> None:
    folder = tmp_path / "allbad"
    folder.mkdir()
    (folder / "id_prop.csv").write_text("gone,1.0\n")
    with pytest.raises(RuntimeError, match="every one of the 1 entries was skipped"):
        CIFFolder(folder, num_workers=0, log=False)
    reports = list(folder.glob("processed/*/skipped.csv"))
    assert len(reports) == 1
    assert "missing_file" in reports[0].read_text()


def test_skip_reasons_cover_every_structure_error_reason() -> None:
    from cft_pyg.data import REASONS, SkipReason

    assert set(REASONS) <= {r.value for r in SkipReason}
    assert str(SkipReason.MISSING_FILE) == "missing_file"
    assert SkipReason("pre_filter") is SkipReason.PRE_FILTER


def _process_in_other_process(root: str, processed_root: str) -> list[float]:
    ds = CIFFolder(root, processed_root=processed_root, num_workers=0, log=False)
    return [float(d.y) for d in ds]


@pytest.mark.slow
def test_two_processes_process_one_dataset_once(shared_data_dir: Path, tmp_path: Path) -> None:
    """Two jobs side by side (as the experiment runners start them) share one processed
    folder: under the file lock the second waits for the first and loads its files, so both
    see the same crystals from one folder."""
    import multiprocessing as mp

    root = str(shared_data_dir / "cgcnn_sample" / "sample-regression")
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_process_in_other_process, [(root, str(tmp_path))] * 2)
    assert results[0] == results[1] and len(results[0]) == 10
    folders = [p for p in (tmp_path / "processed").iterdir() if p.is_dir()]
    assert len(folders) == 1
    assert (folders[0].parent / (folders[0].name + ".lock")).exists()


# --------------------------------------------------------------------------- sampling
def _small_mp20(shared_data_dir: Path, folder: Path, rows: int = 30) -> Path:
    """The first ``rows`` rows of MP-20's val and test files, in a folder of their own."""
    folder.mkdir()
    for split in ("val", "test"):
        frame = pd.read_csv(shared_data_dir / "mp_20" / f"{split}.csv.gz", nrows=rows)
        frame.to_csv(folder / f"{split}.csv", index=False)
    return folder


def test_sample_is_chosen_before_processing(shared_data_dir: Path, tmp_path: Path) -> None:
    from cft_pyg.data import sample_indices
    from cft_pyg.training import TrainConfig
    from cft_pyg.training.data import build_splits

    root = _small_mp20(shared_data_dir, tmp_path / "mp")
    kw = {"processed_root": tmp_path / "cache", "num_workers": 0, "log": False}
    full = MP20(root, split="project-train", **kw)
    part = MP20(root, split="project-train", sample=7, sample_seed=3, **kw)
    assert part.meta["entries"] == 7 and part.meta["sample"] == [7, 3]  # only 7 converted
    chosen = [full[i].material_id for i in sample_indices(len(full), 7, 3)]
    assert [d.material_id for d in part] == chosen
    assert part.processed_dir != full.processed_dir
    # the union of the three project parts, in order, as one dataset
    union = MP20(root, split="project-all", **kw)
    parts = [MP20(root, split=f"project-{s}", **kw) for s in ("train", "val", "test")]
    assert [d.material_id for d in union] == [d.material_id for p in parts for d in p]
    with pytest.raises(ValueError, match="sample must be >= 1"):
        MP20(root, split="project-train", sample=0, **kw)

    # --max-crystals: the same crystals as subsampling after processing, fewer converted
    cfg = TrainConfig(dataset="mp20", data_root=str(root), max_crystals=9, seed=2,
                      cache_dir=str(tmp_path / "cache"))
    train = build_splits(cfg).train
    assert train.meta["entries"] == 9
    assert [d.material_id for d in train] == \
        [full[i].material_id for i in sample_indices(len(full), 9, 2)]
    shuffled = build_splits(cfg.replace(split="random"))
    pool = [d.material_id for d in union]
    expected = {pool[i] for i in sample_indices(len(pool), 9, 2)}
    got = [d.material_id for p in (shuffled.train, shuffled.val, shuffled.test) for d in p]
    assert sorted(got) == sorted(expected)
