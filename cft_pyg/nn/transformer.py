"""Global self-attention over the atoms of each crystal of a PyG batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DenseBatchIndex", "MaskedSelfAttention", "FeedForward"]


class DenseBatchIndex:
    r"""Scatter/gather between PyG's flat node layout and a padded ``(B, L, d)`` layout.

    Built once per forward pass (instead of once per layer as
    :func:`torch_geometric.utils.to_dense_batch` would be): atom ``n`` of crystal
    ``b = batch[n]`` goes to slot ``(b, n - ptr[b])``, ``L`` the largest crystal.

    Args:
        batch: ``(N,)`` sorted crystal index of each atom.
        num_graphs: number of crystals ``B`` (crystals without atoms are allowed).
    """

    def __init__(self, batch: torch.Tensor, num_graphs: int) -> None:
        counts = torch.bincount(batch, minlength=num_graphs)
        ptr = torch.cumsum(counts, 0) - counts
        self.num_graphs = num_graphs
        self.max_nodes = max(int(counts.max()) if counts.numel() else 0, 1)
        slot = torch.arange(batch.numel(), device=batch.device) - ptr[batch]
        self.flat = batch * self.max_nodes + slot
        mask = torch.zeros(num_graphs * self.max_nodes, dtype=torch.bool, device=batch.device)
        mask[self.flat] = True
        self.mask = mask.view(num_graphs, self.max_nodes)
        """``(B, L)`` True at real atoms."""

    def to_dense(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, d)`` -> ``(B, L, d)`` with zeros at padding."""
        out = x.new_zeros(self.num_graphs * self.max_nodes, x.shape[-1])
        out = out.index_copy(0, self.flat, x)
        return out.view(self.num_graphs, self.max_nodes, x.shape[-1])

    def to_flat(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, d)`` -> ``(N, d)``."""
        return x.reshape(-1, x.shape[-1]).index_select(0, self.flat)


class MaskedSelfAttention(nn.Module):
    r"""Multi-head self-attention restricted to the atoms of the same crystal.

    For the atoms :math:`\mathcal{C}(i)` of atom :math:`i`'s crystal and heads
    :math:`h = 1..H` of width :math:`d_h = d / H`:

    .. math::

        \mathrm{head}_h(i) = \sum_{j \in \mathcal{C}(i)}
        \operatorname{softmax}_j\!\Big(\tfrac{(W^Q_h x_i)\cdot(W^K_h x_j)}{\sqrt{d_h}}\Big)
        W^V_h x_j, \qquad
        x_i' = W^O\,[\mathrm{head}_1(i), \dots, \mathrm{head}_H(i)] .

    Padded slots are excluded by a key mask, so the output for one crystal is the same
    whatever else is in the batch and is equivariant to permutations of its atoms.
    No positional information enters here: it comes from the inputs.

    Args:
        channels: width :math:`d`.
        heads: number of heads :math:`H` (must divide ``channels``).
        dropout: dropout on the attention weights (training only).

    Shapes:
        - input: ``x`` ``(N, d)`` and a :class:`DenseBatchIndex`.
        - output: ``(N, d)``.
    """

    def __init__(self, channels: int, heads: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"heads ({heads}) must divide channels ({channels})")
        self.channels, self.heads, self.dropout = channels, heads, dropout
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, heads={self.heads}"

    def forward(self, x: torch.Tensor, index: DenseBatchIndex) -> torch.Tensor:
        b, length, h = index.num_graphs, index.max_nodes, self.heads
        qkv = index.to_dense(self.qkv(x)).view(b, length, 3, h, self.channels // h)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, L, d_h) each
        mask = index.mask[:, None, None, :]  # keys only; padded queries are dropped below
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        out = out.transpose(1, 2).reshape(b, length, self.channels)
        return self.out(index.to_flat(out))


class FeedForward(nn.Sequential):
    r"""Position-wise feed-forward network :math:`W_2\,\mathrm{SiLU}(W_1 x)`.

    Args:
        channels: input and output width.
        hidden: hidden width.
        dropout: dropout after the hidden layer.

    Shapes:
        - input ``(N, channels)``; output ``(N, channels)``.
    """

    def __init__(self, channels: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(channels, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, channels)
        )
