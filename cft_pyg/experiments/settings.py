"""Settings of the experiments: the demo (:class:`DemoSettings`, ``cft-pyg demo``) and the MP-20
comparison (:class:`CompareSettings`, :mod:`cft_pyg.experiments.compare`): presets, models,
and where the data come from. Light to import (no torch), so that command lines build their
flags from these classes quickly.

Paths are arguments: ``data_root`` defaults to ``$CFT_PYG_MP20`` or ``<home>/mp_20``
(:func:`cft_pyg.home.get_home_dir`), ``output_dir`` to ``results`` (``--full``) or
``runs/compare-quick`` (``--quick``) below the current folder, so the runner works from an
installed package as well as from a source checkout.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..home import get_home_dir
from ..training.presets import Presets, setting

__all__ = ["CompareSettings", "DemoSettings", "DEFAULT_MODEL_KWARGS", "MODEL_LABELS",
           "TARGET_UNITS", "default_data_root"]

TARGET_UNITS = {"formation_energy_per_atom": "eV/atom", "band_gap": "eV",
                "e_above_hull": "eV/atom"}
"""Units of the MP-20 targets."""

MODEL_LABELS = {"cft": "CFT (hybrid)", "cft-transformer": "CFT (Transformer)",
                "cgcnn": "CGCNN", "alignn": "ALIGNN"}
"""Display names of the compared models."""

# sizes for a CPU budget (all models far below their published sizes; counts are recorded)
DEFAULT_MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "cft": {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32},
    "cft-transformer": {"channels": 64, "num_blocks": 2, "heads": 4},
    "cgcnn": {"atom_fea_len": 64, "n_conv": 3, "h_fea_len": 128},
    "alignn": {"alignn_layers": 2, "gcn_layers": 2, "hidden_features": 64,
               "embedding_features": 32},
}


def default_data_root() -> str:
    """``$CFT_PYG_MP20``, else ``<home>/mp_20`` (:func:`cft_pyg.home.get_home_dir`)."""
    return os.environ.get("CFT_PYG_MP20") or str(get_home_dir() / "mp_20")


@dataclass
class CompareSettings(Presets):
    """All settings of a comparison (presets ``'full'``, the README's settings, and
    ``'quick'``, a few minutes on 2 cores: ``CompareSettings.from_preset(name, **changes)``).

    Attributes:
        data_root: folder with MP-20's ``val.csv.gz``/``test.csv.gz`` (default
            :func:`default_data_root`: ``$CFT_PYG_MP20`` or ``<home>/mp_20``).
        n_train, n_val, n_test: first rows of ``project-train/val/test`` used.
        targets: MP-20 targets of the benchmark.
        models: registered model names (:func:`cft_pyg.training.available_models`).
        model_kwargs: constructor arguments per model (the same for every target and seed).
        seeds: seeds of every model; ``model_seeds`` overrides them per model (ALIGNN is slow).
        epochs, batch_size, lr, weight_decay, warmup_epochs: the shared training budget.
        zs_target: target of the zero-shot / few-shot study.
        zs_models, zs_seeds, zs_model_seeds: models and seeds of that study.
        few_shot_ks: the ``k`` values (``0`` = zero-shot).
        zs_model_ks: fewer ``k`` for some models (ALIGNN: only ``k = 0``, for the GB-Gap).
        zs_fractions: train/val/test fractions of the pooled crystals.
        jobs: trainings run in parallel (one torch thread each).
        output_dir: where JSON and PNG go.
        work_dir: run folders (checkpoints, logs); a temporary folder when ``None``.
        label: ``'full'``, ``'quick'`` or ``'custom'`` (recorded in the JSON).
    """

    data_root: str = field(default_factory=default_data_root)
    n_train: int = 2000
    n_val: int = 400
    n_test: int = 600
    targets: tuple[str, ...] = ("formation_energy_per_atom", "band_gap")
    models: tuple[str, ...] = ("cft", "cft-transformer", "cgcnn", "alignn")
    model_kwargs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MODEL_KWARGS.items()})
    seeds: tuple[int, ...] = (0, 1, 2)
    model_seeds: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"alignn": (0, 1)})
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    zs_target: str = "formation_energy_per_atom"
    zs_models: tuple[str, ...] = ("cft", "cft-transformer", "cgcnn", "alignn")
    zs_seeds: tuple[int, ...] = (0, 1, 2)
    zs_model_seeds: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"alignn": (0,)})
    few_shot_ks: tuple[int, ...] = (0, 1, 5, 20)
    zs_model_ks: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"alignn": (0,)})
    zs_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    jobs: int = 2
    output_dir: str = "results"
    work_dir: str | None = None
    label: str = "custom"

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # measured on the 2-core machine: benchmark 1243 s, zero-shot study 489 s (~29 min in
        # all, ALIGNN most of it); several times longer on a heavily loaded machine
        "full": {},
        # a few minutes on 2 cores: tiny data, 2 epochs, 2 seeds (1 for ALIGNN)
        "quick": {"n_train": 200, "n_val": 60, "n_test": 100, "epochs": 2, "seeds": (0, 1),
                  "model_seeds": {"alignn": (0,)}, "zs_seeds": (0,), "zs_model_seeds": {},
                  "few_shot_ks": (0, 1, 5), "zs_model_ks": {"alignn": (0,)},
                  "output_dir": os.path.join("runs", "compare-quick")},
    }

    def seeds_of(self, model: str, zero_shot: bool = False) -> tuple[int, ...]:
        """The seeds a model is trained with (benchmark or zero-shot study)."""
        if zero_shot:
            return tuple(self.zs_model_seeds.get(model, self.zs_seeds))
        return tuple(self.model_seeds.get(model, self.seeds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable settings."""
        return dataclasses.asdict(self)

    def deviations(self) -> list[str]:
        """Where a model got less than the others (fewer seeds or variants), in words."""
        out = []
        for m, seeds in self.model_seeds.items():
            if m in self.models and tuple(seeds) != tuple(self.seeds):
                out.append(f"{m}: benchmark seeds {list(seeds)} instead of {list(self.seeds)} "
                           "(training time); same epochs and data as the others")
        for m, seeds in self.zs_model_seeds.items():
            if m in self.zs_models and tuple(seeds) != tuple(self.zs_seeds):
                out.append(f"{m}: zero-shot seeds {list(seeds)} instead of "
                           f"{list(self.zs_seeds)} (training time)")
        for m, ks in self.zs_model_ks.items():
            if m in self.zs_models and tuple(ks) != tuple(self.few_shot_ks):
                out.append(f"{m}: zero-shot study with k in {list(ks)} only (plus all-data), "
                           f"not {list(self.few_shot_ks)} (training time)")
        return out


