"""Any structure in: files of every format pymatgen or ASE reads, and in-memory objects.

* :func:`from_file` - a structure file -> standardized crystal ``Data``.  CIF is read as by
  :func:`~cft_pyg.data.from_cif` (its clear errors, e.g. coincident sites, included);
  POSCAR/CONTCAR/``*.vasp``, vasprun.xml, CSSR, XSF, RES and pymatgen's JSON through
  pymatgen; extended XYZ (with a lattice) and every other format through ASE.  The format
  comes from the file name, as in pymatgen's ``Structure.from_file`` and ASE's
  ``ase.io.read``; ``format=`` overrides it.
* :func:`from_object` - a pymatgen ``Structure`` or an ASE ``Atoms`` -> ``Data``.
* :func:`read_structure` / :func:`as_structure` - the same, stopping at the pymatgen
  ``Structure``.

Everything ends in :func:`~cft_pyg.data.from_structure`, so a
:class:`~cft_pyg.data.Featurization` is applied identically whatever the input.
Non-periodic inputs (a pymatgen ``Molecule``, ASE ``Atoms`` without a 3-D cell and
periodic boundaries, an XYZ file without a lattice) raise a
:class:`~cft_pyg.data.StructureError` with reason ``unsupported_input``.
"""

from __future__ import annotations

import io
import os
import warnings
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from torch_geometric.data import Data

from .cif import cif_path, is_cif_text, parse_cif_text
from .errors import StructureError
from .structure import from_structure

__all__ = [
    "STRUCTURE_FILE_PATTERNS",
    "as_structure",
    "from_file",
    "from_object",
    "is_structure_file",
    "other_files",
    "read_structure",
    "structure_files",
    "to_data",
]

STRUCTURE_FILE_PATTERNS: tuple[str, ...] = (
    "*.cif", "*.mcif", "*.cif.gz",
    "*POSCAR*", "*CONTCAR*", "*.vasp", "vasprun*.xml*",
    "*.xyz", "*.extxyz",
    "*.xsf", "*.cssr", "*.res", "*.cell", "*.gen", "*.pwi", "geometry.in",
)
"""File-name patterns (case-insensitive) of structure files: what a folder contributes to
``cft-pyg predict`` and :func:`structure_files`.  Any other file can still be named
explicitly (its format from its name or ``format=``)."""

_CIF_FORMATS = frozenset({"cif", "mcif"})
"""``format=`` names read by the CIF route (:func:`~cft_pyg.data.parse_cif`)."""

_PYMATGEN_FORMATS: dict[str, str] = {
    "poscar": "poscar", "vasp": "poscar", "contcar": "poscar", "cssr": "cssr",
    "json": "json", "yaml": "yaml", "xsf": "xsf", "mcsqs": "mcsqs", "res": "res",
}
"""``format=`` names read by pymatgen (name -> its ``fmt``); every other name is ASE's."""


def is_structure_file(path: str | os.PathLike[str]) -> bool:
    """Whether a file name matches :data:`STRUCTURE_FILE_PATTERNS`.

    Args:
        path: a file path (only its name is looked at).

    Returns:
        ``True`` for a known structure file name.
    """
    name = Path(path).name.lower()
    return any(fnmatch(name, pattern.lower()) for pattern in STRUCTURE_FILE_PATTERNS)


def structure_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The structure files of a folder (not recursive), sorted by name.

    Args:
        folder: the folder.

    Returns:
        Every regular file whose name matches :data:`STRUCTURE_FILE_PATTERNS`.
    """
    return sorted(q for q in Path(folder).iterdir() if q.is_file() and is_structure_file(q))


def other_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files of a folder that :func:`structure_files` leaves out (names that match no
    pattern of :data:`STRUCTURE_FILE_PATTERNS`), sorted by name, so that a caller can say
    which files it did not read."""
    return sorted(q for q in Path(folder).iterdir() if q.is_file() and not is_structure_file(q))


def _is_cif_name(name: str) -> bool:
    name = name.lower()
    return fnmatch(name, "*.cif*") or fnmatch(name, "*.mcif*")


def _pymatgen_reads(name: str) -> bool:
    """Whether pymatgen's ``Structure.from_file`` recognizes the file name (xyz: it does not)."""
    try:
        from pymatgen.io.registry import get_structure_format
    except ImportError:  # pymatgen before its format registry
        return any(fnmatch(name.lower(), p) for p in (
            "*poscar*", "*contcar*", "*.vasp", "chgcar*", "locpot*", "vasprun*.xml*",
            "*.cssr*", "*.json*", "*.yaml*", "*.yml*", "*.xsf*", "*.res"))
    try:
        get_structure_format(filename=name)
    except Exception:  # unknown name, or a plugin format that is not installed
        return False
    return True


