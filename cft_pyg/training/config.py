"""Run configuration of the training engine: one dataclass, loadable from YAML or JSON.

Every option of ``cft-pyg train`` is a field of :class:`TrainConfig`. A config file
(``--config run.yaml``) gives defaults; command-line flags override it; what was used is
written back as ``config.yaml`` into the run's output folder, so a run can be repeated.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .presets import Presets, setting

__all__ = ["LOSSES", "NON_NEGATIVE_TARGETS", "OUTPUTS", "RETIRED_OPTIONS", "SPLITS", "TASKS",
           "ConfigError", "TrainConfig", "load_config_file", "save_config"]

TASKS = ("regression", "classification")
"""Accepted values of :attr:`TrainConfig.task`."""
LOSSES = {"regression": ("mse", "l1", "huber"), "classification": ("cross_entropy",)}
"""Losses per task (the first is the default)."""
_ALL_LOSSES = tuple(dict.fromkeys(sum(LOSSES.values(), ())))

SPLITS = ("auto", "dataset", "random", "holdout-centrosymmetric", "holdout")
"""Accepted values of :attr:`TrainConfig.split`."""

OUTPUTS = ("linear", "softplus")
"""Regression outputs of :class:`~cft_pyg.training.CrystalPropertyModule`."""

NON_NEGATIVE_TARGETS = frozenset({
    "band_gap", "e_above_hull",  # MP-20
    "dir_gap", "ind_gap",  # Perov-5
})
"""Target columns of the bundled datasets that are non-negative by definition (band gaps,
energies above the hull): ``output='auto'`` predicts them through a softplus, so that a
prediction is never negative. For a non-negative column of your own data (a modulus, a
refractive index) pass ``output='softplus'``."""

RETIRED_OPTIONS: dict[str, tuple[Any, str]] = {
    "subgroup_augmentation": (0.0, "training-set wrappers are passed to fit(train_transform=...) "
                              "(cft_pyg.experimental.augmentation; the CLI's "
                              "--subgroup-augmentation)"),
}
"""Options of older versions: name -> (the old default, where the feature went)."""


class ConfigError(ValueError):
    """A configuration value or file is invalid (the message says which and why)."""


@dataclass
class TrainConfig(Presets):
    """All settings of one training run.

    Model:
        model: registered model name (:func:`cft_pyg.training.available_models`): the
            default ``'cft-trunk'`` (recommended), ``'cft'`` (the paper's CFT) and others.
        model_kwargs: keyword arguments passed to the model's constructor.
        pretrained_encoding: file of ``cft-pyg pretrain``
            (:func:`cft_pyg.training.pretraining.run_pretraining`), or the name of an
            encoder shipped with the package (``cft-pyg pretrained``), whose positional
            weights the model starts from (CFT models only).

    Data:
        dataset: dataset name (see :func:`cft_pyg.training.available_datasets`).
        data_root: folder of the dataset (processed files are cached there); for ``cif-folder``
            the folder of CIF files.
        dataset_kwargs: extra keyword arguments of the dataset class.
        featurization: changes to :data:`~cft_pyg.data.DEFAULT_FEATURIZATION` for the
            dataset's crystals (e.g. ``{"symprec": 0.01}``; see
            :class:`~cft_pyg.data.Featurization`); the model's neighbour radius follows it
            unless ``model_kwargs`` sets it.
        target: name of the property to learn, where the dataset has several.
        target_index: column of ``data.y`` to learn when it holds several targets.
        task: ``'regression'`` or ``'classification'`` (integer labels 0, 1, ...; binary or
            multi-class, see :class:`cft_pyg.training.CrystalPropertyModule`).
        num_classes: classes of a classification (``None``: largest training label + 1).
        cache_dir: folder for the processed copies of the dataset (``processed_root`` of
            :class:`~cft_pyg.data.CrystalDataset`; default the data folder when writable,
            else ``get_home_dir()``, i.e. ``$CFT_PYG_HOME`` or ``~/.cache/cft_pyg``).
        download: fetch missing MP-20 / Perov-5 files from the CDVAE repository (off: a
            data root without the files is an error listing what was looked for).
        max_crystals: use at most this many crystals (a seeded subset, chosen before
            processing; ``split='dataset'``: this many training crystals, val and test parts
            in the proportions of the fractions), ``None`` for all.
        split: ``'auto'`` (the dataset's own split where it has one, else random),
            ``'dataset'``, ``'random'`` (seeded train/val/test), ``'holdout-centrosymmetric'``
            (every group with inversion held out as a zero-shot set) or ``'holdout'``
            (``holdout_groups``); see :func:`cft_pyg.training.data.build_splits`.
        val_fraction, test_fraction: fractions of the random split.
        holdout_groups: space-group numbers held out by ``split='holdout'``.

    Optimization:
        epochs: maximum number of epochs (the learning-rate schedule spans them all).
        batch_size: crystals per batch (per device under DDP).
        max_atoms_per_batch: training batches of at most this many atoms (per device; a larger
            crystal alone) instead of ``batch_size`` crystals, which then sizes evaluation only.
        lr, weight_decay: AdamW settings.
        warmup_epochs: length of the linear warm-up, in epochs (may be fractional); cosine
            decay to ``min_lr_ratio * lr`` follows until ``epochs``.
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        grad_clip: gradient-norm clipping value (``0`` or ``None``: off).
        loss: regression: ``'mse'`` (default), ``'l1'`` or ``'huber'`` on normalized targets;
            classification: ``'cross_entropy'`` (its default and only choice).
        output: regression output ``'linear'``, ``'softplus'`` (never negative:
            ``y = softplus(mean + std * z)``) or ``'auto'`` (softplus for
            :data:`NON_NEGATIVE_TARGETS`), see :attr:`resolved_output`.
        normalize_target: standardize regression targets with the training split's mean and
            std.
        patience: early stopping on validation MAE after this many epochs without improvement
            (``0`` or ``None``: off).
        stop_after_epochs: stop after this many epochs as if interrupted, without shortening the
            schedule (for chunked runs on time-limited machines; continue with ``resume``).
        checkpoint_every_steps: also write ``last.ckpt`` every N steps (resume mid-epoch).
        seed: seed of everything (weights, data order, splits).

    Hardware:
        accelerator, devices, num_nodes, strategy, precision, num_workers: passed to
            :class:`lightning.Trainer`, so DDP over GPUs and nodes is Lightning's.
        threads: torch CPU threads set by :func:`~cft_pyg.training.fit` (``None``: left as
            they are; the command line resolves ``None`` to the cores idle at the start, see
            :mod:`cft_pyg.training.threads`, and records the number in ``config.yaml``).

    Output:
        output_dir: run folder (checkpoints ``best.ckpt``/``last.ckpt``, ``metrics.csv``,
            evaluation tables, ``config.yaml``).
        progress_bar: show progress bars.
        resume: checkpoint to continue from (usually ``<output_dir>/checkpoints/last.ckpt``).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # seconds on a CPU: a small CFT, a few epochs (smoke tests, trying a dataset)
        "quick": {"epochs": 3, "batch_size": 16, "warmup_epochs": 0.0, "patience": None,
                  "model_kwargs": {"channels": 16, "num_blocks": 1, "heads": 2},
                  "max_crystals": 200},
        # the recipe of the shipped MP-20 models (cft_pyg.pretrained.recipes), for any data
        "cft-trunk": {"model": "cft", "epochs": 30, "lr": 1e-3, "warmup_epochs": 2.0,
                      "patience": None,
                      "model_kwargs": {"channels": 64, "num_blocks": 2, "heads": 4,
                                       "local_channels": 32, "encoding": "none"}},
    }

    # model
    model: str = setting("cft-trunk", "model: cft-trunk (relaxed crystals), cft (the paper's "
                         "CFT; unrelaxed candidates), cft-transformer, transformer-plain, "
                         "cft-published, cgcnn, alignn, wyckoff, composition, m3gnet, megnet, "
                         "tensornet, chgnet, chgnet-frozen, wrenformer")
    model_kwargs: dict[str, Any] = setting(dict, "model constructor arguments, e.g. "
                                        "'{\"channels\": 64, \"num_blocks\": 2}'", "JSON")
    pretrained_encoding: str | None = setting(None, "start the positional encoding from a file "
                                           "of `cft-pyg pretrain` or a shipped encoder's name",
                                           "FILE_OR_NAME")
    # data
    dataset: str = setting("synthetic", "dataset: synthetic, mp20, perov5, carbon24, cif-folder, "
                           "nrel-hypothetical, store")
    data_root: str | None = setting(None, "dataset folder", "DIR")
    dataset_kwargs: dict[str, Any] = setting(dict, "extra dataset arguments (JSON object)", "JSON")
    featurization: dict[str, Any] = setting(dict, "featurization options of the crystals (JSON "
                                         "object), e.g. '{\"symprec\": 0.01}'", "JSON")
    target: str | None = setting(None, "property to learn (dataset column)")
    target_index: int = setting(0, "column of data.y to learn")
    task: str = setting("regression", "regression, or classification of integer labels",
                     choices=TASKS)
    num_classes: int | None = setting(None, "classes of a classification (default: largest "
                                   "training label + 1)", "N")
    cache_dir: str | None = setting(None, "folder for processed datasets (default: the data "
                                    "folder when writable, else $CFT_PYG_HOME)", "DIR")
    download: bool = setting(False, "download missing MP-20 / Perov-5 files from the CDVAE "
                             "repository (otherwise a missing file is an error)")
    max_crystals: int | None = setting(None, "use a seeded random subset of N crystals", "N")
    split: str = setting("auto", "auto (the dataset's own split, else random), dataset, random, "
                      "or hold out space groups (zero-shot)",
                      choices=SPLITS)
    val_fraction: float = setting(0.1, "validation fraction of a random split")
    test_fraction: float = setting(0.1, "test fraction of a random split")
    holdout_groups: list[int] = setting(list, "groups held out by --split holdout, e.g. 2,10,47",
                                     "LIST")
    # optimization
    epochs: int = setting(100, "maximum epochs (the schedule spans them all)")
    batch_size: int = setting(64, "crystals per batch")
    max_atoms_per_batch: int | None = setting(None, "training batches of at most N atoms "
                                              "instead of --batch-size crystals", "N")
    lr: float = setting(5e-4, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    warmup_epochs: float = setting(5.0, "linear warm-up, in epochs")
    min_lr_ratio: float = setting(0.0, "final learning rate of the cosine decay, relative to lr")
    grad_clip: float | None = setting(1.0, "gradient-norm clip (0: off)")
    loss: str | None = setting(None, "mse (regression default), l1, huber; cross_entropy "
                            "(classification)", choices=_ALL_LOSSES)
    normalize_target: bool = setting(True, "standardize regression targets with the training "
                                  "mean and std")
    output: str = setting("auto", "regression output: linear, softplus (non-negative), or "
                          "auto (softplus for the targets in NON_NEGATIVE_TARGETS)",
                          choices=("auto", *OUTPUTS))
    patience: int | None = setting(20, "early-stopping patience on the validation metric (0: off)")
    stop_after_epochs: int | None = setting(None, "stop early as if interrupted (continue with "
                                         "--resume)")
    checkpoint_every_steps: int | None = setting(None, "also write last.ckpt every N steps "
                                                 "(resume a killed run mid-epoch)", "N")
    seed: int = setting(0, "seed of weights, data order and splits")
    # hardware
    accelerator: str = setting("auto", "cpu, gpu, auto (Lightning)")
    devices: Any = setting("auto", "device count or list (Lightning)")
    num_nodes: int = setting(1, "number of nodes (Lightning)")
    strategy: str = setting("auto", "Lightning strategy, e.g. ddp")
    precision: str = setting("32-true", "Lightning precision, e.g. 32-true, bf16-mixed")
    num_workers: int = setting(0, "data-loader worker processes")
    threads: int | None = setting(None, "torch CPU threads (default: the cores idle at the "
                                  "start; 1 on a busy shared machine)", "N")
    # output
    output_dir: str = setting("runs/cft", "run folder", "DIR")
    progress_bar: bool = setting(True, "show progress bars", flags=("--progress",))
    resume: str | None = setting(None, "continue from this checkpoint", "CKPT")

    def __post_init__(self) -> None:
        self._coerce_types()
        # paths the run reads later are stored absolute: a saved config.yaml then works
        # from any working directory
        for name in ("data_root", "pretrained_encoding", "cache_dir"):
            value = getattr(self, name)
            if name == "pretrained_encoding" and _is_shipped_encoding(value):
                continue  # the name of an encoder shipped with the package
            if isinstance(value, str | os.PathLike):
                setattr(self, name, str(Path(value).expanduser().resolve()))
        self.validate()

    def _coerce_types(self) -> None:
        """Check and coerce every field to its annotated type with pydantic (lax mode): YAML's
        ``lr: 1e-3`` (read as the string ``'1e-3'`` by YAML 1.1) becomes ``0.001``, while
        ``epochs: 2.5`` or ``lr: fast`` are refused with the field's name."""
        from pydantic import ValidationError

        for name, adapter in _type_adapters().items():
            value = getattr(self, name)
            try:
                setattr(self, name, adapter.validate_python(value))
            except ValidationError as err:
                reason = err.errors()[0]["msg"]
                raise ConfigError(f"{name}: {reason} (got {value!r})") from None

    def validate(self) -> None:
        """Raise :class:`ConfigError` on values that cannot work."""
        for name in ("epochs", "batch_size", "stop_after_epochs", "max_atoms_per_batch",
                     "checkpoint_every_steps"):  # None: unset
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "warmup_epochs", "grad_clip", "patience", "num_workers"):
            if getattr(self, name) is not None and getattr(self, name) < 0:  # None: off
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        losses = LOSSES[self.task]
        if self.loss is not None and self.loss not in losses:
            raise ConfigError(f"loss of a {self.task} must be one of {', '.join(losses)}, "
                              f"got {self.loss!r}")
        if self.num_classes is not None and (self.task != "classification"
                                             or self.num_classes < 2):
            raise ConfigError(f"num_classes ({self.num_classes}) needs task='classification' "
                              "and at least 2 classes")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.split == "holdout" and not self.holdout_groups:
            raise ConfigError("split='holdout' needs holdout_groups (space-group numbers)")
        for g in self.holdout_groups:
            if not 1 <= int(g) <= 230:
                raise ConfigError(f"holdout_groups: {g} is not a space-group number 1-230")
        for name in ("val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not 0 <= v < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {v}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError("val_fraction + test_fraction must be < 1")
        if self.max_crystals is not None and self.max_crystals < 3:
            raise ConfigError(f"max_crystals must be >= 3, got {self.max_crystals}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1 (or unset: the idle cores), got "
                              f"{self.threads}")
        if not isinstance(self.model_kwargs, dict):
            raise ConfigError("model_kwargs must be a mapping")
        if not isinstance(self.dataset_kwargs, dict):
            raise ConfigError("dataset_kwargs must be a mapping")
        from ..data.featurization import Featurization

        try:
            Featurization.from_dict(self.featurization)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"featurization: {err}") from None

    @property
    def resolved_output(self) -> str:
        """The regression output used: ``output``, or for ``'auto'`` ``'softplus'`` when
        the target is one of :data:`NON_NEGATIVE_TARGETS` and ``'linear'`` otherwise
        (``'linear'`` for a classification, whose outputs are logits)."""
        if self.task == "classification":
            return "linear"
        if self.output != "auto":
            return self.output
        return "softplus" if self.target in NON_NEGATIVE_TARGETS else "linear"

    @property
    def resolved_loss(self) -> str:
        """The loss used: ``loss``, or the task's default (``'mse'`` / ``'cross_entropy'``)."""
        return self.loss if self.loss is not None else LOSSES[self.task][0]

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all settings."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys are an error (typos should not pass silently).
        A retired option (:data:`RETIRED_OPTIONS`) at its old default is dropped (config
        files of older versions still load); set otherwise, it is an error."""
        values = dict(values)
        for name, (default, where) in RETIRED_OPTIONS.items():
            if name in values and values.pop(name) != default:
                raise ConfigError(f"config option {name} was retired: {where}")
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"unknown config option(s): {', '.join(unknown)}; "
                              f"known: {', '.join(cls.field_names())}")
        try:
            return cls(**values)
        except TypeError as err:  # pragma: no cover - guarded by the check above
            raise ConfigError(str(err)) from err

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (JSON/YAML serializable)."""
        return asdict(self)


@functools.cache
def _is_shipped_encoding(value: Any) -> bool:
    """Whether ``value`` names a shipped pretrained encoder (and is no file here)."""
    if not isinstance(value, str) or Path(value).expanduser().exists():
        return False
    from .pretraining import shipped_encodings

    return value in shipped_encodings()


def _type_adapters() -> dict[str, Any]:
    """One pydantic ``TypeAdapter`` per field of :class:`TrainConfig`, from its annotations."""
    from pydantic import TypeAdapter

    hints = typing.get_type_hints(TrainConfig)
    return {f.name: TypeAdapter(hints[f.name]) for f in fields(TrainConfig)}


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) config file into a mapping.

    Raises:
        ConfigError: the file is missing, unreadable, malformed or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from err
    try:
        values = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot parse config file {path}: {err}") from err
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option: value, "
                          f"got {type(values).__name__}")
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def save_config(values: dict[str, Any], path: str | Path) -> None:
    """Write a mapping as YAML (or JSON when ``path`` ends in ``.json``)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(values, indent=2, sort_keys=False) + "\n")
    else:
        path.write_text(yaml.safe_dump(values, sort_keys=False))
