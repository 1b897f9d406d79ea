"""Tensor properties end to end: the Materials Project tensor data in their frames, metrics,
training through the engine, and the CLI predicting what Python predicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cft_pyg.cli import main
from cft_pyg.data.tensors import TENSOR_TARGETS, MPTensors, read_tensor_records
from cft_pyg.symmetry import SpaceGroup
from cft_pyg.symmetry.tensors import (
    cartesian_rotations,
    from_voigt,
    neumann_violation,
    rotate_tensor,
)
from cft_pyg.training.tensors import (
    derived_scalars,
    evaluate_tensor_model,
    fit_tensor_model,
    load_tensor_model,
    predict_structures,
    predict_tensors,
    tensor_metrics,
    tensor_split,
)

SMALL = {"atom_fea_len": 16, "n_conv": 1, "h_fea_len": 32}


@pytest.fixture(scope="module")
def tensor_root(shared_data_dir):
    root = shared_data_dir / "tensors"
    if not (root / "piezoelectric.json.gz").exists():
        pytest.skip("shared/data/tensors not found (README section 8)")
    return root


@pytest.fixture(scope="module")
def piezo(tensor_root, tmp_path_factory):
    return MPTensors(tensor_root, "piezoelectric", max_rows=48,
                     processed_root=tmp_path_factory.mktemp("tensors"), log=False)


@pytest.mark.parametrize("target", ["dielectric", "elastic"])
def test_dataset_frames(tensor_root, tmp_path_factory, target: str) -> None:
    """The DFT tensors, taken to the standardized frame by ``std_rotation``, obey the
    standardized group's Neumann principle (to the data's own accuracy): the frame map of
    the pipeline is the right one (its transpose fails)."""
    ds = MPTensors(tensor_root, target, max_rows=24, processed_root=tmp_path_factory.mktemp("t"),
                   log=False)
    rank = TENSOR_TARGETS[target][2]
    assert ds[0].y.shape == (1, 3**rank)
    T = ds.tensors().numpy()
    good, wrong = [], []
    for i, data in enumerate(ds):
        R = data.std_rotation[0].numpy()
        ops = cartesian_rotations(SpaceGroup(int(data.space_group)),
                                  data.cell[0].double().numpy())
        good.append(neumann_violation(rotate_tensor(T[i], R), ops))
        wrong.append(neumann_violation(rotate_tensor(T[i], R.T), ops))
    assert np.median(good) < 1e-3
    assert np.median(wrong) > 10 * np.median(good) + 1e-3 or np.max(wrong) > 1e-2


def test_cli_target_names() -> None:
    from cft_pyg.cli_tensors import TARGET_NAMES

    assert tuple(sorted(TENSOR_TARGETS)) == TARGET_NAMES


def test_records(tensor_root) -> None:
    records = read_tensor_records(tensor_root, "dielectric")
    assert len(records) > 800
    assert all(np.allclose(r["tensor"], r["tensor"].T) for r in records[:50])
    with pytest.raises(ValueError, match="unknown tensor target"):
        read_tensor_records(tensor_root, "magnetic")


def test_derived_scalars_isotropic_and_invariant() -> None:
    lam, mu = 60.0, 35.0
    d = np.eye(3)
    C = (lam * np.einsum("ij,kl->ijkl", d, d)
         + mu * (np.einsum("ik,jl->ijkl", d, d) + np.einsum("il,jk->ijkl", d, d)))
    s = derived_scalars(C[None], "elastic")
    np.testing.assert_allclose(s["K_VRH"], lam + 2 * mu / 3, rtol=1e-12)
    np.testing.assert_allclose(s["G_VRH"], mu, rtol=1e-12)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    C = from_voigt(a @ a.T + 6 * np.eye(6), 4)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    for name, value in derived_scalars(C[None], "elastic").items():
        np.testing.assert_allclose(derived_scalars(rotate_tensor(C, q)[None], "elastic")[name],
                                   value, rtol=1e-10)
    e = rng.normal(size=(3, 3, 3))
    e = e + e.transpose(0, 2, 1)
    e0 = derived_scalars(e[None], "piezoelectric")["e_long_max"]
    e1 = derived_scalars(rotate_tensor(e, q)[None], "piezoelectric")["e_long_max"]
    np.testing.assert_allclose(e1, e0, rtol=5e-3)  # a search over 4,000 directions
    m = tensor_metrics(e[None] * 1.1, e[None], "piezoelectric")
    np.testing.assert_allclose(m["frobenius_rel"], 0.1, rtol=1e-12)


@pytest.mark.slow
def test_train_evaluate_predict_cli_matches_python(piezo, tensor_root, tmp_path) -> None:
    """Train through the engine (Python) and through the CLI: the CLI's predictions of
    POSCAR files are the Python ones, in the files' own frames, with exact symmetry."""
    crystals = list(piezo)
    split = tensor_split(crystals, 0)
    module, info = fit_tensor_model(
        "piezoelectric", [crystals[i] for i in split["train"]],
        [crystals[i] for i in split["val"]], model_kwargs=SMALL, epochs=2,
        output_dir=tmp_path / "py")
    test = [crystals[i] for i in split["test"]]
    metrics = evaluate_tensor_model(module, test)
    assert metrics["neumann_max"] <= 1e-6 and metrics["equivariance_max"] <= 1e-5
    reloaded = load_tensor_model(info["checkpoint"])
    np.testing.assert_array_equal(predict_tensors(reloaded, test), predict_tensors(module, test))

    out = tmp_path / "cli"
    rc = main(["tensor", "train", "--target", "piezoelectric", "--data-root", str(tensor_root),
               "--max-crystals", "48", "--epochs", "2", "--model-kwargs", json.dumps(SMALL),
               "--output-dir", str(out)])
    assert rc == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["neumann_max"] <= 1e-6
    records = read_tensor_records(tensor_root, "piezoelectric")[:3]
    files = []
    for k, record in enumerate(records):
        path = tmp_path / f"POSCAR_{k}"
        path.write_text(record["poscar"])
        files.append(str(path))
    rc = main(["tensor", "predict", str(out / "best.ckpt"), *files,
               "-o", str(tmp_path / "pred.json")])
    assert rc == 0
    rows = json.loads((tmp_path / "pred.json").read_text())
    from pymatgen.core import Structure

    structures = [Structure.from_str(r["poscar"], fmt="poscar") for r in records]
    python = predict_structures(load_tensor_model(out / "best.ckpt"), structures)
    cli = np.array([r["tensor"] for r in rows])
    np.testing.assert_allclose(cli, python, rtol=0, atol=1e-12 * np.abs(python).max())
    assert np.abs(python).max() > 0
    rc = main(["tensor", "evaluate", str(out / "best.ckpt"), "--part", "test",
               "--no-equivariance"])
    assert rc == 0
    evaluation = json.loads((out / "evaluation_test.json").read_text())
    assert evaluation["crystals"] == len(json.loads((out / "split.json").read_text())["test"])
    torch.testing.assert_close(torch.tensor(evaluation["frobenius_mae"]),
                               torch.tensor(saved["test"]["frobenius_mae"]))
