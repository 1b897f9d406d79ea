"""Global self-attention over the atoms of each crystal of a PyG batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DenseBatchIndex", "SizeBuckets", "PairLayout", "MaskedSelfAttention", "FeedForward"]


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


class SizeBuckets:
    r"""Crystals grouped by size, each group with its own padded layout.

    Standardized conventional cells vary a lot in size (MP-20: 1 to 72 atoms), so one
    padded ``(B, L_max)`` layout wastes most of the :math:`O(B L_{max}^2)` attention work.
    Crystals are sorted by size and split into ``num_buckets`` groups of (almost) equal
    count; group :math:`k` is padded only to its own largest crystal.  The result is
    exactly the same as with a single layout (attention never crosses crystals).

    Args:
        batch: ``(N,)`` sorted crystal index of each atom.
        num_graphs: number of crystals ``B``.
        num_buckets: number of groups (at most ``B``).

    Attributes:
        buckets: ``list[(atoms, index)]``: the atoms of the group (``(N_k,)``, ordered by
            crystal) and a :class:`DenseBatchIndex` for them.
    """

    def __init__(self, batch: torch.Tensor, num_graphs: int, num_buckets: int = 4) -> None:
        self.num_nodes = batch.numel()
        device = batch.device
        counts = torch.bincount(batch, minlength=num_graphs)
        order = torch.argsort(counts, stable=True)
        chunks = [c for c in order.tensor_split(max(1, min(num_buckets, num_graphs))) if c.numel()]
        bucket_of = torch.empty(num_graphs, dtype=torch.long, device=device)
        rank = torch.empty(num_graphs, dtype=torch.long, device=device)
        for k, graphs in enumerate(chunks):
            bucket_of[graphs] = k
            rank[graphs] = torch.arange(graphs.numel(), device=device)
        atom_rank = rank[batch]
        # atoms grouped by bucket, then by rank of their crystal inside the bucket
        key = bucket_of[batch] * (num_graphs + 1) + atom_rank
        atoms_sorted = torch.argsort(key, stable=True)
        sizes = torch.bincount(bucket_of[batch], minlength=len(chunks)).tolist()
        self.buckets: list[tuple[torch.Tensor, DenseBatchIndex]] = []
        for graphs, atoms in zip(chunks, atoms_sorted.split(sizes), strict=True):
            self.buckets.append((atoms, DenseBatchIndex(atom_rank[atoms], graphs.numel())))
        self.atom_bucket = bucket_of[batch]
        """``(N,)`` bucket of each atom."""
        self.atom_flat = torch.empty_like(batch)
        """``(N,)`` position of each atom in its bucket's ``(B_k L_k)`` layout."""
        for atoms, sub in self.buckets:
            self.atom_flat[atoms] = sub.flat


class PairLayout:
    r"""Where the edges of the neighbour graph land in the padded attention layout.

    An edge :math:`(j \to i)` (``edge_index = [j, i]``) of crystal :math:`b` is the entry
    ``(b, slot_i, slot_j)`` of the ``(B, L, L)`` attention matrix of its layout (one
    layout for :class:`DenseBatchIndex`, one per bucket for :class:`SizeBuckets`).
    Built once per forward pass; :meth:`to_dense` then turns per-edge values (e.g. a
    per-head bias of the distance) into dense ``(B, H, L, L)`` tensors, summing the
    values of several periodic images of the same pair.

    Args:
        index: the attention layout of the batch.
        edge_index: ``(2, E)`` neighbour graph, both ends in the same crystal.
    """

    def __init__(self, index: DenseBatchIndex | SizeBuckets, edge_index: torch.Tensor) -> None:
        j, i = edge_index
        self.parts: list[tuple[torch.Tensor | None, torch.Tensor, DenseBatchIndex]] = []
        if isinstance(index, DenseBatchIndex):
            length = index.max_nodes
            pos = index.flat[i] * length + index.flat[j] % length
            self.parts.append((None, pos, index))
            return
        for k, (_, sub) in enumerate(index.buckets):
            edges = torch.nonzero(index.atom_bucket[i] == k).squeeze(1)
            length = sub.max_nodes
            pos = index.atom_flat[i[edges]] * length + index.atom_flat[j[edges]] % length
            self.parts.append((edges, pos, sub))

    def to_dense(self, values: torch.Tensor) -> list[torch.Tensor]:
        """``(E, H)`` per-edge values -> one ``(B_k, H, L_k, L_k)`` tensor per layout."""
        out = []
        for edges, pos, sub in self.parts:
            size = sub.num_graphs * sub.max_nodes * sub.max_nodes
            v = values if edges is None else values.index_select(0, edges)
            dense = v.new_zeros(size, v.shape[1]).index_add_(0, pos, v)
            out.append(
                dense.view(sub.num_graphs, sub.max_nodes, sub.max_nodes, -1).permute(0, 3, 1, 2)
            )
        return out


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
    An optional additive bias :math:`b^h_{ij}` of the logits (``pair_bias``, e.g. a
    learned function of the distances of the periodic images of :math:`j` around
    :math:`i`, laid out by :class:`PairLayout`) brings pairwise geometry into the
    attention; it must be a function of the pair that is itself invariant.  With
    :class:`SizeBuckets` the crystals are processed in groups of similar size (less
    padding, same result).

    Args:
        channels: width :math:`d`.
        heads: number of heads :math:`H` (must divide ``channels``).
        dropout: dropout on the attention weights (training only).

    Shapes:
        - input: ``x`` ``(N, d)``, a :class:`DenseBatchIndex` or :class:`SizeBuckets`, and
          optionally ``pair_bias``, one ``(B_k, H, L_k, L_k)`` tensor per layout
          (:meth:`PairLayout.to_dense`).
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

    def _attend(
        self, qkv: torch.Tensor, index: DenseBatchIndex, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, length, h = index.num_graphs, index.max_nodes, self.heads
        dense = index.to_dense(qkv).view(b, length, 3, h, self.channels // h)
        q, k, v = dense.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, L, d_h) each
        mask = index.mask[:, None, None, :]  # keys only; padded queries are dropped below
        if bias is not None:
            mask = bias.to(q.dtype).masked_fill(~mask, float("-inf"))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return index.to_flat(out.transpose(1, 2).reshape(b, length, self.channels))

    def forward(
        self,
        x: torch.Tensor,
        index: DenseBatchIndex | SizeBuckets,
        pair_bias: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        qkv = self.qkv(x)
        if isinstance(index, DenseBatchIndex):
            bias = None if pair_bias is None else pair_bias[0]
            return self.out(self._attend(qkv, index, bias))
        out = x.new_zeros(x.shape[0], self.channels)
        for k, (atoms, sub) in enumerate(index.buckets):
            bias = None if pair_bias is None else pair_bias[k]
            out = out.index_copy(0, atoms, self._attend(qkv.index_select(0, atoms), sub, bias))
        return self.out(out)


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
