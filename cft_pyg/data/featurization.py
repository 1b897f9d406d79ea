"""How a structure becomes model input: one typed, immutable :class:`Featurization`.

Every path from a structure to a crystal ``Data`` (:func:`~cft_pyg.data.from_structure`,
:func:`~cft_pyg.data.from_cif`, every dataset, ``predict``, the pretrained models, the
command line) takes its options from one :class:`Featurization`, whose defaults are
:data:`DEFAULT_FEATURIZATION`.  The object is recorded

* on every crystal ``Data`` it makes (``data.featurization``, a JSON string, so that a
  model trained from a plain list of ``Data`` knows how its crystals were made),
* in every processed dataset (``dataset.featurization``, ``meta.json``, the cache key),
* in every checkpoint (``module.featurization``), so that ``predict`` featurizes new
  crystals exactly as the training crystals were.

A model that reads the neighbour graph refuses a batch whose recorded ``radius`` differs
from its own (:func:`cft_pyg.nn.inputs.check_featurization`).  The frequency cutoff of a
Fourier encoding is not a featurization option: no processed field depends on it, so the model
owns it (``encoding_cutoff``, checked when the model is built).

Conventions: lengths in Å, angles in degrees (``docs/conventions.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = ["DEFAULT_FEATURIZATION", "GEOMETRIES", "Featurization",
           "FeaturizationMismatchError", "Geometry", "featurization_of"]


Geometry = Literal["symmetrized", "measured"]
GEOMETRIES: tuple[str, ...] = get_args(Geometry)
"""The sources of the neighbour graph's distances (:attr:`Featurization.geometry`)."""


class FeaturizationMismatchError(ValueError):
    """Data featurized with other options than a model or another part of a run expects."""


