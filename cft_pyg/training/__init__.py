"""Training engine (Lightning) for cft-pyg models: fit, evaluate, predict.

* :class:`TrainConfig` - every setting of a run (YAML/JSON loadable).
* :func:`fit` / :func:`evaluate` / :func:`predict` / :func:`load_model` - the engine.
* :class:`CrystalPropertyModule` - the LightningModule (regression or classification,
  normalization, AdamW + warm-up/cosine).
* :func:`load_predictor` / :class:`PropertyModel` - a trained model for prediction, without
  Lightning (``predict`` and ``evaluate`` need nothing else).
* :class:`TimeBudget` - train for a budget of seconds instead of epochs (``fit(...,
  budget=...)``).
* ``fit(..., train_transform=..., callbacks=...)`` and ``evaluate(..., predictor=...)`` -
  the hooks through which :mod:`cft_pyg.experimental` (subgroup augmentation, zero-shot
  descent) attaches; nothing here imports it.
* :class:`CrystalDataModule` - loaders with a seeded data order, resumable in the middle of an
  epoch, in batches of ``batch_size`` crystals or of at most ``max_atoms_per_batch`` atoms.
* :func:`evaluation_report` - MAE overall, per space group and per crystal system.
* :class:`TensorPropertyModule`, :func:`fit_tensor_model`, :func:`evaluate_tensor_model` -
  tensor properties with exact symmetry (:mod:`cft_pyg.training.tensors`).
* :func:`screen_report` - per-composition screen metrics (relative-energy MAE, ranking,
  ground-state hits) of candidate structures.
* :func:`build_model` / :func:`register_model` (and ``*_dataset``) - models and datasets
  by name.

Multi-GPU / multi-node training is Lightning's (``devices``, ``num_nodes``, ``strategy``).
"""

import importlib
from typing import Any

# Names are imported on first use (PEP 562), so that `cft-pyg --help` and the config
# module load without torch and Lightning.
_EXPORTS = {
    "TimeBudget": "budget",
    "clock_lr_factor": "budget",
    "ConfigError": "config",
    "TrainConfig": "config",
    "load_config_file": "config",
    "CrystalDataModule": "datamodule",
    "EpochSeededSampler": "datamodule",
    "TrainingOrder": "datamodule",
    "class_statistics": "datamodule",
    "target_statistics": "datamodule",
    "check_resume": "checkpoints",
    "load_model": "checkpoints",
    "load_predictor": "checkpoints",
    "FitResult": "fitting",
    "fit": "fitting",
    "evaluate": "prediction",
    "predict": "prediction",
    "epoch_metrics": "trainer",
    "make_trainer": "trainer",
    "EvaluationReport": "evaluation",
    "classification_report": "evaluation",
    "evaluation_report": "evaluation",
    "format_table": "evaluation",
    "as_crystals": "inputs",
    "featurization_for": "inputs",
    "CrystalPropertyModule": "module",
    "PropertyModel": "property_model",
    "warmup_cosine_factor": "module",
    "available_datasets": "registry",
    "available_models": "registry",
    "build_dataset": "registry",
    "build_model": "registry",
    "model_presets": "registry",
    "register_dataset": "registry",
    "register_model": "registry",
    "TensorPropertyModule": "tensors",
    "evaluate_tensor_model": "tensors",
    "fit_tensor_model": "tensors",
    "load_tensor_model": "tensors",
    "predict_structures": "tensors",
    "predict_tensors": "tensors",
    "tensor_metrics": "tensors",
    "tensor_split": "tensors",
    "ScreenReport": "screening",
    "screen_report": "screening",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
