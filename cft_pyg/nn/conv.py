"""Local message passing over the periodic neighbour graph."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

__all__ = ["DistanceFilterConv", "GatedDistanceConv", "envelope_weights"]


def envelope_weights(
    envelope: torch.Tensor, centre: torch.Tensor, num_nodes: int, eps: float = 1e-6
) -> torch.Tensor:
    r"""Normalized edge weights :math:`w_{ij} = c_{ij} / (\varepsilon + \sum_{k} c_{ik})`.

    Args:
        envelope: ``(E,)`` envelope values :math:`c_{ij}` (e.g. :class:`CosineCutoff`).
        centre: ``(E,)`` centre atom :math:`i` of each edge (``edge_index[1]``).
        num_nodes: number of atoms.

    Returns:
        ``(E,)`` weights summing to (almost) one around each atom with neighbours.
    """
    total = scatter(envelope, centre, dim=0, dim_size=num_nodes, reduce="sum")
    return envelope / (total[centre] + eps)


class _DistanceMessagePassing(MessagePassing):
    """Shared frame of the distance convolutions: node width ``d``, message width ``h``, and
    the output map ``W_O`` from messages back to nodes."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__(aggr="add")
        self.channels = channels
        self.hidden = channels if hidden is None else hidden
        self.lin_out = nn.Linear(self.hidden, channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, hidden={self.hidden}"


class DistanceFilterConv(_DistanceMessagePassing):
    r"""Continuous-filter convolution with a smooth, degree-normalized aggregation.

    .. math::

        x_i' = W_O \sum_{j \in \mathcal{N}(i)} w_{ij}\,
               \big(W_V x_j\big) \odot f_{ij},\qquad W_V \in \mathbb{R}^{h \times d},\
               W_O \in \mathbb{R}^{d \times h},
        \qquad w_{ij} = \frac{c(d_{ij})}{\varepsilon + \sum_{k \in \mathcal{N}(i)} c(d_{ik})},

    with :math:`f_{ij} \in \mathbb{R}^h` a learned filter of the neighbour distance
    :math:`d_{ij}` (computed outside, once for all blocks, see
    :class:`~cft_pyg.nn.CrystalFourierTransformer`) and :math:`c` a smooth envelope.
    The envelope-weighted mean keeps the output continuous when neighbours enter or leave
    the cutoff and independent of how many neighbours the graph keeps.  Only distances
    enter, so the layer is invariant under any isometry of the crystal, in particular
    under the operations of its space group.

    The messages live in a width :math:`h` that may be smaller than :math:`d`: the
    per-edge tensors dominate the cost, so a narrow message keeps the layer cheap.

    Args:
        channels: node width :math:`d`.
        hidden: message width :math:`h` (default :math:`d`).

    Shapes:
        - input: ``x`` ``(N, d)``, ``edge_index`` ``(2, E)`` (``[j, i]``), ``edge_filter``
          ``(E, h)``, ``edge_weight`` ``(E,)`` (the :math:`w_{ij}`).
        - output: ``(N, d)``.
    """

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__(channels, hidden)
        self.lin_value = nn.Linear(channels, self.hidden, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_filter: torch.Tensor,
        edge_weight: torch.Tensor,
    ) -> torch.Tensor:
        out = self.propagate(
            edge_index, x=self.lin_value(x), edge_filter=edge_filter, edge_weight=edge_weight
        )
        return self.lin_out(out)

    def message(
        self, x_j: torch.Tensor, edge_filter: torch.Tensor, edge_weight: torch.Tensor
    ) -> torch.Tensor:
        return x_j * edge_filter * edge_weight.unsqueeze(-1)


class GatedDistanceConv(_DistanceMessagePassing):
    r"""Gated continuous-filter convolution: messages that see the receiving atom.

    .. math::

        x_i' = W_O \sum_{j \in \mathcal{N}(i)} w_{ij}\;
               \sigma\big(W_A x_i + W_B x_j + g_{ij}\big) \odot
               \big(W_V x_j\big) \odot f_{ij},

    the edge gating of CGCNN and ALIGNN (:math:`\sigma` the logistic function) in a
    narrow message width :math:`h`: the gate depends on the receiving atom :math:`i`, the
    sending atom :math:`j` and the distance (through the learned filters
    :math:`g_{ij}, f_{ij} \in \mathbb{R}^h` of :math:`d_{ij}`, computed outside, see
    :class:`~cft_pyg.nn.CrystalFourierTransformer`), so an atom can weigh its neighbours
    by what it is itself, which a single linear filter (:class:`DistanceFilterConv`)
    cannot.  The aggregation is the envelope-weighted mean of :func:`envelope_weights`.
    Only distances enter: invariant under every isometry of the crystal.

    Args:
        channels: node width :math:`d`.
        hidden: message width :math:`h` (default :math:`d`).

    Shapes:
        - input: ``x`` ``(N, d)``, ``edge_index`` ``(2, E)`` (``[j, i]``), ``edge_filter``
          ``(E, 2h)`` (:math:`[g_{ij}, f_{ij}]`), ``edge_weight`` ``(E,)``.
        - output: ``(N, d)``.
    """

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__(channels, hidden)
        self.lin_nodes = nn.Linear(channels, 3 * self.hidden)  # [W_A x, W_B x, W_V x]

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_filter: torch.Tensor,
        edge_weight: torch.Tensor,
    ) -> torch.Tensor:
        receive, send, value = self.lin_nodes(x).chunk(3, dim=-1)
        out = self.propagate(
            edge_index, receive=receive, send=send, value=value, edge_filter=edge_filter,
            edge_weight=edge_weight,
        )
        return self.lin_out(out)

    def message(
        self,
        receive_i: torch.Tensor,
        send_j: torch.Tensor,
        value_j: torch.Tensor,
        edge_filter: torch.Tensor,
        edge_weight: torch.Tensor,
    ) -> torch.Tensor:
        gate_filter, value_filter = edge_filter.chunk(2, dim=-1)
        gate = torch.sigmoid(receive_i + send_j + gate_filter)
        return gate * value_j * value_filter * edge_weight.unsqueeze(-1)
