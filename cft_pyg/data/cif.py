"""CIF reading: text or a file -> pymatgen ``Structure`` -> standardized crystal ``Data``."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from torch_geometric.data import Data

from .errors import StructureError

__all__ = ["from_cif", "parse_cif"]


def parse_cif(source: str | os.PathLike[str], index: int = 0) -> Any:
    """Parse a CIF (text or path) into a pymatgen ``Structure``, without standardizing.

    Args:
        source: CIF text (anything containing a newline or ``data_``) or a file path.
        index: which data block to read when the CIF holds several.

    Returns:
        The pymatgen ``Structure`` (possibly disordered: :func:`from_structure` rejects it).

    Raises:
        StructureError: (reason ``malformed_cif``) if the file is missing or the text
            cannot be parsed into at least ``index + 1`` structures.
    """
    from pymatgen.io.cif import CifParser

    text: str
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and "data_" not in source
    ):
        path = Path(source)
        if not path.is_file():
            raise StructureError(f"CIF file not found: {path}", "malformed_cif")
        text = path.read_text(errors="replace")
    elif isinstance(source, str):
        text = source
    else:
        raise StructureError(
            f"CIF source must be text or a path, got {type(source).__name__}", "malformed_cif"
        )
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
        StructureError: malformed CIF, or any error of :func:`from_structure`.
    """
    from .structure import from_structure  # the Data builder imports this module

    return from_structure(parse_cif(source, index=index), featurization, **kwargs)
