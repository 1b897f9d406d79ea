r"""A tensor head for any backbone: Cartesian property tensors with exact crystal symmetry.

Given invariant per-crystal features :math:`f_b` (any :class:`~cft_pyg.nn.Backbone`), the
head predicts the tensor of crystal :math:`b` in three steps:

1. **coefficients in the standardized frame**: an MLP gives :math:`c_b \in \mathbb{R}^m` in
   the orthonormal basis :math:`E` (``(3**n, m)``) of tensors with the type's index
   symmetries, plus a learned mean :math:`\mu`: :math:`c_b = \mu + s\,\mathrm{MLP}(f_b)`
   (:math:`s` a fixed target scale);
2. **projection** onto the symmetry-allowed tensors of the crystal's point group in that
   frame, :math:`P_{G_b}` (:func:`cft_pyg.symmetry.tensors.invariant_projector` in the
   Cholesky frame of the default setting of ``space_group``, the frame of the standardized
   ``cell``; one projector per space-group number, metric-independent, computed exactly
   once): :math:`T^{\mathrm{std}}_b = E\,P_{G_b}\,c_b`;
3. **rotation into the input's frame** with the crystal's ``std_rotation``
   :math:`R_b` (``r_std = R r_in``; :mod:`cft_pyg.data.structure`):
   :math:`T^{\mathrm{in}}_b = (\det R_b)^{a}\,R_b^\top \cdot T^{\mathrm{std}}_b`, with
   :math:`R_b^\top` on every index; :math:`a = 1` for an axial tensor type, 0 for a polar
   one (dielectric, piezoelectric, elastic), so a mirrored input (``det R = -1``) flips the
   sign of an odd-rank polar tensor.

**Why it is exact.**  Neumann's principle: :math:`T^{\mathrm{std}}` lies in the invariant
subspace, so :math:`g\cdot T^{\mathrm{std}} = T^{\mathrm{std}}` for every operation of the
group, and in the input frame the operations are :math:`R^\top g R`.  Equivariance: the
standardized crystal (and so :math:`f_b`, :math:`c_b`) is the same for every description of
the crystal (rotations, reflections, permutations, supercells, settings); only :math:`R_b`
changes, as :math:`R_b Q^\top` for an input rotated by :math:`Q`, so
:math:`T^{\mathrm{in}} \mapsto Q\cdot T^{\mathrm{in}}`.  When two descriptions reach the same
standardized crystal through frames that differ by an operation of the group, the projection
makes the result the same.  Steps 2-3 run in float64.

``mode='raw'`` (a baseline, **not exact**, off by default): the MLP's components are
returned as the tensor itself, with no projection and no rotation: what a model without a
standardized frame does (invariant features cannot rotate with the input).

Example:
    >>> from cft_pyg.nn import CGCNN, TensorHead
    >>> backbone = CGCNN()
    >>> head = TensorHead(backbone.feature_dim, "elastic")
    >>> # tensor = head(backbone.crystal_features(batch), batch)   # (B, 3, 3, 3, 3)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from ..symmetry.space_group import SpaceGroup
from ..symmetry.tensors import TENSOR_TYPES, TensorType, invariant_projector
from .backbone import Backbone
from .heads import BackboneModel

__all__ = ["TensorHead", "TensorMode", "TensorModel", "group_projectors", "rotate_tensor_torch",
           "standardized_to_input", "input_to_standardized"]

TensorMode = Literal["symmetric", "raw"]


def group_projectors(tensor_type: TensorType) -> np.ndarray:
    """``(231, m, m)`` float64: row ``n`` is the projector of space group ``n`` (default
    setting, Cholesky frame) in the orthonormal symmetric coordinates of the type; row 0
    is the identity (unused)."""
    m = tensor_type.symmetric_dimension
    out = np.empty((231, m, m))
    out[0] = np.eye(m)
    for number in range(1, 231):
        out[number] = invariant_projector(tensor_type, SpaceGroup(number),
                                          coordinates="symmetric")
    return out


def rotate_tensor_torch(tensor: Tensor, rotation: Tensor, rank: int) -> Tensor:
    """``R`` on every index: ``tensor`` ``(B, 3, ..., 3)`` (``rank`` axes), ``rotation``
    ``(B, 3, 3)``; returns ``(B, 3, ..., 3)``."""
    out = tensor
    for axis in range(1, rank + 1):
        # contract index `axis` with R's second index, put the result back at `axis`
        out = torch.movedim(torch.einsum("bij,b...j->b...i", rotation,
                                         torch.movedim(out, axis, -1)), -1, axis)
    return out


def _frame_rotation(data: Data | Batch, num_graphs: int, dtype: torch.dtype) -> Tensor:
    R = getattr(data, "std_rotation", None)
    if R is None:
        raise ValueError("the crystals carry no std_rotation (the map from the input frame to "
                         "the standardized one): make them with cft_pyg.data.from_structure")
    return R.reshape(num_graphs, 3, 3).to(dtype)


def standardized_to_input(tensor: Tensor, rotation: Tensor, rank: int, *,
                          axial: bool = False) -> Tensor:
    """``(det R)^a R^T`` on every index: a tensor of the standardized frame in the input's."""
    out = rotate_tensor_torch(tensor, rotation.transpose(1, 2), rank)
    if axial:
        out = out * torch.linalg.det(rotation).reshape((-1,) + (1,) * rank)
    return out


def input_to_standardized(tensor: Tensor, rotation: Tensor, rank: int, *,
                          axial: bool = False) -> Tensor:
    """``(det R)^a R`` on every index: a tensor of the input frame in the standardized one."""
    out = rotate_tensor_torch(tensor, rotation, rank)
    if axial:
        out = out * torch.linalg.det(rotation).reshape((-1,) + (1,) * rank)
    return out


