"""CGCNN baseline (Xie & Grossman, Phys. Rev. Lett. 120, 145301, 2018) on PyG's ``CGConv``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import CGConv, global_mean_pool

from ..data.featurization import DEFAULT_FEATURIZATION
from .elements import AtomEmbedding
from .inputs import check_featurization, edge_distances, graph_inputs
from .radial import GaussianExpansion

__all__ = ["CGCNN"]


class CGCNN(nn.Module):
    r"""Crystal Graph Convolutional Neural Network with the published defaults.

    .. math::

        v_i^{(0)} &= W\,\delta(Z_i) + b + E[Z_i], \qquad
        u_{ij} = \big[\exp(-(d_{ij} - \mu_k)^2 / \sigma^2)\big]_{k}, \\
        v_i^{(t+1)} &= \operatorname{softplus}\Big(v_i^{(t)} + \mathrm{BN}\big(\textstyle\sum_j
            \sigma(z_{ij} W_f + b_f) \odot \operatorname{softplus}(z_{ij} W_s + b_s)\big)\Big),
            \quad z_{ij} = v_i^{(t)} \oplus v_j^{(t)} \oplus u_{ij}, \\
        \hat y &= W_{out}\,\operatorname{softplus}\Big(W_{fc}\,
            \operatorname{softplus}\big(\tfrac{1}{|b|}\textstyle\sum_{i \in b} v_i^{(T)}\big)
            + b_{fc}\Big) + b_{out} .

    Defaults as in the paper and its reference code: 64 atom features, 3 convolutions
    (:class:`torch_geometric.nn.CGConv` with batch normalization, sum aggregation),
    Gaussian expansion of the distances from 0 to 8 Å with step and width 0.2 Å
    (41 features), mean pooling, one hidden layer of 128, softplus activations.  The
    neighbour graph is the batch's own (``cft_pyg.data`` builds CGCNN's 12 nearest
    neighbours within 8 Å by default, tied shells kept whole).  Atom features are, as in
    the reference code, fixed physical descriptors through a linear layer
    (:class:`~cft_pyg.nn.elements.AtomEmbedding`: the descriptors of
    :func:`~cft_pyg.nn.elements.element_descriptors` from pymatgen's element data instead
    of the 92-dimensional ``atom_init.json`` file), plus a learned per-element correction
    that starts at zero.

    Differences from the reference code: the descriptor table (44 columns from pymatgen
    rather than 92 one-hot bins), and PyG's ``CGConv`` has no batch norm inside the gate
    (the reference code's ``bn1``).

    Args:
        atom_fea_len: atom feature width (64).
        n_conv: number of convolutions (3).
        h_fea_len: hidden width after pooling (128).
        n_h: number of hidden layers after pooling (1).
        radius: last Gaussian centre (8 Å).
        step: Gaussian spacing and width (0.2 Å).
        batch_norm: batch normalization in the convolutions (True, as published).
        element_features: start from physical element descriptors (``False``: a learned
            embedding of the atomic number only).
        out_channels: number of targets.

    Shapes:
        - input: a :class:`~torch_geometric.data.Batch` (or one :class:`Data`) with ``z``,
          ``edge_index`` and ``edge_dist`` (or ``pos``, ``cell``, ``cell_offsets``).
        - output: ``(num_graphs,)`` (``(num_graphs, out_channels)`` if ``out_channels > 1``).
    """

    def __init__(
        self,
        atom_fea_len: int = 64,
        n_conv: int = 3,
        h_fea_len: int = 128,
        n_h: int = 1,
        radius: float = DEFAULT_FEATURIZATION.radius,
        step: float = 0.2,
        batch_norm: bool = True,
        element_features: bool = True,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.radius = float(radius)
        self.embedding = AtomEmbedding(atom_fea_len, descriptors=element_features)
        self.rbf = GaussianExpansion(0.0, radius, step)
        self.convs = nn.ModuleList(
            CGConv(atom_fea_len, dim=self.rbf.num_features, aggr="add", batch_norm=batch_norm)
            for _ in range(n_conv)
        )
        self.conv_to_fc = nn.Linear(atom_fea_len, h_fea_len)
        self.fcs = nn.ModuleList(nn.Linear(h_fea_len, h_fea_len) for _ in range(n_h - 1))
        self.fc_out = nn.Linear(h_fea_len, out_channels)

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def featurization_requirements(self) -> dict[str, float | None]:
        """The neighbour ``radius`` the crystals must be featurized with."""
        return {"radius": self.radius}

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (the backbone interface,
        :class:`~cft_pyg.nn.Backbone`)."""
        return self.conv_to_fc.out_features

    def forward(self, data: Data | Batch) -> torch.Tensor:
        out = self.fc_out(self.crystal_features(data))
        return out.squeeze(-1) if self.out_channels == 1 else out

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, h_fea_len)`` invariant features of each crystal: the pooled and
        fully connected hidden state, the input of the output layer."""
        check_featurization(data, "CGCNN", **self.featurization_requirements())
        batch, num_graphs, _ = graph_inputs(data)
        edge_attr = self.rbf(edge_distances(data, batch))
        x = self.embedding(data.z)
        edge_attr = edge_attr.to(x.dtype)
        for conv in self.convs:
            x = F.softplus(conv(x, data.edge_index, edge_attr))
        crys = global_mean_pool(x, batch, size=num_graphs)
        crys = F.softplus(self.conv_to_fc(F.softplus(crys)))
        for fc in self.fcs:
            crys = F.softplus(fc(crys))
        return crys
