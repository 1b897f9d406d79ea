"""Adapter around the ``alignn`` package's pure-PyTorch ALIGNN (no DGL).

ALIGNN (Choudhary & DeCost, npj Comput. Mater. 7, 185, 2021) is an optional baseline:
install it with ``pip install -c constraints.txt "cft-pyg[alignn]"``.  The adapter turns
a cft-pyg batch into the ``(graph, line graph, lattice)`` triple of
:class:`alignn.models.alignn_atomwise_pure.ALIGNNAtomWisePure` and returns its
per-crystal prediction.
"""

from __future__ import annotations

import json

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from .elements import NUM_ELEMENTS
from .inputs import graph_inputs

__all__ = ["ALIGNN", "alignn_available", "line_graph"]


def alignn_available() -> bool:
    """Whether the optional ``alignn`` package (with its pure-torch model) imports."""
    try:
        import alignn.models.alignn_atomwise_pure  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def line_graph(
    edge_index: torch.Tensor,
    num_nodes: int,
    edge_length: torch.Tensor | None = None,
    three_body_cutoff: float | None = None,
) -> torch.Tensor:
    r"""Directed line graph of a directed graph (DGL's ``line_graph`` with backtracking).

    Bond :math:`A = (u \to v)` is connected to bond :math:`B = (v \to w)` for every
    :math:`B` leaving the end atom of :math:`A` (including :math:`w = u`), so the angle
    :math:`\angle u v w` lives on the line-graph edge :math:`A \to B`.  Vectorized: bonds
    are sorted by their start atom and each :math:`A` is paired with the contiguous run of
    bonds starting at its end atom.

    Args:
        edge_index: ``(2, E)`` bonds ``[src, dst]``.
        num_nodes: number of atoms.
        edge_length: ``(E,)`` bond lengths, only with ``three_body_cutoff``.
        three_body_cutoff: if given, only bonds not longer than this form triplets.

    Returns:
        ``(2, T)`` long ``[A, B]`` bond indices.
    """
    src, dst = edge_index
    allowed = torch.arange(src.numel(), device=src.device)
    if three_body_cutoff is not None:
        if edge_length is None:
            raise ValueError("three_body_cutoff needs edge_length")
        allowed = allowed[edge_length <= three_body_cutoff]
    sub_src = src[allowed]
    order = torch.argsort(sub_src, stable=True)
    sorted_ids, sorted_src = allowed[order], sub_src[order]
    nodes = torch.arange(num_nodes, device=src.device)
    start = torch.searchsorted(sorted_src, nodes)
    count = torch.searchsorted(sorted_src, nodes, right=True) - start
    end_atom = dst[allowed]
    per_a = count[end_atom]
    total = int(per_a.sum())
    a = torch.repeat_interleave(allowed, per_a, output_size=total)
    first = torch.repeat_interleave(start[end_atom], per_a, output_size=total)
    run_start = torch.repeat_interleave(torch.cumsum(per_a, 0) - per_a, per_a, output_size=total)
    b = sorted_ids[first + torch.arange(total, device=src.device) - run_start]
    return torch.stack([a, b])


def _cgcnn_atom_features() -> torch.Tensor:
    """``(NUM_ELEMENTS, 92)`` CGCNN atom features shipped with jarvis-tools (zeros if unknown)."""
    from jarvis.core.specie import cgcnn_feature_json

    with open(cgcnn_feature_json) as f:
        table = json.load(f)
    dim = len(next(iter(table.values())))
    out = torch.zeros(NUM_ELEMENTS, dim)
    for key, values in table.items():
        if int(key) < NUM_ELEMENTS:
            out[int(key)] = torch.tensor(values, dtype=torch.float32)
    return out