class TensorHead(nn.Module):
    r"""Invariant crystal features -> the Cartesian tensor of each crystal, in its input frame.

    Args:
        in_dim: feature width of the backbone (``backbone.feature_dim``).
        tensor_type: ``'dielectric'``, ``'piezoelectric'``, ``'elastic'`` or any
            :class:`~cft_pyg.symmetry.tensors.TensorType` (polar or axial).
        hidden: width of the MLP's hidden layers.
        num_layers: number of hidden layers (>= 0).
        mode: ``'symmetric'`` (default, exact) or ``'raw'`` (baseline, see the module).
        scale: target scale ``s`` (set from the training tensors' RMS norm,
            :meth:`set_normalization`).

    Shapes:
        ``forward(features (B, in_dim), data) -> (B, 3, ..., 3)`` (``rank`` axes), the
        features' dtype; ``data`` needs ``space_group`` and (``mode='symmetric'``)
        ``std_rotation``.
    """

    def __init__(self, in_dim: int, tensor_type: str | TensorType = "dielectric", *,
                 hidden: int = 128, num_layers: int = 1, mode: TensorMode = "symmetric",
                 scale: float = 1.0) -> None:
        super().__init__()
        if mode not in ("symmetric", "raw"):
            raise ValueError(f"mode must be 'symmetric' or 'raw', got {mode!r}")
        if isinstance(tensor_type, str):
            if tensor_type not in TENSOR_TYPES:
                raise ValueError(f"unknown tensor type {tensor_type!r}; one of "
                                 f"{sorted(TENSOR_TYPES)} or a TensorType")
            tensor_type = TENSOR_TYPES[tensor_type]
        self.tensor_type = tensor_type
        self.mode = mode
        m = tensor_type.symmetric_dimension
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, m))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("embedding", torch.from_numpy(tensor_type.symmetric_basis))
        projectors = group_projectors(tensor_type) if mode == "symmetric" else np.zeros((0,))
        self.register_buffer("projectors", torch.from_numpy(projectors), persistent=False)
        self.register_buffer("mean", torch.zeros(m, dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float64))

    @property
    def rank(self) -> int:
        return self.tensor_type.rank

    def set_normalization(self, mean_tensor: np.ndarray | Tensor, scale: float) -> None:
        """Set the mean tensor (of the standardized frame, full ``(3,)*n``; it is projected
        per group like every prediction) and the scale ``s`` of the MLP's output."""
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        mean = torch.as_tensor(np.asarray(mean_tensor, dtype=np.float64)).reshape(-1)
        self.mean.copy_(self.embedding.T @ mean.to(self.embedding.device))
        self.scale.fill_(float(scale))

    def coefficients(self, features: Tensor) -> Tensor:
        """``(B, m)`` float64 coordinates before the projection (symmetric basis)."""
        return self.mean + self.scale * self.mlp(features).to(torch.float64)

    def standardized(self, features: Tensor, data: Data | Batch) -> Tensor:
        """``(B, 3, ..., 3)`` float64 tensors in the standardized frame (projected)."""
        c = self.coefficients(features)
        groups = data.space_group.reshape(-1).long()
        if self.mode == "symmetric":
            c = torch.einsum("bij,bj->bi", self.projectors[groups], c)
        return (c @ self.embedding.T).reshape((-1,) + (3,) * self.rank)

    def forward(self, features: Tensor, data: Data | Batch) -> Tensor:
        tensor = self.standardized(features, data)
        if self.mode == "symmetric":
            R = _frame_rotation(data, tensor.shape[0], torch.float64)
            tensor = standardized_to_input(tensor, R, self.rank, axial=self.tensor_type.axial)
        return tensor.to(features.dtype)


class TensorModel(BackboneModel):
    """A backbone followed by a :class:`TensorHead`: ``forward(data) -> (B, 3, ..., 3)``.

    The backbone is anything of the :class:`~cft_pyg.nn.Backbone` interface (invariant
    per-crystal features): the CFT trunk, CGCNN, matgl's models, CHGNet's pretrained
    representation (:class:`~cft_pyg.nn.CHGNetBackbone`) or a user's module.  As in
    :class:`~cft_pyg.nn.heads.BackboneModel` (which this is, with a tensor head), a frozen
    backbone keeps its weights through training (no gradients, evaluation mode) and its
    features may be cached per crystal.  The exactness of the output (Neumann's principle,
    equivariance) comes from the head and holds for every such backbone.

    Args:
        backbone: any :class:`~cft_pyg.nn.Backbone` (``feature_dim``,
            ``crystal_features(data)``).
        tensor_type: as in :class:`TensorHead`.
        freeze_backbone: train the head only.
        feature_cache_size: crystals whose frozen features are kept (0: none; ignored when
            the backbone is trained).
        **head_kwargs: passed to :class:`TensorHead` (``hidden``, ``num_layers``, ``mode``).
    """

    def __init__(self, backbone: nn.Module, tensor_type: str | TensorType = "dielectric", *,
                 freeze_backbone: bool = False, feature_cache_size: int = 0,
                 **head_kwargs: Any) -> None:
        if not isinstance(backbone, Backbone):
            raise TypeError(f"{type(backbone).__name__} is not a Backbone (needs feature_dim "
                            "and crystal_features(data))")
        head = TensorHead(int(backbone.feature_dim), tensor_type, **head_kwargs)
        super().__init__(backbone, head, freeze_backbone=freeze_backbone,
                         feature_cache_size=feature_cache_size)

    def forward(self, data: Data | Batch) -> Tensor:
        return self.head(self.crystal_features(data), data)
