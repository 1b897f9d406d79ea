"""fit / evaluate / predict: the training engine on Lightning.

Multi-GPU and multi-node data parallelism come from :class:`lightning.Trainer`
(``accelerator``, ``devices``, ``num_nodes``, ``strategy`` of :class:`TrainConfig`); nothing
here is specific to one device.

A run folder holds::

    config.yaml                  the settings used
    checkpoints/best.ckpt        lowest validation MAE (cross-entropy for a classifier)
    checkpoints/last.ckpt        end of the latest epoch (resume from it)
    logs/version_<k>/            Lightning CSVLogger, one version per (re)start
    metrics.csv                  per-epoch train_loss, val_mae, lr (all versions merged)
    val_*.csv/json, test_*.csv/json   evaluation of the best checkpoint
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from .. import __version__
from ..data.featurization import Featurization, featurization_of
from .budget import TimeBudget
from .config import TrainConfig, save_config
from .datamodule import CrystalDataModule, class_statistics, target_statistics
from .descent import training_groups_of
from .evaluation import EvaluationReport, classification_report, evaluation_report
from .module import CrystalPropertyModule
from .quiet import quiet_lightning
from .registry import model_accepts
from .threads import set_threads

__all__ = ["FitResult", "TrainingClock", "check_library_version", "epoch_metrics", "evaluate",
           "fit", "load_model", "make_trainer", "model_kwargs_for", "predict"]

# Lightning's advice about dataloader workers is noise on CPU-only, small runs.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")


@dataclass
class FitResult:
    """What :func:`fit` produced.

    Attributes:
        module: the model restored from the best checkpoint (in eval mode).
        output_dir: the run folder.
        best_checkpoint, last_checkpoint: paths of the checkpoints.
        best_val_score: best value of the selection metric ``monitor``.
        epochs_run: epochs completed (fewer than ``config.epochs`` after early stopping).
        val_report, test_report: evaluation of the best model (``None`` for an empty split).
        extra_reports: evaluation of the best model on the ``extra_eval`` sets.
        monitor: the selection metric, ``'val_mae'`` (regression) or ``'val_loss'``
            (classification cross-entropy).
    """

    module: CrystalPropertyModule
    output_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_score: float
    epochs_run: int
    val_report: EvaluationReport | None
    test_report: EvaluationReport | None
    extra_reports: dict[str, EvaluationReport] = field(default_factory=dict)
    monitor: str = "val_mae"

    @property
    def best_val_mae(self) -> float:
        """Lowest validation MAE of a regression (NaN for a classification)."""
        return self.best_val_score if self.monitor == "val_mae" else math.nan


class _StopAfterEpochs(Callback):
    """Stop after ``n`` epochs in total (simulated interruption; schedule unchanged)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.n:
            trainer.should_stop = True


