"""The exact symmetry core: space groups, frequency sets, constraint graphs and bases,
the affine normalizer, group-compatible lattices, the orbit distance and the
symmetry-allowed forms of property tensors."""

from .basis import OrbitRouting, SymmetryAdaptedBasis, check_frac_coords
from .cache import load_bases
from .constraint_graph import connected_components, constraint_graph
from .distance import NEIGHBOR_CELL_SHIFTS, orbit_distance
from .frequencies import FrequencySet, ball_frequencies, reference_metric
from .lattice import random_lattice, symmetric_metric
from .space_group import (
    CRYSTAL_SYSTEMS,
    HEXAGONAL_FAMILY_NUMBERS,
    SpaceGroup,
    crystal_system,
    default_hall_number,
)
from .tensors import TENSOR_TYPES, TensorType, independent_components, invariant_basis

__all__ = [
    "CRYSTAL_SYSTEMS",
    "HEXAGONAL_FAMILY_NUMBERS",
    "NEIGHBOR_CELL_SHIFTS",
    "FrequencySet",
    "OrbitRouting",
    "SpaceGroup",
    "SymmetryAdaptedBasis",
    "TENSOR_TYPES",
    "TensorType",
    "ball_frequencies",
    "check_frac_coords",
    "connected_components",
    "constraint_graph",
    "crystal_system",
    "independent_components",
    "invariant_basis",
    "default_hall_number",
    "load_bases",
    "orbit_distance",
    "random_lattice",
    "reference_metric",
    "symmetric_metric",
]
