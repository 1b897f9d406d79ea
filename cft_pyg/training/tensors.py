r"""Training, prediction and evaluation of tensor properties (dielectric, piezo, elastic).

:class:`TensorPropertyModule` is a LightningModule around a registry backbone and a
:class:`~cft_pyg.nn.TensorHead`.  Targets are full Cartesian tensors in each crystal's input
frame (``Data.y`` ``(1, 3**n)``, :class:`~cft_pyg.data.MPTensors`); the loss is the mean
squared Frobenius error divided by ``s**2`` (``s`` the training tensors' coefficient scale),
the same in every frame because the frame maps are orthogonal.

Normalization is equivariant: the head adds a mean tensor **of the standardized frame** (the
training targets rotated there by ``std_rotation``, averaged, then projected per group like
every prediction) and scales its MLP by one number ``s``; a per-component shift or scale in
the input frame would break the rotation of the output with the input (``mode='raw'``, the
baseline, uses the input-frame mean, which is what a model without a frame can do).

Metrics (:func:`tensor_metrics`), per crystal then averaged:

* Frobenius error :math:`\|\hat T - T\|_F` and its ratio to :math:`\|T\|_F`;
* per-component MAE of the Voigt form (no factors, :func:`~cft_pyg.symmetry.tensors.to_voigt`);
* derived scalars (:func:`derived_scalars`): dielectric: the polycrystalline average
  :math:`\mathrm{tr}\,\varepsilon/3`; elastic: Voigt-Reuss-Hill bulk and shear moduli;
  piezoelectric: the largest longitudinal coefficient :math:`\max_{|n|=1} |e_{ijk}n_in_jn_k|`;
* the Neumann violation of every prediction (:func:`neumann_violations`) and the
  rotation/mirror equivariance error (:func:`equivariance_errors`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from ..data.featurization import Featurization
from ..data.tensors import TENSOR_KIND, TENSOR_TARGETS
from ..nn.backbone import Backbone
from ..nn.heads import BackboneModel
from ..nn.tensor_head import TensorModel, input_to_standardized
from ..symmetry.space_group import SpaceGroup
from ..symmetry.tensors import TENSOR_TYPES, rotate_tensor
from .module import parameter_groups, warmup_cosine_factor
from .quiet import quiet_lightning
from .registry import build_model
from .tensor_metrics import derived_scalars, neumann_violations, tensor_metrics

__all__ = ["TensorPropertyModule", "derived_scalars", "equivariance_errors",
           "evaluate_tensor_model", "fit_tensor_model", "load_tensor_model",
           "neumann_violations", "predict_structures",
           "predict_tensors", "random_frame", "rotated_inputs", "split_indices", "tensor_metrics",
           "tensor_backbone", "tensor_split"]

Mode = Literal["symmetric", "raw"]


def tensor_backbone(model: str, model_kwargs: dict[str, Any] | None = None,
                    ) -> tuple[nn.Module, bool]:
    """The backbone of registry model ``model`` for a tensor head, and whether it is frozen.

    A registry model that is itself a backbone (CGCNN, the CFT models, matgl's models) is
    used as it is (its own scalar read-out is not used); one that is a backbone with a head
    (:class:`~cft_pyg.nn.heads.BackboneModel`: ``'chgnet'``, ``'chgnet-frozen'``) gives its
    backbone and its ``freeze_backbone``, its scalar head dropped.

    Raises:
        TypeError: the model is neither a backbone nor a backbone with a head.
    """
    built = build_model(model, **dict(model_kwargs or {}))
    if isinstance(built, BackboneModel):
        return built.backbone, built.freeze_backbone
    if not isinstance(built, Backbone):
        raise TypeError(f"model {model!r} ({type(built).__name__}) is not a Backbone (needs "
                        "feature_dim and crystal_features(data))")
    return built, False


class TensorPropertyModule(L.LightningModule):
    """A tensor property model: registry backbone + :class:`~cft_pyg.nn.TensorHead`.

    Args:
        target: ``'dielectric'``, ``'dielectric-electronic'``, ``'piezoelectric'`` or
            ``'elastic'`` (:data:`cft_pyg.data.tensors.TENSOR_TARGETS`).
        model: registered model name whose backbone is used (``'cgcnn'``, ``'cft'``,
            ``'megnet'``, ``'chgnet'``, ``'chgnet-frozen'``, ...; :func:`tensor_backbone`),
            or ``'e3nn'`` for the
            E(3)-equivariant baseline :class:`~cft_pyg.nn.e3nn_tensor.E3nnTensorModel`
            (its own Cartesian output, no head; ``mode`` is ignored).
        model_kwargs: its constructor's keyword arguments.
        mode: ``'symmetric'`` (exact, default) or ``'raw'`` (baseline: components in the
            input frame, no projection).
        hidden, num_layers: the head's MLP.
        lr, weight_decay, warmup_fraction: AdamW with linear warm-up (fraction of the steps)
            and cosine decay over the run's epochs.
        seed: seed of the run (recorded).
        featurization: of the training crystals (recorded, used by :func:`predict_structures`).
        training_groups: space groups of the training crystals (recorded).
        freeze_backbone: keep the backbone's weights fixed and train the head only (its
            features cached per crystal); registry names that are frozen backbones with a
            head (``'chgnet-frozen'``) are frozen whatever this says.
    """

    def __init__(self, target: str = "elastic", model: str = "cgcnn",
                 model_kwargs: dict[str, Any] | None = None, mode: Mode = "symmetric",
                 hidden: int = 128, num_layers: int = 1, lr: float = 1e-3,
                 weight_decay: float = 1e-4, warmup_fraction: float = 0.05, seed: int = 0,
                 featurization: dict[str, Any] | None = None,
                 training_groups: list[int] | None = None,
                 freeze_backbone: bool = False) -> None:
        super().__init__()
        if target not in TENSOR_TARGETS:
            raise ValueError(f"unknown tensor target {target!r}; one of "
                             f"{sorted(TENSOR_TARGETS)}")
        if isinstance(featurization, Featurization):
            featurization = featurization.to_dict()
        self.save_hyperparameters()
        if model == "e3nn":  # the E(3)-equivariant baseline: its own Cartesian output
            from ..nn.e3nn_tensor import E3nnTensorModel

            self.model = E3nnTensorModel(TENSOR_KIND[target], **dict(model_kwargs or {}))
        else:
            backbone, frozen = tensor_backbone(model, model_kwargs)
            frozen = frozen or freeze_backbone
            self.model = TensorModel(backbone, TENSOR_KIND[target], hidden=hidden,
                                     num_layers=num_layers, mode=mode, freeze_backbone=frozen,
                                     feature_cache_size=20000 if frozen else 0)

    @property
    def rank(self) -> int:
        return TENSOR_TARGETS[self.hparams.target][2]

    @property
    def kind(self) -> str:
        return TENSOR_KIND[self.hparams.target]

    @property
    def featurization(self) -> Featurization | None:
        values = self.hparams.get("featurization")
        return None if not values else Featurization.from_dict(values)

    def set_normalization(self, train: Sequence[Data]) -> None:
        """Mean tensor (standardized frame; input frame for ``mode='raw'``) and coefficient
        scale ``s`` from the training crystals."""
        batch = Batch.from_data_list(list(train))
        y = batch.y.reshape((batch.num_graphs,) + (3,) * self.rank).double()
        if self.hparams.mode == "symmetric":
            y = input_to_standardized(y, batch.std_rotation.double(), self.rank)
        mean = y.mean(dim=0)
        centred = (y - mean).reshape(batch.num_graphs, -1)
        m = TENSOR_TYPES[self.kind].symmetric_dimension
        scale = float(torch.sqrt((centred ** 2).sum(dim=1).mean() / m))
        if self.hparams.model == "e3nn":
            self.model.set_scale(max(scale, 1e-12))
            return
        self.model.head.set_normalization(mean.numpy(), max(scale, 1e-12))

    def forward(self, batch: Data | Batch) -> Tensor:
        """``(B, 3, ..., 3)`` tensors in each crystal's input frame (float32)."""
        return self.model(batch)

    def _loss(self, batch: Batch) -> Tensor:
        pred = self(batch).reshape(batch.num_graphs, -1)
        target = batch.y.reshape(batch.num_graphs, -1).to(pred.dtype)
        scale = self._scale().to(pred.dtype)
        return ((pred - target) / scale).pow(2).sum(dim=1).mean()

    def _scale(self) -> Tensor:
        return self.model.scale if self.hparams.model == "e3nn" else self.model.head.scale

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch.num_graphs)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        pred = self(batch).reshape(batch.num_graphs, -1).double()
        target = batch.y.reshape(batch.num_graphs, -1).double()
        err = torch.linalg.norm(pred - target, dim=1)
        self.log("val_loss", self._loss(batch), on_step=False, on_epoch=True,
                 batch_size=batch.num_graphs)
        self.log("val_frobenius", err.mean(), on_step=False, on_epoch=True,
                 batch_size=batch.num_graphs)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(parameter_groups(self.model, self.hparams.weight_decay),
                                      lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(int(self.hparams.warmup_fraction * total), max(0, total - 1))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine_factor(step, warmup, total, 0.0))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}