class TrainingClock(Callback):
    """Logs ``train_seconds``: cumulative wall-clock seconds spent in training epochs
    (optimizer steps and data loading, validation excluded) at the end of every epoch, so
    that learning curves can be drawn against training time as well as epochs."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._start is not None:
            self.total += time.perf_counter() - self._start
            self._start = None
        pl_module.log("train_seconds", self.total, on_epoch=True, on_step=False)

    def state_dict(self) -> dict[str, float]:
        return {"total": self.total}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.total = float(state_dict.get("total", 0.0))


def resolve_strategy(strategy: str) -> str:
    """Lightning's strategy for ``TrainConfig.strategy``.

    ``'ddp'`` (and ``'ddp_spawn'``) run with ``find_unused_parameters=True``: a batch leaves
    some parameters without gradient (the CFT's per-family first layers of the crystal
    families absent from it), which plain DDP refuses. It costs one walk over the autograd
    graph per step. Any other name goes to Lightning unchanged.
    """
    return {"ddp": "ddp_find_unused_parameters_true",
            "ddp_spawn": "ddp_spawn_find_unused_parameters_true"}.get(strategy, strategy)


def make_trainer(config: TrainConfig, callbacks: Sequence[Callback] = (),
                 logger: Any = False, max_epochs: int | None = None,
                 validate: bool = True) -> L.Trainer:
    """A :class:`lightning.Trainer` with the hardware settings of ``config``.

    Data-parallel runs share the training crystals out with the data module's own sampler
    (:class:`~cft_pyg.training.datamodule.EpochSeededSampler`: the processes' batches make up
    the single-process batch), so Lightning's distributed sampler is off; validation and test
    sets are evaluated whole on every process. ``validate=False`` turns Lightning's validation
    loop off (a :class:`~cft_pyg.training.budget.TimeBudget` validates on its own clock).
    """
    return L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=resolve_strategy(config.strategy),
        use_distributed_sampler=False,
        precision=config.precision,
        max_epochs=max_epochs if max_epochs is not None else config.epochs,
        gradient_clip_val=config.grad_clip or None,
        gradient_clip_algorithm="norm",
        callbacks=list(callbacks),
        logger=logger,
        enable_progress_bar=config.progress_bar,
        enable_model_summary=config.progress_bar,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        num_sanity_val_steps=0,
        limit_val_batches=None if validate else 0,
        log_every_n_steps=1,
        deterministic=False,
        default_root_dir=config.output_dir,
    )


def fit(config: TrainConfig, train: Sequence[Any], val: Sequence[Any],
        test: Sequence[Any] | None = None, *, extra_eval: dict[str, Sequence[Any]] | None = None,
        overwrite: bool = False, budget: TimeBudget | None = None) -> FitResult:
    """Train ``config.model`` on ``train``, select on ``val``, evaluate on ``val``/``test``.

    Args:
        config: run settings (``config.resume`` continues from a checkpoint).
        train, val, test: sequences of crystal ``Data`` with targets.
        extra_eval: more named sets to evaluate with the best model (e.g. zero-shot groups);
            each writes ``<name>_*`` tables.
        overwrite: replace an existing run folder's outputs (a resumed run may always write
            into its own folder).
        budget: train for a budget of seconds instead of ``config.epochs``
            (:class:`~cft_pyg.training.budget.TimeBudget`: the learning rate follows the clock,
            validation at its moments, the best moment's weights are returned). Not with
            ``config.patience``, ``config.resume`` or several processes.

    Raises:
        FileExistsError: the output folder already holds a run, and neither ``overwrite`` nor
            ``config.resume`` was given.
    """
    out = Path(config.output_dir)
    if (out / "checkpoints").exists() and not overwrite and config.resume is None:
        raise FileExistsError(f"output folder {out} already holds a run "
                              "(use --overwrite to replace it, or --resume to continue it)")
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"training and validation sets must not be empty "
                         f"(got {len(train)} / {len(val)})")
    for name, part in (("validation", val), ("test", test)):
        if part is not None and len(part) == 1:
            warnings.warn(f"the {name} set holds a single crystal: its MAE is one error, not an "
                          "estimate (use larger fractions or more data)", UserWarning,
                          stacklevel=2)
    if budget is not None and (config.patience or config.resume or config.stop_after_epochs):
        raise ValueError("a time budget replaces the epoch schedule: it does not combine with "
                         "patience, resume or stop_after_epochs")
    if budget is None and config.warmup_epochs >= config.epochs:
        warnings.warn(f"warmup_epochs ({config.warmup_epochs:g}) >= epochs ({config.epochs}): "
                      "the learning rate never reaches its peak and the cosine decay never "
                      "starts", UserWarning, stacklevel=2)
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and config.resume is None:
        for p in (out / "checkpoints").glob("*.ckpt"):
            p.unlink(missing_ok=True)
        for p in (out / "metrics.csv", *(out / "logs").glob("version_*/metrics.csv")):
            p.unlink(missing_ok=True)
    save_config(config.to_dict(), out / "config.yaml")

    if config.threads is not None:
        set_threads(config.threads)
    L.seed_everything(config.seed, workers=True, verbose=False)
    mean, std, num_classes, counts = 0.0, 1.0, None, None
    if config.task == "classification":
        num_classes, counts = class_statistics(train, config.target_index, config.num_classes)
    elif config.normalize_target:
        mean, std = target_statistics(train, config.target_index)
    featurization = featurization_of(train)
    module = CrystalPropertyModule(
        model=config.model, model_kwargs=model_kwargs_for(config.model, config.model_kwargs,
                                                          featurization),
        target_mean=mean, target_std=std,
        target_index=config.target_index, lr=config.lr, weight_decay=config.weight_decay,
        warmup_epochs=config.warmup_epochs, min_lr_ratio=config.min_lr_ratio,
        loss=config.resolved_loss, seed=config.seed, featurization=featurization,
        library_version=__version__, task=config.task, num_classes=num_classes,
        class_counts=counts, output=config.resolved_output,
        training_groups=training_groups_of(train, augmented=config.subgroup_augmentation > 0
                                           or config.subgroup_consistency > 0),
        consistency=config.subgroup_consistency)
    if config.pretrained_encoding:
        from .pretraining import load_pretrained_encoding

        load_pretrained_encoding(module.model, config.pretrained_encoding)
    if config.subgroup_consistency > 0:
        from ..data.subgroup import SubgroupPairs

        train = SubgroupPairs(train, config.subgroup_augmentation, seed=config.seed)
    elif config.subgroup_augmentation > 0:
        from ..data.subgroup import SubgroupAugmented

        train = SubgroupAugmented(train, config.subgroup_augmentation, seed=config.seed)
    data = CrystalDataModule(train, val, test, batch_size=config.batch_size, seed=config.seed,
                             num_workers=config.num_workers)

    ckpt_dir = out / "checkpoints"
    best_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=module.monitor,
                              mode="min", save_top_k=1, save_last=True,
                              enable_version_counter=False)
    callbacks: list[Callback] = [best_cb, TrainingClock()]
    if budget is not None:
        callbacks = [budget, TrainingClock()]
    if config.patience:
        callbacks.append(EarlyStopping(monitor=module.monitor, mode="min",
                                       patience=config.patience))
    if config.stop_after_epochs:
        callbacks.append(_StopAfterEpochs(config.stop_after_epochs))
    logger = CSVLogger(save_dir=str(out), name="logs")  # logs/version_<k>, one per (re)start
    trainer = make_trainer(config, callbacks, logger=logger,
                           max_epochs=None if budget is None else 1_000_000,
                           validate=budget is None)
    trainer.fit(module, datamodule=data, ckpt_path=config.resume, weights_only=True)

    if trainer.is_global_zero:
        epoch_metrics(out / "logs").to_csv(out / "metrics.csv", index=False)
    last_path = ckpt_dir / "last.ckpt"
    if budget is not None:  # the weights of the best moment of the clock
        if budget.best_state is None:
            raise RuntimeError("the time budget ended before its first validation moment")
        trainer.save_checkpoint(last_path)
        module.load_state_dict(budget.best_state)
        best_path, best_val = ckpt_dir / "best.ckpt", float(budget.best_val_mae)
        trainer.save_checkpoint(best_path)
    else:
        best_path = Path(best_cb.best_model_path) if best_cb.best_model_path else last_path
        best_score = best_cb.best_model_score
        best_val = float(best_score) if best_score is not None else math.nan
    best = load_model(best_path)

    val_report = test_report = None
    extra_reports: dict[str, EvaluationReport] = {}
    if trainer.is_global_zero:
        quiet = config.replace(progress_bar=False)
        val_report = evaluate(best, val, config=quiet)
        val_report.write(out, prefix="val_", overwrite=True)
        if test is not None and len(test) > 0:
            test_report = evaluate(best, test, config=quiet)
            test_report.write(out, prefix="test_", overwrite=True)
        for name, dataset in (extra_eval or {}).items():
            if len(dataset) > 0:
                extra_reports[name] = evaluate(best, dataset, config=quiet)
                extra_reports[name].write(out, prefix=f"{name}_", overwrite=True)
    return FitResult(best, out, best_path, last_path, best_val, trainer.current_epoch,
                     val_report, test_report, extra_reports, monitor=module.monitor)


_FEATURIZED_ARGUMENTS = (("radius", "radius"), ("encoding_cutoff", "cutoff"))
"""Model constructor arguments that must equal a featurization option."""


def model_kwargs_for(model: str, model_kwargs: dict[str, Any],
                     featurization: Featurization | None) -> dict[str, Any]:
    """``model_kwargs`` with the neighbour ``radius`` and the encoding cutoff of
    ``featurization`` filled in where the model takes them and the user did not set them,
    so that a model trained on crystals featurized at 6 Å reads them at 6 Å (a value set
    explicitly is kept; the model then refuses crystals featurized otherwise)."""
    kwargs = dict(model_kwargs)
    if featurization is None:
        return kwargs
    for argument, option in _FEATURIZED_ARGUMENTS:
        if argument not in kwargs and model_accepts(model, argument):
            kwargs[argument] = getattr(featurization, option)
    return kwargs


def epoch_metrics(log_dir: str | Path) -> pd.DataFrame:
    """One row per epoch (``epoch``, ``train_loss``, ``val_mae``, ``lr``, ...) merged from all
    CSV logs under ``log_dir`` (a resumed run adds a ``version_<k>``; later ones win)."""
    frames = []
    for path in sorted(Path(log_dir).glob("version_*/metrics.csv"),
                       key=lambda p: int(p.parent.name.split("_")[-1])):
        df = pd.read_csv(path)
        if "epoch" in df.columns and len(df):
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["epoch"])
    df = pd.concat(frames, ignore_index=True)
    df = df.groupby("epoch", sort=True).last().reset_index()
    return df.drop(columns=[c for c in ("step",) if c in df.columns])


def load_model(checkpoint: str | Path, map_location: str | torch.device = "cpu"
               ) -> CrystalPropertyModule:
    """Restore a trained model (with its target normalization) from a checkpoint.

    The file is read with ``torch.load(weights_only=True)``: tensors, plain containers and
    numbers only, so that loading a checkpoint from elsewhere cannot run code.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a cft-pyg checkpoint.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        module = CrystalPropertyModule.load_from_checkpoint(str(path), map_location=map_location,
                                                            weights_only=True)
    except ImportError as err:  # a model of an optional extra (alignn, matgl, chgnet)
        raise ImportError(f"{path} holds a model that needs an optional package: {err}") \
            from err
    except (KeyError, RuntimeError, EOFError, OSError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} is not a readable cft-pyg checkpoint: {err}") from err
    except Exception as err:  # unpickling garbage raises assorted errors
        raise ValueError(f"{path} is not a readable cft-pyg checkpoint: {err}") from err
    check_library_version(path, module.hparams.get("library_version"))
    module.eval()
    return module


CHECKPOINT_COMPATIBLE = {"0.3": "0.4"}
"""Versions whose checkpoints load in a later one (``old -> new``): 0.4 changed the studies,
not the models, the featurization or the checkpoint format."""


def check_library_version(path: Path, version: str | None) -> None:
    """Checkpoints load within the same major.minor version of cft-pyg (and from the versions
    of :data:`CHECKPOINT_COMPATIBLE`)."""
    if version is None:
        raise ValueError(f"{path} was written by cft-pyg 0.1 (no version or featurization "
                         f"recorded); this is cft-pyg {__version__}, whose models differ: "
                         "retrain, or load it with cft-pyg 0.1")
    old, new = ".".join(version.split(".")[:2]), ".".join(__version__.split(".")[:2])
    if old != new and CHECKPOINT_COMPATIBLE.get(old) != new:
        raise ValueError(f"{path} was written by cft-pyg {version}, incompatible with this "
                         f"cft-pyg {__version__} (major.minor must agree): retrain, or load "
                         f"it with cft-pyg {version}")


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
            config: TrainConfig | None = None, *, progress: bool | None = None,
            descent: str = "off") -> pd.DataFrame:
    """Per-crystal predictions as a DataFrame, in dataset order: ``material_id`` when known,
    ``space_group``, ``natoms``, ``y_pred`` (the value, or the most probable class of a
    classifier), ``prob_<c>`` for every class ``c`` of a classifier, and ``y_true`` when the
    data has targets.

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
        descent: zero-shot subgroup descent (:mod:`cft_pyg.training.descent`): ``'off'``,
            ``'unseen'`` (crystals of groups not seen in training are predicted through
            their largest seen t-subgroups, averaged over every copy) or ``'all'``.  When on,
            the frame gains ``descent_index`` (the index ``[G:H]`` of the subgroups used, 1:
            predicted as it is) and ``descent_types`` (their space-group numbers).

    Raises:
        ValueError: an unknown ``descent``, or descent with a checkpoint that does not record
            its training groups.
    """
    from .descent import descent_plan
    from .inputs import as_crystals

    _warn_if_trained_on(module, dataset)
    dataset = as_crystals(dataset, module)
    if descent == "off":
        return _prediction_frame(module, dataset, batch_size, config, progress)
    groups = [int(dataset[i].space_group.reshape(-1)[0]) for i in range(len(dataset))]
    plan = descent_plan(groups, module.training_groups, descent)
    items, owner = _descent_items(dataset, plan, progress)
    frame = _prediction_frame(module, items, batch_size, config, progress)
    frame.insert(0, "_owner", owner)
    mean_columns = [c for c in frame.columns if c.startswith("prob_")] or ["y_pred"]
    out = frame.groupby("_owner", sort=True).first()
    out[mean_columns] = frame.groupby("_owner", sort=True)[mean_columns].mean()
    if module.is_classifier:
        out["y_pred"] = out[mean_columns].to_numpy().argmax(axis=1)
    out = out.reset_index(drop=True)
    out["space_group"] = groups
    if "natoms" in out.columns:
        out["natoms"] = [int(dataset[i].num_nodes) for i in range(len(dataset))]
    out["descent_index"] = [1 if subs is None else subs[0].index for subs in plan]
    out["descent_types"] = ["" if subs is None else ";".join(
        str(n) for n in sorted({s.number for s in subs})) for subs in plan]
    return out


