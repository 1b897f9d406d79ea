r"""The catalog of the studies: every compared model and every target, one entry each.

A **model entry** names a registered model (:func:`cft_pyg.training.register_model`) at one
size, with its label in tables and figures, its relative cost (the job order: slow ones
first), whether its positional encoding is pretrained first, and the studies that run it.
A **target entry** names a dataset column with its unit and label. Studies take their
models from here (:func:`models_for`), so adding a model to every study is one registry line
and one :func:`register` call:

.. code-block:: python

    from cft_pyg.training import register_model
    from studies.kit.catalog import ModelEntry, register

    register_model("my-gnn", MyGNN)
    register(ModelEntry("my-gnn", model="my-gnn", kwargs={"hidden": 64}, label="My GNN",
                        studies=("compare", "curves", "transfer", "ablation")))

Sizes are for a CPU budget, far below the published ones (parameter counts are recorded
with every result). Light to import (no torch).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DATASET_COLUMNS", "MODELS", "STUDIES", "TARGETS", "ModelEntry", "TargetEntry",
           "label_of", "model_entry", "models_for", "register", "target_entry", "target_label",
           "unregister"]

STUDIES = ("compare", "ablation", "curves", "transfer", "published")
"""The studies that take their models from the catalog (the demo trains one CFT)."""


@dataclass(frozen=True)
class ModelEntry:
    """One compared model.

    Attributes:
        name: the name in results and on the command lines.
        model: the registered model it builds (:func:`cft_pyg.training.build_model`).
        kwargs: its constructor arguments (the size).
        label: name in tables and figures.
        description: longer text (the ablation's variant column); ``label`` when empty.
        cost: relative training time, larger first in the job order.
        pretrained_encoding: its positional encoding is first pretrained label-free on
            orbit distances of all 230 groups (:func:`~studies.kit.trainer.pretrain`).
        shipped_encoding: starts from this pretrained encoder shipped with the package (a
            name of :func:`cft_pyg.pretrained.available_encodings`; nothing is pretrained in
            the study).
        training: changes to the training configuration (:class:`~cft_pyg.training.TrainConfig`
            fields, for example ``{"weight_decay": 0.0}``).
        subgroup_augmentation: probability of showing a training crystal through a random
            t-subgroup description (experimental, attached to ``fit`` through its hooks:
            :func:`cft_pyg.experimental.augmentation.augmentation_hooks`); 0: off.
        featurization: changes to :data:`~cft_pyg.data.DEFAULT_FEATURIZATION` for its
            crystals (for example ``{"geometry": "measured"}``); the studies that load data
            per model (the curves) featurize them so, and the trainer refuses crystals
            featurized otherwise.
        studies: studies that run it with their full settings (:data:`STUDIES`).
        quick: studies that run it with their quick settings too.
    """

    name: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    description: str = ""
    cost: float = 1.0
    pretrained_encoding: bool = False
    shipped_encoding: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    subgroup_augmentation: float = 0.0
    featurization: dict[str, Any] = field(default_factory=dict)
    studies: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.studies) - set(STUDIES) | set(self.quick) - set(self.studies)
        if unknown:
            raise ValueError(f"{self.name}: unknown studies (or quick without full) "
                             f"{sorted(unknown)}; studies are {STUDIES}")

    def model_kwargs(self) -> dict[str, Any]:
        """A copy of the constructor arguments."""
        return copy.deepcopy(self.kwargs)


@dataclass(frozen=True)
class TargetEntry:
    """One target: a column of a dataset.

    Attributes:
        key: ``'<dataset>/<column>'``.
        dataset: ``'mp20'`` or ``'carbon24'``.
        column: the property.
        unit: its unit.
        label: name in tables and figures (with the unit).
    """

    key: str
    dataset: str
    column: str
    unit: str
    label: str

    @property
    def index(self) -> int:
        """Column of the target in ``data.y`` of the study loaders
        (:func:`studies.kit.data.load_parts`: every column of the dataset)."""
        return DATASET_COLUMNS[self.dataset].index(self.column)


DATASET_COLUMNS: dict[str, tuple[str, ...]] = {
    "mp20": ("formation_energy_per_atom", "band_gap"),
    "carbon24": ("energy_per_atom",),
}
"""The targets each study loader puts into ``data.y``, in this order."""

TARGETS: dict[str, TargetEntry] = {t.key: t for t in (
    TargetEntry("carbon24/energy_per_atom", "carbon24", "energy_per_atom", "eV/atom",
                "Carbon-24 energy (eV/atom)"),
    TargetEntry("mp20/formation_energy_per_atom", "mp20", "formation_energy_per_atom",
                "eV/atom", "MP-20 formation energy (eV/atom)"),
    TargetEntry("mp20/band_gap", "mp20", "band_gap", "eV", "MP-20 band gap (eV)"),
)}

_CFT = {"channels": 64, "num_blocks": 2, "heads": 4, "local_channels": 32}
_RAW_TOKENS = {"normalize_encoding": False, "family_inputs": False, "balance_tokens": False}
_NO_PAIRS = {"pair_bias": False, "gated_messages": False}
_EVERY = ("compare", "ablation", "curves", "transfer")

MODELS: dict[str, ModelEntry] = {}


def register(entry: ModelEntry, *, replace: bool = False) -> ModelEntry:
    """Add ``entry`` to the catalog (``replace=True`` to redefine a name)."""
    if entry.name in MODELS and not replace:
        raise ValueError(f"model {entry.name!r} is already in the catalog "
                         "(pass replace=True to redefine it)")
    MODELS[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove ``name`` from the catalog (tests)."""
    MODELS.pop(name, None)


for _entry in (
    ModelEntry("cft-no-encoding", "cft", {**_CFT, "encoding": "none"}, "CFT, no encoding",
               "no positional encoding", cost=2.0, studies=("ablation",),
               quick=("ablation",)),
    ModelEntry("cft-plain", "cft", {**_CFT, "encoding": "plain"}, "CFT, plain Fourier",
               "plain Fourier features", cost=2.0, studies=("ablation",), quick=("ablation",)),
    ModelEntry("cft-raw-tokens", "cft", {**_CFT, **_RAW_TOKENS, **_NO_PAIRS},
               "CFT, raw tokens", "symmetry-adapted, raw tokens, no pair geometry", cost=2.0,
               studies=("ablation",), quick=("ablation",)),
    ModelEntry("cft-normalized-tokens", "cft", {**_CFT, **_NO_PAIRS},
               "CFT, normalized tokens", "+ normalized family inputs, balanced tokens",
               cost=2.0, studies=("ablation",), quick=("ablation",)),
    ModelEntry("cft", "cft", _CFT, "CFT (hybrid)",
               "symmetry-adapted + normalized tokens + pair geometry (**CFT default**)",
               cost=2.0, studies=_EVERY, quick=_EVERY),
    ModelEntry("cft-pretrained", "cft", _CFT, "CFT (hybrid), pretrained encoding",
               "+ orbit-distance pretraining", cost=2.0, pretrained_encoding=True,
               studies=("ablation", "transfer"), quick=("ablation", "transfer")),
    ModelEntry("cft-subgroup-aug", "cft", _CFT, "CFT (hybrid), subgroup augmentation",
               "+ each training crystal shown through a random t-subgroup (p = 0.5)",
               cost=3.0, subgroup_augmentation=0.5, studies=("transfer",)),
    ModelEntry("cft-minima", "cft", {**_CFT, "lattice": "minima"},
               "CFT (hybrid), lattice minima",
               "+ lattice features of the lattice itself (successive minima), not of the "
               "conventional cell", cost=2.0),
    ModelEntry("cft-no-encoding-minima", "cft", {**_CFT, "encoding": "none",
                                                 "lattice": "minima"},
               "CFT, no encoding, lattice minima", "no positional encoding, lattice minima",
               cost=2.0),
    ModelEntry("cft-measured", "cft", {**_CFT, "lattice": "minima"},
               "CFT (hybrid), measured geometry + minima",
               "+ neighbour graph of the input's own atoms, lattice minima", cost=2.0,
               featurization={"geometry": "measured"}),
    ModelEntry("cft-no-encoding-measured", "cft", {**_CFT, "encoding": "none",
                                                   "lattice": "minima"},
               "CFT, no encoding, measured geometry + minima",
               "no positional encoding, measured geometry, lattice minima", cost=2.0,
               featurization={"geometry": "measured"}),
    ModelEntry("cgcnn-measured", "cgcnn", {}, "CGCNN, measured geometry",
               "CGCNN on the neighbour graph of the input's own atoms",
               featurization={"geometry": "measured"}),
    ModelEntry("cft-transformer", "cft-transformer",
               {"channels": 64, "num_blocks": 2, "heads": 4},
               "CFT (Transformer)", cost=1.5, studies=("compare", "curves"),
               quick=("compare", "curves")),
    ModelEntry("transformer-plain", "transformer-plain",
               {"channels": 64, "num_blocks": 2, "heads": 4}, "plain-PE Transformer",
               studies=("curves", "transfer"), quick=("curves",)),
    ModelEntry("published", "cft-published", {}, "CFT (published architecture)",
               "symmetry-adapted encoding", cost=2.5, studies=("published", "transfer"),
               quick=("published",)),
    ModelEntry("published-plain", "cft-published", {"encoding": "plain"},
               "published Transformer, plain PE", "plain Fourier features", cost=2.5,
               studies=("published",), quick=("published",)),
    ModelEntry("published-none", "cft-published", {"encoding": "none"},
               "published Transformer, no PE", "no positional encoding", cost=2.0,
               studies=("published",), quick=("published",)),
    ModelEntry("published-pretrained", "cft-published", {},
               "CFT (published architecture), pretrained encoder",
               "symmetry-adapted encoding, started from the shipped pretrained encoder "
               "`cft-published-r5`", cost=2.5, shipped_encoding="cft-published-r5",
               studies=("published", "transfer")),
    ModelEntry("published-onehot", "cft-published-onehot", {},
               "CFT (published architecture), group one-hot",
               "symmetry-adapted encoding + the published code's space-group one-hot "
               "(a defect: an unseen group gets an untrained embedding)", cost=2.5),
    ModelEntry("cgcnn", "cgcnn", {}, "CGCNN", "CGCNN (same element features)",
               studies=_EVERY, quick=_EVERY),
    ModelEntry("alignn", "alignn", {"alignn_layers": 2, "gcn_layers": 2,
                                    "hidden_features": 64, "embedding_features": 32},
               "ALIGNN (small)", cost=4.0, studies=("compare", "curves", "transfer"),
               quick=("compare", "curves")),
):
    register(_entry)


def model_entry(name: str) -> ModelEntry:
    """The catalog entry ``name`` (the message lists the known names)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; the catalog has {', '.join(MODELS)}")
    return MODELS[name]


def target_entry(key: str) -> TargetEntry:
    """The target ``key`` (``'mp20/band_gap'``; a bare MP-20 column is accepted)."""
    if key not in TARGETS and f"mp20/{key}" in TARGETS:
        key = f"mp20/{key}"
    if key not in TARGETS:
        raise KeyError(f"unknown target {key!r}; known: {', '.join(TARGETS)}")
    return TARGETS[key]


def models_for(study: str, quick: bool = False) -> tuple[str, ...]:
    """The catalog's models of ``study`` (with its quick settings when ``quick``)."""
    if study not in STUDIES:
        raise KeyError(f"unknown study {study!r}; known: {', '.join(STUDIES)}")
    return tuple(n for n, e in MODELS.items() if study in (e.quick if quick else e.studies))


def target_label(key: str) -> str:
    """Label of a target key (the key itself when it is not in :data:`TARGETS`)."""
    return TARGETS[key].label if key in TARGETS else key


def label_of(name: str) -> str:
    """Label of a model name (the name itself when it is not in the catalog)."""
    entry = MODELS.get(name)
    return entry.label if entry is not None and entry.label else name
