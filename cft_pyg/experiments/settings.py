"""Settings of the MP-20 comparison (:mod:`cft_pyg.experiments.compare`): presets, models,
and where the data come from.

Paths are arguments: ``data_root`` defaults to ``$CFT_PYG_MP20`` or ``<home>/mp_20``
(:func:`cft_pyg.home.get_home_dir`), ``output_dir`` to ``results`` (``--full``) or
``runs/compare-quick`` (``--quick``) below the current folder, so the runner works from an
installed package as well as from a source checkout.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from ..home import get_home_dir

__all__ = ["CompareSettings", "DEFAULT_MODEL_KWARGS", "MODEL_LABELS", "TARGET_UNITS",
           "default_data_root"]

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
class CompareSettings:
    """All settings of a comparison (``full()`` and ``quick()`` give the two presets).

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

    @classmethod
    def full(cls, **changes: Any) -> CompareSettings:
        """The settings whose results the README quotes.

        Measured on the 2-core machine: benchmark 1243 s, zero-shot study 489 s (~29 min in
        all, ALIGNN most of it); several times longer on a heavily loaded machine.
        """
        return dataclasses.replace(cls(label="full"), **changes)

    @classmethod
    def quick(cls, **changes: Any) -> CompareSettings:
        """A few minutes on 2 cores: tiny data, 2 epochs, 2 seeds (1 for ALIGNN)."""
        base = cls(n_train=200, n_val=60, n_test=100, epochs=2, seeds=(0, 1),
                   model_seeds={"alignn": (0,)}, zs_seeds=(0,), zs_model_seeds={},
                   few_shot_ks=(0, 1, 5),
                   zs_model_ks={"alignn": (0,)},
                   output_dir=os.path.join("runs", "compare-quick"), label="quick")
        return dataclasses.replace(base, **changes)

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
