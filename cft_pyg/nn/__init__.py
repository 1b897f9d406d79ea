"""Neural-network layers and models of cft-pyg."""

from .alignn import ALIGNN
from .backbone import Backbone
from .cft import (
    CrystalFourierTransformer,
    CrystalPositionalEncoding,
    HybridBlock,
    PlainPETransformer,
)
from .cgcnn import CGCNN
from .conv import DistanceFilterConv
from .encoding import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
from .lattice import LatticeFeatures
from .pretrain import orbit_distance, pretrain_encoding
from .published import PublishedCFT, PublishedPositionalEncoding
from .radial import CosineCutoff, GaussianExpansion
from .reference_encodings import DenseRoutingEncoding, OrbitAveragingEncoding
from .transformer import MaskedSelfAttention
from .wyckoff import WyckoffTransformer

__all__ = [
    "ALIGNN",
    "Backbone",
    "CGCNN",
    "CosineCutoff",
    "CrystalFourierTransformer",
    "CrystalPositionalEncoding",
    "DistanceFilterConv",
    "GaussianExpansion",
    "HybridBlock",
    "LatticeFeatures",
    "MaskedSelfAttention",
    "PlainPETransformer",
    "PublishedCFT",
    "PublishedPositionalEncoding",
    "WyckoffTransformer",
    "orbit_distance",
    "pretrain_encoding",
    "DenseRoutingEncoding",
    "OrbitAveragingEncoding",
    "PlainFourierFeatures",
    "SymmetryAdaptedFourierEncoding",
]
