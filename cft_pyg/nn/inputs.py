"""Reading the crystal fields of a PyG ``Data``/``Batch`` (``docs/conventions.md``)."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

__all__ = ["edge_distances", "graph_inputs"]


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


def edge_distances(data: Data | Batch, batch: torch.Tensor) -> torch.Tensor:
    """``(E,)`` lengths of the neighbour-graph edges, in the dtype of ``frac_coords``.

    ``data.edge_dist`` when present, else ``|pos[j] + cell_offsets @ cell - pos[i]|`` for
    ``edge_index = [j, i]``.
    """
    if getattr(data, "edge_dist", None) is not None:
        return data.edge_dist.to(data.frac_coords.dtype)
    j, i = data.edge_index
    cell = data.cell.to(data.pos.dtype)[batch[i]]
    shift = torch.einsum("ej,ejk->ek", data.cell_offsets.to(data.pos.dtype), cell)
    return (data.pos[j] + shift - data.pos[i]).norm(dim=-1)
