"""Positional tokens of the CFT: the Fourier encoding, normalized, read per frequency family,
and conditioned on the lattice."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..symmetry.frequencies import DEFAULT_CUTOFF
from .encoding import is_hexagonal_family
from .lattice import LatticeFeatures, LatticeOption, crystal_values, lattice_kind

__all__ = [
    "CrystalPositionalEncoding",
    "EncodingKind",
    "EncodingRMSNorm",
    "FamilyLinear",
    "make_encoding",
    "read_encoding",
]

EncodingKind = Literal["symmetry", "plain", "none"]


def make_encoding(kind: EncodingKind | nn.Module | None,
                  cutoff: float = DEFAULT_CUTOFF) -> nn.Module | None:
    """Build the per-atom positional encoding selected by ``kind``.

    Args:
        kind: ``'symmetry'`` (:class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding`, exactly
            invariant under the crystal's space group), ``'plain'``
            (:class:`~cft_pyg.nn.PlainFourierFeatures`, standard Fourier features, not
            invariant), ``'none'``/``None`` (no positional encoding), or a module with the
            same call signature ``(frac_coords, space_group) -> (n, out_dim)`` and an
            ``out_dim`` attribute.
        cutoff: frequency cutoff ``R`` of the Fourier features (the ball ``|k| <= R`` in the
            group's reference metric): the model's own option, checked here, when the model
            is built.

    Raises:
        ValueError: ``cutoff`` is not a positive finite number, or an unknown ``kind``.
    """
    if isinstance(cutoff, bool) or not isinstance(cutoff, int | float) \
            or not math.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f"the encoding's frequency cutoff must be a positive finite number, "
                         f"got {cutoff!r}")
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


class EncodingRMSNorm(nn.Module):
    r"""Per-atom RMS normalization of a Fourier encoding with a learned gain per slot.

    .. math::

        \hat\phi = g \odot \phi \Big/ \sqrt{\tfrac{1}{D}\textstyle\sum_k \phi_k^2 + \varepsilon}

    The raw invariant encoding has a norm that depends on the group and the site (median
    16.6 for triclinic atoms, 8.9 for cubic ones at ``R = 5``): after this layer every
    atom's encoding has the same scale, so the first layer sees the *pattern* of the
    Fourier coefficients.  A per-atom scalar function of an invariant vector: invariant.

    Args:
        dim: encoding width :math:`D`.
        eps: :math:`\varepsilon`.

    Shapes:
        - input / output: ``(N, D)``.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = x.square().mean(dim=-1, keepdim=True).add(self.eps).sqrt()
        return x / rms * self.gain


class FamilyLinear(nn.Module):
    r"""A linear layer with separate weights for the two frequency families.

    Slot :math:`i` of the encoding is the :math:`i`-th shortest frequency of the group's
    reference ball: the same :math:`k` for the 178 non-hexagonal groups, but another
    frequency (in another reference metric) for the 52 trigonal/hexagonal groups.  One
    shared first layer would read one input as two different plane waves; this layer
    gives each family its own weights, so every input means one thing.

    .. math::

        y_i = W_{f(i)}\, x_i + b_{f(i)}, \qquad f(i) \in \{\text{hexagonal}, \text{other}\}.

    Args:
        in_features, out_features: as :class:`torch.nn.Linear`.

    Shapes:
        - input: ``x`` ``(N, in)``, ``hexagonal`` ``(N,)`` bool.
        - output: ``(N, out)``.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.other = nn.Linear(in_features, out_features)
        self.hexagonal = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor, hexagonal: torch.Tensor) -> torch.Tensor:
        n_hex = int(hexagonal.sum())
        if n_hex == 0:
            return self.other(x)
        if n_hex == x.shape[0]:
            return self.hexagonal(x)
        out = x.new_empty(x.shape[0], self.other.out_features)
        out[hexagonal] = self.hexagonal(x[hexagonal])
        out[~hexagonal] = self.other(x[~hexagonal])
        return out


def read_encoding(module: nn.Module, frac_coords: torch.Tensor,
                  space_group: torch.Tensor) -> torch.Tensor:
    """``first(norm(encoding(x)))``: a positional module's Fourier encoding of the atoms,
    RMS-normalized when it has a ``norm`` and read by its first layer (per frequency family
    for a :class:`FamilyLinear`). Shared by the positional modules of the CFT variants."""
    enc = module.encoding(frac_coords, space_group)
    if module.norm is not None:
        enc = module.norm(enc)
    if isinstance(module.first, FamilyLinear):
        return module.first(enc, is_hexagonal_family(space_group))
    return module.first(enc)


class CrystalPositionalEncoding(nn.Module):
    r"""Per-atom positional token from an invariant Fourier encoding and the lattice.

    .. math::

        p_i = \mathrm{MLP}_{pos}\big(W_{f(i)}\,\mathrm{RMSNorm}(\phi_{G}(x_i))\big)
              \odot (1 + s_b) + t_b,
        \qquad [s_b, t_b] = \mathrm{MLP}_{lat}\big(\ell_b\big),

    with :math:`\phi_G` the encoding of atom :math:`i`'s fractional coordinates in its
    crystal's space group :math:`G`, :class:`EncodingRMSNorm` (``normalize``), a first
    layer per frequency family :class:`FamilyLinear` (``family_inputs``), and
    :math:`\ell_b` the frame-invariant :class:`LatticeFeatures` of its crystal :math:`b`
    (FiLM conditioning, the analogue of the published model's element-wise product of a
    position and a lattice branch, but without the raw lattice matrix and without a
    space-group one-hot).  When :math:`\phi_G` is invariant under :math:`G`, so is
    :math:`p_i`.

    Args:
        channels: output width.
        encoding: the Fourier encoding module (``None``: lattice part only).
        lattice: the lattice features: ``'conventional'`` (of the conventional cell),
            ``'minima'`` (of the lattice itself, :class:`LatticeFeatures`) or ``'none'``.
        normalize: RMS-normalize the encoding per atom (learned gain per slot).
        family_inputs: separate first-layer weights for the hexagonal family.

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
    ) -> None:
        super().__init__()
        self.channels = channels
        self.encoding = encoding
        self.norm = None
        self.first = None
        self.pos_mlp = None
        if encoding is not None:
            dim = int(encoding.out_dim)
            self.norm = EncodingRMSNorm(dim) if normalize else None
            self.first = FamilyLinear(dim, channels) if family_inputs else nn.Linear(dim, channels)
            self.pos_mlp = nn.Sequential(nn.SiLU(), nn.Linear(channels, channels))
        kind = lattice_kind(lattice)
        self.lattice = LatticeFeatures(kind) if kind else None
        self.lat_mlp = (
            nn.Sequential(
                nn.Linear(self.lattice.num_features, channels),
                nn.SiLU(),
                nn.Linear(channels, 2 * channels),
            )
            if kind
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
            out = self.pos_mlp(read_encoding(self, frac_coords, space_group))
        if self.lattice is not None:
            groups = crystal_values(space_group, batch, cell.shape[0])
            scale, shift = self.lat_mlp(self.lattice(cell, natoms, groups)).chunk(2, dim=-1)
            out = out * (1.0 + scale[batch]) + shift[batch]
        return out
