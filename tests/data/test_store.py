"""The crystal store: exact round trip, items equal to from_structure, several loader
workers, kill -9 and resume, shards merged with a task engine (joblib), streamed inputs and
skipped bad rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

from cft_pyg.data import from_structure, standardize
from cft_pyg.data.featurization import FeaturizationMismatchError
from cft_pyg.data.generator import generate_crystal
from cft_pyg.data.store import (
    CrystalStore,
    StoredCrystal,
    build_store,
    build_store_from,
    decode,
    encode,
    merge_stores,
    open_backend,
    parse_shard,
)
from cft_pyg.data.streams import iter_ase_db, iter_extxyz, iter_structure_folder

REPO = Path(__file__).resolve().parents[2]
GROUPS = [1, 2, 14, 15, 62, 76, 78, 141, 148, 166, 191, 194, 205, 216, 225, 227, 229, 230,
          19, 33, 92, 96, 144, 145, 169, 170, 212, 213]
"""A spread of groups, enantiomorphic pairs included (76/78, 92/96, ...: mirrored)."""


def _atoms(number: int, seed: int = 0) -> Atoms:
    cell, frac, z = generate_crystal(number, np.random.default_rng([seed, number]),
                                     max_atoms=16, max_orbits=2)
    return Atoms(numbers=z, scaled_positions=frac, cell=cell, pbc=True)


def _write_db(path: Path, atoms: list[Atoms], broken: bool = True) -> None:
    import ase.db

    db = ase.db.connect(str(path))
    with db:
        for k, a in enumerate(atoms):
            db.write(a, e_form=float(k) / 10, label=f"x{k}")
        if broken:
            db.write(Atoms("Na", positions=[[0, 0, 0]], cell=[0, 0, 0], pbc=False),
                     e_form=1.0, label="molecule")
            db.write(Atoms("Na", cell=[3, 3, 3], pbc=True), e_form=2.0, label="corrupt")
    if broken:  # a row whose stored positions are not an array of 3-vectors
        with sqlite3.connect(str(path)) as conn:
            conn.execute("UPDATE systems SET positions = x'00000000' WHERE id = ?",
                         (len(atoms) + 2,))


def _contents(folder: Path) -> dict[bytes, bytes]:
    db = open_backend(folder)
    out = dict(db.items(b""))
    db.close()
    return out


@pytest.fixture(scope="module")
def crystals() -> list[Atoms]:
    return [_atoms(g) for g in GROUPS]


@pytest.fixture(scope="module")
def database(tmp_path_factory, crystals) -> Path:
    path = tmp_path_factory.mktemp("db") / "crystals.db"
    _write_db(path, crystals)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory, database) -> Path:
    """One uninterrupted build (2 worker processes)."""
    folder = tmp_path_factory.mktemp("clean") / "store"
    build_store(iter_ase_db(database, ["e_form"], id_key="label"), folder, targets=["e_form"],
                num_workers=2, chunk_size=4, log=False)
    return folder


def test_record_round_trip_exact(crystals) -> None:
    mirrored = 0
    for k, atoms in enumerate(crystals):
        std = standardize(atoms)
        mirrored += std.mirrored
        stored = StoredCrystal(std, np.array([0.1 * k, -3.0]), f"id-{k}")
        for compress in (True, False):
            back = decode(encode(stored, compress=compress))
            assert back.entry_id == stored.entry_id
            assert np.array_equal(back.targets, stored.targets)
            for name in ("number", "hall_number", "mirrored"):
                assert getattr(back.crystal, name) == getattr(std, name), name
            for name in ("lattice", "frac_coords", "numbers", "transformation_matrix",
                         "origin_shift", "std_rotation_matrix"):
                a, b = getattr(back.crystal, name), getattr(std, name)
                assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert mirrored > 0  # the mirrored flag is exercised
    with pytest.raises(ValueError, match="truncated"):
        decode(encode(stored, compress=False)[:-3])


def test_items_equal_from_structure(clean, crystals) -> None:
    store = CrystalStore(clean)
    assert len(store) == len(crystals)
    assert store.targets == ["e_form"]
    assert store.natoms.tolist() == [int(standardize(a).numbers.shape[0]) for a in crystals]
    for k in (0, 5, 6, len(crystals) - 1):
        item = store[k]
        ref = from_structure(crystals[k], y=k / 10, material_id=f"x{k}")
        assert set(item.keys()) - {"num_nodes"} == set(ref.keys())
        for key, b in ref:
            a = item[key]
            assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b, key
    # the graph options are applied when reading
    small = CrystalStore(clean, radius=5.0, max_neighbors=None)
    assert torch.equal(small[3].edge_index,
                       from_structure(crystals[3], radius=5.0, max_neighbors=None).edge_index)
    with pytest.raises(FeaturizationMismatchError, match="symprec"):
        CrystalStore(clean, symprec=0.01)
    with pytest.raises(ValueError, match="no target"):
        CrystalStore(clean, target="band_gap")


def test_registered_as_a_training_dataset(clean) -> None:
    from cft_pyg.training.registry import build_dataset

    store = build_dataset("store", str(clean), target="e_form")
    assert isinstance(store, CrystalStore) and store.target_names == ["e_form"]
    assert store[2].y.shape == (1,)


def test_training_batches_from_the_stored_atom_counts(clean, tmp_path) -> None:
    """``max_atoms_per_batch`` packs the training batches by the store's atom counts."""
    from lightning.pytorch.callbacks import Callback

    from cft_pyg.data import atom_counts
    from cft_pyg.training import TrainConfig, fit

    from ..training import _helpers  # noqa: F401  (registers 'test-tiny')

    store = CrystalStore(clean)
    train, val = store.index_select(list(range(20))), store.index_select(list(range(20, 28)))
    natoms = atom_counts(train)
    assert natoms.tolist() == store.natoms[:20].tolist() and atom_counts(store).shape == (28,)
    budget = int(np.sort(natoms)[-2])  # the largest crystal is over it
    seen: list[tuple[int, list[str], int]] = []

    class Record(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            seen.append((trainer.current_epoch, list(batch.material_id), int(batch.num_nodes)))

    fit(TrainConfig(model="test-tiny", epochs=2, max_atoms_per_batch=budget, accelerator="cpu",
                    devices=1, threads=1, progress_bar=False, output_dir=str(tmp_path)),
        train, val, callbacks=[Record()])
    for epoch in (0, 1):
        rows = [r for r in seen if r[0] == epoch]
        assert sorted(i for r in rows for i in r[1]) == sorted(f"x{k}" for k in range(20))
        assert all(r[2] <= budget or len(r[1]) == 1 for r in rows)
    assert any(r[2] > budget for r in seen)


def test_bad_rows_recorded_as_skipped(clean) -> None:
    store = CrystalStore(clean)
    skipped = dict(store.skipped)
    assert set(skipped) == {"molecule", str(len(GROUPS) + 2)}
    assert skipped["molecule"].startswith("unsupported_input")
    assert skipped[str(len(GROUPS) + 2)].startswith("malformed_file")
    assert store.summary == {"kept": len(GROUPS), "skipped": 2, "entries": len(GROUPS) + 2,
                             "skipped_by_reason": {"malformed_file": 1,
                                                   "unsupported_input": 1}}


def test_loader_workers_read_every_entry_once(clean) -> None:
    from torch_geometric.loader import DataLoader

    store = CrystalStore(clean)
    for workers in (0, 2):
        ids = []
        loader = DataLoader(store, batch_size=3, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(0))
        for batch in loader:
            ids.extend(batch.material_id)
            assert batch.edge_index.shape[1] > 0
        assert sorted(ids) == sorted(f"x{k}" for k in range(len(GROUPS)))
    view = store.index_select([3, 1])
    assert [d.material_id for d in view] == ["x3", "x1"]
    assert view.view_natoms().tolist() == [store.natoms[3], store.natoms[1]]


def test_sqlite_backend_same_contents(tmp_path, database, clean) -> None:
    folder = tmp_path / "sqlite"
    build_store(iter_ase_db(database, ["e_form"], id_key="label"), folder, targets=["e_form"],
                backend="sqlite", num_workers=0, chunk_size=4, log=False)
    assert (folder / "crystals.sqlite").exists()
    assert _contents(folder) == _contents(clean)


def _build_command(database: Path, folder: Path, backend: str) -> list[str]:
    return [sys.executable, "-m", "cft_pyg.store_cli", "build", str(database), str(folder),
            "--targets", "e_form", "--workers", "1", "--chunk-size", "2", "--backend", backend,
            "--quiet"]


def _done_chunks(folder: Path) -> int:
    path = folder / "crystals.sqlite"
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT count(*) FROM kv WHERE k >= x'63' AND k < x'64'"
                                ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "lmdb"])