def _descent_items(dataset: Sequence[Any], plan: list[Any], progress: bool | None
                   ) -> tuple[list[Any], list[int]]:
    """The inputs of a descent: each crystal itself or its subgroup descriptions, with the
    index of the crystal each one belongs to."""
    from tqdm.auto import tqdm

    from ..data.subgroup import subgroup_data

    items: list[Any] = []
    owner: list[int] = []
    show = progress if progress is not None else sum(p is not None for p in plan) >= 200
    for i in tqdm(range(len(dataset)), desc="subgroup descriptions", unit="crystal",
                  disable=not show):
        subs = plan[i]
        data = dataset[i]
        for sub in subs or [None]:
            items.append(data if sub is None else subgroup_data(data, sub))
            owner.append(i)
    return items, owner


def _prediction_frame(module: CrystalPropertyModule, dataset: Sequence[Any], batch_size: int,
                      config: TrainConfig | None, progress: bool | None) -> pd.DataFrame:
    """The frame of :func:`predict`, one row per item of ``dataset``."""
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
             config: TrainConfig | None = None, *, descent: str = "off") -> EvaluationReport:
    """Metrics overall, per space group and per crystal system of ``module`` on ``dataset``
    (``descent``: zero-shot subgroup descent, as in :func:`predict`).

    Regression: MAE, RMSE, R²; ``overall['mae_predict_mean']`` is the MAE of predicting the
    training mean (stored in the checkpoint), the baseline every model must beat.
    Classification: accuracy, ROC-AUC and cross-entropy (:func:`classification_report`);
    ``overall['accuracy_majority']`` is the accuracy of always predicting the most frequent
    training class.
    """
    df = predict(module, dataset, batch_size=batch_size, config=config, descent=descent)
    if "y_true" not in df.columns:
        raise ValueError("the dataset has no targets (data.y); use predict instead")
    if module.is_classifier:
        return classification_report(df, class_counts=module.hparams.get("class_counts"))
    return evaluation_report(df, reference_value=float(module.target_mean))
