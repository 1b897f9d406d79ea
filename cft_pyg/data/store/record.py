"""One stored crystal as bytes: a :class:`~cft_pyg.data.StandardizedCrystal` with its targets
and id, packed little-endian and (optionally) zlib-compressed.

Layout (version 1)::

    header  <BBHHIH   version, flags (bit 0: mirrored, bit 1: zlib), space group,
                      number of targets T, number of atoms n, id length L
    float64 (3, 3)    lattice rows (Å), standardized
    float64 (3, 3)    transformation_matrix P  (x_std = P x_in + p)
    float64 (3,)      origin_shift p
    float64 (3, 3)    std_rotation_matrix R
    float64 (n, 3)    frac_coords, symmetrized, in [0, 1)
    uint8   (n,)      atomic numbers
    float64 (T,)      targets
    utf-8   (L,)      id

**Precision.**  Every float is stored in float64, bit for bit as :func:`standardize` returns
it, so a crystal read back is *identical* to the standardized crystal (every operation of
``SpaceGroup(space_group)`` maps its atoms onto themselves to the ~1e-12 of the float64
pipeline) and the ``Data`` rebuilt from it equals :func:`~cft_pyg.data.from_structure`'s in
every field (the float32 fields are rounded from these float64 values in both paths).
A 20-atom crystal takes 253 + 25 n + 8 T + L bytes before compression (about 780 B).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ...symmetry.space_group import default_hall_number
from ..standardization import StandardizedCrystal

__all__ = ["RECORD_VERSION", "StoredCrystal", "decode", "encode"]

RECORD_VERSION = 1
_HEADER = struct.Struct("<BBHHIH")
_MIRRORED, _ZLIB = 1, 2
_F64 = np.dtype("<f8")


@dataclass(frozen=True)
class StoredCrystal:
    """A stored crystal: the standardized crystal, its targets and its id.

    Attributes:
        crystal: the :class:`~cft_pyg.data.StandardizedCrystal`.
        targets: ``(T,)`` float64 (``T = 0``: none).
        entry_id: the input's identifier (database id, file name, ...).
    """

    crystal: StandardizedCrystal
    targets: np.ndarray
    entry_id: str

    @property
    def natoms(self) -> int:
        """Atoms in the standardized (conventional) cell."""
        return int(self.crystal.numbers.shape[0])


def encode(stored: StoredCrystal, *, compress: bool = True) -> bytes:
    """The bytes of a stored crystal (see the module docstring for the layout).

    Args:
        stored: the crystal.
        compress: zlib-compress everything after the header (level 6).
    """
    c = stored.crystal
    n = int(c.numbers.shape[0])
    if n and (c.numbers.min() < 1 or c.numbers.max() > 255):
        raise ValueError("atomic numbers must be in 1..255 to be stored")
    targets = np.asarray(stored.targets, dtype=_F64).reshape(-1)
    name = stored.entry_id.encode()
    body = b"".join((
        np.ascontiguousarray(c.lattice, _F64).tobytes(),
        np.ascontiguousarray(c.transformation_matrix, _F64).tobytes(),
        np.ascontiguousarray(c.origin_shift, _F64).tobytes(),
        np.ascontiguousarray(c.std_rotation_matrix, _F64).tobytes(),
        np.ascontiguousarray(c.frac_coords, _F64).tobytes(),
        np.asarray(c.numbers, dtype=np.uint8).tobytes(),
        targets.tobytes(),
        name,
    ))
    flags = (_MIRRORED if c.mirrored else 0) | (_ZLIB if compress else 0)
    header = _HEADER.pack(RECORD_VERSION, flags, int(c.number), targets.shape[0], n, len(name))
    return header + (zlib.compress(body, 6) if compress else body)


def decode(blob: bytes) -> StoredCrystal:
    """Inverse of :func:`encode` (exact in every field).

    Raises:
        ValueError: not a stored crystal of a known version, or truncated.
    """
    if len(blob) < _HEADER.size:
        raise ValueError("not a stored crystal (too short)")
    version, flags, number, t, n, length = _HEADER.unpack_from(blob)
    if version != RECORD_VERSION:
        raise ValueError(f"stored crystal of version {version}, this library reads "
                         f"{RECORD_VERSION}")
    body = blob[_HEADER.size:]
    if flags & _ZLIB:
        body = zlib.decompress(body)
    if len(body) != 8 * (30 + 3 * n + t) + n + length:
        raise ValueError("stored crystal truncated or corrupt")
    floats = np.frombuffer(body, dtype=_F64, count=30 + 3 * n).astype(np.float64)
    end = 8 * (30 + 3 * n)
    numbers = np.frombuffer(body, dtype=np.uint8, count=n, offset=end).astype(np.int64)
    targets = np.frombuffer(body, dtype=_F64, count=t, offset=end + n).astype(np.float64)
    name = body[end + n + 8 * t:].decode()
    crystal = StandardizedCrystal(
        number=int(number),
        hall_number=default_hall_number(int(number)),
        lattice=floats[0:9].reshape(3, 3),
        frac_coords=floats[30:].reshape(n, 3),
        numbers=numbers,
        transformation_matrix=floats[9:18].reshape(3, 3),
        origin_shift=floats[18:21].copy(),
        std_rotation_matrix=floats[21:30].reshape(3, 3),
        mirrored=bool(flags & _MIRRORED),
    )
    return StoredCrystal(crystal, targets, name)
