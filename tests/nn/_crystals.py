"""Small hand-made crystals for the model tests (no dataset needed)."""

from __future__ import annotations

import math

import torch
from torch_geometric.data import Batch, Data

from cft_pyg.data.neighbors import radius_graph_pbc

RADIUS = 5.0


def cell_from_parameters(
    a: float, b: float, c: float, alpha: float = 90.0, beta: float = 90.0, gamma: float = 90.0
) -> torch.Tensor:
    """``(3, 3)`` float64 cell (rows) in the standard orientation (a along x, b in xy)."""
    al, be, ga = (math.radians(v) for v in (alpha, beta, gamma))
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cz = math.sqrt(c * c - cx * cx - cy * cy)
    return torch.tensor(
        [[a, 0.0, 0.0], [b * math.cos(ga), b * math.sin(ga), 0.0], [cx, cy, cz]],
        dtype=torch.float64,
    )


# (space group, cell parameters consistent with its default setting)
CRYSTALS: dict[str, tuple[int, tuple[float, ...]]] = {
    "P-1": (2, (4.1, 5.3, 6.2, 81.0, 97.0, 104.0)),
    "P2_1/c": (14, (5.1, 6.3, 7.2, 90.0, 104.0, 90.0)),  # monoclinic, 2_1 screw + c glide
    "C2/c": (15, (9.5, 5.6, 6.8, 90.0, 112.0, 90.0)),  # monoclinic, C-centred, c glide
    "Pnma": (62, (5.5, 4.2, 6.6)),
    "I4_1/amd": (141, (4.5, 4.5, 9.3)),
    "R-3m": (166, (3.9, 3.9, 13.5, 90.0, 90.0, 120.0)),  # hexagonal axes
    "P6_3/mmc": (194, (3.2, 3.2, 5.2, 90.0, 90.0, 120.0)),
    "Fm-3m": (225, (5.6, 5.6, 5.6)),  # face-centred cubic, 192 operations
    "Ia-3d": (230, (7.9, 7.9, 7.9)),  # body-centred cubic, 96 operations
}


def crystal(
    name: str,
    num_atoms: int = 4,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    frac_coords: torch.Tensor | None = None,
) -> Data:
    """A crystal of the given group with random (not symmetric) atoms and its graph."""
    number, params = CRYSTALS[name]
    gen = torch.Generator().manual_seed(seed)
    if frac_coords is None:
        frac_coords = torch.rand(num_atoms, 3, generator=gen, dtype=torch.float64)
    z = torch.randint(1, 84, (frac_coords.shape[0],), generator=gen)
    return make_data(z, frac_coords.to(dtype), cell_from_parameters(*params).to(dtype), number)


def make_data(
    z: torch.Tensor,
    frac_coords: torch.Tensor,
    cell: torch.Tensor,
    space_group: int,
    *,
    radius: float = RADIUS,
) -> Data:
    """``Data`` with the fields of ``docs/conventions.md``; graph from ``radius_graph_pbc``."""
    frac = frac_coords - torch.floor(frac_coords)
    pos = frac @ cell
    edge_index, offsets, dist = radius_graph_pbc(pos, cell, radius=radius, max_neighbors=None)
    return Data(
        z=z,
        frac_coords=frac,
        pos=pos,
        cell=cell.unsqueeze(0),
        space_group=torch.tensor([space_group]),
        natoms=torch.tensor([z.numel()]),
        edge_index=edge_index,
        cell_offsets=offsets,
        edge_dist=dist,
        num_nodes=z.numel(),
    )


def with_frac_coords(data: Data | Batch, frac_coords: torch.Tensor) -> Batch:
    """The same crystals with new coordinates and a neighbour graph rebuilt from scratch
    (one batched ``radius_graph_pbc`` call)."""
    batch = data if isinstance(data, Batch) else Batch.from_data_list([data])
    frac = frac_coords - torch.floor(frac_coords)
    cell = batch.cell.to(frac.dtype)
    pos = torch.einsum("ni,nij->nj", frac, cell[batch.batch])
    edge_index, offsets, dist = radius_graph_pbc(
        pos, cell, batch.batch, radius=RADIUS, max_neighbors=None
    )
    out = batch.clone()
    out.frac_coords, out.pos = frac, pos
    out.edge_index, out.cell_offsets, out.edge_dist = edge_index, offsets, dist
    return out
