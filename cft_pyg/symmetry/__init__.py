"""The exact symmetry core: space groups, frequency sets, constraint graphs and bases."""

from .basis import OrbitRouting, SymmetryAdaptedBasis, check_frac_coords
from .cache import load_bases
from .constraint_graph import connected_components, constraint_graph
from .frequencies import FrequencySet, ball_frequencies, reference_metric
from .space_group import HEXAGONAL_FAMILY_NUMBERS, SpaceGroup, default_hall_number

__all__ = [
    "HEXAGONAL_FAMILY_NUMBERS",
    "FrequencySet",
    "OrbitRouting",
    "SpaceGroup",
    "SymmetryAdaptedBasis",
    "ball_frequencies",
    "check_frac_coords",
    "connected_components",
    "constraint_graph",
    "default_hall_number",
    "load_bases",
    "reference_metric",
]
