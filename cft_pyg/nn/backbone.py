r"""The backbone interface: a module that maps a batch of crystals to invariant features.

Every model of :mod:`cft_pyg.training.registry` is a *backbone* followed by a *head*:

.. math::

    y_b = \mathrm{head}\big(f_b\big), \qquad f_b = \mathrm{backbone}(\text{crystal } b)
    \in \mathbb{R}^{D},

where :math:`f_b` is invariant under the crystal's space group, permutations of its atoms and
the description of its cell (whatever invariance the backbone guarantees; the library's
trunk and CGCNN are exactly invariant).  A head is any module on ``(num_graphs, D)``
features: the scalar read-out of each model, or a tensor head
(:mod:`cft_pyg.nn.tensor_head`, where present).

A backbone is any :class:`torch.nn.Module` with

- ``feature_dim: int``, the width :math:`D`;
- ``crystal_features(data) -> Tensor`` of shape ``(num_graphs, feature_dim)``.

This is a structural :class:`~typing.Protocol`: a user's own module qualifies without
inheriting anything, and ``isinstance(module, Backbone)`` checks it.

Example:
    >>> from cft_pyg.nn import CGCNN, Backbone
    >>> model = CGCNN()
    >>> isinstance(model, Backbone), model.feature_dim
    (True, 128)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch_geometric.data import Batch, Data

__all__ = ["Backbone"]


@runtime_checkable
class Backbone(Protocol):
    """A module that maps a batch of crystals to invariant per-crystal features.

    Attributes:
        feature_dim: width :math:`D` of the features.
    """

    feature_dim: int

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, feature_dim)`` invariant features of each crystal of ``data``."""
        ...