# ------------------------------------------------------------------------------------ runs
def split_indices(n: int, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.1,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into train / val / test index arrays."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in (0, 1) with sum < 1")
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = round(test_fraction * n), round(val_fraction * n)
    return np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val]), \
        np.sort(order[:n_test])


def fit_tensor_model(target: str, train: Sequence[Data], val: Sequence[Data], *,
                     model: str = "cgcnn", model_kwargs: dict[str, Any] | None = None,
                     mode: Mode = "symmetric", epochs: int = 100,
                     time_budget_s: float | None = None, batch_size: int = 32,
                     lr: float = 1e-3, weight_decay: float = 1e-4, hidden: int = 128,
                     seed: int = 0, output_dir: str | Path | None = None,
                     progress: bool = False, freeze_backbone: bool = False,
                     clock: Literal["wall", "cpu"] = "wall",
                     ) -> tuple[TensorPropertyModule, dict[str, Any]]:
    """Train a tensor model; the weights of the epoch with the lowest validation loss are
    kept (and written to ``output_dir/best.ckpt`` when given).

    Args:
        target: tensor target name.
        train, val: crystals with ``y`` (full tensors in their input frames).
        model, model_kwargs, mode, hidden, lr, weight_decay: see :class:`TensorPropertyModule`.
        epochs: epochs of the schedule (the cosine decay spans them).
        time_budget_s: stop after this many seconds of training, validation included
            (``None``: all epochs), checked after every batch.
        clock: the clock of ``time_budget_s``: ``'wall'`` (elapsed seconds, Lightning's
            ``max_time``) or ``'cpu'`` (:func:`time.process_time` of this process: with one
            torch thread, the same computation whatever else runs on the machine).
        batch_size: crystals per batch.
        seed: seeds the weights and the batch order.
        output_dir: folder for ``best.ckpt`` (``None``: nothing written).
        progress: Lightning's progress bar.
        freeze_backbone: train the head only (see :class:`TensorPropertyModule`).

    Returns:
        ``(module, info)``: the module in eval mode and ``{'epochs', 'epochs_seen',
        'train_seconds', 'cpu_seconds', 'clock', 'best_val_loss', 'checkpoint'}``
        (``epochs``: completed epochs; ``epochs_seen``: optimizer steps over the batches of
        an epoch, fractional; ``best_val_loss`` infinite when no epoch completed, and then the
        last weights are kept).
    """
    with quiet_lightning():
        L.seed_everything(seed, workers=True, verbose=False)
    featurization = getattr(train[0], "featurization", None)
    groups = sorted({int(d.space_group) for d in train})
    module = TensorPropertyModule(
        target, model, model_kwargs, mode=mode, hidden=hidden, lr=lr,
        weight_decay=weight_decay, seed=seed, freeze_backbone=freeze_backbone,
        featurization=Featurization.from_json(featurization).to_dict() if featurization
        else None, training_groups=groups)
    module.set_normalization(train)
    callbacks: list[Any] = []
    root = Path(output_dir) if output_dir is not None else None
    best = _BestWeights()
    callbacks.append(best)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(list(train), batch_size=batch_size, shuffle=True,
                              generator=generator)
    val_loader = DataLoader(list(val), batch_size=128)
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    if time_budget_s and clock == "cpu":
        callbacks.append(_CPUTimeLimit(time_budget_s))
    with quiet_lightning():
        trainer = _trainer(epochs, progress, callbacks,
                           time_budget_s if clock == "wall" else None)
    start, cpu = time.perf_counter(), time.process_time()
    with quiet_lightning():
        trainer.fit(module, train_loader, val_loader)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if best.state is not None:
        module.load_state_dict(best.state)
    module.eval()
    checkpoint = None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        checkpoint = root / "best.ckpt"
        trainer.save_checkpoint(checkpoint, weights_only=True)
        # save_checkpoint stores the live weights: overwrite them with the best ones
        payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
        payload["state_dict"] = {k: v.clone() for k, v in module.state_dict().items()}
        torch.save(payload, checkpoint)
    steps_per_epoch = max(1, len(train_loader))
    return module, {"epochs": int(trainer.current_epoch),
                    "epochs_seen": trainer.global_step / steps_per_epoch,
                    "train_seconds": seconds, "cpu_seconds": cpu, "clock": clock,
                    "best_val_loss": best.value, "checkpoint": str(checkpoint)
                    if checkpoint else None}


