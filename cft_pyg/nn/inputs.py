"""Reading the crystal fields of a PyG ``Data``/``Batch`` (``docs/conventions.md``)."""

from __future__ import annotations

import math

import torch
from torch_geometric.data import Batch, Data

from ..data.featurization import Featurization, FeaturizationMismatchError

__all__ = ["check_featurization", "edge_distances", "graph_inputs"]


def check_featurization(data: Data | Batch, model: str, *, radius: float | None = None
                        ) -> None:
    """Refuse crystals featurized with another neighbour radius.

    Reads the ``featurization`` record that :func:`cft_pyg.data.from_structure` and the
    datasets put on every crystal (a JSON string; a list of them in a ``Batch``); crystals
    without a record (built by hand) are not checked.

    Args:
        data: a crystal ``Data`` or ``Batch``.
        model: the model's name, for the message.
        radius: the model's own neighbour radius (Å), or ``None`` when it reads no graph.

    Raises:
        FeaturizationMismatchError: a crystal's ``radius`` differs.
    """
    record = getattr(data, "featurization", None)
    if record is None:
        return
    for text in {record} if isinstance(record, str) else set(record):
        f = Featurization.from_json(text)
        if radius is not None and not math.isclose(radius, f.radius, rel_tol=1e-9):
            raise FeaturizationMismatchError(
                f"{model} was built for radius={radius:g} but the crystals were featurized "
                f"with radius={f.radius:g}: featurize them with the model's own options "
                f"(module.featurization, e.g. from_structure(s, module.featurization)) "
                f"or build the model with radius={f.radius:g}")


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
