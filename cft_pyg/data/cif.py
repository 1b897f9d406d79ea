"""CIF reading: text or a file -> pymatgen ``Structure`` -> standardized crystal ``Data``."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from torch_geometric.data import Data

from .errors import StructureError
from .structure import from_structure

__all__ = ["cif_path", "from_cif", "is_cif_text", "parse_cif", "parse_cif_text"]


def is_cif_text(source: str) -> bool:
    """Whether a string is CIF text rather than a file path.

    Text holds a line break, or starts (after whitespace) with a ``data_`` block header
    followed by more CIF on the same line.  A one-line string naming an existing file or
    folder is a path even when it starts with ``data_``, as is one without whitespace after
    such a start (``data_2024/NaCl.cif``, existing or not: a block name holds no
    whitespace); ``data_`` elsewhere in a string (``raw_data_2024/a.cif``) never makes it
    text.

    Args:
        source: the string to classify.

    Returns:
        ``True`` for CIF text, ``False`` for a path.
    """
    if "\n" in source or "\r" in source:
        return True
    stripped = source.strip()
    if not stripped.lower().startswith("data_") or len(stripped.split()) < 2:
        return False
    return not os.path.exists(source)


def cif_path(source: str | os.PathLike[str]) -> Path:
    """The readable CIF file a path names.

    Args:
        source: a file path.

    Returns:
        The path.

    Raises:
        FileNotFoundError: no such file (the message names the path).
        IsADirectoryError: the path is a folder.
    """
    path = Path(source)
    if os.path.isdir(path):
        raise IsADirectoryError(f"expected a structure file, got a folder: {path}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"structure file not found: {path}")
    return path


def parse_cif(source: str | os.PathLike[str], index: int = 0) -> Any:
    """Parse a CIF (text or path) into a pymatgen ``Structure``, without standardizing.

    Args:
        source: CIF text (see :func:`is_cif_text`: a line break, or a leading ``data_``
            block header) or a file path (always for an ``os.PathLike``).
        index: which data block to read when the CIF holds several.

    Returns:
        The pymatgen ``Structure`` (possibly disordered: :func:`from_structure` rejects it).

    Raises:
        FileNotFoundError: a path that does not exist (``IsADirectoryError``: a folder).
        StructureError: (reason ``malformed_cif``) if the text cannot be parsed into at
            least ``index + 1`` structures; ``overlapping_atoms`` for coincident sites.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not is_cif_text(source)):
        return parse_cif_text(cif_path(source).read_text(errors="replace"), index=index)
    if isinstance(source, str):
        return parse_cif_text(source, index=index)
    raise StructureError(
        f"CIF source must be text or a path, got {type(source).__name__}", "malformed_cif"
    )


def parse_cif_text(text: str, index: int = 0) -> Any:
    """Parse CIF text (never a path) into a pymatgen ``Structure``: see :func:`parse_cif`.

    Args:
        text: the CIF contents.
        index: which data block to read when the CIF holds several.

    Returns:
        The pymatgen ``Structure``.

    Raises:
        StructureError: ``malformed_cif`` or ``overlapping_atoms``.
    """
    from pymatgen.io.cif import CifParser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = CifParser(io.StringIO(text))
            structures = parser.parse_structures(primitive=False, on_error="raise")
    except Exception as exc:
        overlap = _coincident_sites(text)
        if overlap is not None:
            raise StructureError(overlap, "overlapping_atoms") from exc
        raise StructureError(
            f"malformed CIF: {type(exc).__name__}: {exc}", "malformed_cif"
        ) from exc
    if len(structures) <= index:
        raise StructureError(
            f"malformed CIF: {len(structures)} structure(s) parsed, block {index} requested",
            "malformed_cif",
        )
    return structures[index]


def _coincident_sites(text: str) -> str | None:
    """The overlapping-atoms message when a CIF failed to parse because atoms coincide.

    pymatgen merges sites at the same position and then refuses the structure because the
    merged occupancy exceeds 1 ("No structure parsed for section 1"); parsed again without
    the occupancy check, such sites show up with an occupancy above 1.
    """
    from pymatgen.io.cif import CifParser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = CifParser(io.StringIO(text), occupancy_tolerance=1e6).parse_structures(
                primitive=False, on_error="raise", check_occu=False)
    except Exception:
        return None
    for structure in structures:
        for k, site in enumerate(structure):
            occupancy = float(site.species.num_atoms)
            if occupancy > 1.0 + 1e-6:
                return (f"overlapping atoms: the CIF places {occupancy:g} atoms "
                        f"({site.species.formula}) at the same position "
                        f"{tuple(round(float(c), 6) for c in site.frac_coords)} (site {k})")
    return None


def from_cif(source: str | os.PathLike[str], featurization: Any = None, *, index: int = 0,
             **kwargs: Any) -> Data:
    """:func:`from_structure` of a CIF given as text or a file path.

    Args:
        source: CIF text or path.
        featurization: a :class:`~cft_pyg.data.Featurization` (default: the default one).
        index: data block to read.
        **kwargs: passed to :func:`from_structure` (``y``, ``material_id``, single
            featurization options such as ``symprec=0.01``).

    Returns:
        The standardized crystal ``Data``.

    Raises:
        FileNotFoundError: a path that does not exist.
        StructureError: malformed CIF, or any error of :func:`from_structure`.
    """
    return from_structure(parse_cif(source, index=index), featurization, **kwargs)