class ALIGNN(nn.Module):
    r"""ALIGNN baseline: the ``alignn`` package's pure-torch model on cft-pyg batches.

    ALIGNN alternates edge-gated graph convolutions on the atom graph :math:`\mathcal{G}`
    (atoms, bonds :math:`r_{ij}`) and on its line graph :math:`L(\mathcal{G})` (bonds,
    angles :math:`\cos\theta_{ijk}`):

    .. math::

        (x, y, z) &\leftarrow \mathrm{ALIGNNConv}(x, y, z)
        \quad (\text{``alignn_layers`` times: EGGC on } L(\mathcal{G})
        \text{ updates } y, z, \text{ then on } \mathcal{G} \text{ updates } x, y), \\
        (x, y) &\leftarrow \mathrm{EGGC}_{\mathcal{G}}(x, y)
        \quad (\text{``gcn_layers`` times}), \qquad
        \hat y_b = W \tfrac{1}{|b|}\textstyle\sum_{i \in b} x_i + c,

    with atom features :math:`x` (92-dimensional CGCNN element features), bond features
    :math:`y` (80 Gaussians of the length, 0-8 Å) and angle features :math:`z`
    (40 Gaussians of the cosine).  Defaults are the published ALIGNN configuration
    (4 ALIGNN + 4 GCN layers, width 256, about 4.0 M parameters); the neighbour graph is
    the batch's own (CGCNN-style 12 nearest neighbours within 8 Å from ``cft_pyg.data``,
    as in ALIGNN's ``k-nearest`` graphs), and the line graph pairs every two bonds
    sharing an atom, as DGL's ``line_graph`` does.

    Args:
        alignn_layers: ALIGNN (graph + line graph) layers.
        gcn_layers: plain edge-gated layers on the atom graph.
        hidden_features: width.
        embedding_features: width of the bond/angle embedding MLPs.
        edge_input_features: Gaussians for bond lengths.
        triplet_input_features: Gaussians for bond-angle cosines.
        three_body_cutoff: only bonds up to this length form angles (``None``: all).
        out_channels: number of targets.

    Shapes:
        - input: a :class:`~torch_geometric.data.Batch` (or one :class:`Data`) with ``z``,
          ``pos``, ``cell``, ``edge_index`` and ``cell_offsets``.
        - output: ``(num_graphs,)`` (``(num_graphs, out_channels)`` if ``out_channels > 1``).

    Raises:
        ImportError: if the optional ``alignn`` package is not installed.
    """

    def __init__(
        self,
        alignn_layers: int = 4,
        gcn_layers: int = 4,
        hidden_features: int = 256,
        embedding_features: int = 64,
        edge_input_features: int = 80,
        triplet_input_features: int = 40,
        three_body_cutoff: float | None = None,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        try:
            from alignn.models.alignn_atomwise_pure import (
                ALIGNNAtomWisePure,
                ALIGNNAtomWisePureConfig,
            )
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "cft_pyg.nn.ALIGNN needs the optional `alignn` package: "
                'pip install -c constraints.txt "cft-pyg[alignn]"'
            ) from err
        features = _cgcnn_atom_features()
        self.register_buffer("atom_features", features, persistent=False)
        self.three_body_cutoff = three_body_cutoff
        self.out_channels = out_channels
        config = ALIGNNAtomWisePureConfig(
            name="alignn_atomwise_pure",
            alignn_layers=alignn_layers,
            gcn_layers=gcn_layers,
            atom_input_features=features.shape[1],
            edge_input_features=edge_input_features,
            triplet_input_features=triplet_input_features,
            embedding_features=embedding_features,
            hidden_features=hidden_features,
            output_features=out_channels,
            calculate_gradient=False,
            gradwise_weight=0.0,
            use_penalty=False,
            use_zbl=False,
            lg_on_fly=True,
        )
        self.model = ALIGNNAtomWisePure(config)

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def graphs(self, data: Data | Batch) -> tuple:
        """The ``(graph, line graph, lattice)`` triple ALIGNN's ``forward`` takes."""
        from alignn.torch_graph_builder import TorchGraph

        batch, num_graphs, natoms = graph_inputs(data)
        j, i = data.edge_index
        pos = data.pos
        cell = data.cell.to(pos.dtype).reshape(-1, 3, 3)
        # ALIGNN's bond r points from src to dst: src = neighbour j (image), dst = centre i
        shift = torch.einsum("ej,ejk->ek", data.cell_offsets.to(pos.dtype), cell[batch[i]])
        r = pos[i] - (pos[j] + shift)
        num_edges = torch.bincount(batch[i], minlength=num_graphs)
        dtype = self.model.fc.weight.dtype
        g = TorchGraph(
            num_nodes=pos.shape[0],
            src=j,
            dst=i,
            ndata={"atom_features": self.atom_features.to(dtype)[data.z]},
            edata={"r": r.to(dtype)},
            batch_num_nodes=natoms,
            batch_num_edges=num_edges,
        )
        lg_index = line_graph(
            data.edge_index, pos.shape[0], r.norm(dim=-1), self.three_body_cutoff
        )
        lg = TorchGraph(num_nodes=j.numel(), src=lg_index[0], dst=lg_index[1])
        return g, lg, cell

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (the backbone interface,
        :class:`cft_pyg.nn.Backbone`): ``hidden_features``."""
        return int(self.model.fc.in_features)

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, feature_dim)`` mean over atoms of ALIGNN's final atom features
        (the input of its output layer ``fc``)."""
        seen: list[torch.Tensor] = []
        hook = self.model.fc.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
        try:
            self.model(self.graphs(data))
        finally:
            hook.remove()
        return seen[0].reshape(data.num_graphs, self.feature_dim)

    def forward(self, data: Data | Batch) -> torch.Tensor:
        out = self.model(self.graphs(data))["out"]
        if self.out_channels == 1:
            return out.reshape(-1)
        return out.reshape(-1, self.out_channels)
