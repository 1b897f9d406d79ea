"""A trained crystal-property model for prediction, without Lightning.

:class:`PropertyOutputs` is the one definition of what a property model outputs: the model
of :mod:`cft_pyg.nn` built by name, the target normalization of a regression (buffers
``target_mean`` and ``target_std``), the output transform (linear or softplus), the task
(regression or classification) and the per-batch prediction record. Two classes share it:

* :class:`~cft_pyg.training.CrystalPropertyModule`, the LightningModule that trains it;
* :class:`PropertyModel`, a plain :class:`torch.nn.Module` with the same parameters and
  buffers (the same ``state_dict`` keys), built from a checkpoint's hyper-parameters by
  :func:`~cft_pyg.training.load_predictor` and by :func:`cft_pyg.pretrained.load`.
  Prediction (:func:`~cft_pyg.training.predict`) needs nothing else, so ``cft-pyg
  predict`` and ``cft_pyg.pretrained`` do not import Lightning (about half of their
  import time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.featurization import Featurization
from .config import OUTPUTS, TASKS
from .registry import build_model

__all__ = ["PropertyModel", "PropertyOutputs", "checked_options"]


class _Record(dict):
    """A dict whose keys read as attributes (``hparams.task``), as Lightning's
    ``AttributeDict``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def checked_options(task: str, num_classes: int | None, loss: str, output: str,
                    training_groups: list[int] | None,
                    featurization: Featurization | Mapping[str, Any] | None
                    ) -> tuple[list[int] | None, dict[str, Any] | None]:
    """Check the task options of a property model; return the training groups (sorted
    space-group numbers) and the featurization (a validated plain dict) as stored.

    Raises:
        ValueError: an unknown task, loss or output, a classification with fewer than two
            classes or another loss than the cross-entropy, a space group outside 1-230.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "classification" and (num_classes is None or num_classes < 2):
        raise ValueError(f"classification needs num_classes >= 2, got {num_classes}")
    if task == "classification" and loss != "cross_entropy":
        raise ValueError(f"classification uses loss='cross_entropy', got {loss!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if task == "classification" and output != "linear":
        raise ValueError("a classification outputs logits (output='linear')")
    if task == "regression" and loss not in ("mse", "l1", "huber"):
        raise ValueError(f"regression loss must be 'mse', 'l1' or 'huber', got {loss!r}")
    if training_groups is not None:
        training_groups = sorted({int(g) for g in training_groups})
        if not all(1 <= g <= 230 for g in training_groups):
            raise ValueError(f"training_groups must be space-group numbers 1-230, got "
                             f"{training_groups}")
    if isinstance(featurization, Featurization):
        featurization = featurization.to_dict()
    elif featurization is not None:
        featurization = Featurization.from_record(dict(featurization)).to_dict()  # validated
    return training_groups, featurization


def build_property_model(model: str, model_kwargs: Mapping[str, Any] | None, task: str,
                         num_classes: int | None) -> nn.Module:
    """The model of :mod:`cft_pyg.nn` named ``model``, with the outputs of ``task``."""
    kwargs = dict(model_kwargs or {})
    if task == "classification":
        kwargs["out_channels"] = 1 if num_classes == 2 else int(num_classes)
    return build_model(model, **kwargs)


class PropertyOutputs:
    """What a property model outputs (shared by :class:`PropertyModel` and
    :class:`~cft_pyg.training.CrystalPropertyModule`; it needs ``self.model``, the buffers
    ``target_mean`` and ``target_std`` and ``self.hparams``)."""

    model: nn.Module
    target_mean: Tensor
    target_std: Tensor
    hparams: Any

    @property
    def featurization(self) -> Featurization | None:
        """How the training crystals were featurized (``None`` if they record nothing);
        options missing from an older checkpoint take this version's defaults."""
        values = self.hparams.get("featurization")
        return None if not values else Featurization.from_record(values)

    @property
    def training_groups(self) -> list[int] | None:
        """Space groups seen in training (``None``: the checkpoint does not record them)."""
        groups = self.hparams.get("training_groups")
        return None if groups is None else list(groups)

    @property
    def is_classifier(self) -> bool:
        """Whether the task is a classification."""
        return self.hparams.get("task", "regression") == "classification"

    def set_normalization(self, mean: float, std: float) -> None:
        """Set the target normalization (use the training split's statistics)."""
        if not math.isfinite(mean) or not math.isfinite(std) or std <= 0:
            raise ValueError(f"bad target normalization mean={mean}, std={std}")
        self.target_mean.fill_(mean)
        self.target_std.fill_(std)
        self.hparams["target_mean"] = float(mean)
        self.hparams["target_std"] = float(std)

    def target(self, batch: Any) -> Tensor:
        """The learned target of each crystal, shape ``(num_graphs,)``: physical units for a
        regression, integer class labels (``long``) for a classification."""
        y = batch.y
        if y is None:
            raise ValueError("the batch has no targets (data.y)")
        y = y.reshape(batch.num_graphs, -1)[:, self.hparams["target_index"]]
        if self.is_classifier:
            return y.round().long()
        return y.to(self.target_mean.dtype)

    def logits(self, batch: Any) -> Tensor:
        """Raw model output: normalized values (regression), one logit per crystal (binary) or
        ``(num_graphs, num_classes)`` logits (multi-class)."""
        out = self.model(batch)
        if self.is_classifier and self.hparams["num_classes"] > 2:
            return out.reshape(batch.num_graphs, -1)
        return out.reshape(-1)

    def forward(self, batch: Any) -> Tensor:
        """Predictions: physical values ``(num_graphs,)`` (regression), the probability of
        class 1 ``(num_graphs,)`` (binary) or class probabilities
        ``(num_graphs, num_classes)`` (multi-class)."""
        out = self.logits(batch)
        if not self.is_classifier:
            return self._physical(out)
        return torch.sigmoid(out) if self.hparams["num_classes"] == 2 else out.softmax(dim=-1)

    def _physical(self, out: Tensor) -> Tensor:
        """Normalized model output -> physical value (through the softplus if asked)."""
        y = out * self.target_std + self.target_mean
        return F.softplus(y) if self.hparams.get("output", "linear") == "softplus" else y

    def predict_step(self, batch: Any, batch_idx: int = 0, dataloader_idx: int = 0
                     ) -> dict[str, Any]:
        """Per-crystal predictions with what evaluation tables need: ``pred`` (the value, or
        the most probable class) and, for a classification, ``prob`` (class probabilities,
        ``(num_graphs, num_classes)``)."""
        out: dict[str, Any] = {"space_group": batch.space_group.reshape(-1).detach().cpu()}
        pred = self(batch).detach().cpu()
        if self.is_classifier:
            prob = torch.stack([1 - pred, pred], dim=-1) if pred.ndim == 1 else pred
            out["prob"] = prob
            out["pred"] = prob.argmax(dim=-1)
        else:
            out["pred"] = pred
        if getattr(batch, "natoms", None) is not None:
            out["natoms"] = batch.natoms.reshape(-1).detach().cpu()
        if getattr(batch, "y", None) is not None:
            out["y"] = self.target(batch).detach().cpu()
        ids = getattr(batch, "material_id", None)
        if ids is not None:
            out["material_id"] = list(ids) if not isinstance(ids, str) else [ids]
        return out


