"""The Crystal Fourier Transformer: symmetry-adapted Fourier tokens, a hybrid
attention / message-passing trunk, and a per-crystal readout."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool

from .conv import DistanceFilterConv, envelope_weights
from .lattice import LatticeFeatures
from .radial import CosineCutoff, GaussianExpansion
from .transformer import DenseBatchIndex, FeedForward, MaskedSelfAttention, SizeBuckets

__all__ = [
    "CrystalPositionalEncoding",
    "HybridBlock",
    "CrystalFourierTransformer",
    "PlainPETransformer",
    "make_encoding",
    "graph_inputs",
]

EncodingKind = Literal["symmetry", "plain", "none"]
NUM_ELEMENTS = 119


def make_encoding(kind: EncodingKind | nn.Module | None, cutoff: float = 5.0) -> nn.Module | None:
    """Build the per-atom positional encoding selected by ``kind``.

    Args:
        kind: ``'symmetry'`` (:class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding`, exactly
            invariant under the crystal's space group), ``'plain'``
            (:class:`~cft_pyg.nn.PlainFourierFeatures`, standard Fourier features, not
            invariant), ``'none'``/``None`` (no positional encoding), or a module with the
            same call signature ``(frac_coords, space_group) -> (n, out_dim)`` and an
            ``out_dim`` attribute.
        cutoff: frequency cutoff of the Fourier features.
    """
    if kind is None or kind == "none":
        return None
    if isinstance(kind, nn.Module):
        if not hasattr(kind, "out_dim"):
            raise ValueError("a custom encoding module needs an `out_dim` attribute")
        return kind
    if kind == "symmetry":
        from .encoding import SymmetryAdaptedFourierEncoding

        return SymmetryAdaptedFourierEncoding(cutoff=cutoff)
    if kind == "plain":
        from .encoding import PlainFourierFeatures

        return PlainFourierFeatures(cutoff=cutoff)
    raise ValueError(f"encoding must be 'symmetry', 'plain', 'none' or a module, got {kind!r}")


def graph_inputs(data: Data | Batch) -> tuple[torch.Tensor, int, torch.Tensor]:
    """``(batch, num_graphs, natoms)`` of a single crystal :class:`Data` or a :class:`Batch`."""
    n = data.z.numel()
    if isinstance(data, Batch) or getattr(data, "batch", None) is not None:
        batch = data.batch
        num_graphs = int(data.num_graphs) if isinstance(data, Batch) else int(batch.max()) + 1
    else:
        batch = torch.zeros(n, dtype=torch.long, device=data.z.device)
        num_graphs = 1
    natoms = torch.bincount(batch, minlength=num_graphs)
    return batch, num_graphs, natoms


def _edge_distances(data: Data | Batch, batch: torch.Tensor) -> torch.Tensor:
    if getattr(data, "edge_dist", None) is not None:
        return data.edge_dist.to(data.frac_coords.dtype)
    j, i = data.edge_index
    cell = data.cell.to(data.pos.dtype)[batch[i]]
    shift = torch.einsum("ej,ejk->ek", data.cell_offsets.to(data.pos.dtype), cell)
    return (data.pos[j] + shift - data.pos[i]).norm(dim=-1)


class CrystalPositionalEncoding(nn.Module):
    r"""Per-atom positional token from an invariant Fourier encoding and the lattice.

    .. math::

        p_i = \mathrm{MLP}_{pos}\big(\phi_{G}(x_i)\big) \odot (1 + s_b) + t_b,
        \qquad [s_b, t_b] = \mathrm{MLP}_{lat}\big(\ell_b\big),

    with :math:`\phi_G` the encoding of atom :math:`i`'s fractional coordinates in its
    crystal's space group :math:`G`, and :math:`\ell_b` the frame-invariant
    :class:`LatticeFeatures` of its crystal :math:`b` (FiLM conditioning, the analogue of
    the published model's element-wise product of a position and a lattice branch, but
    without the raw lattice matrix and without a space-group one-hot).  When
    :math:`\phi_G` is invariant under :math:`G`, so is :math:`p_i`.

    Args:
        channels: output width.
        encoding: the Fourier encoding module (``None``: lattice part only).
        lattice: use the lattice features.

    Shapes:
        - input: ``frac_coords`` ``(N, 3)``, ``space_group`` ``(N,)`` long, ``cell``
          ``(B, 3, 3)``, ``natoms`` ``(B,)``, ``batch`` ``(N,)``.
        - output: ``(N, channels)``.
    """

    def __init__(self, channels: int, encoding: nn.Module | None, lattice: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.encoding = encoding
        self.pos_mlp = (
            nn.Sequential(
                nn.Linear(int(encoding.out_dim), channels), nn.SiLU(), nn.Linear(channels, channels)
            )
            if encoding is not None
            else None
        )
        self.lattice = LatticeFeatures() if lattice else None
        self.lat_mlp = (
            nn.Sequential(
                nn.Linear(LatticeFeatures.num_features, channels),
                nn.SiLU(),
                nn.Linear(channels, 2 * channels),
            )
            if lattice
            else None
        )

    def forward(
        self,
        frac_coords: torch.Tensor,
        space_group: torch.Tensor,
        cell: torch.Tensor,
        natoms: torch.Tensor,
        batch: torch.Tensor,
    ) -> torch.Tensor:
        out = frac_coords.new_zeros(frac_coords.shape[0], self.channels)
        if self.encoding is not None:
            out = self.pos_mlp(self.encoding(frac_coords, space_group))
        if self.lattice is not None:
            scale, shift = self.lat_mlp(self.lattice(cell, natoms)).chunk(2, dim=-1)
            out = out * (1.0 + scale[batch]) + shift[batch]
        return out


class HybridBlock(nn.Module):
    r"""One block of the CFT trunk: global attention and local message passing in
    parallel (as in GraphGPS), then a feed-forward network, all pre-LayerNorm.

    .. math::

        h &= x + \mathrm{Attn}\big(\mathrm{LN}_1(x)\big)
               + \mathrm{Conv}\big(\mathrm{LN}_2(x);\ \mathcal{E}, f, w\big), \\
        x' &= h + \mathrm{FFN}\big(\mathrm{LN}_3(h)\big),

    with :class:`MaskedSelfAttention` over the atoms of each crystal and
    :class:`DistanceFilterConv` over the periodic neighbour graph :math:`\mathcal{E}`.
    Either branch can be switched off (``local=False``: the published pure Transformer
    block; ``attention=False``: a pure message-passing block).

    Args:
        channels: width :math:`d`.
        heads: attention heads.
        ffn_hidden: hidden width of the FFN.
        local: use the message-passing branch.
        attention: use the attention branch.
        dropout: dropout on the branch outputs and attention weights.
        local_channels: message width :math:`h` of the local branch (default :math:`d`).

    Shapes:
        - input: ``x`` ``(N, d)``, a :class:`DenseBatchIndex` or :class:`SizeBuckets`,
          and for the local branch
          ``edge_index`` ``(2, E)``, ``edge_filter`` ``(E, h)``, ``edge_weight`` ``(E,)``.
        - output: ``(N, d)``.
    """

    def __init__(
        self,
        channels: int,
        heads: int = 8,
        ffn_hidden: int = 256,
        local: bool = True,
        attention: bool = True,
        dropout: float = 0.0,
        local_channels: int | None = None,
    ) -> None:
        super().__init__()
        if not (local or attention):
            raise ValueError("a block needs the local branch, the attention branch or both")
        self.norm_attn = nn.LayerNorm(channels) if attention else None
        self.attn = MaskedSelfAttention(channels, heads, dropout) if attention else None
        self.norm_local = nn.LayerNorm(channels) if local else None
        self.conv = DistanceFilterConv(channels, local_channels) if local else None
        self.norm_ffn = nn.LayerNorm(channels)
        self.ffn = FeedForward(channels, ffn_hidden, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        index: DenseBatchIndex | SizeBuckets,
        edge_index: torch.Tensor | None = None,
        edge_filter: torch.Tensor | None = None,
        edge_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = x
        if self.attn is not None:
            h = h + self.dropout(self.attn(self.norm_attn(x), index))
        if self.conv is not None:
            h = h + self.dropout(
                self.conv(self.norm_local(x), edge_index, edge_filter, edge_weight)
            )
        return h + self.ffn(self.norm_ffn(h))


class CrystalFourierTransformer(nn.Module):
    r"""Crystal Fourier Transformer (CFT) with a hybrid attention / message-passing trunk.

    For crystal :math:`b` with atoms :math:`i` (atomic number :math:`Z_i`, fractional
    coordinates :math:`x_i`, space group :math:`G_b`):

    .. math::

        h_i^{(0)} &= E[Z_i] + p_i \quad\text{(atom embedding + }
                     \text{:class:`CrystalPositionalEncoding`)}, \\
        h^{(l+1)} &= \mathrm{Block}_l\big(h^{(l)}\big),\quad l = 0..L-1
                     \quad\text{(:class:`HybridBlock`)}, \\
        \hat y_b &= \mathrm{MLP}\Big(\tfrac{1}{|b|}\sum_{i \in b}
                    \mathrm{LN}\big(h_i^{(L)}\big)\Big).

    The local branch uses the neighbour graph of the batch (``edge_index``,
    ``edge_dist``): distances are expanded on ``num_radial`` Gaussians, mapped by one
    linear layer to a filter :math:`f_{ij}^{(l)} = W^{(l)} e(d_{ij})` for every block (a
    linear map of a Gaussian basis is already an arbitrary smooth function of the
    distance, and it is the cheapest: per-edge work dominates the cost), and weighted by
    a smooth cosine envelope at ``radius``.  Messages have width ``local_channels``.

    **Invariance.** Every input is unchanged when an operation of :math:`G_b` is applied
    to all atoms of crystal :math:`b` (the encoding by construction, the neighbour
    distances because the operation is an isometry of the lattice, the lattice features
    trivially), and the trunk is permutation equivariant with a permutation-invariant
    readout; attention is masked per crystal, so predictions do not depend on the other
    crystals of the batch.  The space group enters only through the encoding's routing,
    never as a learned one-hot, so one set of weights serves all 230 groups, including
    groups absent from training (zero-shot).

    Args:
        channels: width :math:`d` of the trunk.
        num_blocks: number of blocks :math:`L`.
        heads: attention heads.
        ffn_ratio: FFN hidden width as a multiple of ``channels``.
        local: use local message passing (``False``: the published pure Transformer).
        attention: use global attention (``False``: a pure message-passing ablation).
        encoding: ``'symmetry'``, ``'plain'``, ``'none'`` or a module, see
            :func:`make_encoding`.
        encoding_cutoff: frequency cutoff of the encoding.
        lattice: use the frame-invariant lattice features.
        radius: envelope cutoff (Å) of the local branch; set it to the radius of the
            neighbour graph.
        num_radial: number of Gaussians for the distances.
        local_channels: message width of the local branch.
        attention_buckets: attention runs on crystals grouped into this many buckets of
            similar size (:class:`SizeBuckets`: less padding, identical result).
        dropout: dropout rate.
        out_channels: number of targets.

    Shapes:
        - input: a :class:`~torch_geometric.data.Batch` (or one :class:`Data`) with the
          fields of ``docs/conventions.md``: ``z``, ``frac_coords``, ``cell``,
          ``space_group`` and, for ``local=True``, ``edge_index`` and ``edge_dist`` (or
          ``pos`` and ``cell_offsets``).
        - output: ``(num_graphs,)``, or ``(num_graphs, out_channels)`` when
          ``out_channels > 1``.

    Defaults (width 128, 2 blocks, 8 heads, messages of width 64) give about 0.52 M
    parameters; the published CFT has width 128-256 and 2-6 blocks.

    Example::

        from torch_geometric.loader import DataLoader
        from cft_pyg.data import MP20
        from cft_pyg.nn import CrystalFourierTransformer

        data = MP20("../shared/data/mp_20", split="project-train", target="band_gap")
        model = CrystalFourierTransformer()            # hybrid, symmetry-adapted PE
        batch = next(iter(DataLoader(data, batch_size=64)))
        pred = model(batch)                            # (64,)
    """

    def __init__(
        self,
        channels: int = 128,
        num_blocks: int = 2,
        heads: int = 8,
        ffn_ratio: float = 2.0,
        local: bool = True,
        attention: bool = True,
        encoding: EncodingKind | nn.Module | None = "symmetry",
        encoding_cutoff: float = 5.0,
        lattice: bool = True,
        radius: float = 8.0,
        num_radial: int = 32,
        local_channels: int = 64,
        attention_buckets: int = 4,
        dropout: float = 0.0,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        self.channels, self.num_blocks = channels, num_blocks
        self.local_channels = local_channels
        self.attention_buckets = attention_buckets
        self.local, self.attention = local, attention
        self.encoding_kind = encoding if isinstance(encoding, str) or encoding is None else "custom"
        self.out_channels = out_channels
        self.atom_embedding = nn.Embedding(NUM_ELEMENTS, channels)
        self.positional = CrystalPositionalEncoding(
            channels, make_encoding(encoding, encoding_cutoff), lattice=lattice
        )
        if local:
            self.rbf = GaussianExpansion(0.0, radius, radius / (num_radial - 1))
            self.envelope = CosineCutoff(radius)
            self.filter_net = nn.Linear(self.rbf.num_features, num_blocks * local_channels)
        ffn_hidden = round(ffn_ratio * channels)
        self.blocks = nn.ModuleList(
            HybridBlock(channels, heads, ffn_hidden, local, attention, dropout, local_channels)
            for _ in range(num_blocks)
        )
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Sequential(
            nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, out_channels)
        )

    @property
    def encoding(self) -> nn.Module | None:
        """The Fourier encoding module (``None`` for ``encoding='none'``)."""
        return self.positional.encoding

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def forward(self, data: Data | Batch) -> torch.Tensor:
        batch, num_graphs, natoms = graph_inputs(data)
        frac = data.frac_coords
        cell = data.cell.to(frac.dtype).reshape(-1, 3, 3)
        space_group = data.space_group.reshape(-1)[batch]
        index = (
            SizeBuckets(batch, num_graphs, self.attention_buckets)
            if self.attention and self.attention_buckets > 1
            else DenseBatchIndex(batch, num_graphs)
        )

        h = self.atom_embedding(data.z) + self.positional(frac, space_group, cell, natoms, batch)

        filters: list[torch.Tensor | None] = [None] * self.num_blocks
        edge_index = weight = None
        if self.local:
            edge_index = data.edge_index
            dist = _edge_distances(data, batch)
            weight = envelope_weights(self.envelope(dist), edge_index[1], h.shape[0])
            all_filters = self.filter_net(self.rbf(dist))
            filters = list(all_filters.view(-1, self.num_blocks, self.local_channels).unbind(1))

        for block, edge_filter in zip(self.blocks, filters, strict=True):
            h = block(h, index, edge_index, edge_filter, weight)

        pooled = global_mean_pool(self.norm(h), batch, size=num_graphs)
        out = self.head(pooled)
        return out.squeeze(-1) if self.out_channels == 1 else out


class PlainPETransformer(CrystalFourierTransformer):
    r"""Baseline: the pure Transformer with a **standard** Fourier positional encoding.

    The "Transformer, plain PE" column of the published comparison: no local message
    passing and :class:`~cft_pyg.nn.PlainFourierFeatures` (plane waves of the raw
    fractional coordinates, not invariant under the space group) instead of the
    symmetry-adapted encoding; everything else as :class:`CrystalFourierTransformer`.
    Equivalent to ``CrystalFourierTransformer(local=False, encoding='plain', ...)``.

    Args:
        **kwargs: any argument of :class:`CrystalFourierTransformer` except ``local`` and
            ``encoding``.
    """

    def __init__(self, **kwargs) -> None:
        for key in ("local", "encoding"):
            if key in kwargs:
                raise TypeError(f"PlainPETransformer fixes `{key}`")
        super().__init__(local=False, encoding="plain", **kwargs)