@dataclass(frozen=True)
class Featurization:
    """The options that turn a structure into a crystal ``Data`` (immutable).

    Args:
        symprec: spglib distance tolerance (Å) of the space-group detection.  The default
            0.1 with ``angle_tolerance=5`` is the Materials Project's (pymatgen's
            ``SpacegroupAnalyzer`` as used for MP's ``spacegroup.number``): MP-20's detected
            groups then agree with the declared ones.
        angle_tolerance: spglib angle tolerance (degrees; negative: derived by spglib).
        min_distance: atoms closer than this (Å) are rejected as overlapping (the
            shortest real bond, H-H, is about 0.74 Å).
        canonical_origin: choose, among the descriptions related by metric-preserving
            elements of the group's affine normalizer (equivalent origins and axes, the
            origin along polar axes), the one with the smallest canonical key, so that the
            standardized crystal does not depend on the input description.
        canonical_handedness: identify a crystal with its mirror image: the improper
            normalizer elements join the canonical choice and the second member of each
            enantiomorphic pair (P4_3, P3_2, ...) is mapped by ``x -> -x`` onto the first
            (P4_1, P3_1, ...).  Every prediction is then the same for a crystal and its
            mirror image, which is right for every scalar property (energies, gaps,
            moduli).  Needs ``canonical_origin``.  ``False`` keeps the input's
            handedness: use it **only** for chirality-sensitive (pseudo-scalar) targets
            such as optical rotation; predictions then differ between mirror images by
            design.
        radius: neighbour-graph cutoff (Å; CGCNN's 8).
        max_neighbors: nearest neighbours kept per atom, tied shells kept whole
            (CGCNN's 12); ``None`` keeps every neighbour within ``radius``.
        geometry: where the neighbour graph's distances come from. ``'symmetrized'`` (the
            default): the standardized crystal, whose atoms are moved onto the exactly
            symmetric positions of the detected group, so the distances jump (by up to
            about ``symprec``) when a tolerance or a small distortion changes that group.
            ``'measured'``: the input's own atomic positions and lattice
            (:func:`~cft_pyg.data.geometry.measured_positions`): every distance is that of
            the physical crystal, **continuous in the atomic positions** and the same for
            every description of it (settings, origins, rotations, mirror images,
            supercells); the symmetrized crystal still gives the Fourier encoding, the
            lattice features and ``pos``.  Off by default; subgroup re-descriptions
            (:func:`cft_pyg.experimental.augmentation.subgroup_data`) refuse it.

    Example:
        >>> from pymatgen.core import Lattice, Structure
        >>> from cft_pyg.data import Featurization, featurization_of, from_structure
        >>> nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
        ...                                  [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> f = Featurization(symprec=0.01)      # stricter symmetry detection
        >>> data = from_structure(nacl, f)
        >>> int(data.space_group), data.num_nodes
        (225, 8)
        >>> featurization_of([data]) == f        # every crystal records its featurization
        True
    """

    symprec: float = 0.1
    angle_tolerance: float = 5.0
    min_distance: float = 0.5
    canonical_origin: bool = True
    canonical_handedness: bool = True
    radius: float = 8.0
    max_neighbors: int | None = 12
    geometry: Geometry = "symmetrized"

    def __post_init__(self) -> None:
        for name in ("symprec", "radius"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Featurization.{name} must be a positive finite number, "
                                 f"got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("angle_tolerance", "min_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ValueError(f"Featurization.{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.min_distance < 0:
            raise ValueError(f"Featurization.min_distance must be >= 0, got {self.min_distance}")
        for name in ("canonical_origin", "canonical_handedness"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Featurization.{name} must be True or False, "
                                 f"got {getattr(self, name)!r}")
        if self.canonical_handedness and not self.canonical_origin:
            raise ValueError("Featurization: canonical_handedness=True needs canonical_origin=True "
                             "(the mirror image is chosen among the canonical descriptions); "
                             "set canonical_handedness=False as well")
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"Featurization.geometry must be one of {GEOMETRIES}, "
                             f"got {self.geometry!r}")
        m = self.max_neighbors
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"Featurization.max_neighbors must be a positive integer or None, "
                             f"got {m!r}")

    @property
    def symmetrization_tolerance(self) -> float:
        """The largest distance (Å) an atom moves when symmetrized onto its site, and so the
        largest distance of an input atom from the site it stands for:
        ``max(4 * symprec, 1e-6)`` (one definition for the standardization and the measured
        geometry)."""
        return max(4.0 * self.symprec, 1e-6)

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the options, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> Featurization:
        """A copy with ``changes`` (unknown names raise ``TypeError``)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise TypeError(f"unknown featurization option(s) {unknown}; "
                            f"known: {list(self.field_names())}")
        return dataclasses.replace(self, **changes) if changes else self

    @classmethod
    def resolve(cls, featurization: Featurization | Mapping[str, Any] | None = None,
                **changes: Any) -> Featurization:
        """``featurization`` (default :data:`DEFAULT_FEATURIZATION`, or a mapping of options)
        with ``changes`` applied: the one way every entry point reads its options."""
        if featurization is None:
            base = DEFAULT_FEATURIZATION
        elif isinstance(featurization, Featurization):
            base = featurization
        elif isinstance(featurization, Mapping):
            base = cls.from_dict(featurization)
        else:
            raise TypeError(f"featurization must be a Featurization or a mapping, "
                            f"got {type(featurization).__name__}")
        return base.replace(**changes)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """Plain ``{option: value}`` (for checkpoints, YAML and JSON)."""
        return dataclasses.asdict(self)

    def cache_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` less the options added after processed caches existed, while they
        keep their default (:data:`_ADDED_OPTIONS`): the part of a cache's name that comes
        from the featurization, so caches made before an option existed keep their names."""
        return {k: v for k, v in self.to_dict().items()
                if k not in _ADDED_OPTIONS or v != _ADDED_OPTIONS[k]}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Featurization:
        """The featurization of ``values``; options it omits take this version's defaults.

        Raises:
            ValueError: an unknown option name (``cutoff``: the model's ``encoding_cutoff``)
                or an invalid value.
        """
        if "cutoff" in values:
            raise ValueError("'cutoff' is not a featurization option: the frequency cutoff "
                             "belongs to the model (model_kwargs encoding_cutoff)")
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown featurization option(s) {unknown}; "
                             f"known: {list(cls.field_names())}")
        return cls(**dict(values))

    @classmethod
    def from_record(cls, values: Mapping[str, Any]) -> Featurization:
        """The featurization of a record written by this or an earlier version (a
        checkpoint's hyperparameters, a crystal's ``featurization`` string): the frequency
        cutoff that earlier versions recorded with it (``cutoff``, now the model's
        ``encoding_cutoff``, which such a checkpoint records itself) is left out."""
        return cls.from_dict({k: v for k, v in values.items() if k != "cutoff"})

    def to_json(self) -> str:
        """Compact JSON with sorted keys: equal featurizations give equal strings.

        Computed once per object (it is immutable) and kept on it: every crystal a dataset
        builds records it."""
        text = self.__dict__.get("_json")
        if text is None:
            text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
            object.__setattr__(self, "_json", text)
        return text

    @classmethod
    def from_json(cls, text: str) -> Featurization:
        """Inverse of :meth:`to_json` (cached: a batch repeats one string)."""
        return _from_json(text)

    # ------------------------------------------------------------------ checks
    def differences(self, other: Featurization,
                    names: Iterable[str] | None = None) -> dict[str, tuple[Any, Any]]:
        """``{option: (self's value, other's value)}`` for every option that differs."""
        keys = self.field_names() if names is None else tuple(names)
        return {k: (getattr(self, k), getattr(other, k)) for k in keys
                if getattr(self, k) != getattr(other, k)}


