r"""The published Crystal Fourier Transformer: a Transformer whose only geometry is the
positional encoding (no neighbour graph, no distances), at the published sizes.

The model of arXiv 2512.13989 and its public JAX code, rebuilt on the exact,
invariant encoding of this package.  Two modules:

* :class:`PublishedPositionalEncoding`, the two-branch encoder of the paper (a position
  branch on the Fourier encoding and a lattice branch, merged by an element-wise product),
  the module that orbit-distance pretraining trains (:func:`cft_pyg.nn.pretrain_encoding`);
* :class:`PublishedCFT`, element tokens plus those positional tokens, pre-LayerNorm
  Transformer blocks, masked mean pooling and the published head.

**Differences from the paper** (each keeps or adds invariance, none adds geometry):

1. The encoding is :class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding` (sparse
   scatter/gather routing on the constraint graph, exact for all 230 groups, one index
   space for both families) instead of a dense :math:`N \times N` routing matrix per group
   and two separate encoders; the hexagonal family is encoded in its own fractional
   coordinates (the published code mixed Cartesian pretraining with fractional use).
2. No space-group one-hot (the published encoder feeds one to both branches): the group
   enters only through the routing, so a group never seen in training gets no untrained
   embedding.  (The zero-shot study measures what the one-hot costs with a subclass of its
   own, ``studies/kit/onehot.py``.)
3. The lattice branch reads the frame-invariant :class:`~cft_pyg.nn.LatticeFeatures`
   (lengths, angle cosines, volume per atom) instead of the raw :math:`3 \times 3` matrix,
   so a rotation of the Cartesian frame does not change the prediction.
4. The encoding is RMS-normalized per atom (``normalize_encoding``) and read by a first
   layer per frequency family (``family_inputs``), as in the hybrid CFT.
5. Atom tokens come from physical element descriptors
   (:class:`~cft_pyg.nn.elements.AtomEmbedding`) instead of a learned 101-entry table,
   and the atom and positional tokens are layer-normalized before their sum
   (``balance_tokens``; the published model normalizes the sum).
6. Attention projections have biases (:class:`~cft_pyg.nn.MaskedSelfAttention`); the
   published ones have none.  LayerNorm epsilon is PyTorch's ``1e-5`` (published ``1e-6``).
7. Inputs are standardized (:mod:`cft_pyg.data.standardization`: one crystal for every
   description, mirror images included); the published code encodes the crystal as given.
"""

from __future__ import annotations

import torch
from torch import nn

from ..symmetry.frequencies import DEFAULT_CUTOFF
from .cft import CrystalFourierTransformer
from .lattice import LatticeFeatures, LatticeOption, crystal_values, lattice_kind
from .tokens import EncodingKind, EncodingRMSNorm, FamilyLinear, read_encoding

__all__ = ["PublishedCFT", "PublishedPositionalEncoding", "PublishedResidualBlock"]