def _trainer(epochs: int, progress: bool, callbacks: list[Any],
             time_budget_s: float | None) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False,
                     enable_checkpointing=False, enable_progress_bar=progress,
                     enable_model_summary=False, callbacks=callbacks,
                     max_time={"seconds": time_budget_s} if time_budget_s else None,
                     num_sanity_val_steps=0)


class _CPUTimeLimit(L.Callback):
    """Stops training once ``seconds`` of this process's CPU time have passed since the
    start of training (checked after every batch and every epoch)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.start = 0.0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start = time.process_time()

    def _check(self, trainer: L.Trainer) -> None:
        if time.process_time() - self.start >= self.seconds:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._check(trainer)


class _BestWeights(L.Callback):
    """Keeps a copy of the weights of the epoch with the lowest ``val_loss``."""

    def __init__(self) -> None:
        self.value = math.inf
        self.state: dict[str, Tensor] | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("val_loss")
        if value is not None and float(value) < self.value:
            self.value = float(value)
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}


def load_tensor_model(checkpoint: str | Path) -> TensorPropertyModule:
    """A :class:`TensorPropertyModule` from a checkpoint of :func:`fit_tensor_model`."""
    module = TensorPropertyModule.load_from_checkpoint(str(checkpoint), map_location="cpu",
                                                       weights_only=False)
    return module.eval()


@torch.no_grad()
def predict_tensors(module: TensorPropertyModule, crystals: Sequence[Data],
                    batch_size: int = 64) -> np.ndarray:
    """``(N, 3, ..., 3)`` float64 predicted tensors, each in its crystal's input frame."""
    module.eval()
    out = [module(batch).double().cpu().numpy()
           for batch in DataLoader(list(crystals), batch_size=batch_size)]
    return np.concatenate(out) if out else np.zeros((0,) + (3,) * module.rank)