def _malformed(source: str, how: str, exc: Exception) -> StructureError:
    return StructureError(f"cannot read {source} as {how}: {type(exc).__name__}: {exc}",
                          "malformed_file")


def _read_ase(source: str | io.StringIO, name: str, format: str | None, index: int) -> Any:
    import ase.io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = ase.io.read(source, index=index, format=format)
    except OSError:
        raise
    except Exception as exc:
        how = f"ASE format {format!r}" if format else "a structure file (format from its name)"
        hint = "" if format else "; give format= (a pymatgen or ASE format name)"
        raise StructureError(
            f"cannot read {name} as {how}: {type(exc).__name__}: {exc}{hint}", "malformed_file"
        ) from exc
    return as_structure(atoms, what=name)


def _read_pymatgen(text: str, name: str, fmt: str, index: int) -> Any:
    from pymatgen.core import Structure

    if index != 0:
        raise StructureError(
            f"{name} holds one structure ({fmt}); index {index} requested", "malformed_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_str(text, fmt=fmt)
    except Exception as exc:
        raise _malformed(name, f"{fmt} (pymatgen)", exc) from exc


def read_structure(source: str | os.PathLike[str], *, format: str | None = None,
                   index: int = 0) -> Any:
    """Read a structure file (or CIF text) into a pymatgen ``Structure``, not standardized.

    Args:
        source: a file path (always for an ``os.PathLike``), or text: CIF text is
            recognized (see :func:`~cft_pyg.data.cif.is_cif_text`), text of another format
            needs ``format=``.
        format: the file format, overriding the file name: ``'cif'``; a pymatgen ``fmt``
            (``'poscar'``/``'vasp'``, ``'cssr'``, ``'json'``, ``'yaml'``, ``'xsf'``,
            ``'mcsqs'``, ``'res'``); otherwise an ASE format name (``'extxyz'``,
            ``'espresso-in'``, ``'aims'``, ...).  ``None``: from the file name as pymatgen
            and ASE do (``*.cif``; ``POSCAR*``, ``CONTCAR*``, ``*.vasp``, ...; the rest,
            e.g. ``*.xyz``/``*.extxyz``, by ASE, which also looks at the contents).
        index: which structure of a file holding several (CIF data block, ASE frame).

    Returns:
        The pymatgen ``Structure`` (possibly disordered: :func:`from_structure` rejects it).

    Raises:
        FileNotFoundError: a path that does not exist (the message names it).
        StructureError: ``malformed_cif`` / ``malformed_file`` for unreadable contents,
            ``unsupported_input`` for a non-periodic structure (a molecule).
    """
    fmt = None if format is None else format.lower()
    if isinstance(source, str) and ("\n" in source or "\r" in source or (
            fmt in (None, *_CIF_FORMATS) and is_cif_text(source))):
        return _read_text(source, fmt, index)
    if not isinstance(source, (str, os.PathLike)):
        raise StructureError(
            f"a structure file must be a path, got {type(source).__name__} (in-memory "
            "objects: from_object)", "unsupported_input")
    path = cif_path(source)
    name = str(path)
    if fmt in _CIF_FORMATS or (fmt is None and _is_cif_name(path.name)):
        if path.suffix.lower() in (".gz", ".bz2", ".xz"):
            from monty.io import zopen

            with zopen(name, mode="rt", errors="replace") as handle:
                return parse_cif_text(handle.read(), index=index)
        return parse_cif_text(path.read_text(errors="replace"), index=index)
    if fmt in _PYMATGEN_FORMATS:
        return _read_pymatgen(path.read_text(errors="replace"), name, _PYMATGEN_FORMATS[fmt],
                              index)
    if fmt is None and _pymatgen_reads(path.name):
        from pymatgen.core import Structure

        if index != 0:
            raise StructureError(f"{name} holds one structure; index {index} requested",
                                 "malformed_file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return Structure.from_file(name)
        except OSError:
            raise
        except Exception as exc:
            raise _malformed(name, "a structure file (pymatgen, format from its name)",
                             exc) from exc
    return _read_ase(name, name, fmt, index)


def _read_text(text: str, fmt: str | None, index: int) -> Any:
    """Structure text: CIF (recognized), or any format given by ``fmt``."""
    if fmt is None:
        if is_cif_text(text) and "data_" in text.lower():
            return parse_cif_text(text, index=index)
        raise StructureError(
            "structure text other than CIF needs format= (e.g. format='poscar'); a file "
            "path must not contain a line break", "unsupported_input")
    if fmt in _CIF_FORMATS:
        return parse_cif_text(text, index=index)
    if fmt in _PYMATGEN_FORMATS:
        return _read_pymatgen(text, "the text", _PYMATGEN_FORMATS[fmt], index)
    return _read_ase(io.StringIO(text), "the text", fmt, index)


def as_structure(obj: Any, *, what: str = "the input") -> Any:
    """A periodic pymatgen ``Structure`` of a pymatgen ``Structure`` or an ASE ``Atoms``.

    ASE ``Atoms`` are converted with ``pymatgen.io.ase.AseAtomsAdaptor``.

    Args:
        obj: a pymatgen ``Structure``/``IStructure`` or ASE ``Atoms``.
        what: how error messages name the input (e.g. its file).

    Returns:
        The pymatgen ``Structure`` (``obj`` itself for a ``Structure``).

    Raises:
        StructureError: (``unsupported_input``) a molecule, ASE ``Atoms`` that are not
            periodic in three directions, or any other type.
    """
    from ase import Atoms
    from pymatgen.core import IMolecule, IStructure

    cls = type(obj)
    if isinstance(obj, IStructure):
        return obj
    if isinstance(obj, IMolecule):
        raise StructureError(
            f"{what} is a molecule ({cls.__name__} {obj.formula}), not a crystal: a "
            "periodic structure with a lattice is needed for a space group",
            "unsupported_input")
    if isinstance(obj, Atoms):
        pbc = [bool(p) for p in obj.pbc]
        if not all(pbc) or obj.cell.rank < 3:
            raise StructureError(
                f"{what} is not a periodic crystal (ASE Atoms {obj.get_chemical_formula()} "
                f"with pbc={pbc} and a {obj.cell.rank}-D cell): a molecule or slab has no "
                "space group; give a 3-D lattice with periodic boundaries (extended XYZ: "
                "Lattice=\"...\" pbc=\"T T T\")", "unsupported_input")
        from pymatgen.io.ase import AseAtomsAdaptor

        try:
            return AseAtomsAdaptor.get_structure(obj)
        except Exception as exc:
            raise StructureError(f"cannot convert {what} (ASE Atoms) to a structure: "
                                 f"{type(exc).__name__}: {exc}", "unsupported_input") from exc
    raise StructureError(
        f"unsupported input type {cls.__module__}.{cls.__name__}: pass a pymatgen Structure, "
        "an ASE Atoms or a structure file path", "unsupported_input")


def from_object(obj: Any, featurization: Any = None, **kwargs: Any) -> Data:
    """:func:`~cft_pyg.data.from_structure` of a pymatgen ``Structure`` or an ASE ``Atoms``.

    Args:
        obj: a pymatgen ``Structure``/``IStructure`` or ASE ``Atoms`` (periodic).
        featurization: a :class:`~cft_pyg.data.Featurization` (default: the default one).
        **kwargs: passed to :func:`~cft_pyg.data.from_structure` (``y``, ``material_id``,
            ``expected_space_group``, single featurization options such as ``symprec``).

    Returns:
        The standardized crystal ``Data``.

    Raises:
        StructureError: a molecule or non-periodic ``Atoms``, or any error of
            :func:`~cft_pyg.data.from_structure`.
    """
    return from_structure(as_structure(obj), featurization, **kwargs)


def from_file(source: str | os.PathLike[str], featurization: Any = None, *,
              format: str | None = None, index: int = 0, **kwargs: Any) -> Data:
    """:func:`~cft_pyg.data.from_structure` of a structure file of any format.

    Args:
        source: the file path (or CIF text); see :func:`read_structure`.
        featurization: a :class:`~cft_pyg.data.Featurization` (default: the default one).
        format: the format, overriding the file name (see :func:`read_structure`).
        index: which structure of a file holding several.
        **kwargs: passed to :func:`~cft_pyg.data.from_structure` (``y``, ``material_id``,
            ``expected_space_group``, single featurization options such as ``symprec``).

    Returns:
        The standardized crystal ``Data``.

    Raises:
        FileNotFoundError: a path that does not exist.
        StructureError: unreadable contents, a non-periodic structure, or any error of
            :func:`~cft_pyg.data.from_structure`.
    """
    return from_structure(read_structure(source, format=format, index=index), featurization,
                          **kwargs)


def to_data(item: Any, featurization: Any = None, **kwargs: Any) -> Data:
    """One crystal ``Data`` of any input: ``Data`` as is, a path, a ``Structure``/``Atoms``.

    Args:
        item: a ``Data`` (returned unchanged), a structure file path, or a pymatgen
            ``Structure`` / ASE ``Atoms``.
        featurization: the :class:`~cft_pyg.data.Featurization` of files and objects.
        **kwargs: passed to :func:`from_file` / :func:`from_object`.

    Returns:
        The crystal ``Data``.
    """
    if isinstance(item, Data):
        return item
    if isinstance(item, (str, os.PathLike)):
        return from_file(item, featurization, **kwargs)
    return from_object(item, featurization, **kwargs)