class PropertyModel(PropertyOutputs, nn.Module):
    """A trained property model for prediction: the model, its target normalization and its
    task, rebuilt from the hyper-parameters a checkpoint records (those of
    :class:`~cft_pyg.training.CrystalPropertyModule`; the training-only ones are kept in
    :attr:`hparams` and unused). Its ``state_dict`` is the LightningModule's.

    Args:
        hparams: the recorded hyper-parameters: ``model``, ``model_kwargs``,
            ``target_mean``, ``target_std``, ``target_index``, ``task``, ``num_classes``,
            ``output``, ``featurization``, ``training_groups``, ... (missing ones take the
            LightningModule's defaults).

    Example::

        from cft_pyg.training import load_predictor, predict

        model = load_predictor("runs/mp20/checkpoints/best.ckpt")
        table = predict(model, ["NaCl.cif"])
    """

    DEFAULTS: ClassVar[dict[str, Any]] = {
        "model": "cft", "model_kwargs": None, "target_mean": 0.0, "target_std": 1.0,
        "target_index": 0, "loss": "mse", "featurization": None, "task": "regression",
        "num_classes": None, "output": "linear", "training_groups": None}

    def __init__(self, hparams: Mapping[str, Any]) -> None:
        super().__init__()
        values = {**self.DEFAULTS, **dict(hparams)}
        groups, featurization = checked_options(
            values["task"], values["num_classes"], values["loss"], values["output"],
            values["training_groups"], values["featurization"])
        values["training_groups"], values["featurization"] = groups, featurization
        self.hparams = _Record(values)
        self.model = build_property_model(values["model"], values["model_kwargs"],
                                          values["task"], values["num_classes"])
        self.register_buffer("target_mean", torch.tensor(float(values["target_mean"])))
        self.register_buffer("target_std", torch.tensor(float(values["target_std"])))
