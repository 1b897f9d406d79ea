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
from .chgnet import CHGNetBackbone, CHGNetRegressor
from .conv import DistanceFilterConv
from .encoding import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
from .heads import BackboneModel, ScalarHead
from .lattice import LatticeFeatures
from .matgl import M3GNet, MEGNet, TensorNet
from .pretrain import orbit_distance, pretrain_encoding
from .published import PublishedCFT, PublishedPositionalEncoding
from .radial import CosineCutoff, GaussianExpansion
from .reference_encodings import DenseRoutingEncoding, OrbitAveragingEncoding
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
    "MaskedSelfAttention",
    "PlainPETransformer",
    "PublishedCFT",
    "PublishedPositionalEncoding",
    "ScalarHead",
    "WyckoffTransformer",
    "orbit_distance",
    "pretrain_encoding",
    "DenseRoutingEncoding",
    "OrbitAveragingEncoding",
    "PlainFourierFeatures",
    "SymmetryAdaptedFourierEncoding",
    "TensorHead",
    "TensorModel",
]
