"""One featurization object: validated, immutable, recorded on every crystal, in processed
datasets and checkpoints, and enforced by the models (radius); the frequency cutoff is the
model's own, refused at construction when bad."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch.utils.data import ConcatDataset
from torch_geometric.data import Batch

from cft_pyg.data import (
    DEFAULT_FEATURIZATION,
    MP20,
    Featurization,
    FeaturizationMismatchError,
    featurization_of,
    from_structure,
)


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def _quartz_like() -> Structure:  # P3_121 (152), a chiral structure
    return Structure.from_spacegroup(152, Lattice.hexagonal(4.91, 5.40), ["Si", "O"],
                                     [[0.47, 0, 1 / 3], [0.41, 0.27, 0.22]])


def test_defaults_are_the_one_definition() -> None:
    f = Featurization()
    assert f == DEFAULT_FEATURIZATION
    assert (f.symprec, f.angle_tolerance, f.radius, f.max_neighbors) == (0.1, 5.0, 8.0, 12)
    assert "cutoff" not in Featurization.field_names()  # the model owns the frequency cutoff
    assert f.canonical_origin and f.canonical_handedness
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.radius = 6.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [
    {"symprec": 0}, {"symprec": float("nan")}, {"radius": -1.0}, {"radius": True},
    {"max_neighbors": 0}, {"max_neighbors": 2.5}, {"canonical_origin": "yes"},
    {"min_distance": -0.1}, {"canonical_origin": False},  # handedness needs the origin
])
def test_bad_options_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="Featurization"):
        Featurization(**bad)


def test_round_trips_and_changes() -> None:
    f = Featurization(symprec=0.01, radius=6, max_neighbors=None, canonical_handedness=False)
    assert isinstance(f.radius, float)
    assert Featurization.from_dict(f.to_dict()) == f
    assert Featurization.from_json(f.to_json()) == f
    assert json.loads(f.to_json()) == f.to_dict()
    assert f.replace(radius=8.0).differences(f) == {"radius": (8.0, 6.0)}
    assert Featurization.resolve(None, symprec=0.01) == DEFAULT_FEATURIZATION.replace(symprec=0.01)
    assert Featurization.resolve({"radius": 6.0}).radius == 6.0
    with pytest.raises(TypeError, match="unknown featurization option"):
        f.replace(symmprec=0.1)
    with pytest.raises(ValueError, match="unknown featurization option"):
        Featurization.from_dict({"radius": 6.0, "bogus": 1})
    # an older record (v0.3 checkpoints) takes this version's defaults for what it omits
    old = Featurization.from_dict({"symprec": 0.1, "angle_tolerance": 5.0, "radius": 8.0,
                                   "max_neighbors": 12})
    assert old == DEFAULT_FEATURIZATION


def test_from_structure_records_its_featurization() -> None:
    data = from_structure(_nacl())
    assert Featurization.from_json(data.featurization) == DEFAULT_FEATURIZATION
    f = Featurization(radius=5.0, max_neighbors=6, symprec=0.01)
    other = from_structure(_nacl(), f)
    assert Featurization.from_json(other.featurization) == f
    assert float(other.edge_dist.max()) <= 5.0
    assert from_structure(_nacl(), radius=5.0, max_neighbors=6, symprec=0.01).featurization \
        == other.featurization
    with pytest.raises(TypeError, match="unknown featurization option"):
        from_structure(_nacl(), raduis=5.0)


def test_featurization_of_lists_batches_and_concatenations() -> None:
    a, b = from_structure(_nacl()), from_structure(_quartz_like())
    assert featurization_of([a, b]) == DEFAULT_FEATURIZATION
    six = from_structure(_nacl(), radius=6.0)
    with pytest.raises(FeaturizationMismatchError, match="2 different ways"):
        featurization_of([a, six])
    bare = a.clone()
    del bare.featurization
    assert featurization_of([bare]) is None
    with pytest.raises(FeaturizationMismatchError, match="only some"):
        featurization_of([a, bare])
    assert featurization_of(ConcatDataset([[a], [b]])) == DEFAULT_FEATURIZATION
    with pytest.raises(FeaturizationMismatchError):
        featurization_of(ConcatDataset([[a], [six]]))


def test_processed_dataset_records_and_reloads_it(shared_data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "mp_20"
    root.mkdir()
    shutil.copy(shared_data_dir / "mp_20" / "val.csv.gz", root / "val.csv.gz")
    f = Featurization(radius=6.0, max_neighbors=8)
    ds = MP20(root, split="val", featurization=f, max_rows=6, num_workers=0, log=False)
    assert ds.featurization == f and featurization_of(ds) == f
    assert featurization_of(ds.index_select([0, 2])) == f
    assert {Featurization.from_json(d.featurization) for d in ds} == {f}
    meta = json.loads((Path(ds.processed_dir) / "meta.json").read_text())
    assert Featurization.from_dict(meta["options"]["featurization"]) == f
    again = MP20(root, split="val", featurization=f, max_rows=6, num_workers=0, log=False)
    assert again.processing_seconds is None  # loaded from the cache, same key
    assert again.featurization == f
    other = MP20(root, split="val", radius=5.0, max_rows=6, num_workers=0, log=False)
    assert other.processed_dir != ds.processed_dir  # another featurization, another cache
    assert other.featurization == DEFAULT_FEATURIZATION.replace(radius=5.0)


def test_the_frequency_cutoff_is_the_models_own() -> None:
    """Not a featurization option (a clear error where one sets it there), left out of the
    records of earlier versions, and checked when the model is built."""
    from cft_pyg.nn import CrystalFourierTransformer, PlainPETransformer, PublishedCFT

    with pytest.raises(ValueError, match="belongs to the model"):
        Featurization.from_dict({"symprec": 0.1, "cutoff": 4.0})
    old = {**DEFAULT_FEATURIZATION.to_dict(), "cutoff": 5.0}  # a record of version 0.4
    assert Featurization.from_record(old) == DEFAULT_FEATURIZATION
    assert Featurization.from_json(json.dumps(old)) == DEFAULT_FEATURIZATION
    for bad in (0.0, -1.0, float("nan"), float("inf"), True, "5"):
        for cls in (CrystalFourierTransformer, PlainPETransformer, PublishedCFT):
            with pytest.raises(ValueError, match="frequency cutoff must be a positive"):
                cls(encoding_cutoff=bad)
    # crystals carry nothing that depends on it: any cutoff reads the default crystals
    default = Batch.from_data_list([from_structure(_nacl()), from_structure(_quartz_like())])
    model = CrystalFourierTransformer(channels=16, heads=2, encoding_cutoff=4.0).eval()
    assert model.encoding.cutoff == 4.0
    assert model(default).shape == (2,)


def test_models_refuse_another_radius() -> None:
    from cft_pyg.nn import CGCNN, CrystalFourierTransformer

    default = Batch.from_data_list([from_structure(_nacl()), from_structure(_quartz_like())])
    six = Batch.from_data_list([from_structure(_nacl(), radius=6.0)])
    torch.manual_seed(0)
    for model in (CrystalFourierTransformer(channels=16, heads=2), CGCNN()):
        model.eval()
        model(default)  # same options: fine
        with pytest.raises(FeaturizationMismatchError, match="radius=8 but the crystals were "
                                                             "featurized with radius=6"):
            model(six)
    CrystalFourierTransformer(channels=16, heads=2, radius=6.0).eval()(six)
    # a model that reads neither (no graph, no encoding) takes any featurization
    CrystalFourierTransformer(channels=16, heads=2, local=False, pair_bias=False,
                              encoding="none").eval()(six)
    # Data built by hand record nothing and are not checked
    bare = from_structure(_nacl(), radius=6.0)
    del bare.featurization
    CGCNN().eval()(Batch.from_data_list([bare]))