class PublishedResidualBlock(nn.Module):
    r"""The residual block of the published encoder.

    .. math::

        y = x + \mathrm{ReLU}\Big(\mathrm{LN}\big(W_2\,
            \mathrm{ReLU}(\mathrm{LN}(W_1 x))\big)\Big),
        \qquad W_1 \in \mathbb{R}^{2f \times f},\ W_2 \in \mathbb{R}^{f \times 2f}.

    Args:
        features: width :math:`f`.

    Shapes:
        - input / output: ``(N, f)``.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, 2 * features), nn.LayerNorm(2 * features), nn.ReLU(),
            nn.Linear(2 * features, features), nn.LayerNorm(features), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class PublishedPositionalEncoding(nn.Module):
    r"""The two-branch positional encoder of the published CFT, made invariant.

    .. math::

        u_i &= \mathrm{Res}^{3}_{pos}\Big(\mathrm{ReLU}\big(W_b\,\mathrm{ReLU}(
               W_{a,f(i)}\,\mathrm{RMSNorm}(\phi_G(x_i)))\big)\Big), \\
        v_b &= \mathrm{Res}^{3}_{lat}\big(\mathrm{ReLU}(W_\ell\,\ell_b)\big), \\
        p_i &= W_d\,\mathrm{ReLU}\big(W_c\,(u_i \odot v_{b(i)})\big),

    with :math:`\phi_G` the encoding of atom :math:`i` in its crystal's group, :math:`f(i)`
    its frequency family (:class:`FamilyLinear`), :math:`\ell_b` the
    :class:`LatticeFeatures` of its crystal and :math:`\mathrm{Res}^3` three
    :class:`PublishedResidualBlock`.  Widths as published: ``initial_dim`` 512, ``hidden``
    256, output ``channels`` 128.  :math:`p_i` is a function of :math:`\phi_G(x_i)`, of the
    group and of frame-invariant lattice features only, so it is invariant whenever
    :math:`\phi_G` is.
    With ``encoding=None`` the position branch is absent (:math:`u_i = 1`), with
    ``lattice='none'`` the lattice branch (:math:`v_b = 1`).

    Args:
        channels: output width.
        encoding: the Fourier encoding module (``None``: lattice branch only).
        lattice: the lattice branch: ``'conventional'`` (features of the conventional
            cell), ``'minima'`` (of the lattice itself, see :class:`LatticeFeatures`) or
            ``'none'``.
        normalize: RMS-normalize the encoding per atom (learned gain per slot).
        family_inputs: separate first-layer weights for the hexagonal family.
        hidden: width of both branches and their residual blocks.
        initial_dim: width of the first layer of the position branch.
        num_blocks: residual blocks per branch.

    Shapes:
        - input: ``frac_coords`` ``(N, 3)``, ``space_group`` ``(N,)`` long, ``cell``
          ``(B, 3, 3)``, ``natoms`` ``(B,)``, ``batch`` ``(N,)``.
        - output: ``(N, channels)``.
    """

    def __init__(
        self,
        channels: int,
        encoding: nn.Module | None,
        lattice: LatticeOption = "conventional",
        normalize: bool = True,
        family_inputs: bool = True,
        hidden: int = 256,
        initial_dim: int = 512,
        num_blocks: int = 3,
    ) -> None:
        super().__init__()
        kind = lattice_kind(lattice)
        if encoding is None and kind is None:
            raise ValueError("PublishedPositionalEncoding needs the encoding, the lattice or "
                             "both")
        self.channels = channels
        self.encoding = encoding
        self.norm = self.first = self.pos_mlp = None
        if encoding is not None:
            dim = int(encoding.out_dim)
            self.norm = EncodingRMSNorm(dim) if normalize else None
            self.first = (FamilyLinear(dim, initial_dim) if family_inputs
                          else nn.Linear(dim, initial_dim))
            self.pos_mlp = nn.Sequential(
                nn.ReLU(), nn.Linear(initial_dim, hidden), nn.ReLU(),
                *(PublishedResidualBlock(hidden) for _ in range(num_blocks)),
            )
        self.lattice = LatticeFeatures(kind) if kind else None
        self.lat_mlp = nn.Sequential(
            nn.Linear(self.lattice.num_features, hidden), nn.ReLU(),
            *(PublishedResidualBlock(hidden) for _ in range(num_blocks)),
        ) if kind else None
        self.out = nn.Sequential(nn.Linear(hidden, 2 * channels), nn.ReLU(),
                                 nn.Linear(2 * channels, channels))

    def forward(
        self,
        frac_coords: torch.Tensor,
        space_group: torch.Tensor,
        cell: torch.Tensor,
        natoms: torch.Tensor,
        batch: torch.Tensor,
    ) -> torch.Tensor:
        h = None
        if self.encoding is not None:
            h = self.pos_mlp(self.first_position_layer(frac_coords, space_group))
        if self.lat_mlp is not None:
            group = crystal_values(space_group, batch, cell.shape[0])
            lat = self.first_lattice_layer(cell, natoms, group)
            lat = self.lat_mlp[1:](lat)[batch]
            h = lat if h is None else h * lat
        return self.out(h)

    def first_position_layer(self, frac_coords: torch.Tensor, space_group: torch.Tensor
                             ) -> torch.Tensor:
        """``(N, initial_dim)``: the first layer of the position branch on the encoding."""
        return read_encoding(self, frac_coords, space_group)

    def first_lattice_layer(self, cell: torch.Tensor, natoms: torch.Tensor,
                            group: torch.Tensor) -> torch.Tensor:
        """``(B, hidden)``: the first layer of the lattice branch on the lattice features
        (``group``: ``(B,)`` the space group of each crystal)."""
        return self.lat_mlp[0](self.lattice(cell, natoms, group))


class PublishedCFT(CrystalFourierTransformer):
    r"""The published Crystal Fourier Transformer: positional encoding as the only geometry.

    .. math::

        h_i^{(0)} &= \mathrm{LN}_a\big(a(Z_i)\big) + \mathrm{LN}_p\big(p_i\big)
                     \quad\text{(:class:`PublishedPositionalEncoding`)}, \\
        h^{(l+1)} &= \mathrm{Block}_l\big(h^{(l)}\big),\quad l = 0..L-1
                     \quad\text{(pre-LN attention + FFN, no local branch)}, \\
        \hat y_b &= \mathrm{Head}\Big(\tfrac{1}{|b|}\sum_{i \in b} h_i^{(L)}\Big),
        \quad \mathrm{Head} = W_3\,\mathrm{LN}(\mathrm{SiLU}(W_2\,
                              \mathrm{LN}(\mathrm{SiLU}(W_1\,\cdot)))),

    at the sizes of the released total-energy checkpoint: width 128, 6 blocks, 8 heads,
    feed-forward 512 (``ffn_ratio=4``), head 2048 -> 256 -> 1, encoder widths 512 / 256.
    It reads no neighbour graph and no distances (``local=False``, ``pair_bias=False`` are
    fixed), so crystals need no ``edge_index``.  Invariant under every operation of each
    crystal's group, permutations, rotations of the frame and batch composition, like
    :class:`CrystalFourierTransformer`.  The differences from the paper are listed in
    :mod:`cft_pyg.nn.published`.

    Args:
        channels: token width (published 128).
        num_blocks: Transformer blocks (published 2-6; 6 in the released checkpoints).
        heads: attention heads.
        ffn_ratio: FFN hidden width as a multiple of ``channels`` (published 512 / 128).
        encoding: ``'symmetry'`` (the CFT), ``'plain'`` (the "Transformer, plain PE" of the
            paper's Table 1, not invariant), ``'none'`` or a module.
        encoding_cutoff: frequency cutoff of the encoding (published 5).
        lattice: the lattice branch of the encoder (``'conventional'``, ``'minima'`` or
            ``'none'``: see
            :class:`PublishedPositionalEncoding`).
        normalize_encoding, family_inputs, balance_tokens: see
            :class:`CrystalFourierTransformer` (differences 4 and 5).
        encoder_hidden: width of the encoder branches (published 256).
        encoder_initial: first layer of the position branch (published 512).
        encoder_blocks: residual blocks per encoder branch (published 3).
        head_hidden: widths of the head (published ``(2048, 256)``).
        attention_buckets, dropout, out_channels: see :class:`CrystalFourierTransformer`.

    Shapes:
        - input: a :class:`~torch_geometric.data.Batch` with ``z``, ``frac_coords``,
          ``cell``, ``space_group``.
        - output: ``(num_graphs,)``, or ``(num_graphs, out_channels)``.
    """

    def __init__(
        self,
        channels: int = 128,
        num_blocks: int = 6,
        heads: int = 8,
        ffn_ratio: float = 4.0,
        encoding: EncodingKind | nn.Module | None = "symmetry",
        encoding_cutoff: float = DEFAULT_CUTOFF,
        lattice: LatticeOption = "conventional",
        normalize_encoding: bool = True,
        family_inputs: bool = True,
        balance_tokens: bool = True,
        encoder_hidden: int = 256,
        encoder_initial: int = 512,
        encoder_blocks: int = 3,
        head_hidden: tuple[int, int] | list[int] = (2048, 256),
        attention_buckets: int = 4,
        dropout: float = 0.0,
        out_channels: int = 1,
    ) -> None:
        if len(head_hidden) != 2:
            raise ValueError(f"head_hidden must give two widths, got {head_hidden!r}")
        self._encoder_sizes = (int(encoder_hidden), int(encoder_initial), int(encoder_blocks))
        self._head_hidden = tuple(int(w) for w in head_hidden)
        super().__init__(
            channels=channels, num_blocks=num_blocks, heads=heads, ffn_ratio=ffn_ratio,
            local=False, encoding=encoding, encoding_cutoff=encoding_cutoff, lattice=lattice,
            normalize_encoding=normalize_encoding, family_inputs=family_inputs,
            balance_tokens=balance_tokens, pair_bias=False,
            attention_buckets=attention_buckets, dropout=dropout, out_channels=out_channels,
        )

    def _positional_module(self, channels: int, encoding: nn.Module | None,
                           lattice: LatticeOption,
                           normalize: bool, family_inputs: bool) -> nn.Module:
        hidden, initial, blocks = self._encoder_sizes
        return PublishedPositionalEncoding(channels, encoding, lattice=lattice,
                                           normalize=normalize, family_inputs=family_inputs,
                                           hidden=hidden, initial_dim=initial,
                                           num_blocks=blocks)

    def _readout_modules(self, channels: int, out_channels: int) -> tuple[nn.Module, nn.Module]:
        first, second = self._head_hidden
        head = nn.Sequential(
            nn.Linear(channels, first), nn.SiLU(), nn.LayerNorm(first),
            nn.Linear(first, second), nn.SiLU(), nn.LayerNorm(second),
            nn.Linear(second, out_channels),
        )
        return nn.Identity(), head  # published: mean of the last block's output, no final LN