_ADDED_OPTIONS: dict[str, Any] = {"geometry": "symmetrized"}
"""Options added after processed caches existed, and their defaults
(:meth:`Featurization.cache_dict`)."""


@functools.lru_cache(maxsize=64)
def _from_json(text: str) -> Featurization:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not a featurization record: {text[:80]!r}") from err
    if not isinstance(values, dict):
        raise ValueError(f"not a featurization record: {text[:80]!r}")
    return Featurization.from_record(values)


DEFAULT_FEATURIZATION = Featurization()
"""The one default of every entry point (symprec 0.1 Å, angle tolerance 5°, canonical origin
and handedness, 8 Å / 12 neighbours, symmetrized geometry)."""


def _records(dataset: Sequence[Any]) -> set[str]:
    out: set[str] = set()
    for item in dataset:
        record = getattr(item, "featurization", None)
        if record is None:
            out.add("")
        elif isinstance(record, str):
            out.add(record)
        else:  # a Batch collates the strings into a list
            out.update(str(r) for r in record)
    return out


def featurization_of(dataset: Sequence[Any]) -> Featurization | None:
    """The :class:`Featurization` that made the crystals of ``dataset``.

    Read from ``dataset.featurization`` (the datasets of :mod:`cft_pyg.data`, also through
    ``index_select`` views and ``ConcatDataset``), else from the ``featurization`` record of
    every ``Data`` (a plain list made by :func:`~cft_pyg.data.from_structure`).

    Returns:
        The featurization, or ``None`` when no crystal records one (``Data`` built by hand).

    Raises:
        FeaturizationMismatchError: the crystals (or the parts of a ``ConcatDataset``) were
            featurized in different ways, or only some of them record how.
    """
    own = getattr(dataset, "featurization", None)
    if isinstance(own, Featurization):
        return own
    parts = getattr(dataset, "datasets", None)
    if parts is not None:
        found = {featurization_of(p) for p in parts}
        if len(found) > 1:
            raise FeaturizationMismatchError(
                f"the parts of the dataset were featurized differently: {sorted(map(str, found))}")
        return found.pop() if found else None
    records = _records(dataset)
    if not records or records == {""}:
        return None
    if "" in records:
        raise FeaturizationMismatchError(
            "only some crystals record how they were featurized (Data from from_structure "
            "mixed with Data built by hand)")
    if len(records) > 1:
        raise FeaturizationMismatchError(
            f"the crystals were featurized in {len(records)} different ways: "
            f"{sorted(records)[:3]}")
    return Featurization.from_json(records.pop())
