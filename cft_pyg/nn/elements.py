r"""Physical element descriptors and the atom embedding built on them.

CGCNN, ALIGNN and MEGNet do not learn an element's chemistry from scratch: they start from
fixed descriptors (group, period, electronegativity, radii, ionization energy, ...).  A
learned embedding of the atomic number alone must discover all of it from the training
labels, which needs far more data than MP-20 holds.  :func:`element_descriptors`
computes such descriptors from pymatgen's element data (a maintained source; nothing is
copied into this repository), and :class:`AtomEmbedding` maps them to the model width.
"""

from __future__ import annotations

import functools
import math
import re
import warnings

import numpy as np
import torch
from torch import nn

__all__ = [
    "AtomEmbedding",
    "ELEMENT_DESCRIPTOR_NAMES",
    "NUM_ELEMENTS",
    "element_descriptors",
]

NUM_ELEMENTS = 119
"""Rows of the element tables: index ``Z`` for ``Z = 1..118``, row 0 unused (zeros)."""

_CONTINUOUS = (
    "electronegativity", "atomic_radius", "log_atomic_mass", "mendeleev_number",
    "first_ionization_energy", "electron_affinity", "log_molar_volume", "log_melting_point",
    "valence_s", "valence_p", "valence_d", "valence_f", "period", "group",
)
_BLOCKS = ("s", "p", "d", "f")
ELEMENT_DESCRIPTOR_NAMES: tuple[str, ...] = (
    *_CONTINUOUS,
    "any_missing",
    *(f"group_{g}" for g in range(1, 19)),
    *(f"period_{p}" for p in range(1, 8)),
    *(f"block_{b}" for b in _BLOCKS),
)
"""Names of the columns of :func:`element_descriptors`."""

_ORBITAL = re.compile(r"(\d+)([spdf])(\d+)")


def _valence_counts(structure: str) -> tuple[float, float, float, float]:
    """Electrons outside the noble-gas core per orbital letter, from pymatgen's
    ``electronic_structure`` string (e.g. ``'[Ar].3d6.4s2'`` -> ``(2, 0, 6, 0)``)."""
    counts = dict.fromkeys(_BLOCKS, 0.0)
    for _, letter, num in _ORBITAL.findall(structure.split("]")[-1]):
        counts[letter] += float(num)
    return counts["s"], counts["p"], counts["d"], counts["f"]


def _number(value: object, transform=None) -> float:
    """A finite float, or NaN for missing data (``None``, NaN, strings)."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    if not math.isfinite(x) or (transform is math.log and x <= 0):
        return math.nan
    return transform(x) if transform is not None else x


@functools.cache
def _descriptor_table() -> np.ndarray:
    from pymatgen.core.periodic_table import Element

    rows = np.zeros((NUM_ELEMENTS, len(ELEMENT_DESCRIPTOR_NAMES)))
    raw = np.full((NUM_ELEMENTS, len(_CONTINUOUS)), math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for every missing property
        for z in range(1, NUM_ELEMENTS):
            el = Element.from_Z(z)
            try:
                affinity = el.electron_affinity
            except (ValueError, KeyError, TypeError, AttributeError):
                affinity = None
            ionization = el.ionization_energies[0] if el.ionization_energies else None
            try:
                valence = _valence_counts(el.electronic_structure)
            except (KeyError, ValueError, TypeError):  # no data for the heaviest elements
                valence = (math.nan,) * 4
            raw[z] = (
                _number(el.X), _number(el.atomic_radius), _number(el.atomic_mass, math.log),
                _number(el.mendeleev_no), _number(ionization), _number(affinity),
                _number(el.molar_volume, math.log), _number(el.melting_point, math.log),
                *valence, float(el.row), float(el.group),
            )
            offset = len(_CONTINUOUS) + 1
            rows[z, offset + el.group - 1] = 1.0
            rows[z, offset + 18 + el.row - 1] = 1.0
            rows[z, offset + 25 + _BLOCKS.index(el.block)] = 1.0
    known = raw[1:]
    mean = np.nanmean(known, axis=0)
    std = np.nanstd(known, axis=0)
    standardized = (raw - mean) / np.where(std > 0, std, 1.0)
    missing = np.isnan(standardized)
    rows[:, : len(_CONTINUOUS)] = np.where(missing, 0.0, standardized)  # missing -> mean
    rows[:, len(_CONTINUOUS)] = missing.any(axis=1)
    rows[0] = 0.0
    return rows


def element_descriptors(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Fixed physical descriptors of the elements, ``(119, F)`` with ``F = 44``.

    Row ``Z`` describes element ``Z`` (row 0 is zero).  Columns
    (:data:`ELEMENT_DESCRIPTOR_NAMES`): 14 continuous properties standardized over the 118
    elements (Pauling electronegativity, atomic radius, log atomic mass, Mendeleev number,
    first ionization energy, electron affinity, log molar volume, log melting point,
    valence s/p/d/f electron counts, period, group; a missing value is set to the mean,
    i.e. 0), one flag for "some property missing", and one-hot group (18), period (7) and
    block (4), the categorical part of CGCNN's ``atom_init.json``.  Computed from
    pymatgen's element data once per process.
    """
    return torch.from_numpy(_descriptor_table()).to(dtype)


class AtomEmbedding(nn.Module):
    r"""Atom features from fixed physical descriptors plus a learned correction.

    .. math::

        a_i = W\, \delta(Z_i) + b + E[Z_i], \qquad E \text{ initialized to } 0,

    with :math:`\delta` the descriptors of :func:`element_descriptors` (stored in the
    module's state, so a checkpoint keeps the exact table it was trained with).  At
    initialization every element is placed by its chemistry; the zero-initialized
    embedding :math:`E` lets training refine individual elements.  ``descriptors=False``
    gives a plain learned embedding (the ablation without physical features).

    Args:
        channels: output width.
        descriptors: use the physical descriptors.

    Shapes:
        - input: ``z`` ``(N,)`` long atomic numbers in 1..118.
        - output: ``(N, channels)``.
    """

    def __init__(self, channels: int, descriptors: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.embedding = nn.Embedding(NUM_ELEMENTS, channels)
        if descriptors:
            table = element_descriptors()
            self.register_buffer("descriptors", table)
            self.linear = nn.Linear(table.shape[1], channels)
            nn.init.zeros_(self.embedding.weight)
        else:
            self.register_buffer("descriptors", None)
            self.linear = None

    def extra_repr(self) -> str:
        return f"channels={self.channels}, descriptors={self.linear is not None}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.embedding(z)
        if self.linear is not None:
            out = out + self.linear(self.descriptors[z])
        return out
