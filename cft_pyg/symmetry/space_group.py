"""Space groups as small, exact crystallographic objects.

Conventions (the same everywhere in :mod:`cft_pyg`):

* Operations act on **fractional** coordinates of the **conventional** cell of the
  chosen setting: ``x -> W x + w`` with ``W`` an integer 3x3 matrix (``rotations``)
  and ``w`` a fractional translation (``translations``).  Centring translations are
  listed as separate operations (192 operations for Fm-3m).
* A space-group *number* (1-230) selects its **default ITA setting**: spglib's smallest
  Hall number for that number (b-unique, origin choice 1, hexagonal axes for R groups;
  the same setting that gemmi picks).  Any of spglib's 530 Hall settings is available
  through :meth:`SpaceGroup.from_hall`.
* Every translation of every setting is a multiple of 1/12, so translations are stored
  exactly as integers ``translations_12`` in ``[0, 12)``; phases ``exp(2 pi i k.w)`` are
  then exact integers modulo 12 and no float tolerance is needed anywhere.
"""

from __future__ import annotations

import functools

import numpy as np
import spglib

__all__ = ["SpaceGroup", "default_hall_number", "crystal_system", "CRYSTAL_SYSTEMS",
           "HEXAGONAL_FAMILY_NUMBERS"]

NUM_SPACE_GROUPS = 230
NUM_HALL_SETTINGS = 530
TRANSLATION_DENOMINATOR = 12
_CRYSTAL_SYSTEMS = (
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)  # (last space-group number, crystal system)
CRYSTAL_SYSTEMS: tuple[str, ...] = tuple(name for _, name in _CRYSTAL_SYSTEMS)
"""The seven crystal systems in ITA order (trigonal separate from hexagonal)."""
HEXAGONAL_FAMILY_NUMBERS = range(_CRYSTAL_SYSTEMS[3][0] + 1, _CRYSTAL_SYSTEMS[5][0] + 1)
"""Space-group numbers of the trigonal and hexagonal crystal systems (hexagonal family:
143-194)."""


def _check_number(number: int) -> int:
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise ValueError(f"space-group number must be an integer, got {number!r}")
    if not 1 <= int(number) <= NUM_SPACE_GROUPS:
        raise ValueError(f"space-group number must be in 1..230, got {number}")
    return int(number)


def _check_hall(hall_number: int) -> int:
    if isinstance(hall_number, bool) or not isinstance(hall_number, (int, np.integer)):
        raise ValueError(f"Hall number must be an integer, got {hall_number!r}")
    if not 1 <= int(hall_number) <= NUM_HALL_SETTINGS:
        raise ValueError(f"Hall number must be in 1..530, got {hall_number}")
    return int(hall_number)


@functools.cache
def _default_hall_table() -> tuple[int, ...]:
    first: dict[int, int] = {}
    for hall in range(1, NUM_HALL_SETTINGS + 1):
        first.setdefault(spglib.get_spacegroup_type(hall).number, hall)
    return tuple(first[n] for n in range(1, NUM_SPACE_GROUPS + 1))


def default_hall_number(number: int) -> int:
    """spglib's smallest Hall number for space-group ``number`` (its default ITA setting)."""
    return _default_hall_table()[_check_number(number) - 1]


def crystal_system(number: int) -> str:
    """Crystal system (``'triclinic'`` ... ``'cubic'``, trigonal separate from hexagonal)."""
    number = _check_number(number)
    for last, name in _CRYSTAL_SYSTEMS:
        if number <= last:
            return name
    raise AssertionError("unreachable")