def predict_structures(module: TensorPropertyModule, structures: Sequence[Any],
                       batch_size: int = 64) -> np.ndarray:
    """Tensors for structures (pymatgen, ASE or ``(lattice, frac, numbers)``), each in **the
    Cartesian frame of the structure given**, featurized as the training crystals were."""
    from ..data.structure import from_structure

    crystals = [from_structure(s, module.featurization) for s in structures]
    return predict_tensors(module, crystals, batch_size)


def random_frame(rng: np.random.Generator, improper: bool = False) -> np.ndarray:
    """A Haar-random ``(3, 3)`` rotation (``improper``: a rotation times the mirror
    ``z -> -z``, determinant -1)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    q = q if np.linalg.det(q) > 0 else -q
    return q @ np.diag([1.0, 1.0, -1.0]) if improper else q


def rotated_inputs(module: TensorPropertyModule, crystals: Sequence[Data], *, seed: int = 0,
                   batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for the crystals re-described in randomly turned frames.

    Every crystal's standardized description is turned by a random orthogonal ``Q`` (proper
    for even indices of the list, improper for odd ones: rotations and mirrors) and
    standardized again.

    Returns:
        ``(pred, maps)``: ``(N, 3, ..., 3)`` predictions in the turned frames and ``(N, 3, 3)``
        the maps ``Q R`` from each crystal's original input frame to its turned frame (so a
        tensor ``T`` of the original frame is ``(QR).T`` there).
    """
    from ..data.structure import from_structure

    rng = np.random.default_rng(seed)
    moved, maps = [], []
    for i, data in enumerate(crystals):
        q = random_frame(rng, improper=bool(i % 2))
        L = data.cell.reshape(3, 3).double().numpy()
        frac = data.frac_coords.double().numpy()
        moved.append(from_structure((L @ q.T, frac, data.z.numpy()), module.featurization))
        maps.append(q @ data.std_rotation.reshape(3, 3).double().numpy())
    return predict_tensors(module, moved, batch_size), np.stack(maps)


