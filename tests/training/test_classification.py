"""Classification: labels, losses, metrics against scikit-learn, and binary training and
prediction on CGCNN's own ``sample-classification`` through the command line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from cft_pyg.cli import main
from cft_pyg.training import (
    ConfigError,
    TrainConfig,
    class_statistics,
    classification_report,
    evaluate,
    fit,
    load_model,
    load_predictor,
    predict,
)

from ._helpers import make_crystals

TINY = {"model": "test-tiny", "batch_size": 16, "lr": 1e-2, "warmup_epochs": 0.0,
        "progress_bar": False, "accelerator": "cpu", "devices": 1, "patience": None,
        "task": "classification"}


def _labelled(n: int, seed: int, classes: int) -> list:
    """Crystals labelled by a function of composition (learnable by the tiny model)."""
    out = make_crystals(n, seed)
    for d in out:
        frac_light = float((d.z < 10).float().mean())
        d.y = torch.tensor([float(min(classes - 1, int(frac_light * classes)))])
    return out


def test_class_statistics_counts_and_refuses_bad_labels() -> None:
    data = _labelled(40, 0, 3)
    n, counts = class_statistics(data)
    assert n == 3 and sum(counts) == 40
    assert counts == [int(sum(int(d.y) == c for d in data)) for c in range(3)]
    assert class_statistics(data, num_classes=5)[0] == 5
    data[0].y = torch.tensor([0.5])
    with pytest.raises(ValueError, match="integers"):
        class_statistics(data)
    data[0].y = torch.tensor([7.0])
    with pytest.raises(ValueError, match="not below num_classes=3"):
        class_statistics(data, num_classes=3)
    one = _labelled(5, 0, 3)
    for d in one:
        d.y = torch.tensor([1.0])
    with pytest.raises(ValueError, match="at least two classes"):
        class_statistics(one, num_classes=None)


def test_config_checks_task_and_loss() -> None:
    assert TrainConfig(task="classification").resolved_loss == "cross_entropy"
    assert TrainConfig().resolved_loss == "mse"
    with pytest.raises(ConfigError, match="loss of a classification"):
        TrainConfig(task="classification", loss="l1")
    with pytest.raises(ConfigError, match="loss of a regression"):
        TrainConfig(loss="cross_entropy")
    with pytest.raises(ConfigError, match="num_classes"):
        TrainConfig(num_classes=3)


@pytest.mark.parametrize("classes", [2, 4])
def test_report_matches_scikit_learn(classes: int) -> None:
    rng = np.random.default_rng(classes)
    n = 60
    logits = rng.normal(size=(n, classes))
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, classes, n)
    df = pd.DataFrame({"space_group": rng.integers(1, 231, n), "y_true": y,
                       "y_pred": prob.argmax(1),
                       **{f"prob_{c}": prob[:, c] for c in range(classes)}})
    o = classification_report(df, class_counts=[5] + [1] * (classes - 1)).overall
    assert o["accuracy"] == pytest.approx(accuracy_score(y, prob.argmax(1)))
    expected_auc = roc_auc_score(y, prob[:, 1]) if classes == 2 else \
        roc_auc_score(y, prob, multi_class="ovr")
    assert o["roc_auc"] == pytest.approx(expected_auc)
    assert o["cross_entropy"] == pytest.approx(log_loss(y, prob, labels=list(range(classes))))
    assert o["accuracy_majority"] == pytest.approx(float(np.mean(y == 0)))


@pytest.mark.parametrize("classes", [2, 3])
def test_classifier_learns_and_predicts_probabilities(tmp_path: Path, classes: int) -> None:
    train, val = _labelled(160, 0, classes), _labelled(48, 1, classes)
    config = TrainConfig(**TINY, epochs=25, output_dir=str(tmp_path / "run"))
    result = fit(config, train, val, val)
    assert result.monitor == "val_loss" and math.isnan(result.best_val_mae)
    o = result.test_report.overall
    assert o["accuracy"] > o["accuracy_majority"] + 0.1, o
    assert o["roc_auc"] > 0.8, o
    model = load_model(result.best_checkpoint)
    assert model.is_classifier and model.hparams.num_classes == classes
    df = predict(model, val)
    probs = df[[f"prob_{c}" for c in range(classes)]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert (df["y_pred"].to_numpy() == probs.argmax(1)).all()
    assert set(df["y_true"].unique()) <= set(range(classes))
    again = evaluate(model, val).overall
    assert again["accuracy"] == pytest.approx(o["accuracy"])
    light = load_predictor(result.best_checkpoint)  # the same model, without Lightning
    assert light.is_classifier and light.hparams.num_classes == classes
    pd.testing.assert_frame_equal(predict(light, val), df)
    log = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert {"val_loss", "val_accuracy", "val_auc"} <= set(log.columns)
    assert log["train_loss"].dropna().iloc[-1] < log["train_loss"].dropna().iloc[0]


def test_cgcnn_sample_classification_through_the_cli(tmp_path: Path, shared_data_dir: Path,
                                                      capsys) -> None:
    """CGCNN's own binary sample (10 CIFs, labels 0/1 in id_prop.csv): train, evaluate,
    predict probabilities."""
    root = shared_data_dir / "cgcnn_sample" / "sample-classification"
    labels = pd.read_csv(root / "id_prop.csv", header=None, names=["id", "label"])
    run = tmp_path / "run"
    assert main(["train", "--dataset", "cif-folder", "--data-root", str(root),
                 "--task", "classification", "--model", "cgcnn", "--epochs", "4",
                 "--batch-size", "4", "--val-fraction", "0.2", "--test-fraction", "0.2",
                 "--warmup-epochs", "0", "--no-progress", "--output-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "best validation cross-entropy" in out and "accuracy" in out and "ROC-AUC" in out
    ckpt = run / "checkpoints" / "best.ckpt"
    assert main(["evaluate", str(ckpt), "--part", "all", "--output-dir",
                 str(tmp_path / "eval")]) == 0
    metrics = pd.read_json(tmp_path / "eval" / "metrics.json", typ="series")
    assert metrics["overall"]["n"] == len(labels)
    csv = tmp_path / "pred.csv"
    assert main(["predict", str(ckpt), str(root), "-o", str(csv)]) == 0
    df = pd.read_csv(csv)
    assert len(df) == len(labels)
    assert set(df["prediction"]) <= {0, 1}
    np.testing.assert_allclose(df["prob_0"] + df["prob_1"], 1.0, atol=1e-6)
    assert ((df["prob_1"] > 0.5).astype(int) == df["prediction"]).all()
