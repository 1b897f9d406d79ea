"""The crystal data pipeline: structures in, standardized PyG ``Data`` out."""

from .cdvae import MP20, Carbon24, Perov5
from .cif import from_cif, parse_cif
from .cif_folder import CIFFolder
from .comparison import compare_standardized
from .crystal_dataset import sample_indices
from .errors import REASONS, SkipReason, StructureError
from .featurization import (
    DEFAULT_FEATURIZATION,
    Featurization,
    FeaturizationMismatchError,
    featurization_of,
)
from .geometry import measured_positions
from .loader import CrystalLoader
from .neighbors import num_images, radius_graph_pbc
from .nrel import NRELHypothetical, composition_split
from .readers import from_file, from_object, read_structure
from .sampler import AtomBalancedBatchSampler, atom_counts
from .splits import (
    Split,
    centrosymmetric_groups,
    few_shot_split,
    holdout_space_groups,
    project_split,
    random_split,
    space_groups_of,
)
from .standardization import (
    StandardizedCrystal,
    standardize,
    std_to_input_frac,
    symmetrize_frac_coords,
)
from .store import CrystalStore, build_store, merge_stores
from .structure import from_standardized, from_structure
from .synthetic import SyntheticCrystals, morse_energy_per_atom
from .tensors import TENSOR_TARGETS, MPTensors
from .validation import to_cell, validate_cell

__all__ = [
    "DEFAULT_FEATURIZATION",
    "Featurization",
    "FeaturizationMismatchError",
    "featurization_of",
    "REASONS",
    "SkipReason",
    "StandardizedCrystal",
    "StructureError",
    "compare_standardized",
    "CrystalLoader",
    "from_cif",
    "from_file",
    "from_object",
    "from_standardized",
    "from_structure",
    "measured_positions",
    "num_images",
    "parse_cif",
    "radius_graph_pbc",
    "read_structure",
    "standardize",
    "std_to_input_frac",
    "symmetrize_frac_coords",
    "to_cell",
    "validate_cell",
    # datasets, synthetic data and splits
    "MP20",
    "MPTensors",
    "TENSOR_TARGETS",
    "Perov5",
    "Carbon24",
    "CIFFolder",
    "NRELHypothetical",
    "composition_split",
    "SyntheticCrystals",
    "morse_energy_per_atom",
    "project_split",
    "sample_indices",
    "Split",
    "random_split",
    "holdout_space_groups",
    "few_shot_split",
    "centrosymmetric_groups",
    "space_groups_of",
    # datasets of any size
    "AtomBalancedBatchSampler",
    "atom_counts",
    "CrystalStore",
    "build_store",
    "merge_stores",
]
