"""The crystal data pipeline: structures in, standardized PyG ``Data`` out."""

from .errors import REASONS, StructureError
from .neighbors import num_images, radius_graph_pbc
from .structure import (
    StandardizedCrystal,
    from_cif,
    from_structure,
    parse_cif,
    standardize,
    std_to_input_frac,
    symmetrize_frac_coords,
    to_cell,
    validate_cell,
)

__all__ = [
    "REASONS",
    "StandardizedCrystal",
    "StructureError",
    "from_cif",
    "from_structure",
    "num_images",
    "parse_cif",
    "radius_graph_pbc",
    "standardize",
    "std_to_input_frac",
    "symmetrize_frac_coords",
    "to_cell",
    "validate_cell",
]
