"""Training engine (Lightning) for cft-pyg models: fit, evaluate, predict.

* :class:`TrainConfig` - every setting of a run (YAML/JSON loadable).
* :func:`fit` / :func:`evaluate` / :func:`predict` / :func:`load_model` - the engine.
* :class:`CrystalRegressor` - the LightningModule (normalization, AdamW + warm-up/cosine).
* :class:`CrystalDataModule` - loaders with a resumable, seeded data order.
* :func:`evaluation_report` - MAE overall, per space group and per crystal system.
* :func:`build_model` / :func:`register_model` (and ``*_dataset``) - models and datasets
  by name.

Multi-GPU / multi-node training is Lightning's (``devices``, ``num_nodes``, ``strategy``).
"""

from .config import ConfigError, TrainConfig, load_config_file
from .datamodule import CrystalDataModule, EpochSeededSampler, target_statistics
from .engine import FitResult, epoch_metrics, evaluate, fit, load_model, make_trainer, predict
from .evaluation import EvaluationReport, evaluation_report, format_table
from .module import CrystalRegressor, warmup_cosine_factor
from .registry import (
    available_datasets,
    available_models,
    build_dataset,
    build_model,
    model_presets,
    register_dataset,
    register_model,
)

__all__ = [
    "ConfigError",
    "CrystalDataModule",
    "CrystalRegressor",
    "EpochSeededSampler",
    "EvaluationReport",
    "FitResult",
    "TrainConfig",
    "available_datasets",
    "available_models",
    "build_dataset",
    "build_model",
    "epoch_metrics",
    "evaluate",
    "evaluation_report",
    "fit",
    "format_table",
    "load_config_file",
    "load_model",
    "make_trainer",
    "model_presets",
    "predict",
    "register_dataset",
    "register_model",
    "target_statistics",
    "warmup_cosine_factor",
]
