r"""A coordinate-free baseline: a set Transformer over the atoms' elements and Wyckoff
positions (the input of Wren / Wrenformer), and its composition-only floor.

Each atom :math:`i` of crystal :math:`b` (space group :math:`G_b`) becomes a token

.. math::

    t_i = A(Z_i) + W\big[(G_b, w_i)\big] + S\big[s_i\big],

with :math:`A` the element embedding from physical descriptors
(:class:`~cft_pyg.nn.elements.AtomEmbedding`), :math:`W` a learned embedding of the pair
(space group, Wyckoff letter :math:`w_i`) and :math:`S` one of the order :math:`s_i` of the
site-symmetry group (which carries over between groups).  Self-attention layers mix the
tokens of a crystal, a mean over its atoms and an embedding of :math:`G_b` make the crystal
feature, an MLP the prediction.  No distance, cell or free coordinate enters: two candidates
on the same Wyckoff positions of the same group are the same input, whatever their cell.

``inputs='composition'`` drops :math:`W`, :math:`S` and the group embedding: the model then
sees only the multiset of elements, and its prediction depends only on the composition
(mean pooling of attention outputs is unchanged by repeating the whole multiset), so it
cannot rank the candidates of a composition: the floor of a screen.

The Wyckoff letters come from ``data.wyckoff`` / ``data.site_order`` when a crystal carries
them (:class:`~cft_pyg.data.wyckoff.AddWyckoff`, computed once per crystal) and are
computed from the standardized crystal (:func:`~cft_pyg.data.wyckoff.wyckoff_sites`, spglib)
otherwise, which gives the same values and costs about a millisecond per crystal.

Exact invariances: permutations of the atoms (a set model); the space group's operations
and every change of the cell's description (the input holds no coordinates).  Letters are
those of the library's canonical setting, so origin choices that swap Wyckoff letters
(``a`` and ``b`` of Fm-3m, say) are resolved by the standardization, not by augmentation as
in Wren.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_batch

from ..data.wyckoff import NUM_LETTERS, wyckoff_sites
from .elements import AtomEmbedding

__all__ = ["WyckoffTransformer"]

_MAX_SITE_ORDER = 48


class WyckoffTransformer(nn.Module):
    """Set Transformer over (element, Wyckoff position) tokens; see the module docs.

    Args:
        channels: token width.
        num_layers: self-attention layers.
        heads: attention heads.
        inputs: ``'wyckoff'`` (elements, Wyckoff positions and group) or ``'composition'``
            (elements only: the composition-only floor).
        dropout: dropout in the attention layers.
        out_channels: number of targets.

    Shapes:
        - input: a batch of crystals with ``z``, ``batch``, ``space_group`` and (for
          ``'wyckoff'``) ``wyckoff``/``site_order`` or the standardized ``frac_coords`` and
          ``cell``.
        - output: ``(num_graphs,)`` (``(num_graphs, out_channels)`` if ``out_channels > 1``).
    """

    def __init__(self, channels: int = 64, num_layers: int = 2, heads: int = 4,
                 inputs: Literal["wyckoff", "composition"] = "wyckoff", dropout: float = 0.0,
                 out_channels: int = 1) -> None:
        super().__init__()
        if inputs not in ("wyckoff", "composition"):
            raise ValueError(f"inputs must be 'wyckoff' or 'composition', got {inputs!r}")
        self.inputs = inputs
        self.channels = channels
        self.out_channels = out_channels
        self.atoms = AtomEmbedding(channels)
        if inputs == "wyckoff":
            self.letters = nn.Embedding(230 * NUM_LETTERS, channels)
            self.site_orders = nn.Embedding(_MAX_SITE_ORDER + 1, channels)
            self.groups = nn.Embedding(231, channels)
            for emb in (self.letters, self.site_orders, self.groups):
                nn.init.normal_(emb.weight, std=0.1)
        layer = nn.TransformerEncoderLayer(channels, heads, 2 * channels, dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(),
                                  nn.Linear(channels, out_channels))

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features`."""
        return self.channels

    def _sites(self, data: Data | Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if "wyckoff" in data and "site_order" in data:
            return data.wyckoff, data.site_order
        crystals = data.to_data_list() if isinstance(data, Batch) else [data]
        sites = [wyckoff_sites(c) for c in crystals]
        device = data.z.device
        return (torch.cat([s[0] for s in sites]).to(device),
                torch.cat([s[1] for s in sites]).to(device))

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, channels)`` features: mean of the mixed tokens (+ group)."""
        z = data.z
        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros_like(z)
        tokens = self.atoms(z)
        groups = data.space_group.reshape(-1).long()
        if self.inputs == "wyckoff":
            letters, orders = self._sites(data)
            tokens = tokens + self.letters((groups[batch] - 1) * NUM_LETTERS + letters) \
                + self.site_orders(orders.clamp(max=_MAX_SITE_ORDER))
        dense, mask = to_dense_batch(tokens, batch)
        mixed = self.encoder(dense, src_key_padding_mask=~mask)
        mixed = mixed * mask.unsqueeze(-1)
        pooled = mixed.sum(1) / mask.sum(1, keepdim=True).to(mixed.dtype)
        if self.inputs == "wyckoff":
            pooled = pooled + self.groups(groups)
        return pooled

    def forward(self, data: Data | Batch) -> torch.Tensor:
        out = self.head(self.crystal_features(data))
        return out.squeeze(-1) if self.out_channels == 1 else out
