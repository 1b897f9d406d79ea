"""predict / evaluate: a trained model on crystals, as a table or as metrics.

Prediction is a plain loop (no Lightning): a model loaded for prediction
(:func:`~cft_pyg.training.load_predictor`, :func:`cft_pyg.pretrained.load`) and this module
import torch, PyG and pandas only.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import torch
from torch_geometric.loader import DataLoader

from .config import TrainConfig
from .domain import warn_outside
from .evaluation import EvaluationReport, classification_report, evaluation_report
from .property_model import PropertyOutputs
from .quiet import on_terminal

__all__ = ["PROGRESS_FROM", "checked_inputs", "evaluate", "predict", "prediction_frame"]


PROGRESS_FROM = 1000
"""Python :func:`predict` shows a progress bar from this many crystals on (unless told)."""

_AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
_FULL = ("32-true", "32")


def _device(module: torch.nn.Module, accelerator: str) -> torch.device:
    """Where to predict: ``'cpu'``; ``'gpu'``/``'cuda'`` (refused without CUDA); ``'auto'``:
    the module's own device, or CUDA when the module is on the CPU and CUDA is present."""
    if accelerator == "cpu":
        return torch.device("cpu")
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda"):
        if not cuda:
            raise ValueError(f"accelerator {accelerator!r} asked for, but no CUDA device is "
                             "present (use accelerator='cpu' or 'auto')")
        return torch.device("cuda")
    if accelerator != "auto":
        raise ValueError(f"prediction runs on accelerator 'cpu', 'gpu' or 'auto', got "
                         f"{accelerator!r}")
    own = next(module.parameters()).device
    return torch.device("cuda") if own.type == "cpu" and cuda else own


def _precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast of a mixed ``precision`` (``'32-true'``: none)."""
    if precision in _FULL:
        return contextlib.nullcontext()
    if precision not in _AUTOCAST:
        raise ValueError(f"prediction runs in precision {', '.join(_FULL + tuple(_AUTOCAST))},"
                         f" got {precision!r}")
    return torch.autocast(device.type, dtype=_AUTOCAST[precision])


def _batches(dataset: Sequence[Any], batch_size: int, progress: bool) -> Iterator[Any]:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    if not progress or not on_terminal():
        yield from loader  # a log file gets no bar (issue 39: bars filled logs)
        return
    from tqdm.auto import tqdm

    with tqdm(total=len(dataset), desc="predict", unit="crystal") as bar:
        for batch in loader:
            yield batch
            bar.update(batch.num_graphs)


def _predict_rows(module: PropertyOutputs, dataset: Sequence[Any], batch_size: int,
                  config: TrainConfig | None, progress: bool | None) -> list[dict[str, Any]]:
    cfg = config or TrainConfig(progress_bar=False)
    if progress is None:
        progress = cfg.progress_bar if config is not None else len(dataset) >= PROGRESS_FROM
    if len(dataset) == 0:
        return []
    device = _device(module, cfg.accelerator)
    start_device = next(module.parameters()).device
    was_training = module.training
    module.to(device).eval()
    rows = []
    try:
        with torch.no_grad(), _precision(str(cfg.precision), device):
            for i, batch in enumerate(_batches(dataset, batch_size, progress)):
                rows.append(module.predict_step(batch.to(device), i))
    finally:
        module.to(start_device).train(was_training)
    return rows


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
        note = f", {seen['part_note']}" if seen.get("part_note") else ""
        warnings.warn(
            f"{type(dataset).__name__}(split={part!r}) contains the training crystals of "
            f"{seen['model']!r} (trained on {seen['part']}{note}): its errors here are not "
            f"test errors. Use split={seen.get('test_part', 'project-test')!r}, or "
            f"drop cft_pyg.pretrained.training_ids({seen['model']!r}, data_root).",
            UserWarning, stacklevel=3)


def predict(module: PropertyOutputs, dataset: Sequence[Any], batch_size: int = 64,
            config: TrainConfig | None = None, *, progress: bool | None = None
            ) -> pd.DataFrame:
    """Per-crystal predictions as a DataFrame, in dataset order: ``material_id`` when known,
    ``space_group``, ``natoms``, ``y_pred`` (the value, or the most probable class of a
    classifier), ``prob_<c>`` for every class ``c`` of a classifier, and ``y_true`` when the
    data has targets.

    One warning (:func:`~cft_pyg.training.domain.warn_outside`) names the crystals outside
    the model's measured domain (larger cells, elements absent from its training crystals).

    Args:
        module: the model (:func:`load_predictor`, :func:`cft_pyg.pretrained.load`, or a
            :class:`CrystalPropertyModule` in training).
        dataset: the crystals: ``Data`` built with the model's featurization (a list or a
            dataset), or structure file paths (any format :func:`cft_pyg.data.from_file`
            reads; a folder: its structure files) and pymatgen ``Structure`` / ASE ``Atoms``
            objects, one or a list, featurized as the model's training crystals
            (:func:`~cft_pyg.training.inputs.as_crystals`).
        batch_size: crystals per batch.
        config: hardware settings: ``accelerator`` (``'cpu'``, ``'gpu'`` or ``'auto'``) and
            ``precision`` (``'32-true'``, ``'bf16-mixed'`` or ``'16-mixed'``); default
            ``'auto'`` and ``'32-true'``. The module is left on its device and in its mode.
        progress: show a progress bar; ``None``: from :data:`PROGRESS_FROM` crystals on (or
            ``config.progress_bar`` when a config is given).
    """
    dataset = checked_inputs(module, dataset)
    return prediction_frame(module, dataset, batch_size, config, progress)


def checked_inputs(module: PropertyOutputs, dataset: Sequence[Any]) -> Sequence[Any]:
    """The crystals of :func:`predict` as ``Data`` (:func:`~cft_pyg.training.inputs.as_crystals`),
    after its warnings: crystals the model was trained on, crystals outside its domain."""
    from .inputs import as_crystals

    _warn_if_trained_on(module, dataset)
    dataset = as_crystals(dataset, module)
    warn_outside(module, dataset)
    return dataset


def prediction_frame(module: PropertyOutputs, dataset: Sequence[Any], batch_size: int,
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


def evaluate(module: PropertyOutputs, dataset: Sequence[Any], batch_size: int = 64,
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
