"""Lattice descriptors that do not depend on the Cartesian frame."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LatticeFeatures", "lattice_parameters"]


def lattice_parameters(cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Lengths, angle cosines and volume of cells given as rows.

    Everything is computed from the metric tensor :math:`G = L L^\top`, so it is unchanged
    by any rotation or reflection of the Cartesian frame (:math:`L \to L Q^\top`).

    Args:
        cell: ``(B, 3, 3)`` lattice vectors as rows (Å).

    Returns:
        ``lengths`` ``(B, 3)`` (a, b, c), ``cosines`` ``(B, 3)`` (cos alpha, cos beta,
        cos gamma) and ``volume`` ``(B,)`` (Å^3, positive).
    """
    if cell.ndim == 2:
        cell = cell.unsqueeze(0)
    metric = cell @ cell.transpose(1, 2)
    sq = torch.diagonal(metric, dim1=1, dim2=2)
    lengths = sq.sqrt()
    a, b, c = lengths.unbind(-1)
    cosines = torch.stack(
        [metric[:, 1, 2] / (b * c), metric[:, 0, 2] / (a * c), metric[:, 0, 1] / (a * b)], dim=-1
    )
    volume = torch.linalg.det(metric).clamp_min(0).sqrt()
    return lengths, cosines, volume


class LatticeFeatures(nn.Module):
    r"""Frame-invariant descriptors of a crystal's lattice.

    The published CFT feeds the raw 3x3 lattice matrix, which changes when the Cartesian
    frame is rotated.  This layer returns, per crystal,

    .. math::

        \big[\log a,\ \log b,\ \log c,\ \cos\alpha,\ \cos\beta,\ \cos\gamma,\
        \log(V/N),\ (V/N)^{1/3} / 4\,\text{Å}\big]

    (lengths in Å, :math:`V` the cell volume, :math:`N` the number of atoms in the cell),
    all functions of the metric tensor only: invariant under rotations and reflections of
    the frame, and unchanged by any space-group operation applied to the atoms.  In the
    standardized setting of ``cft_pyg.data`` the lengths and angles are those of the
    conventional cell.

    Shapes:
        - input: ``cell`` ``(B, 3, 3)`` (rows), ``natoms`` ``(B,)``.
        - output: ``(B, 8)`` in the dtype of ``cell``.
    """

    num_features: int = 8

    def forward(self, cell: torch.Tensor, natoms: torch.Tensor) -> torch.Tensor:
        lengths, cosines, volume = lattice_parameters(cell)
        natoms = natoms.to(device=cell.device, dtype=cell.dtype).reshape(-1).clamp_min(1)
        vpa = volume / natoms
        return torch.cat(
            [
                lengths.log(),
                cosines,
                vpa.log().unsqueeze(-1),
                (vpa.pow(1.0 / 3.0) / 4.0).unsqueeze(-1),
            ],
            dim=-1,
        )
