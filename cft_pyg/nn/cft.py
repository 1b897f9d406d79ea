"""The Crystal Fourier Transformer: symmetry-adapted Fourier tokens, a hybrid
attention / message-passing trunk with pairwise geometry, and a per-crystal readout."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool

from ..data.featurization import DEFAULT_FEATURIZATION
from ..symmetry.frequencies import DEFAULT_CUTOFF
from .conv import DistanceFilterConv, GatedDistanceConv, envelope_weights
from .elements import NUM_ELEMENTS, AtomEmbedding
from .inputs import check_featurization, edge_distances, graph_inputs
from .lattice import LatticeOption
from .radial import CosineCutoff, GaussianExpansion
from .tokens import (
    CrystalPositionalEncoding,
    EncodingKind,
    EncodingRMSNorm,
    FamilyLinear,
    make_encoding,
)
from .transformer import (
    DenseBatchIndex,
    FeedForward,
    MaskedSelfAttention,
    PairLayout,
    SizeBuckets,
)

__all__ = [
    "CrystalPositionalEncoding",
    "EncodingRMSNorm",
    "FamilyLinear",
    "HybridBlock",
    "CrystalFourierTransformer",
    "PlainPETransformer",
    "make_encoding",
    "graph_inputs",
    "NUM_ELEMENTS",
]

class HybridBlock(nn.Module):
    r"""One block of the CFT trunk: global attention and local message passing in
    parallel (as in GraphGPS), then a feed-forward network, all pre-LayerNorm.

    .. math::

        h &= x + \mathrm{Attn}\big(\mathrm{LN}_1(x);\ b\big)
               + \mathrm{Conv}\big(\mathrm{LN}_2(x);\ \mathcal{E}, f, w\big), \\
        x' &= h + \mathrm{FFN}\big(\mathrm{LN}_3(h)\big),

    with :class:`MaskedSelfAttention` over the atoms of each crystal (optionally with an
    additive per-head pair bias :math:`b`) and :class:`GatedDistanceConv` (``gated=True``)
    or :class:`DistanceFilterConv` over the periodic neighbour graph :math:`\mathcal{E}`.
    The local branch can be switched off (``local=False``: the published pure Transformer
    block).

    Args:
        channels: width :math:`d`.
        heads: attention heads.
        ffn_hidden: hidden width of the FFN.
        local: use the message-passing branch.
        dropout: dropout on the branch outputs and attention weights.
        local_channels: message width :math:`h` of the local branch (default :math:`d`).
        gated: gated messages that see the receiving atom (:class:`GatedDistanceConv`,
            filters of width :math:`2h`) instead of one linear filter (width :math:`h`).

    Shapes:
        - input: ``x`` ``(N, d)``, a :class:`DenseBatchIndex` or :class:`SizeBuckets`,
          optionally ``pair_bias`` (see :class:`MaskedSelfAttention`), and for the local
          branch ``edge_index`` ``(2, E)``, ``edge_filter`` ``(E, h)`` or ``(E, 2h)``,
          ``edge_weight`` ``(E,)``.
        - output: ``(N, d)``.
    """

    def __init__(
        self,
        channels: int,
        heads: int = 8,
        ffn_hidden: int = 256,
        local: bool = True,
        dropout: float = 0.0,
        local_channels: int | None = None,
        gated: bool = True,
    ) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(channels)
        self.attn = MaskedSelfAttention(channels, heads, dropout)
        self.norm_local = nn.LayerNorm(channels) if local else None
        conv = GatedDistanceConv if gated else DistanceFilterConv
        self.conv = conv(channels, local_channels) if local else None
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
        pair_bias: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        h = x + self.dropout(self.attn(self.norm_attn(x), index, pair_bias))
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

        h_i^{(0)} &= \mathrm{LN}_a\big(a(Z_i)\big) + \mathrm{LN}_p\big(p_i\big)
                     \quad\text{(:class:`~cft_pyg.nn.elements.AtomEmbedding` +
                     :class:`CrystalPositionalEncoding`)}, \\
        h^{(l+1)} &= \mathrm{Block}_l\big(h^{(l)}\big),\quad l = 0..L-1
                     \quad\text{(:class:`HybridBlock`)}, \\
        \hat y_b &= \mathrm{MLP}\Big(\tfrac{1}{|b|}\sum_{i \in b}
                    \mathrm{LN}\big(h_i^{(L)}\big)\Big).

    **Tokens.**  The atom token starts from physical element descriptors
    (:class:`~cft_pyg.nn.elements.AtomEmbedding`); the positional token is the
    symmetry-adapted encoding, RMS-normalized, read by a first layer per frequency family
    and FiLM-conditioned on the lattice.  Each token is layer-normalized before the sum
    (``balance_tokens``), so position and element weigh the same at initialization
    (without it the element part is ~10x larger).

    **Pairwise geometry.**  The neighbour graph (``edge_index``, ``edge_dist``) gives
    distances :math:`d_{ij}`, expanded on ``num_radial`` Gaussians :math:`e(d)` with a
    smooth cosine envelope :math:`c(d)` at ``radius``.  They enter twice:

    * ``pair_bias``: every attention head :math:`h` of block :math:`l` adds
      :math:`b^{l,h}_{ij} = \sum_{T} c(d_{ij}^T)\, u_{l,h}^\top e(d_{ij}^T)` to its logits,
      the sum running over the periodic images :math:`T` of :math:`j` that are neighbours
      of :math:`i`: attention knows which atoms are close, instead of inferring distances
      from dot products of absolute tokens;
    * ``local``: gated messages (:class:`GatedDistanceConv`) with filters
      :math:`W^{(l)} e(d_{ij})`, weighted by the normalized envelope.

    **Invariance.**  Every input is unchanged when an operation of :math:`G_b` is applied
    to all atoms of crystal :math:`b` (the encoding by construction, distances because
    the operation is an isometry of the lattice, the lattice features trivially, the
    neighbour graph because its cap keeps tied shells whole), and the trunk is
    permutation equivariant with a permutation-invariant readout; attention is masked per
    crystal, so predictions do not depend on the other crystals of the batch.  The space
    group enters only through the encoding's routing, never as a learned one-hot, so one
    set of weights serves all 230 groups, including groups absent from training.

    Args:
        channels: width :math:`d` of the trunk.
        num_blocks: number of blocks :math:`L`.
        heads: attention heads.
        ffn_ratio: FFN hidden width as a multiple of ``channels``.
        local: use local message passing (``False``: a pure Transformer).
        encoding: ``'symmetry'``, ``'plain'``, ``'none'`` or a module, see
            :func:`make_encoding`.
        encoding_cutoff: frequency cutoff of the encoding.
        lattice: the frame-invariant lattice features: ``'conventional'`` (those of the
            conventional cell), ``'minima'`` (the successive minima of the translation lattice:
            they do not jump when the detected group changes, see
            :class:`~cft_pyg.nn.LatticeFeatures`) or ``'none'``.
        normalize_encoding: RMS-normalize the encoding per atom (:class:`EncodingRMSNorm`).
        family_inputs: separate first layers for the hexagonal family (:class:`FamilyLinear`).
        balance_tokens: layer-normalize the atom and positional tokens before their sum.
        pair_bias: distance bias of the attention logits (needs the neighbour graph).
        gated_messages: gated local messages (:class:`GatedDistanceConv`) instead of a
            single linear distance filter (:class:`DistanceFilterConv`).
        radius: envelope cutoff (Å) of the pair terms; set it to the radius of the
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
          ``space_group`` and, for ``local=True`` or ``pair_bias=True``, ``edge_index``
          and ``edge_dist`` (or ``pos`` and ``cell_offsets``).
        - output: ``(num_graphs,)``, or ``(num_graphs, out_channels)`` when
          ``out_channels > 1``.

    Defaults (width 128, 2 blocks, 8 heads, messages of width 64) give about 0.72 M
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
        encoding: EncodingKind | nn.Module | None = "symmetry",
        encoding_cutoff: float = DEFAULT_CUTOFF,
        lattice: LatticeOption = "conventional",
        normalize_encoding: bool = True,
        family_inputs: bool = True,
        balance_tokens: bool = True,
        pair_bias: bool = True,
        gated_messages: bool = True,
        radius: float = DEFAULT_FEATURIZATION.radius,
        num_radial: int = 32,
        local_channels: int = 64,
        attention_buckets: int = 4,
        dropout: float = 0.0,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        self.channels, self.num_blocks, self.heads = channels, num_blocks, heads
        self.local_channels = local_channels
        self.attention_buckets = attention_buckets
        self.local = local
        self.pair_bias = pair_bias
        self.encoding_kind = encoding if isinstance(encoding, str) or encoding is None else "custom"
        self.radius = float(radius) if (local or self.pair_bias) else None
        self.out_channels = out_channels
        self.atom_embedding = AtomEmbedding(channels)
        self.positional = self._positional_module(
            channels, make_encoding(encoding, encoding_cutoff), lattice, normalize_encoding,
            family_inputs,
        )
        self.atom_norm = nn.LayerNorm(channels) if balance_tokens else None
        self.pos_norm = nn.LayerNorm(channels) if balance_tokens else None
        self.filter_width = (2 if gated_messages else 1) * local_channels if local else 0
        self.bias_width = heads if self.pair_bias else 0
        if local or self.pair_bias:
            self.rbf = GaussianExpansion(0.0, radius, radius / (num_radial - 1))
            self.envelope = CosineCutoff(radius)
            self.filter_net = nn.Linear(
                self.rbf.num_features, num_blocks * (self.filter_width + self.bias_width)
            )
        ffn_hidden = round(ffn_ratio * channels)
        self.blocks = nn.ModuleList(
            HybridBlock(
                channels, heads, ffn_hidden, local, dropout, local_channels,
                gated=gated_messages,
            )
            for _ in range(num_blocks)
        )
        self.norm, self.head = self._readout_modules(channels, out_channels)

    def _positional_module(self, channels: int, encoding: nn.Module | None,
                           lattice: LatticeOption, normalize: bool, family_inputs: bool
                           ) -> nn.Module:
        """The module of the positional tokens (a subclass may build another one with the
        same call signature, see :class:`~cft_pyg.nn.published.PublishedCFT`)."""
        return CrystalPositionalEncoding(channels, encoding, lattice=lattice,
                                         normalize=normalize, family_inputs=family_inputs)

    def _readout_modules(self, channels: int, out_channels: int) -> tuple[nn.Module, nn.Module]:
        """``(norm, head)``: the per-atom normalization before the mean pooling and the
        MLP after it."""
        return nn.LayerNorm(channels), nn.Sequential(
            nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, out_channels)
        )

    @property
    def encoding(self) -> nn.Module | None:
        """The Fourier encoding module (``None`` for ``encoding='none'``)."""
        return self.positional.encoding

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def tokens(self, data: Data | Batch) -> torch.Tensor:
        """``(N, d)`` input tokens :math:`h^{(0)}` of every atom (element + position)."""
        batch, _, natoms = graph_inputs(data)
        frac = data.frac_coords
        cell = data.cell.to(frac.dtype).reshape(-1, 3, 3)
        space_group = data.space_group.reshape(-1)[batch]
        atom = self.atom_embedding(data.z)
        pos = self.positional(frac, space_group, cell, natoms, batch)
        if self.atom_norm is not None:
            return self.atom_norm(atom) + self.pos_norm(pos)
        return atom + pos

    def featurization_requirements(self) -> dict[str, float | None]:
        """The neighbour ``radius`` the crystals must be featurized with (``None`` when the
        graph is not read); the encoding's frequency cutoff is the model's own."""
        return {"radius": self.radius}

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (the backbone interface,
        :class:`~cft_pyg.nn.Backbone`)."""
        return self.channels

    def forward(self, data: Data | Batch) -> torch.Tensor:
        out = self.head(self.crystal_features(data))
        return out.squeeze(-1) if self.out_channels == 1 else out

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, channels)`` invariant features of each crystal: the mean of its
        atoms' normalized last-block states, the input of the read-out head."""
        check_featurization(data, type(self).__name__, **self.featurization_requirements())
        batch, num_graphs, _ = graph_inputs(data)
        index = (
            SizeBuckets(batch, num_graphs, self.attention_buckets)
            if self.attention_buckets > 1
            else DenseBatchIndex(batch, num_graphs)
        )
        h = self.tokens(data)

        filters: list[torch.Tensor | None] = [None] * self.num_blocks
        biases: list[list[torch.Tensor] | None] = [None] * self.num_blocks
        edge_index = weight = None
        if self.local or self.pair_bias:
            if getattr(data, "edge_index", None) is None:
                raise ValueError(
                    "this model needs the neighbour graph (edge_index, edge_dist): build the "
                    "data with cft_pyg.data.from_structure(..., neighbor_graph=True), or use "
                    "local=False, pair_bias=False"
                )
            edge_index = data.edge_index
            dist = edge_distances(data, batch)
            envelope = self.envelope(dist)
            per_block = self.filter_net(self.rbf(dist)).view(
                -1, self.num_blocks, self.filter_width + self.bias_width
            )
            if self.local:
                weight = envelope_weights(envelope, edge_index[1], h.shape[0])
                filters = list(per_block[..., : self.filter_width].unbind(1))
            if self.pair_bias:
                layout = PairLayout(index, edge_index)
                bias = per_block[..., self.filter_width :] * envelope[:, None, None]
                biases = [layout.to_dense(b) for b in bias.unbind(1)]

        for block, edge_filter, pair_bias in zip(self.blocks, filters, biases, strict=True):
            h = block(h, index, edge_index, edge_filter, weight, pair_bias)

        return global_mean_pool(self.norm(h), batch, size=num_graphs)


class PlainPETransformer(CrystalFourierTransformer):
    r"""Baseline: the pure Transformer with a **standard** Fourier positional encoding.

    The "Transformer, plain PE" column of the published comparison: no local message
    passing, no pair bias (the published Transformer sees no distances) and
    :class:`~cft_pyg.nn.PlainFourierFeatures` (plane waves of the raw fractional
    coordinates, not invariant under the space group) instead of the symmetry-adapted
    encoding; everything else as :class:`CrystalFourierTransformer`.  Equivalent to
    ``CrystalFourierTransformer(local=False, encoding='plain', pair_bias=False, ...)``.

    Args:
        **kwargs: any argument of :class:`CrystalFourierTransformer` except ``local`` and
            ``encoding`` (``pair_bias=True`` adds the distance bias to this baseline).
    """

    def __init__(self, **kwargs) -> None:
        for key in ("local", "encoding"):
            if key in kwargs:
                raise TypeError(f"PlainPETransformer fixes `{key}`")
        kwargs.setdefault("pair_bias", False)
        super().__init__(local=False, encoding="plain", **kwargs)