@dataclass
class DemoSettings(Presets):
    """Settings of the demo (the defaults, or preset ``'quick'``: seconds, for tests;
    ``DemoSettings.from_preset(name, **changes)``).

    Attributes:
        num_crystals: synthetic crystals (all 230 groups appear once it is >= 230).
        seed: seed of data, splits and training.
        epochs, batch_size, lr, warmup_epochs, patience: training (see :class:`TrainConfig`).
        model: model name; ``model_kwargs`` its size.
        val_fraction, test_fraction: per family (seen / centrosymmetric).
        data_root: cache folder of the synthetic dataset (``None``: the default cache).
        max_atoms: largest synthetic cell.
        output_dir: where everything goes.
        progress_bar: show progress bars.
    """

    num_crystals: int = setting(2000, "synthetic crystals (all 230 groups from 230 on)")
    seed: int = setting(0, "seed of data, splits and training")
    epochs: int = setting(8, "training epochs")
    batch_size: int = setting(32, "crystals per batch")
    lr: float = setting(1e-3, "AdamW learning rate")
    warmup_epochs: float = setting(1.0, "linear warm-up, in epochs")
    patience: int | None = setting(None, "early-stopping patience (None: off)")
    model: str = setting("cft", "model name")
    model_kwargs: dict[str, Any] = setting(lambda: {"channels": 64, "num_blocks": 2, "heads": 4},
                                           "model constructor arguments (JSON)", "JSON")
    val_fraction: float = setting(0.1, "validation fraction per family")
    test_fraction: float = setting(0.15, "test fraction per family")
    data_root: str | None = setting(None, "cache folder of the synthetic dataset", "DIR")
    max_atoms: int = setting(48, "largest synthetic cell")
    output_dir: str = setting("cft-demo", "where tables, plots and checkpoints go", "DIR")
    progress_bar: bool = setting(True, "show progress bars", flags=("--progress",))

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"num_crystals": 120, "epochs": 1, "batch_size": 32, "test_fraction": 0.2,
                  "model_kwargs": {"channels": 16, "num_blocks": 1, "heads": 2}},
    }

    def update(self, values: dict[str, Any]) -> DemoSettings:
        """A copy with ``values`` applied (unknown keys raise :class:`ValueError`)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown demo option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        new = dataclasses.replace(self, **values)
        if new.num_crystals < 20:
            raise ValueError(f"num_crystals must be >= 20, got {new.num_crystals}")
        if new.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {new.epochs}")
        new.train_config()  # bad training settings fail here, before any data is made
        return new

    def train_config(self) -> Any:
        """The :class:`~cft_pyg.training.TrainConfig` of the demo's two trainings.

        Raises:
            ConfigError: a training setting is out of range (e.g. ``lr <= 0``).
        """
        from ..training.config import TrainConfig

        return TrainConfig(model=self.model, model_kwargs=dict(self.model_kwargs),
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           warmup_epochs=self.warmup_epochs, patience=self.patience,
                           seed=self.seed, progress_bar=self.progress_bar, devices=1)