def equivariance_errors(module: TensorPropertyModule, crystals: Sequence[Data], *,
                        seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """``(N,)`` relative equivariance error of each crystal under a random orthogonal map
    (:func:`rotated_inputs`): ``||T(Q crystal) - (QR).T(crystal)||_F / ||T(crystal)||_F``
    (``R.T(crystal)`` is the prediction in the standardized frame, so the input frame of the
    original description does not matter)."""
    base = predict_tensors(module, crystals, batch_size)
    out, maps = rotated_inputs(module, crystals, seed=seed, batch_size=batch_size)
    err = np.empty(len(crystals))
    for i in range(len(crystals)):
        expected = rotate_tensor(base[i], maps[i])
        norm = max(np.linalg.norm(base[i]), 1e-30)
        err[i] = np.linalg.norm(out[i] - expected) / norm
    return err


# ------------------------------------------------------------------------------ protocol
def tensor_split(crystals: Sequence[Data], seed: int, *, holdout_family: str | None = None,
                 val_fraction: float = 0.1, test_fraction: float = 0.1,
                 ) -> dict[str, list[int]]:
    """Indices of ``train``, ``val``, ``test`` (seeded random split) and ``zeroshot``.

    Args:
        crystals: the dataset.
        seed: seed of the random split.
        holdout_family: a crystal family (``'hexagonal'`` = trigonal + hexagonal systems,
            ``'cubic'``, ...): its crystals are all moved to ``zeroshot`` and none is trained
            or validated on.
        val_fraction, test_fraction: of the crystals outside the held-out family.
    """
    families = [SpaceGroup(int(d.space_group)).crystal_family for d in crystals]
    if holdout_family is not None and holdout_family not in set(families):
        raise ValueError(f"no crystal of family {holdout_family!r} in the data "
                         f"(families: {sorted(set(families))})")
    inside = np.array([i for i, f in enumerate(families) if f != holdout_family])
    tr, va, te = split_indices(len(inside), seed, val_fraction, test_fraction)
    zeroshot = [i for i, f in enumerate(families) if f == holdout_family]
    return {"train": inside[tr].tolist(), "val": inside[va].tolist(),
            "test": inside[te].tolist(), "zeroshot": zeroshot}


def evaluate_tensor_model(module: TensorPropertyModule, crystals: Sequence[Data], *,
                          equivariance: bool = True, seed: int = 0) -> dict[str, Any]:
    """Metrics of :func:`tensor_metrics` plus the largest and median Neumann violation and
    (with ``equivariance``) equivariance error over the crystals, and their count."""
    crystals = list(crystals)
    pred = predict_tensors(module, crystals)
    target = np.stack([d.y.reshape((3,) * module.rank).double().numpy() for d in crystals])
    out: dict[str, Any] = {"crystals": len(crystals),
                           **tensor_metrics(pred, target, module.kind)}
    neumann = neumann_violations(pred, crystals)
    out["neumann_max"], out["neumann_median"] = float(neumann.max()), float(np.median(neumann))
    if equivariance:
        eq = equivariance_errors(module, crystals, seed=seed)
        out["equivariance_max"], out["equivariance_median"] = float(eq.max()), \
            float(np.median(eq))
    return out
