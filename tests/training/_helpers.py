"""Tiny models and hand-made crystals for the training-engine tests (fast, CPU)."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import global_mean_pool

from cft_pyg.training import register_dataset, register_model


class TinyModel(nn.Module):
    """Element embedding -> MLP (with dropout, to exercise RNG state) -> mean over atoms."""

    def __init__(self, hidden: int = 16, dropout: float = 0.1, out_channels: int = 1) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.emb = nn.Embedding(120, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, out_channels))

    def forward(self, batch) -> torch.Tensor:
        h = global_mean_pool(self.mlp(self.emb(batch.z)), batch.batch, batch.num_graphs)
        return h.reshape(-1) if self.out_channels == 1 else h


class ConstantModel(nn.Module):
    """Predicts 0 whatever the input (its parameter gets a zero gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, batch) -> torch.Tensor:
        return torch.zeros(batch.num_graphs) + 0.0 * self.w


def make_crystals(n: int, seed: int = 0) -> list[Data]:
    """Crystals whose target is a simple function of composition (learnable by TinyModel)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        k = int(torch.randint(1, 6, (1,), generator=g))
        z = torch.randint(1, 30, (k,), generator=g)
        sg = int(torch.randint(1, 231, (1,), generator=g))
        y = float((z.float() / 10).mean() + 0.5 * (z == 8).float().mean())
        out.append(Data(z=z, frac_coords=torch.rand(k, 3, generator=g),
                        space_group=torch.tensor([sg]), natoms=torch.tensor([k]),
                        y=torch.tensor([y]), material_id=f"test-{seed}-{i}", num_nodes=k))
    return out


def tiny_crystal_dataset(num: int = 160, seed: int = 0, root: str | None = None) -> list[Data]:
    """Dataset factory registered as ``'test-crystals'`` (``root`` is ignored)."""
    return make_crystals(num, seed)


register_model("test-tiny", TinyModel, overwrite=True)
register_model("test-constant", ConstantModel, overwrite=True)
register_dataset("test-crystals", tiny_crystal_dataset, overwrite=True)