class SpaceGroup:
    """A space group in one Hall setting, with exact operations.

    Build it with ``SpaceGroup(number)`` (default ITA setting of a number 1-230) or
    ``SpaceGroup.from_hall(hall_number)`` (any of spglib's 530 settings).

    Attributes:
        number: International Tables number, 1-230.
        hall_number: spglib Hall number, 1-530, of the setting of the operations.
        rotations: ``(n_ops, 3, 3)`` int64, the matrices ``W`` acting on fractional
            coordinates (columns of the conventional cell).
        translations_12: ``(n_ops, 3)`` int64, ``12 * w`` reduced to ``[0, 12)``.

    Operations act as ``x -> W x + w`` on fractional coordinates of the
    conventional cell of this setting; centring translations are separate operations.

    Example:
        >>> from cft_pyg import SpaceGroup
        >>> G = SpaceGroup(227)                  # Fd-3m in its default ITA setting
        >>> G.number, G.hall_number, len(G.rotations)
        (227, 525, 192)
        >>> G.has_inversion
        True
        >>> SpaceGroup.from_hall(526).number     # the other origin choice of Fd-3m
        227
    """

    number: int
    hall_number: int
    rotations: np.ndarray
    translations_12: np.ndarray

    def __init__(self, number: int) -> None:
        hall = default_hall_number(number)
        self._init_from_hall(hall)

    @classmethod
    def from_hall(cls, hall_number: int) -> SpaceGroup:
        """The space group in spglib's Hall setting ``hall_number`` (1-530)."""
        hall = _check_hall(hall_number)
        obj = cls.__new__(cls)
        obj._init_from_hall(hall)
        return obj

    def _init_from_hall(self, hall: int) -> None:
        rotations, translations_12 = _operations(hall)
        self.hall_number = hall
        self.number = _number_of_hall(hall)
        self.rotations = rotations
        self.translations_12 = translations_12

    # ------------------------------------------------------------------ operations
    @property
    def translations(self) -> np.ndarray:
        """``(n_ops, 3)`` float64 fractional translations ``w`` in ``[0, 1)``."""
        return self.translations_12 / TRANSLATION_DENOMINATOR

    @property
    def num_operations(self) -> int:
        """Number of operations in the conventional cell (centring translations included)."""
        return int(self.rotations.shape[0])

    def __len__(self) -> int:
        return self.num_operations

    @property
    def point_group_rotations(self) -> np.ndarray:
        """``(|P|, 3, 3)`` the distinct rotation matrices (the point group in this basis;
        read-only, computed once per setting)."""
        return _point_group(self.hall_number)

    @property
    def point_group_order(self) -> int:
        """Order of the point group (number of distinct rotations)."""
        return int(self.point_group_rotations.shape[0])

    @property
    def centring_translations(self) -> np.ndarray:
        """``(n_c, 3)`` fractional centring translations (pure translations incl. zero)."""
        identity = np.all(self.rotations == np.eye(3, dtype=np.int64), axis=(1, 2))
        return self.translations_12[identity] / TRANSLATION_DENOMINATOR

    def apply(self, frac_coords: np.ndarray) -> np.ndarray:
        """Images ``W x + w`` of fractional points under every operation.

        Args:
            frac_coords: ``(n, 3)`` fractional coordinates in this setting.

        Returns:
            ``(n_ops, n, 3)`` fractional coordinates (not wrapped into the cell).
        """
        x = np.asarray(frac_coords, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"frac_coords must have shape (n, 3), got {x.shape}")
        return np.einsum("gij,nj->gni", self.rotations, x) + self.translations[:, None, :]

    # ------------------------------------------------------------------ descriptors
    @functools.cached_property
    def _type(self) -> spglib.SpaceGroupType:  # type: ignore[name-defined]
        return spglib.get_spacegroup_type(self.hall_number)

    @property
    def hall_symbol(self) -> str:
        return str(self._type.hall_symbol)

    @property
    def hermann_mauguin(self) -> str:
        """Short Hermann-Mauguin symbol, e.g. ``'Fd-3m'``, ``'P2_1/c'``."""
        return str(self._type.international_short)

    @property
    def hermann_mauguin_full(self) -> str:
        return str(self._type.international_full)

    @property
    def setting_choice(self) -> str:
        """spglib's setting label (``''``, ``'b'``, ``'1'``, ``'H'``, ...)."""
        return str(self._type.choice)

    @property
    def point_group(self) -> str:
        """Hermann-Mauguin symbol of the point group, e.g. ``'m-3m'``."""
        return str(self._type.pointgroup_international)

    @property
    def centring(self) -> str:
        """Lattice centring letter of this setting: P, A, B, C, I, F or R."""
        return self.hall_symbol.lstrip("-")[0]

    @property
    def crystal_system(self) -> str:
        return crystal_system(self.number)

    @property
    def crystal_family(self) -> str:
        """Crystal family: trigonal and hexagonal systems form the hexagonal family."""
        system = self.crystal_system
        return "hexagonal" if system == "trigonal" else system

    @property
    def is_hexagonal_family(self) -> bool:
        """True for groups 143-194 (reference metric a=b, gamma=120 deg)."""
        return self.number in HEXAGONAL_FAMILY_NUMBERS

    @property
    def has_inversion(self) -> bool:
        """Whether the group contains an operation with rotation part ``-I``."""
        minus_identity = -np.eye(3, dtype=np.int64)
        return bool(np.any(np.all(self.rotations == minus_identity, axis=(1, 2))))

    def __repr__(self) -> str:
        return (
            f"SpaceGroup({self.number}, '{self.hermann_mauguin}', hall={self.hall_number}, "
            f"ops={self.num_operations})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpaceGroup) and other.hall_number == self.hall_number

    def __hash__(self) -> int:
        return hash(("SpaceGroup", self.hall_number))


@functools.cache
def _number_of_hall(hall: int) -> int:
    return int(spglib.get_spacegroup_type(hall).number)


@functools.cache
def _point_group(hall: int) -> np.ndarray:
    rotations = np.unique(_operations(hall)[0], axis=0)
    rotations.setflags(write=False)
    return rotations


@functools.cache
def _operations(hall: int) -> tuple[np.ndarray, np.ndarray]:
    sym = spglib.get_symmetry_from_database(hall)
    if sym is None:  # pragma: no cover - spglib database always has 1..530
        raise ValueError(f"spglib has no operations for Hall number {hall}")
    rotations = np.ascontiguousarray(sym["rotations"], dtype=np.int64)
    scaled = np.asarray(sym["translations"], dtype=np.float64) * TRANSLATION_DENOMINATOR
    translations_12 = np.rint(scaled).astype(np.int64)
    if np.max(np.abs(scaled - translations_12)) > 1e-8:  # pragma: no cover - checked on all 530
        raise ValueError(f"Hall setting {hall} has a translation that is not a multiple of 1/12")
    translations_12 %= TRANSLATION_DENOMINATOR
    rotations.setflags(write=False)
    translations_12.setflags(write=False)
    return rotations, translations_12
