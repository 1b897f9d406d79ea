r"""Pretrained models shipped with cft-pyg: load by name, offline, and predict.

.. code-block:: python

    from cft_pyg import pretrained
    from cft_pyg.data import from_cif
    from cft_pyg.training import predict

    model = pretrained.load("mp20-formation-energy")        # no network needed
    card = pretrained.model_card("mp20-formation-energy")   # data, split, test MAE, command
    data = [from_cif("a.cif", model.featurization)]   # as its training crystals
    print(predict(model, data)["y_pred"])

or on the command line: ``cft-pyg predict --pretrained mp20-formation-energy a.cif``.

Each model is a small file in the package (``models/<name>.pt``: hyperparameters and weights
only, read with ``torch.load(weights_only=True)``) with its model card
(``models/<name>.json``). Both are written by the maintainers' builder
(``studies/pretrained/build.py`` in the source checkout) from the recipe in
:mod:`cft_pyg.pretrained.recipes`; the card repeats the recipe and the command, and
:mod:`cft_pyg.pretrained.validity` adds where the model was measured to hold and where it
fails (``card["validity"]``).

**Pretrained encoders.** :func:`available_encodings` lists the positional encoders shipped
for fine-tuning (pretrained label-free on orbit distances of all 230 groups);
:func:`load_encoding` puts one into a new model, :func:`encoding_card` gives its card, and
``cft-pyg train --pretrained-encoding NAME`` starts a training from it
(:mod:`cft_pyg.pretrained.encoders`).

**Which model.** ``mp20-formation-energy`` and ``mp20-band-gap`` (the CFT trunk without a
positional encoding) are for relaxed crystals. ``nrel-unrelaxed-energy`` (the CFT with the
symmetry-adapted encoding) predicts the DFT energy per atom after relaxation of an
**unrelaxed** prototype-decorated candidate, for ranking the candidates of one composition
in a screen; it was trained on pnictides only (its card, ``validity``, says where it holds).

**Training crystals.** The MP-20 models were trained on MP-20's ``project-train`` part, 80% of
CDVAE's ``val.csv`` and ``test.csv`` pooled: those two files contain the training crystals.
Evaluate on ``split='project-test'`` (what the card reports) or on your own data;
``training_ids(name, data_root)`` lists the training IDs (computed from the files, checked
against the card), and :func:`cft_pyg.training.predict` warns when given a part that holds
them. ``nrel-unrelaxed-energy`` was trained on every candidate of 80% of the NREL
compositions (``training_compositions(name, data_root)``); its test compositions were never
seen.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .recipes import RECIPES, Recipe, recipe
from .validity import training_compositions, training_ids

if TYPE_CHECKING:  # pragma: no cover
    from ..training.property_model import PropertyModel

__all__ = ["MODELS_DIR", "RECIPES", "Recipe", "available", "available_encodings",
           "encoding_card", "load", "load_encoding", "model_card", "recipe",
           "training_compositions", "training_ids"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
"""Folder of the shipped weights and model cards."""

FORMAT = "cft-pyg-pretrained/1"


def available_encodings() -> list[str]:
    """Names of the pretrained encoders shipped in this installation
    (:func:`cft_pyg.pretrained.encoders.available_encodings`)."""
    from .encoders import available_encodings as names

    return names()


def encoding_card(name: str) -> dict[str, Any]:
    """The card of the shipped encoder ``name``
    (:func:`cft_pyg.pretrained.encoders.encoding_card`)."""
    from .encoders import encoding_card as card

    return card(name)


def load_encoding(model: Any, name: str) -> dict[str, Any]:
    """Load the shipped encoder ``name`` into ``model.positional``; returns its card
    (:func:`cft_pyg.pretrained.encoders.load_encoding`)."""
    from .encoders import load_encoding as load_into

    return load_into(model, name)


def available() -> list[str]:
    """Names of the pretrained models whose weights are present in this installation."""
    return [n for n in RECIPES if (MODELS_DIR / f"{n}.pt").is_file()]


def _files(name: str, models_dir: Path | None) -> tuple[Path, Path]:
    recipe(name)  # KeyError with the known names
    folder = MODELS_DIR if models_dir is None else Path(models_dir)
    weights, card = folder / f"{name}.pt", folder / f"{name}.json"
    if not weights.is_file() or not card.is_file():
        raise FileNotFoundError(
            f"pretrained model {name!r} is not in {folder} (this installation ships "
            f"{', '.join(available()) or 'none'}); build it with "
            f"`python -m studies.pretrained.build {name} --data-root DIR` (from a source "
            f"checkout)")
    return weights, card


def model_card(name: str, models_dir: str | Path | None = None) -> dict[str, Any]:
    """The model card of ``name``: recipe, data and split, training curve, test MAE with its
    bootstrap interval, parameters, library version, date and the command that built it."""
    _, card = _files(name, None if models_dir is None else Path(models_dir))
    return _read_card(str(card))


@cache
def _read_card(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def load(name: str, map_location: str = "cpu", models_dir: str | Path | None = None
         ) -> PropertyModel:
    """The pretrained model ``name`` in eval mode (a Lightning-free
    :class:`~cft_pyg.training.PropertyModel`), with its target normalization and the
    featurization of its training crystals (``model.featurization``, a
    :class:`~cft_pyg.data.Featurization`: pass it when featurizing new crystals).

    Args:
        name: one of :data:`RECIPES` (``available()`` lists those shipped).
        map_location: device to load the weights on.
        models_dir: folder holding ``<name>.pt`` (default: the package's).

    Raises:
        KeyError: unknown name (the message lists the known ones).
        FileNotFoundError: the weights are not in this installation.
        ValueError: the file is not a cft-pyg pretrained model, or comes from an incompatible
            cft-pyg version.
    """
    import torch

    from ..training.checkpoints import check_library_version
    from ..training.property_model import PropertyModel

    weights, _ = _files(name, None if models_dir is None else Path(models_dir))
    try:
        blob = torch.load(weights, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise ValueError(f"{weights} is not a readable cft-pyg pretrained model: {err}"
                         ) from err
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{weights} is not a cft-pyg pretrained model (format {FORMAT})")
    hparams = dict(blob["hparams"])
    check_library_version(weights, hparams.get("library_version"))
    module = PropertyModel(hparams)
    module.load_state_dict(blob["state_dict"])
    module.to(map_location)
    module.eval()
    from .validity import trained_on

    module.trained_on = trained_on(name)  # predict() warns on parts holding these crystals
    module.training_domain = (model_card(name, models_dir).get("validity") or {}).get(
        "training_domain")  # predict() warns once for crystals outside it
    return module
