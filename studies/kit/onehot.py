r"""The published code's space-group one-hot, for the study that measures what it costs.

The library's :class:`~cft_pyg.nn.PublishedCFT` leaves it out (difference 2 of
:mod:`cft_pyg.nn.published`: a group never seen in training would get an untrained
embedding).  Here the first layer of each encoder branch also reads the one-hot of the space
group, as the published code does: :math:`W[x; e_G] = W_x x + E_G`, a learned row
:math:`E_G` per group, initialized like the one-hot columns of a :class:`torch.nn.Linear`
with that fan-in.  The model stays invariant (the group is a property of the crystal); the
row of a group absent from training stays at its initialization.

Registered as ``cft-published-onehot`` when the kit's catalog is imported.
"""

from __future__ import annotations

import torch
from torch import nn

from cft_pyg.nn.published import PublishedCFT, PublishedPositionalEncoding
from cft_pyg.symmetry.space_group import NUM_SPACE_GROUPS
from cft_pyg.training.registry import available_models, register_model

__all__ = ["GroupOneHotEncoding", "PublishedCFTGroupOneHot", "register"]

NAME = "cft-published-onehot"


def _group_rows(out_features: int, fan_in: int) -> nn.Embedding:
    r"""A learned row per space group: the one-hot columns of a first layer with ``fan_in``
    inputs, initialized like :class:`torch.nn.Linear` (uniform in
    :math:`\pm 1/\sqrt{fan_{in}}`)."""
    rows = nn.Embedding(NUM_SPACE_GROUPS, out_features)
    bound = 1.0 / fan_in ** 0.5
    nn.init.uniform_(rows.weight, -bound, bound)
    return rows


class GroupOneHotEncoding(PublishedPositionalEncoding):
    """:class:`~cft_pyg.nn.published.PublishedPositionalEncoding` whose first layers also read
    the space-group one-hot (``group_pos``: ``(230, initial_dim)``, ``group_lat``:
    ``(230, hidden)``)."""

    def __init__(self, channels: int, encoding: nn.Module | None, **kwargs) -> None:
        super().__init__(channels, encoding, **kwargs)
        self.group_pos = self.group_lat = None
        if self.first is not None:
            dim = int(encoding.out_dim)
            self.group_pos = _group_rows(self.pos_mlp[1].in_features, dim + NUM_SPACE_GROUPS)
        if self.lat_mlp is not None:
            self.group_lat = _group_rows(self.lat_mlp[0].out_features,
                                         self.lattice.num_features + NUM_SPACE_GROUPS)

    def first_position_layer(self, frac_coords: torch.Tensor, space_group: torch.Tensor
                             ) -> torch.Tensor:
        return super().first_position_layer(frac_coords, space_group) + self.group_pos(
            space_group - 1)

    def first_lattice_layer(self, cell: torch.Tensor, natoms: torch.Tensor,
                            group: torch.Tensor) -> torch.Tensor:
        return super().first_lattice_layer(cell, natoms, group) + self.group_lat(group - 1)


class PublishedCFTGroupOneHot(PublishedCFT):
    """:class:`~cft_pyg.nn.PublishedCFT` with the published code's group one-hot
    (:class:`GroupOneHotEncoding`); same arguments."""

    def _positional_module(self, channels: int, encoding: nn.Module | None,
                           lattice: bool | str, normalize: bool,
                           family_inputs: bool) -> nn.Module:
        hidden, initial, blocks = self._encoder_sizes
        return GroupOneHotEncoding(channels, encoding, lattice=lattice, normalize=normalize,
                                   family_inputs=family_inputs, hidden=hidden,
                                   initial_dim=initial, num_blocks=blocks)


def register() -> None:
    """Register :class:`PublishedCFTGroupOneHot` as ``cft-published-onehot`` (once)."""
    if NAME not in available_models():
        register_model(NAME, PublishedCFTGroupOneHot)
