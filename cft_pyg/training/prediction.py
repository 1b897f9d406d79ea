"""predict / evaluate: a trained model on crystals, as a table or as metrics."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import pandas as pd

from .config import TrainConfig
from .datamodule import CrystalDataModule
from .domain import warn_outside
from .evaluation import EvaluationReport, classification_report, evaluation_report
from .module import CrystalPropertyModule
from .quiet import quiet_lightning

__all__ = ["PROGRESS_FROM", "checked_inputs", "evaluate", "predict", "prediction_frame"]


PROGRESS_FROM = 1000
"""Python :func:`predict` shows a progress bar from this many crystals on (unless told)."""


def _predict_rows(module: CrystalPropertyModule, dataset: Sequence[Any], batch_size: int,
                  config: TrainConfig | None, progress: bool | None) -> list[dict[str, Any]]:
    cfg = config or TrainConfig(progress_bar=False)
    if progress is None:
        progress = cfg.progress_bar if config is not None else len(dataset) >= PROGRESS_FROM
    with quiet_lightning():
        trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, precision=cfg.precision,
                            logger=False, enable_checkpointing=False,
                            enable_progress_bar=progress, enable_model_summary=False,
                            default_root_dir=cfg.output_dir)
        data = CrystalDataModule(predict=dataset, batch_size=batch_size)
        outputs = trainer.predict(module, datamodule=data)
    return outputs or []


def _warn_if_trained_on(module: Any, dataset: Any) -> None:
    """Warn when ``dataset`` is a part of the data a shipped model was trained on.

    ``module.trained_on`` (set by :func:`cft_pyg.pretrained.load`) names the dataset and the
    parts (``split=``) that contain its training crystals.
    """
    seen = getattr(module, "trained_on", None)
    if not seen or getattr(dataset, "name", None) != seen["dataset"]:
        return
    part = getattr(dataset, "split", None)
    if part in seen["overlapping_parts"]:
        warnings.warn(
            f"{type(dataset).__name__}(split={part!r}) contains the training crystals of "
            f"{seen['model']!r} (trained on {seen['part']}, which pools CDVAE's val and test "
            f"files): its errors here are not test errors. Use split='project-test', or "
            f"drop cft_pyg.pretrained.training_ids({seen['model']!r}, data_root).",
            UserWarning, stacklevel=3)


def predict(module: CrystalPropertyModule, dataset: Sequence[Any], batch_size: int = 64,
            config: TrainConfig | None = None, *, progress: bool | None = None
            ) -> pd.DataFrame:
    """Per-crystal predictions as a DataFrame, in dataset order: ``material_id`` when known,
    ``space_group``, ``natoms``, ``y_pred`` (the value, or the most probable class of a
    classifier), ``prob_<c>`` for every class ``c`` of a classifier, and ``y_true`` when the
    data has targets.

    One warning (:func:`~cft_pyg.training.domain.warn_outside`) names the crystals outside
    the model's measured domain (larger cells, elements absent from its training crystals).

    Lightning's banners are kept off the terminal
    (:func:`~cft_pyg.training.quiet.quiet_lightning`); its warnings still pass.

    Args:
        module: the model (e.g. :func:`load_model` or :func:`cft_pyg.pretrained.load`).
        dataset: the crystals: ``Data`` built with the model's featurization (a list or a
            dataset), or structure file paths (any format :func:`cft_pyg.data.from_file`
            reads; a folder: its structure files) and pymatgen ``Structure`` / ASE ``Atoms``
            objects, one or a list, featurized as the model's training crystals
            (:func:`~cft_pyg.training.inputs.as_crystals`).
        batch_size: crystals per batch.
        config: hardware settings (accelerator, precision); default CPU-or-auto, float32.
        progress: show a progress bar; ``None``: from :data:`PROGRESS_FROM` crystals on (or
            ``config.progress_bar`` when a config is given).
    """
    dataset = checked_inputs(module, dataset)
    return prediction_frame(module, dataset, batch_size, config, progress)


def checked_inputs(module: CrystalPropertyModule, dataset: Sequence[Any]) -> Sequence[Any]:
    """The crystals of :func:`predict` as ``Data`` (:func:`~cft_pyg.training.inputs.as_crystals`),
    after its warnings: crystals the model was trained on, crystals outside its domain."""
    from .inputs import as_crystals

    _warn_if_trained_on(module, dataset)
    dataset = as_crystals(dataset, module)
    warn_outside(module, dataset)
    return dataset


def prediction_frame(module: CrystalPropertyModule, dataset: Sequence[Any], batch_size: int,
                      config: TrainConfig | None, progress: bool | None) -> pd.DataFrame:
    """The frame of :func:`predict`, one row per item of ``dataset`` (``Data`` already
    checked: :func:`checked_inputs`)."""
    frames = []
    for out in _predict_rows(module, dataset, batch_size, config, progress):
        cols: dict[str, Any] = {}
        if "material_id" in out:
            cols["material_id"] = out["material_id"]
        cols["space_group"] = out["space_group"].numpy()
        if "natoms" in out:
            cols["natoms"] = out["natoms"].numpy()
        if "prob" in out:  # classifier: labels, predicted class, class probabilities
            if "y" in out:
                cols["y_true"] = out["y"].numpy().astype(int)
            cols["y_pred"] = out["pred"].numpy().astype(int)
            for c in range(out["prob"].shape[1]):
                cols[f"prob_{c}"] = out["prob"][:, c].double().numpy()
        else:
            if "y" in out:
                cols["y_true"] = out["y"].double().numpy()
            cols["y_pred"] = out["pred"].double().numpy()
        frames.append(pd.DataFrame(cols))
    if not frames:
        return pd.DataFrame(columns=["space_group", "y_pred"])
    return pd.concat(frames, ignore_index=True)


def evaluate(module: CrystalPropertyModule, dataset: Sequence[Any], batch_size: int = 64,
             config: TrainConfig | None = None, *,
             predictor: Callable[..., pd.DataFrame] | None = None) -> EvaluationReport:
    """Metrics overall, per space group and per crystal system of ``module`` on ``dataset``
    (``predictor``: the prediction function, called as ``predictor(module, dataset,
    batch_size=..., config=...)``; default :func:`predict`).

    Regression: MAE, RMSE, R²; ``overall['mae_predict_mean']`` is the MAE of predicting the
    training mean (stored in the checkpoint), the baseline every model must beat.
    Classification: accuracy, ROC-AUC and cross-entropy (:func:`classification_report`);
    ``overall['accuracy_majority']`` is the accuracy of always predicting the most frequent
    training class.
    """
    df = (predictor or predict)(module, dataset, batch_size=batch_size, config=config)
    if "y_true" not in df.columns:
        raise ValueError("the dataset has no targets (data.y); use predict instead")
    if module.is_classifier:
        return classification_report(df, class_counts=module.hparams.get("class_counts"))
    return evaluation_report(df, reference_value=float(module.target_mean))
