"""How each shipped pretrained model is trained: one frozen recipe per model name.

A recipe is everything the maintainers' builder (``studies/pretrained/build.py`` in the source
checkout) needs to reproduce a shipped model from the raw dataset: the dataset, its options and
the names of its training, validation and test parts, the property, the model and its
arguments, and the optimizer settings. The model card written next to the weights repeats the
recipe, so a card always says exactly how its weights were made.

What depends on the dataset beyond that (how the training identifiers are computed from the
raw files, which parts hold the training crystals, what the card measures) is one entry per
dataset in :data:`cft_pyg.pretrained.validity.SOURCES`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from ..training.config import TrainConfig

__all__ = ["DATASET_TARGETS", "PROJECT_PARTS", "RECIPES", "Recipe", "load_split", "recipe",
           "target_index"]

PROJECT_PARTS: dict[str, str] = {"train": "project-train", "val": "project-val",
                                 "test": "project-test"}
"""The dataset parts (``split=``) of the project split, by role: the default of a recipe."""


@dataclass(frozen=True)
class Recipe:
    """Training recipe of one pretrained model.

    Args:
        name: the model's public name (``cft_pyg.pretrained.load(name)``).
        description: one line for listings.
        dataset: registered dataset name (:func:`cft_pyg.training.available_datasets`).
        dataset_options: further arguments of the dataset (e.g. ``{"input": "unrelaxed"}``).
        splits: the dataset's ``split=`` of each role, ``{"train", "val", "test"}``
            (default :data:`PROJECT_PARTS`).
        target: the property learned (a column of the dataset).
        unit: unit of the property.
        model: registered model name; model_kwargs: its arguments.
        epochs, batch_size, lr, weight_decay, warmup_epochs: optimizer settings (cosine
            decay to zero after the warm-up; the best validation epoch is kept).
        seed: seed of weights and data order.
        output: regression output, ``'linear'`` or ``'softplus'`` (non-negative targets:
            a band gap is never predicted below zero).
        why: why this architecture (which measurement chose it).
    """

    name: str
    description: str
    dataset: str
    target: str
    unit: str
    model: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 2.0
    seed: int = 0
    output: str = "linear"
    why: str = ""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=lambda: dict(PROJECT_PARTS))

    def __post_init__(self) -> None:
        if set(self.splits) != set(PROJECT_PARTS):
            raise ValueError(f"recipe {self.name!r}: splits must name the parts "
                             f"{sorted(PROJECT_PARTS)}, got {sorted(self.splits)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The MP-20 models use the variant that was most accurate on both MP-20 targets in the
# ablation of results/ablation.json (3 seeds, 5,000 training crystals): the CFT trunk
# (element tokens, attention with pair-distance bias, gated local messages) with no Fourier
# positional encoding. It beat the symmetry-adapted CFT (0.084), CGCNN (0.090) and the
# composition-only floor (0.073) on formation energy (0.060 eV/atom), and likewise on band gap.
_TRUNK = TrainConfig.preset_values("cft-trunk")  # one definition: the train preset
_MP20_TRUNK = _TRUNK["model_kwargs"]
_MP20_WHY = ("most accurate variant on both MP-20 targets in results/ablation.json "
             "('none': CFT trunk without positional encoding)")

# The model for unrelaxed prototype candidates (studies/unrelaxed, issue 34): the same trunk
# with the symmetry-adapted encoding switched on, the CFT of that study (its sizes are these:
# the study kit's 'cft' entry). On the NREL pnictides' test compositions it halved the
# relative-energy MAE of the trunk without the encoding at equal CPU time; the library's
# coordinate-free Wyckoff model tied it (aviary's Wrenformer was behind). The schedule is the
# trunk recipe's (30 epochs: about 10 CPU-seconds each on one thread over the ~6,600 training
# candidates, measured before the build).
_UNRELAXED_CFT = {**_MP20_TRUNK, "encoding": "symmetry"}
_UNRELAXED_WHY = ("on unrelaxed prototype candidates the symmetry-adapted encoding halved the "
                  "relative-energy MAE of the same trunk without it, at equal CPU time "
                  "(studies/unrelaxed); the trunk without it stays the choice for relaxed "
                  "inputs (the mp20-* models)")

RECIPES: dict[str, Recipe] = {
    r.name: r for r in (
        Recipe(name="mp20-formation-energy",
               description="MP-20 formation energy per atom (eV/atom)",
               dataset="mp20", target="formation_energy_per_atom", unit="eV/atom",
               model=_TRUNK["model"], model_kwargs=_MP20_TRUNK, epochs=_TRUNK["epochs"],
               lr=_TRUNK["lr"], warmup_epochs=_TRUNK["warmup_epochs"], why=_MP20_WHY),
        Recipe(name="mp20-band-gap",
               description="MP-20 PBE band gap (eV)",
               dataset="mp20", target="band_gap", unit="eV",
               model=_TRUNK["model"], model_kwargs=_MP20_TRUNK, epochs=_TRUNK["epochs"],
               lr=_TRUNK["lr"], warmup_epochs=_TRUNK["warmup_epochs"], output="softplus",
               why=_MP20_WHY),
        Recipe(name="nrel-unrelaxed-energy",
               description="pnictide candidates: DFT total energy per atom after relaxation, "
                           "from the unrelaxed prototype structure (eV/atom)",
               dataset="nrel-hypothetical", dataset_options={"input": "unrelaxed"},
               target="energy_per_atom", unit="eV/atom",
               model=_TRUNK["model"], model_kwargs=_UNRELAXED_CFT, epochs=_TRUNK["epochs"],
               lr=_TRUNK["lr"], warmup_epochs=_TRUNK["warmup_epochs"], why=_UNRELAXED_WHY),
    )
}
"""Name -> recipe of every pretrained model this version can build."""


def recipe(name: str) -> Recipe:
    """The recipe of ``name``; ``KeyError`` lists the known names."""
    if name not in RECIPES:
        raise KeyError(f"no pretrained model named {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


DATASET_TARGETS = {"mp20": ["formation_energy_per_atom", "band_gap"],
                   "nrel-hypothetical": ["energy_per_atom"]}
"""Targets each dataset is processed with (one processed cache serves every recipe)."""


def load_split(rec: Recipe, root: str | os.PathLike, split: str, max_rows: int | None = None,
               featurization: Any = None) -> Any:
    """The part of the recipe's dataset with role ``split`` (``'train'``, ``'val'`` or
    ``'test'``: the dataset's ``rec.splits[split]``), with the recipe's dataset options,
    processed with every target of :data:`DATASET_TARGETS` (the recipe picks its column) and
    ``featurization`` (default :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`)."""
    from ..training.registry import build_dataset

    if split not in rec.splits:
        raise ValueError(f"split must be one of {sorted(rec.splits)}, got {split!r}")
    return build_dataset(rec.dataset, root=str(root), split=rec.splits[split],
                         target=DATASET_TARGETS[rec.dataset], max_rows=max_rows,
                         featurization=featurization, **rec.dataset_options)


def target_index(rec: Recipe) -> int:
    """Column of ``data.y`` holding the recipe's target."""
    return DATASET_TARGETS[rec.dataset].index(rec.target)
