"""Large inputs read as streams, never loaded whole: one :class:`RawCrystal` at a time.

* :func:`iter_ase_db` - an ASE database: ``ase.db`` SQLite (``*.db``), and the ASE-LMDB
  files of fairchem's OMat24/OC20 releases (``*.aselmdb``, through the ``ase-db-backends``
  package, ``pip install ase-db-backends``);
* :func:`iter_extxyz` - an extended XYZ file, frame by frame (``ase.io.iread``);
* :func:`iter_structure_folder` - a folder of CIF/POSCAR/... files (parsed in the workers);
* :func:`iter_cif_csv` - a CSV with a CIF column (the CDVAE files of MP-20, Perov-5, ...).

A row that cannot be read does not stop the stream: it becomes a :class:`RawCrystal` with
``error`` set, which the store builder records as skipped (reason ``malformed_file``).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["RawCrystal", "count_entries", "iter_ase_db", "iter_cif_csv", "iter_extxyz",
           "iter_source", "iter_structure_folder"]


class RawCrystal(NamedTuple):
    """One input crystal as read, not yet standardized.

    Attributes:
        entry_id: its identifier (database id, file name, CSV id column, frame number).
        source: what the featurizer reads: an ASE ``Atoms``, a pymatgen ``Structure``, a
            ``(lattice, frac, numbers)`` triple, ``('cif', text)`` or a file path (``str``).
        targets: the target values (``None``: no targets requested).
        error: why the entry could not be read (``source`` is then ``None``).
    """

    entry_id: str
    source: Any
    targets: tuple[float, ...] | None = None
    error: str | None = None


def _value(container: Any, name: str) -> float:
    value = container.get(name) if hasattr(container, "get") else None
    if value is None:
        return math.nan
    return float(value)


def _ase_targets(row: Any, atoms: Any, targets: Sequence[str]) -> tuple[float, ...] | None:
    if not targets:
        return None
    out = []
    for name in targets:
        value = row.get(name) if row is not None else None
        if value is None and atoms is not None:
            value = atoms.info.get(name)
            if value is None and name == "energy" and atoms.calc is not None:
                value = atoms.get_potential_energy()
        if value is None and row is not None:
            value = (row.get("data") or {}).get(name)
        out.append(math.nan if value is None else float(value))
    return tuple(out)


def _connect(path: str | os.PathLike[str]) -> Any:
    import ase.db

    path = str(path)
    if path.endswith(".aselmdb") or path.endswith(".lmdb"):
        try:
            import ase_db_backends  # noqa: F401
        except ImportError as exc:
            raise ImportError("ASE-LMDB files need the ase-db-backends package: "
                              "pip install ase-db-backends") from exc
        return ase.db.connect(path, type="aselmdb", readonly=True)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no ASE database at {path}")
    return ase.db.connect(path, type="db")


def iter_ase_db(path: str | os.PathLike[str], targets: Sequence[str] = (), *,
                id_key: str | None = None) -> Iterator[RawCrystal]:
    """Every row of an ASE database, one at a time, in id order.

    The ids are listed first (a column query), then each row is fetched on its own, so
    a row whose stored arrays are corrupt becomes a :class:`RawCrystal` with ``error`` and
    the stream goes on.

    Args:
        path: ``*.db`` (ASE's SQLite) or ``*.aselmdb`` / ``*.lmdb`` (ASE-LMDB).
        targets: key-value pairs (or ``data`` entries, or ``energy``) read as targets.
        id_key: a key-value pair holding the entry id (default: ``'<row id>'``).
    """
    db = _connect(path)
    if not _is_sqlite(db):  # ASE-LMDB: one pass over the rows
        yield from _iter_rows(db, targets, id_key)
        return
    ids = [row.id for row in db.select(columns=["id"])]
    for row_id in ids:
        yield _row_crystal(lambda row_id=row_id: db.get(id=row_id), row_id, targets, id_key)


def _row_crystal(fetch: Callable[[], Any], row_id: int, targets: Sequence[str],
                 id_key: str | None) -> RawCrystal:
    """The crystal of one row (``fetch()`` returns it); a corrupt row becomes a
    :class:`RawCrystal` with ``error``, never an exception."""
    entry_id = str(row_id)
    try:
        row = fetch()
        if id_key is not None and row.get(id_key) is not None:
            entry_id = str(row.get(id_key))
        atoms = row.toatoms()
        return RawCrystal(entry_id, atoms, _ase_targets(row, atoms, targets))
    except Exception as exc:  # a corrupt row: recorded, never fatal
        return RawCrystal(entry_id, None, None, f"row {row_id}: {type(exc).__name__}: {exc}")


def _iter_rows(db: Any, targets: Sequence[str], id_key: str | None) -> Iterator[RawCrystal]:
    rows = db.select()
    k = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # the database itself cannot be read further
            yield RawCrystal(f"row-after-{k}", None, None,
                             f"{type(exc).__name__}: {exc} (rest of the database unread)")
            return
        k += 1
        yield _row_crystal(lambda row=row: row, row.id, targets, id_key)


def _is_sqlite(db: Any) -> bool:
    return type(db).__name__ == "SQLite3Database"


def iter_extxyz(path: str | os.PathLike[str], targets: Sequence[str] = ()
                ) -> Iterator[RawCrystal]:
    """The frames of an extended XYZ file, one at a time (``ase.io.iread``).

    Args:
        path: the file.
        targets: ``atoms.info`` keys (or ``energy`` from the file's calculator) as targets.

    A frame that cannot be parsed ends the file (extended XYZ has no frame index to skip
    to): it is yielded with ``error`` and the stream stops there.
    """
    import ase.io

    name = Path(path).name
    frames = ase.io.iread(str(path), index=":", format="extxyz")
    k = 0
    while True:
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as exc:
            yield RawCrystal(f"{name}:{k}", None, None,
                             f"frame {k}: {type(exc).__name__}: {exc} (rest of the file unread)")
            return
        entry_id = str(atoms.info.get("id", f"{name}:{k}"))
        yield RawCrystal(entry_id, atoms, _ase_targets(None, atoms, targets))
        k += 1


def iter_structure_folder(folder: str | os.PathLike[str]) -> Iterator[RawCrystal]:
    """The structure files of a folder (CIF, POSCAR, ...; see
    :func:`~cft_pyg.data.readers.structure_files`), sorted by name, read in the workers."""
    from .readers import structure_files

    for path in structure_files(folder):
        yield RawCrystal(path.name, str(path), None)


def iter_cif_csv(path: str | os.PathLike[str], targets: Sequence[str] = (), *,
                 id_column: str = "material_id", cif_column: str = "cif"
                 ) -> Iterator[RawCrystal]:
    """The rows of a CSV file with a CIF column (the CDVAE files), one at a time."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(path, newline="") as handle:
        for k, row in enumerate(csv.DictReader(handle)):
            entry_id = str(row.get(id_column) or k)
            values = None
            if targets:
                values = tuple(_csv_float(row.get(t)) for t in targets)
            cif = row.get(cif_column)
            if cif is None:
                yield RawCrystal(entry_id, None, None, f"no {cif_column!r} column")
                continue
            yield RawCrystal(entry_id, ("cif", cif), values)


def _csv_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def iter_source(path: str | os.PathLike[str], targets: Sequence[str] = ()
                ) -> Iterator[RawCrystal]:
    """The stream of ``path`` by its kind: a folder, ``*.db``/``*.aselmdb``/``*.lmdb``,
    ``*.xyz``/``*.extxyz`` or ``*.csv``.

    Raises:
        ValueError: a file of another kind.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_dir():
        return iter_structure_folder(p)
    if suffix in (".db", ".aselmdb", ".lmdb"):
        return iter_ase_db(p, targets)
    if suffix in (".xyz", ".extxyz"):
        return iter_extxyz(p, targets)
    if suffix == ".csv":
        return iter_cif_csv(p, targets)
    raise ValueError(f"cannot stream {p}: expected a folder of structure files, an ASE "
                     "database (.db, .aselmdb, .lmdb), extended XYZ (.xyz, .extxyz) or a "
                     "CSV with a cif column")


def count_entries(path: str | os.PathLike[str]) -> int | None:
    """The number of entries of ``path`` when it is cheap to know (databases, folders)."""
    p = Path(path)
    if p.is_dir():
        from .readers import structure_files

        return len(structure_files(p))
    if p.suffix.lower() in (".db", ".aselmdb", ".lmdb"):
        return int(_connect(p).count())
    return None
