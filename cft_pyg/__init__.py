"""cft-pyg: exactly space-group-invariant Fourier encodings for PyTorch Geometric.

The symmetry core (:class:`SpaceGroup`, :func:`constraint_graph`,
:class:`SymmetryAdaptedBasis`) is importable from the top level; the encoding layer and
models live in :mod:`cft_pyg.nn`, the crystal data pipeline in :mod:`cft_pyg.data`.
"""

__version__ = "0.1.0"

from .symmetry import (
    FrequencySet,
    SpaceGroup,
    SymmetryAdaptedBasis,
    ball_frequencies,
    constraint_graph,
    load_bases,
)

__all__ = [
    "FrequencySet",
    "SpaceGroup",
    "SymmetryAdaptedBasis",
    "__version__",
    "ball_frequencies",
    "constraint_graph",
    "load_bases",
]
