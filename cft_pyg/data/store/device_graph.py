"""The neighbour graph of a whole batch at once, on the batch's device.

For crystals read without a graph (``CrystalStore(..., neighbor_graph=False)``), the loader
workers only decode; :func:`add_neighbor_graph` then builds the graph of the collated batch
where it is (a GPU when present) with the batched :func:`~cft_pyg.data.radius_graph_pbc`,
exactly as :func:`~cft_pyg.data.from_standardized` builds it per crystal: in float64 from the
float32 ``frac_coords`` and ``cell``, the same radius, neighbour cap and tie rule.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

from ..featurization import Featurization
from ..neighbors import radius_graph_pbc

__all__ = ["add_neighbor_graph"]


def add_neighbor_graph(batch: Batch, featurization: Featurization | None = None) -> Batch:
    """Add ``edge_index`` ``(2, E)``, ``cell_offsets`` ``(E, 3)`` and ``edge_dist`` ``(E,)``
    float32 to a batch of standardized crystals, on its device.

    Args:
        batch: a PyG ``Batch`` with ``frac_coords`` ``(N, 3)``, ``cell`` ``(B, 3, 3)`` and
            ``natoms`` ``(B,)`` (the crystals of :class:`CrystalStore`).
        featurization: ``radius`` and ``max_neighbors`` (default
            :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`).

    Returns:
        The batch (modified in place); its edges equal the per-crystal graphs of
        :func:`~cft_pyg.data.from_standardized`, collated.

    Raises:
        ValueError: the geometry is ``'measured'`` (needs the input's own positions).
    """
    f = Featurization.resolve(featurization)
    if f.geometry != "symmetrized":
        raise ValueError("add_neighbor_graph builds the symmetrized geometry's graph only")
    cell = batch.cell.to(torch.float64)
    frac = batch.frac_coords.to(torch.float64)
    natoms = batch.natoms.reshape(-1)
    crystal = torch.repeat_interleave(torch.arange(natoms.shape[0], device=natoms.device),
                                      natoms)
    pos = torch.einsum("ni,nij->nj", frac, cell[crystal])
    edge_index, offsets, dist = radius_graph_pbc(pos, cell, natoms=natoms, radius=f.radius,
                                                 max_neighbors=f.max_neighbors)
    batch.edge_index = edge_index
    batch.cell_offsets = offsets
    batch.edge_dist = dist.to(torch.float32)
    return batch
