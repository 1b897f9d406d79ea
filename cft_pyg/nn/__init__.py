"""Neural-network layers and models of cft-pyg.

The naive references of the encoding (dense routing, orbit averaging) used by the tests and
benchmarks are not layers of the library: import them from
:mod:`cft_pyg.nn.reference_encodings`.
"""

from .alignn import ALIGNN
from .aviary import Wrenformer
from .backbone import Backbone
from .cft import (
    CrystalFourierTransformer,
    CrystalPositionalEncoding,
    HybridBlock,
    PlainPETransformer,
)
from .cgcnn import CGCNN
from .chgnet import CHGNetBackbone, CHGNetRegressor
from .conv import DistanceFilterConv
from .encoding import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
from .heads import BackboneModel, ScalarHead
from .lattice import LatticeFeatures
from .matgl import M3GNet, MEGNet, TensorNet
from .pretrain import orbit_distance, pretrain_encoding
from .published import PublishedCFT, PublishedPositionalEncoding
from .radial import CosineCutoff, GaussianExpansion
from .tensor_head import TensorHead, TensorModel
from .transformer import MaskedSelfAttention
from .wyckoff import WyckoffTransformer

__all__ = [
    "ALIGNN",
    "Backbone",
    "BackboneModel",
    "CGCNN",
    "CHGNetBackbone",
    "CHGNetRegressor",
    "CosineCutoff",
    "CrystalFourierTransformer",
    "CrystalPositionalEncoding",
    "DistanceFilterConv",
    "GaussianExpansion",
    "HybridBlock",
    "LatticeFeatures",
    "M3GNet",
    "MEGNet",
    "TensorNet",
    "Wrenformer",
    "MaskedSelfAttention",
    "PlainPETransformer",
    "PublishedCFT",
    "PublishedPositionalEncoding",
    "ScalarHead",
    "WyckoffTransformer",
    "orbit_distance",
    "pretrain_encoding",
    "PlainFourierFeatures",
    "SymmetryAdaptedFourierEncoding",
    "TensorHead",
    "TensorModel",
]