def test_kill_and_resume_equals_clean_run(tmp_path, database, backend) -> None:
    """kill -9 in the middle of a build (twice), then a rerun: the store of one clean run."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    db_copy = tmp_path / "in.db"  # ids as labels are not used: the row id is the entry id
    db_copy.write_bytes(database.read_bytes())
    reference = tmp_path / "reference"
    build_store(iter_ase_db(db_copy, ["e_form"]), reference, targets=["e_form"],
                backend=backend, num_workers=0, chunk_size=2, log=False)
    folder = tmp_path / "killed"
    rng = np.random.default_rng(0)
    total_chunks = -(-(len(GROUPS) + 2) // 2)
    for attempt in range(2):
        proc = subprocess.Popen(_build_command(db_copy, folder, backend), env=env,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if backend == "sqlite":  # kill after a random number of finished chunks
            goal = _done_chunks(folder) + int(rng.integers(1, total_chunks // 3))
            deadline = time.time() + 120
            while _done_chunks(folder) < goal and proc.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.02)
        else:  # LMDB: kill after a random time
            time.sleep(float(rng.uniform(3.0, 6.0)))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if backend == "sqlite":
            assert 0 < _done_chunks(folder) < total_chunks, attempt
    result = subprocess.run(_build_command(db_copy, folder, backend), env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert _contents(folder) == _contents(reference)


@pytest.mark.slow
def test_shards_merged_with_joblib_equal_one_run(tmp_path, database, clean) -> None:
    """Two shards run by an existing task engine (joblib, two local workers), then merged."""
    from joblib import Parallel, delayed

    parts = [tmp_path / f"part{k}" for k in range(2)]
    reports = Parallel(n_jobs=2)(
        delayed(build_store_from)(str(database), str(parts[k]), targets=["e_form"],
                                  shard=(k, 2), num_workers=0, chunk_size=4, log=False)
        for k in range(2))
    assert all(r.featurized > 0 for r in reports)
    merged = tmp_path / "merged"
    merge_stores(parts, merged, log=False)
    single = tmp_path / "single"
    build_store_from(str(database), single, targets=["e_form"], num_workers=0, chunk_size=4,
                     log=False)
    assert _contents(merged) == _contents(single)
    assert len(CrystalStore(merged)) == len(GROUPS)
    with pytest.raises(ValueError, match="k/N"):
        parse_shard("2/2")


def test_resume_refuses_other_options(clean) -> None:
    from cft_pyg.data import Featurization

    with pytest.raises(ValueError, match="other options"):
        build_store(iter([]), clean, Featurization(symprec=0.01), targets=["e_form"],
                    chunk_size=4, num_workers=0, log=False)


def test_extxyz_and_structure_folder_streams(tmp_path, crystals) -> None:
    import ase.io

    frames = crystals[:4]
    for k, a in enumerate(frames):
        a = a.copy()
        a.info["energy_pa"] = 0.5 * k
        ase.io.write(tmp_path / "frames.extxyz", a, format="extxyz", append=True)
    raw = list(iter_extxyz(tmp_path / "frames.extxyz", ["energy_pa"]))
    assert [r.targets for r in raw] == [(0.0,), (0.5,), (1.0,), (1.5,)]
    folder = tmp_path / "files"
    folder.mkdir()
    for k, a in enumerate(frames):
        fmt, name = ("cif", f"c{k}.cif") if k % 2 else ("vasp", f"POSCAR_{k}")
        ase.io.write(folder / name, a, format=fmt)
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    listed = [r.entry_id for r in iter_structure_folder(folder)]
    assert sorted(listed) == sorted(["POSCAR_0", "c1.cif", "POSCAR_2", "c3.cif", "broken.cif"])
    store_dir = tmp_path / "store"
    build_store(iter_structure_folder(folder), store_dir, num_workers=0, chunk_size=2,
                log=False)
    store = CrystalStore(store_dir)
    assert len(store) == 4 and [s[0] for s in store.skipped] == ["broken.cif"]
    by_id = {store[i].material_id: store[i] for i in range(len(store))}
    for k, a in enumerate(frames):
        name = f"c{k}.cif" if k % 2 else f"POSCAR_{k}"
        assert int(by_id[name].space_group) == int(from_structure(a).space_group)


def test_ase_lmdb_stream(tmp_path, crystals) -> None:
    """fairchem's ASE-LMDB format (through ase-db-backends), streamed into a store."""
    pytest.importorskip("ase_db_backends", reason="ASE-LMDB needs the ase-db-backends package")
    import ase.db

    path = tmp_path / "omat.aselmdb"
    db = ase.db.connect(str(path), type="aselmdb")
    for k, a in enumerate(crystals[:5]):
        db.write(a, e_form=0.5 * k)
    if hasattr(db, "close"):  # flush the LMDB environment
        db.close()
    store_dir = tmp_path / "store"
    build_store_from(str(path), store_dir, targets=["e_form"], num_workers=0, chunk_size=2,
                     log=False)
    store = CrystalStore(store_dir)
    assert len(store) == 5
    for k in range(5):
        ref = from_structure(crystals[k], y=0.5 * k, material_id=store[k].material_id)
        assert torch.equal(store[k].frac_coords, ref.frac_coords)
        assert torch.equal(store[k].y, ref.y)


def test_graph_of_a_batch_on_its_device_equals_per_crystal(clean) -> None:
    from torch_geometric.loader import DataLoader

    from cft_pyg.data.store import add_neighbor_graph

    bare = CrystalStore(clean, neighbor_graph=False)
    full = CrystalStore(clean)
    assert "edge_index" not in bare[0]
    batch = next(iter(DataLoader(bare, batch_size=7)))
    expected = next(iter(DataLoader(full, batch_size=7)))
    add_neighbor_graph(batch, full.featurization)
    for key in ("edge_index", "cell_offsets", "edge_dist"):
        assert torch.equal(batch[key], expected[key]), key
