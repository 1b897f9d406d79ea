"""The training engine, by job (this module keeps the names importable where they were):

* :mod:`~cft_pyg.training.fitting` - :func:`fit` and :class:`FitResult`;
* :mod:`~cft_pyg.training.trainer` - the Lightning trainer, its callbacks, the metrics table;
* :mod:`~cft_pyg.training.prediction` - :func:`predict` and :func:`evaluate`;
* :mod:`~cft_pyg.training.checkpoints` - :func:`load_model`, the version policy and the
  checks of a resumed run.
"""

from __future__ import annotations

from .checkpoints import CHECKPOINT_COMPATIBLE, check_library_version, check_resume, load_model
from .fitting import FitResult, fit, model_kwargs_for
from .prediction import PROGRESS_FROM, evaluate, predict
from .trainer import TrainingClock, epoch_metrics, make_trainer, resolve_strategy

__all__ = ["CHECKPOINT_COMPATIBLE", "PROGRESS_FROM", "FitResult", "TrainingClock",
           "check_library_version", "check_resume", "epoch_metrics", "evaluate", "fit",
           "load_model", "make_trainer", "model_kwargs_for", "predict", "resolve_strategy"]
