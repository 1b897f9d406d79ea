r"""Reference implementations of the invariant encoding, kept for tests and benchmarks
(not exported by :mod:`cft_pyg.nn`: they are not layers to build models with).

Both compute the same ``P_G v(x)`` as :class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding`
(``output="frequency"``, same slots and interleaved Re/Im layout), by other means:

* :class:`DenseRoutingEncoding`: the published approach, a dense ``N x N`` complex routing
  matrix per group, ``M_G = (1/|G|) sum_g D_g``, applied to the plain features
  (``O(N^2)`` per atom);
* :class:`OrbitAveragingEncoding`: naive averaging of the plain features over the orbit
  of the point, ``(1/|G|) sum_g v(W_g x + w_g)`` (``O(|G| N)`` per atom).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from ..symmetry.basis import check_frac_coords
from ..symmetry.constraint_graph import constraint_graph
from ..symmetry.frequencies import DEFAULT_CUTOFF, ball_frequencies, reference_metric
from ..symmetry.space_group import SpaceGroup
from .encoding import _group_slices, check_space_group_index

__all__ = ["DenseRoutingEncoding", "OrbitAveragingEncoding", "dense_routing_matrix"]


def dense_routing_matrix(group: SpaceGroup | int, cutoff: float) -> Tensor:
    r"""``(N, N)`` complex128 ``M_G[k, k'] = (1/|G|) sum_{g: W_g^T k = k'} exp(2 pi i k.w_g)``.

    Built directly from the edges of the constraint graph: edge ``k -> W_g^T k`` with
    weight ``exp(2 pi i k.w_g)`` adds ``weight / |G|`` to ``M[k, W_g^T k]``.
    """
    graph = constraint_graph(group, cutoff)
    n = graph.num_nodes
    n_ops = graph.edge_index.shape[1] // n
    mat = torch.zeros(n, n, dtype=torch.complex128)
    mat.index_put_(
        (graph.edge_index[0], graph.edge_index[1]), graph.edge_weight / n_ops, accumulate=True
    )
    return mat


def _complex_waves(x: Tensor, freq: Tensor) -> Tensor:
    """``exp(2 pi i k.x)`` as ``(n, N)`` complex (float32 -> complex64)."""
    turns = torch.frac((x - torch.floor(x)) @ freq.to(x.dtype).T)
    return torch.polar(torch.ones_like(turns), (2 * math.pi) * turns)


def _interleave(z: Tensor, num_slots: int) -> Tensor:
    out = torch.view_as_real(z).reshape(z.shape[0], -1)
    pad = out.new_zeros(z.shape[0], 2 * num_slots - out.shape[1])
    return torch.cat([out, pad], dim=1) if pad.shape[1] else out


class _PerGroupReference(nn.Module):
    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.freq = {
            m: torch.from_numpy(np.array(ball_frequencies(cutoff, m).freq))
            for m in ("identity", "hexagonal")
        }
        self.num_slots = max(len(f) for f in self.freq.values())

    @property
    def out_dim(self) -> int:
        return 2 * self.num_slots

    def _encode_group(self, x: Tensor, group: int) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, frac_coords: Tensor, space_group: Tensor) -> Tensor:
        x = check_frac_coords(frac_coords)
        groups = check_space_group_index(space_group, x.shape[0]).to(x.device)
        group_ids, atom_index, inverse = _group_slices(groups)
        if inverse is None:
            return self._encode_group(x, group_ids[0])
        blocks = [self._encode_group(x[idx], g) for g, idx in zip(group_ids, atom_index)]
        return torch.cat(blocks, dim=0)[inverse]


class DenseRoutingEncoding(_PerGroupReference):
    """``M_G v(x)`` with a dense complex routing matrix per group (published approach).

    Matrices are built on first use of a group and kept (``N^2`` complex entries each).

    Args:
        cutoff: frequency ball radius.
        cache: keep the dense matrices between calls (default True).
    """

    def __init__(self, cutoff: float = DEFAULT_CUTOFF, cache: bool = True) -> None:
        super().__init__(cutoff)
        self.cache = cache
        self._matrices: dict[tuple[int, torch.dtype, torch.device], Tensor] = {}

    def matrix(self, group: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """The transposed routing matrix ``M_G^T`` in the complex dtype matching ``dtype``."""
        key = (group, dtype, device)
        mat = self._matrices.get(key)
        if mat is None:
            cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
            mat = dense_routing_matrix(group, self.cutoff).T.contiguous().to(device, cdtype)
            if self.cache:
                self._matrices[key] = mat
        return mat

    def _encode_group(self, x: Tensor, group: int) -> Tensor:
        freq = self.freq[reference_metric(group)].to(x.device)
        waves = _complex_waves(x, freq)
        return _interleave(waves @ self.matrix(group, x.dtype, x.device), self.num_slots)


class OrbitAveragingEncoding(_PerGroupReference):
    """``(1/|G|) sum_g v(W_g x + w_g)``: plain features averaged over the point's orbit.

    Args:
        cutoff: frequency ball radius.
        chunk_size: atoms per chunk (bounds the ``|G| x chunk x N`` intermediate).
    """

    def __init__(self, cutoff: float = DEFAULT_CUTOFF, chunk_size: int = 256) -> None:
        super().__init__(cutoff)
        self.chunk_size = chunk_size

    def _encode_group(self, x: Tensor, group: int) -> Tensor:
        sg = SpaceGroup(group)
        W = torch.as_tensor(sg.rotations.copy(), dtype=x.dtype, device=x.device)
        w = torch.as_tensor(sg.translations, dtype=x.dtype, device=x.device)
        freq = self.freq[reference_metric(group)].to(x.device)
        outs = []
        for chunk in torch.split(x, self.chunk_size):
            images = torch.einsum("gij,nj->gni", W, chunk) + w[:, None, :]
            waves = _complex_waves(images.reshape(-1, 3), freq)
            outs.append(waves.view(W.shape[0], chunk.shape[0], -1).mean(0))
        return _interleave(torch.cat(outs, dim=0), self.num_slots)
