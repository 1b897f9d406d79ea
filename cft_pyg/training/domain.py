"""The measured domain of a model: how large its training cells were and which elements they
held; :func:`warn_outside` warns once when a prediction leaves it.

A model's error is measured on crystals like its training crystals. A crystal with more
atoms per cell than any training crystal, or with an element no training crystal contained,
is predicted by extrapolation: the number comes out, its error is unmeasured. :func:`fit`
records the domain of its training crystals in the checkpoint (``hparams['domain']``);
:func:`cft_pyg.pretrained.load` attaches the shipped model's (from its card).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["domain_of", "model_domain", "outside", "warn_outside"]


def _atoms_and_elements(data: Any) -> tuple[int, set[int]]:
    z = getattr(data, "z", None)
    if z is None:
        return int(data.num_nodes), set()
    return int(z.numel()), {int(v) for v in z.reshape(-1).tolist()}


def domain_of(dataset: Sequence[Any]) -> dict[str, Any]:
    """``{'max_atoms': int, 'elements': sorted atomic numbers}`` of the crystals of
    ``dataset`` (``Data`` with ``z``: one atomic number per atom of the cell)."""
    max_atoms, elements = 0, set()
    for i in range(len(dataset)):
        n, zs = _atoms_and_elements(dataset[i])
        max_atoms, elements = max(max_atoms, n), elements | zs
    return {"max_atoms": max_atoms, "elements": sorted(elements)}


def model_domain(module: Any) -> dict[str, Any] | None:
    """The domain recorded for ``module``: a shipped model's (``module.training_domain``) or
    a checkpoint's (``hparams['domain']``); ``None`` when none is recorded."""
    found = getattr(module, "training_domain", None)
    if found is None:
        hparams = getattr(module, "hparams", None)
        found = hparams.get("domain") if hparams is not None else None
    return found or None


def outside(domain: dict[str, Any], dataset: Sequence[Any]) -> dict[str, Any]:
    """Which crystals of ``dataset`` lie outside ``domain``: ``{'too_large': [indices],
    'largest': atoms, 'new_elements': [indices], 'elements': sorted new atomic numbers}``."""
    known = set(domain.get("elements") or [])
    limit = int(domain.get("max_atoms") or 0)
    too_large, new, new_z, largest = [], [], set(), 0
    for i in range(len(dataset)):
        n, zs = _atoms_and_elements(dataset[i])
        if limit and n > limit:
            too_large.append(i)
            largest = max(largest, n)
        if known and zs - known:
            new.append(i)
            new_z |= zs - known
    return {"too_large": too_large, "largest": largest, "new_elements": new,
            "elements": sorted(new_z)}


def warn_outside(module: Any, dataset: Sequence[Any], stacklevel: int = 3) -> None:
    """One warning (not one per crystal) when crystals of ``dataset`` lie outside the
    measured domain of ``module`` (more atoms per cell than its training crystals, or
    elements absent from them)."""
    domain = model_domain(module)
    if domain is None or len(dataset) == 0:
        return
    found = outside(domain, dataset)
    parts = []
    if found["too_large"]:
        parts.append(f"{len(found['too_large'])} with more atoms per cell than its training "
                     f"crystals ({found['largest']} > {domain['max_atoms']})")
    if found["new_elements"]:
        from ase.data import chemical_symbols

        names = ", ".join(chemical_symbols[z] for z in found["elements"][:12])
        parts.append(f"{len(found['new_elements'])} with elements absent from its training "
                     f"crystals ({names}{', ...' if len(found['elements']) > 12 else ''})")
    if parts:
        n = len(set(found["too_large"]) | set(found["new_elements"]))
        warnings.warn(f"{n} of {len(dataset)} crystal(s) lie outside the model's measured "
                      f"domain: {'; '.join(parts)}. Their predictions are extrapolations of "
                      "unmeasured error.", UserWarning, stacklevel=stacklevel)
