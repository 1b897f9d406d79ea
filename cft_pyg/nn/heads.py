r"""Heads on backbone features, and a model made of a backbone and a head.

A model of the library is a backbone (:class:`cft_pyg.nn.Backbone`: crystal
:math:`\mapsto f \in \mathbb{R}^D`, invariant) followed by a head.  :class:`ScalarHead` is
the scalar read-out, an MLP :math:`\mathbb{R}^D \to \mathbb{R}`; the output transforms of a
scalar target (the training split's standardization :math:`y = \sigma \hat y + \mu` and,
for a non-negative target, a softplus) are applied by the engine
(:class:`cft_pyg.training.TrainModule`) to whatever the model returns, so any head gets
them.  :class:`BackboneModel` puts a head on any backbone, trained with it or on a frozen
backbone (the backbone's weights are then left unchanged by training, its features may be
cached per crystal).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from .backbone import Backbone
from .structures import crystal_key, crystals_of

__all__ = ["BackboneModel", "ScalarHead"]


class ScalarHead(nn.Module):
    r"""MLP read-out of crystal features: :math:`\hat y = W_L \sigma(\dots \sigma(W_1 f
    + b_1) \dots) + b_L`, one value per crystal.

    Args:
        in_features: :math:`D`, the backbone's ``feature_dim``.
        hidden: widths of the hidden layers (empty: a linear read-out).
        out_channels: number of outputs.
        normalize_input: layer-normalize the features first (useful on a frozen backbone
            whose features have arbitrary scales).

    Shapes:
        - input: ``(num_graphs, in_features)``.
        - output: ``(num_graphs,)`` (``(num_graphs, out_channels)`` if ``out_channels > 1``).
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (64,), out_channels: int = 1,
                 normalize_input: bool = True) -> None:
        super().__init__()
        if in_features < 1 or out_channels < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"widths must be positive, got in_features={in_features}, "
                             f"hidden={list(hidden)}, out_channels={out_channels}")
        self.out_channels = out_channels
        layers: list[nn.Module] = [nn.LayerNorm(in_features)] if normalize_input else []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, out_channels))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.mlp(features)
        return out.reshape(-1) if self.out_channels == 1 else out


class BackboneModel(nn.Module):
    r"""A head on a backbone: :math:`\hat y_b = \mathrm{head}(\mathrm{backbone}(b))`.

    With ``freeze_backbone`` the backbone's parameters do not require gradients, it stays in
    evaluation mode (no dropout, no batch-norm statistics updated) whatever ``train()`` is
    called with, its features are computed without autograd, and, with
    ``feature_cache_size > 0``, kept per crystal (keyed by its atomic numbers, positions and
    cell), so that an epoch after the first costs the head only.

    Args:
        backbone: a :class:`~cft_pyg.nn.Backbone`.
        head: a module on ``(num_graphs, backbone.feature_dim)`` features.
        freeze_backbone: train the head only.
        feature_cache_size: crystals whose frozen features are kept (0: none; ignored
            when the backbone is trained).

    Shapes:
        - input: a batch of crystals.
        - output: what ``head`` returns, ``(num_graphs,)`` for a scalar head.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, freeze_backbone: bool = False,
                 feature_cache_size: int = 0) -> None:
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"{type(backbone).__name__} is not a backbone (it needs "
                            "feature_dim and crystal_features(data))")
        if feature_cache_size < 0:
            raise ValueError(f"feature_cache_size must be >= 0, got {feature_cache_size}")
        self.backbone = backbone
        self.head = head
        self.freeze_backbone = bool(freeze_backbone)
        self.feature_cache_size = int(feature_cache_size) if freeze_backbone else 0
        self._features: OrderedDict[str, torch.Tensor] = OrderedDict()
        if self.freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (the backbone's)."""
        return int(self.backbone.feature_dim)

    def train(self, mode: bool = True) -> BackboneModel:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, feature_dim)`` features of the backbone (cached when frozen)."""
        if not self.freeze_backbone:
            return self.backbone.crystal_features(data)
        if not self.feature_cache_size:
            with torch.no_grad():
                return self.backbone.crystal_features(data)
        return self._cached_features(data)

    def _cached_features(self, data: Data | Batch) -> torch.Tensor:
        keys = [crystal_key(*c) for c in crystals_of(data)]
        items = data.to_data_list() if isinstance(data, Batch) else [data]
        missing = [i for i, k in enumerate(keys) if k not in self._features]
        if missing:
            sub = Batch.from_data_list([items[i] for i in missing])
            with torch.no_grad():
                computed = self.backbone.crystal_features(sub)
            for i, f in zip(missing, computed):
                self._features[keys[i]] = f.detach()
                if len(self._features) > self.feature_cache_size:
                    self._features.popitem(last=False)
        out = []
        for i, k in enumerate(keys):
            if k in self._features:
                self._features.move_to_end(k)
                out.append(self._features[k])
            else:  # evicted within this batch (cache smaller than the batch)
                with torch.no_grad():
                    out.append(self.backbone.crystal_features(
                        Batch.from_data_list([items[i]]))[0])
        return torch.stack(out)

    def __deepcopy__(self, memo: dict) -> BackboneModel:
        # the feature cache is a convenience, not state: copies share it
        import copy

        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            setattr(new, key, value if key == "_features" else copy.deepcopy(value, memo))
        return new

    def forward(self, data: Data | Batch) -> torch.Tensor:
        return self.head(self.crystal_features(data))
