r"""An E(3)-equivariant baseline with a Cartesian-tensor output (e3nn), as MatTen and GMTNet use.

A small NequIP-style network: atoms embedded as scalars; ``num_layers`` interaction
layers, each a tensor product of neighbour features with the spherical harmonics of the
edge vector (weights from a radial MLP of the edge length), averaged over neighbours and
passed through a gated nonlinearity; a per-atom linear map to the irreps of the Cartesian
tensor type (:class:`e3nn.io.CartesianTensor`: ``ij=ji``, ``ijk=ikj``, ``ijkl=jikl=klij``),
mean-pooled over the crystal and converted to the full Cartesian tensor.  The edge vectors
are those of the **input's frame** (the standardized ones turned back by ``std_rotation``),
so the output is equivariant through the network's own O(3) equivariance (irreps with
parity: improper operations included); it is **not** projected onto the crystal's point
group, so Neumann's principle holds only as far as the network's equivariance and the
crystal's own symmetry of the neighbour graph carry it (exactly, up to float rounding, for
a graph with the crystal's symmetry).

Needs the optional dependency ``e3nn`` (``pip install cft-pyg[e3nn]``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

__all__ = ["E3nnTensorModel", "CARTESIAN_FORMULAS"]

CARTESIAN_FORMULAS = {"dielectric": "ij=ji", "piezoelectric": "ijk=ikj",
                      "elastic": "ijkl=jikl=klij"}
"""Index symmetries of the three tensor types in e3nn's notation."""


class E3nnTensorModel(nn.Module):
    """E(3)-equivariant network with a Cartesian tensor output (baseline).

    Args:
        tensor_type: ``'dielectric'``, ``'piezoelectric'`` or ``'elastic'``.
        mul: multiplicity of each irrep in the hidden features.
        lmax: largest degree of the spherical harmonics and hidden irreps (default: the
            tensor's rank).
        num_layers: interaction layers.
        radius: cutoff of the radial basis (Å).
        num_basis: Gaussian radial functions.
        scale: output scale (set from the training tensors).

    Shapes:
        ``forward(data) -> (B, 3, ..., 3)`` in each crystal's input frame.
    """

    def __init__(self, tensor_type: str = "elastic", *, mul: int = 8, lmax: int | None = None,
                 num_layers: int = 2, radius: float = 8.0, num_basis: int = 16,
                 scale: float = 1.0) -> None:
        super().__init__()
        try:
            from e3nn import o3
            from e3nn.io import CartesianTensor
            from e3nn.nn import Gate
        except ImportError as err:  # pragma: no cover - optional dependency
            raise ImportError("the e3nn baseline needs e3nn: pip install cft-pyg[e3nn]") from err
        if tensor_type not in CARTESIAN_FORMULAS:
            raise ValueError(f"tensor_type must be one of {sorted(CARTESIAN_FORMULAS)}, got "
                             f"{tensor_type!r}")
        self.tensor_type = tensor_type
        self.cartesian = CartesianTensor(CARTESIAN_FORMULAS[tensor_type])
        self.rank = len(CARTESIAN_FORMULAS[tensor_type].split("=")[0])
        lmax = self.rank if lmax is None else lmax
        self.radius, self.num_basis = float(radius), int(num_basis)
        self.sh_irreps = o3.Irreps.spherical_harmonics(lmax, p=-1)
        self.embed = nn.Embedding(120, mul)
        irreps_in = o3.Irreps(f"{mul}x0e")
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            gated = o3.Irreps([(mul, (l, p)) for l in range(1, lmax + 1) for p in (1, -1)])
            scalars = o3.Irreps(f"{mul}x0e+{mul}x0o")
            gate = Gate(scalars, [torch.nn.functional.silu, torch.tanh],
                        o3.Irreps(f"{gated.num_irreps}x0e"), [torch.sigmoid], gated)
            tp = o3.FullyConnectedTensorProduct(irreps_in, self.sh_irreps, gate.irreps_in,
                                                shared_weights=False)
            radial = nn.Sequential(nn.Linear(num_basis, 64), nn.SiLU(),
                                   nn.Linear(64, tp.weight_numel))
            self.layers.append(nn.ModuleDict({"tp": tp, "radial": radial, "gate": gate}))
            irreps_in = gate.irreps_out
        self.readout = o3.Linear(irreps_in, self.cartesian)
        self.register_buffer("scale", torch.tensor(float(scale)))
        self._sh = o3.SphericalHarmonics(self.sh_irreps, normalize=True,
                                         normalization="component")

    def set_scale(self, scale: float) -> None:
        """Set the output scale (e.g. the training tensors' RMS coefficient)."""
        self.scale.fill_(float(scale))

    def edge_vectors(self, data: Data | Batch) -> Tensor:
        """``(E, 3)`` edge vectors ``r_j + offset - r_i`` in each crystal's input frame."""
        src, dst = data.edge_index
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(
            data.num_nodes, dtype=torch.long, device=data.z.device)
        cell = data.cell.reshape(-1, 3, 3)[batch[dst]]
        vec = data.pos[src] + torch.einsum("ek,ekl->el", data.cell_offsets.to(cell.dtype),
                                           cell) - data.pos[dst]
        R = data.std_rotation.reshape(-1, 3, 3).to(vec.dtype)[batch[dst]]
        return torch.einsum("eji,ej->ei", R, vec)  # R^T: standardized -> input frame

    def forward(self, data: Data | Batch) -> Tensor:
        src, dst = data.edge_index
        vec = self.edge_vectors(data)
        length = vec.norm(dim=1)
        centres = torch.linspace(0.0, self.radius, self.num_basis, device=vec.device)
        width = self.radius / self.num_basis
        rbf = torch.exp(-((length[:, None] - centres) / width) ** 2)
        rbf = rbf * (0.5 * (torch.cos(torch.pi * length / self.radius) + 1.0)
                     * (length < self.radius))[:, None]
        sh = self._sh(vec)
        x = self.embed(data.z)
        for layer in self.layers:
            messages = layer["tp"](x[src], sh, layer["radial"](rbf))
            out = layer["gate"](scatter(messages, dst, dim=0, dim_size=x.shape[0],
                                        reduce="mean"))
            x = out + x if out.shape == x.shape else out
        node = self.readout(x)
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(
            data.num_nodes, dtype=torch.long, device=node.device)
        pooled = scatter(node, batch, dim=0, reduce="mean")
        return self.scale * self.cartesian.to_cartesian(pooled)
