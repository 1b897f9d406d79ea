"""Errors raised by the crystal data pipeline.

Every rejection of a bad input structure by :func:`cft_pyg.data.from_structure` (and
:func:`cft_pyg.data.from_cif`) is a :class:`StructureError`.  It subclasses
:class:`ValueError`, so ``except ValueError`` keeps working, and carries a short
machine-readable ``reason`` code next to the human-readable message, which dataset
builders can record in their skipped-entries report.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["StructureError", "REASONS", "SkipReason"]

REASONS: dict[str, str] = {
    "malformed_cif": "the CIF could not be parsed into a structure",
    "malformed_file": "a structure file (POSCAR, extended XYZ, ...) could not be parsed",
    "unsupported_input": "the input is not a pymatgen Structure, ASE Atoms or (lattice, frac, z)",
    "disorder": "partial occupancies or mixed-species sites (a disordered structure)",
    "no_atoms": "the structure has zero atoms",
    "non_finite": "a lattice entry or coordinate is NaN or infinite",
    "bad_shape": "the lattice, coordinates or atomic numbers have the wrong shape",
    "degenerate_lattice": "the lattice is singular or nearly flat",
    "unknown_element": "an atomic number is outside 1..118 (dummy or unknown species)",
    "overlapping_atoms": "two atoms (or an atom and its own periodic image) are too close",
    "symmetry_failed": "spglib could not determine the symmetry or standardize the cell",
    "space_group_mismatch": "the detected space group differs from the expected one",
}
"""The ``reason`` codes of :class:`StructureError` and what each means."""


class SkipReason(str, Enum):  # noqa: UP042  (StrEnum needs Python 3.11)
    """Why a dataset entry was skipped: every :data:`REASONS` code plus the dataset's own.

    The value is the code written to ``skipped.csv`` (``str(reason)`` gives it too).
    """

    MALFORMED_CIF = "malformed_cif"
    MALFORMED_FILE = "malformed_file"
    UNSUPPORTED_INPUT = "unsupported_input"
    DISORDER = "disorder"
    NO_ATOMS = "no_atoms"
    NON_FINITE = "non_finite"
    BAD_SHAPE = "bad_shape"
    DEGENERATE_LATTICE = "degenerate_lattice"
    UNKNOWN_ELEMENT = "unknown_element"
    OVERLAPPING_ATOMS = "overlapping_atoms"
    SYMMETRY_FAILED = "symmetry_failed"
    SPACE_GROUP_MISMATCH = "space_group_mismatch"
    MISSING_TARGET = "missing_target"
    """The target value is missing or not finite."""
    MISSING_FILE = "missing_file"
    """The entry's CIF file does not exist."""
    ERROR = "error"
    """An unexpected exception while converting the entry."""
    PRE_FILTER = "pre_filter"
    """Rejected by the dataset's ``pre_filter``."""

    def __str__(self) -> str:
        return str(self.value)


class StructureError(ValueError):
    """A structure that cannot be turned into a standardized crystal ``Data``.

    Args:
        message: Human-readable explanation (what is wrong and, when useful, how to fix it).
        reason: One of the keys of :data:`REASONS`.

    Attributes:
        reason: The machine-readable reason code.
    """

    def __init__(self, message: str, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown StructureError reason {reason!r}")
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across processes
        return (type(self), (str(self), self.reason))
