r"""Adapters around the ``matgl`` package's M3GNet, MEGNet and TensorNet property models.

matgl (Materials Graph Library, PyG back end since 2.0) builds its models from scratch here;
its pretrained weights come from a hub and are not used.  Install it with
``pip install -c constraints.txt "cft-pyg[matgl]"``.

Each adapter turns a cft-pyg batch into matgl's own inputs: every crystal is converted back
to a :class:`pymatgen.core.Structure` (:mod:`cft_pyg.nn.structures`) and through matgl's
converter :class:`matgl.ext.pymatgen.Structure2Graph` (all neighbours within the model's
``cutoff``, not the batch's 12-neighbour graph), the graphs are batched by PyG, and the
positions and periodic shifts are formed from the lattice exactly as matgl's
``ModelLightningModule.forward`` does (:math:`\mathbf r_i = \mathbf f_i L`, shift
:math:`= \mathbf n_e L`).  Converted graphs are cached per crystal.

What differs from matgl's own training loop (``matgl.utils.training.ModelLightningModule``):
the library's engine trains them (its target normalization, AdamW with warm-up and cosine
or time-budget schedule, its batch size and validation), not matgl's Adam with cosine decay
and its ``data_mean``/``data_std``; the element table is matgl's ``DEFAULT_ELEMENTS`` (89
elements) rather than the training set's element list; the state attributes are matgl's
converter defaults (zeros).

Each adapter is a backbone (:class:`cft_pyg.nn.Backbone`): ``crystal_features`` is matgl's
per-crystal read-out vector (before its final MLP), ``forward`` is matgl's own final MLP on it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from .structures import CrystalCache

__all__ = ["M3GNet", "MEGNet", "TensorNet", "matgl_available"]

_EXTRA = 'pip install -c constraints.txt "cft-pyg[matgl]"'


def matgl_available() -> bool:
    """Whether the optional ``matgl`` package imports."""
    try:
        import matgl.ext.pymatgen
        import matgl.models  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def _import_matgl() -> Any:
    try:
        import matgl.ext.pymatgen
        import matgl.models
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"the matgl models of cft_pyg.nn need the optional `matgl` package: "
                          f"{_EXTRA}") from err
    return matgl


def _first_linear(module: nn.Module) -> nn.Linear:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m
    raise TypeError(f"{type(module).__name__} has no linear layer")


class _MatGLAdapter(nn.Module):
    """Common part: matgl graphs of a cft-pyg batch, features and prediction."""

    matgl_class: str = ""

    def __init__(self, cache_size: int = 20000, **kwargs: Any) -> None:
        super().__init__()
        matgl = _import_matgl()
        if kwargs.get("ntargets", 1) != 1 or kwargs.get("is_intensive") is False:
            raise ValueError(f"{type(self).__name__} predicts one intensive value per crystal")
        cls = getattr(matgl.models, self.matgl_class)
        self.model = cls(**kwargs)
        self.cutoff = float(self.model.cutoff)
        converter = matgl.ext.pymatgen.Structure2Graph(
            element_types=tuple(self.model.element_types), cutoff=self.cutoff)
        self._elements = frozenset(self.model.element_types)

        def build(structure: Any) -> tuple[Data, torch.Tensor, torch.Tensor]:
            unknown = {s.symbol for s in structure.species} - self._elements
            if unknown:
                raise ValueError(f"{type(self).__name__}: elements {sorted(unknown)} are not "
                                 "in the model's element_types")
            g, lattice, state = converter.get_graph(structure)
            return g, lattice.reshape(3, 3), torch.as_tensor(state, dtype=torch.float32)

        self._graphs = CrystalCache(build, cache_size)

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (the input of matgl's final MLP)."""
        return _first_linear(self.head_module).in_features

    @property
    def head_module(self) -> nn.Module:
        """matgl's final MLP (the head of this backbone)."""
        return self.model.final_layer

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def matgl_inputs(self, data: Data | Batch) -> tuple[Batch, torch.Tensor]:
        """matgl's batched graph (with ``pos`` and ``pbc_offshift``) and state attributes
        ``(num_graphs, 2)`` of the crystals of ``data``."""
        items = self._graphs(data)
        dtype = _first_linear(self.head_module).weight.dtype
        device = data.pos.device
        g = Batch.from_data_list([item[0] for item in items]).to(device)
        lat = torch.stack([item[1] for item in items]).to(device=device, dtype=dtype)
        state = torch.stack([item[2] for item in items]).to(device=device, dtype=dtype)
        g.pos = torch.einsum("ni,nij->nj", g.frac_coords.to(dtype), lat[g.batch])
        g.pbc_offshift = torch.einsum("ei,eij->ej", g.pbc_offset.to(dtype),
                                      lat[g.batch[g.edge_index[0]]])
        return g, state

    def _run(self, data: Data | Batch) -> torch.Tensor:
        g, state = self.matgl_inputs(data)
        return self.model(g, state_attr=state)

    def _readout(self, data: Data | Batch) -> torch.Tensor:
        self._run(data)
        return self.model.feature_dict["readout"]

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, feature_dim)`` per-crystal read-out of matgl's model."""
        return self._readout(data).reshape(data.num_graphs, self.feature_dim)

    def forward(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs,)`` predictions (matgl's final MLP on :meth:`crystal_features`)."""
        return self.head_module(self.crystal_features(data)).reshape(-1)


class M3GNet(_MatGLAdapter):
    r"""matgl's M3GNet (Chen & Ong, Nat. Comput. Sci. 2, 718, 2022) as a property model.

    Three-body interactions (bond angles within ``threebody_cutoff``) feed graph
    convolutions on all neighbours within ``cutoff``; an intensive weighted-atom read-out
    and an MLP give one value per crystal.  Defaults are matgl's (3 blocks, width 64,
    about 0.28 M parameters).

    Args:
        cache_size: converted crystals kept (0: convert every time).
        **kwargs: arguments of :class:`matgl.models.M3GNet` (``nblocks``, ``units``,
            ``cutoff``, ``threebody_cutoff``, ...); ``is_intensive`` stays ``True``.

    Shapes:
        - input: a batch of crystals with ``z``, ``pos`` and ``cell``.
        - output: ``(num_graphs,)``.

    Raises:
        ImportError: if the optional ``matgl`` package is not installed.
    """

    matgl_class = "M3GNet"

    def __init__(self, cache_size: int = 20000, **kwargs: Any) -> None:
        super().__init__(cache_size, **{"is_intensive": True, **kwargs})


class MEGNet(_MatGLAdapter):
    r"""matgl's MEGNet (Chen et al., Chem. Mater. 31, 3564, 2019) as a property model.

    Graph networks updating atoms, bonds and a global state (bonds within ``cutoff``,
    Gaussian-expanded), Set2Set read-outs of atoms and bonds concatenated with the state,
    then an MLP.  Defaults are matgl's (3 blocks, about 0.19 M parameters).

    Args:
        cache_size: converted crystals kept (0: convert every time).
        **kwargs: arguments of :class:`matgl.models.MEGNet`.

    Shapes:
        - input: a batch of crystals with ``z``, ``pos`` and ``cell``.
        - output: ``(num_graphs,)``.

    Raises:
        ImportError: if the optional ``matgl`` package is not installed.
    """

    matgl_class = "MEGNet"

    @property
    def head_module(self) -> nn.Module:
        """matgl's output MLP (the head of this backbone)."""
        return self.model.output_proj


class TensorNet(_MatGLAdapter):
    r"""matgl's TensorNet (Simeon & De Fabritiis, NeurIPS 2023) as a property model.

    O(3)-equivariant Cartesian-tensor message passing (irreducible scalar, vector and
    traceless-symmetric parts of per-atom tensors) within ``cutoff``; invariant per-atom
    scalars, an intensive weighted-atom read-out and an MLP give one value per crystal.
    Defaults are matgl's (2 layers, width 64, about 0.22 M parameters).

    Args:
        cache_size: converted crystals kept (0: convert every time).
        **kwargs: arguments of :class:`matgl.models.TensorNet`; ``is_intensive`` stays
            ``True``.

    Shapes:
        - input: a batch of crystals with ``z``, ``pos`` and ``cell``.
        - output: ``(num_graphs,)``.

    Raises:
        ImportError: if the optional ``matgl`` package is not installed.
    """

    matgl_class = "TensorNet"

    def __init__(self, cache_size: int = 20000, **kwargs: Any) -> None:
        super().__init__(cache_size, **{"is_intensive": True, **kwargs})

    def _readout(self, data: Data | Batch) -> torch.Tensor:
        g, state = self.matgl_inputs(data)
        atoms = self.model.forward_features(g=g, state_attr=state)["readout"]
        return self.model.readout(atoms, g.batch)
