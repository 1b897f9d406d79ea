r"""CHGNet's pretrained representation as a backbone under the library's heads.

CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031, 2023) is a universal interatomic potential;
the ``chgnet`` package ships its weights, so it loads offline.  Install it with
``pip install -c constraints.txt "cft-pyg[chgnet]"``.

**What CHGNet saw.** The pretrained weights (``'0.3.0'``, the default) were fitted to
**MPtrj**, the Materials Project's relaxation trajectories (about 1.58 M structures of
146 k materials: energies, forces, stresses, magnetic moments).  MP-20's crystals are
Materials Project entries, so CHGNet has very likely seen the relaxed structures of the
MP-20 *test* crystals (and their neighbours in the trajectories) in pretraining: on MP-20 a
CHGNet backbone is not a clean held-out test.  Carbon-24 (AIRSS carbon structures at
10 GPa) is not Materials Project data and is a cleaner test.

:class:`CHGNetBackbone` converts each crystal with CHGNet's own graph construction
(:class:`chgnet.graph.CrystalGraphConverter`: atom graph within 6 Å, bond graph within 3 Å,
from the crystal's pymatgen structure, cached per crystal) and returns CHGNet's crystal
feature, the mean over atoms of the atom features after its last convolution (64 numbers,
``return_crystal_feas``).  It is invariant under rotations, translations and permutations
(CHGNet uses distances and angles only) and so under the crystal's space group.
:class:`CHGNetRegressor` is that backbone with a :class:`~cft_pyg.nn.heads.ScalarHead`,
frozen (registry name ``chgnet-frozen``) or fine-tuned (``chgnet``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from .heads import BackboneModel, ScalarHead
from .structures import CrystalCache

__all__ = ["CHGNetBackbone", "CHGNetRegressor", "PRETRAINING_DATA", "chgnet_available"]

PRETRAINING_DATA = ("MPtrj: the Materials Project's relaxation trajectories (about 1.58 M "
                    "structures of 146 k materials; energies, forces, stresses, magnetic "
                    "moments). MP-20's crystals are Materials Project entries: a CHGNet "
                    "backbone has very likely seen them in pretraining.")
"""What the pretrained CHGNet weights were fitted to (for model cards and result tables)."""

_EXTRA = 'pip install -c constraints.txt "cft-pyg[chgnet]"'


def chgnet_available() -> bool:
    """Whether the optional ``chgnet`` package imports."""
    try:
        import chgnet.model  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


class CHGNetBackbone(nn.Module):
    r"""CHGNet's 64-dimensional crystal features (pretrained weights shipped with ``chgnet``).

    .. math::

        f_b = \frac{1}{|b|} \sum_{i \in b} h_i^{(L)} \in \mathbb{R}^{64},

    :math:`h^{(L)}` the atom features after CHGNet's last atom convolution (its readout
    normalization, if any, applied).

    Args:
        pretrained: the shipped weights, ``'0.3.0'`` (MPtrj, default), ``'0.2.0'`` or
            ``'r2scan'``; ``None`` for a randomly initialized CHGNet (its architecture only).
        cache_size: converted crystals kept (0: convert every time).

    Shapes:
        - input: a batch of crystals with ``z``, ``pos`` and ``cell``.
        - output of :meth:`crystal_features`: ``(num_graphs, 64)``.

    Raises:
        ImportError: if the optional ``chgnet`` package is not installed.
    """

    def __init__(self, pretrained: Literal["0.3.0", "0.2.0", "r2scan"] | None = "0.3.0",
                 cache_size: int = 20000) -> None:
        super().__init__()
        try:
            from chgnet.model import CHGNet
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(f"cft_pyg.nn.CHGNetBackbone needs the optional `chgnet` "
                              f"package: {_EXTRA}") from err
        if pretrained is None:
            with contextlib.redirect_stdout(io.StringIO()):
                model = CHGNet()
        else:
            with contextlib.redirect_stdout(io.StringIO()):  # its "initialized with" line
                model = CHGNet.load(model_name=pretrained, use_device="cpu", verbose=False)
        self.pretrained = pretrained
        self.model = model
        converter = model.graph_converter
        self._graphs = CrystalCache(lambda s: converter(s, graph_id=""), cache_size)

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (CHGNet's atom feature width, 64)."""
        return int(self.model.model_args["atom_fea_dim"])

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, 64)`` CHGNet crystal features of the crystals of ``data``."""
        graphs = self._graphs(data)
        device = data.pos.device
        graphs = [g.to(device) for g in graphs] if device.type != "cpu" else graphs
        out = self.model(graphs, task="e", return_crystal_feas=True)["crystal_fea"]
        return out.reshape(len(graphs), -1)

    def energy_per_atom(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs,)`` CHGNet's own energy per atom (eV/atom, its composition model
        included), for read-out baselines."""
        graphs = self._graphs(data)
        return self.model(graphs, task="e")["e"].reshape(-1)

    def forward(self, data: Data | Batch) -> torch.Tensor:
        return self.crystal_features(data)


class CHGNetRegressor(BackboneModel):
    r"""A :class:`~cft_pyg.nn.heads.ScalarHead` on the pretrained :class:`CHGNetBackbone`.

    Args:
        freeze_backbone: keep CHGNet's weights fixed (features cached per crystal) and
            train the head only; otherwise fine-tune CHGNet with the head.
        head_hidden: hidden widths of the head's MLP.
        pretrained: the shipped CHGNet weights (:class:`CHGNetBackbone`).
        out_channels: number of outputs.
        cache_size: crystals whose graphs (and frozen features) are kept.

    Shapes:
        - input: a batch of crystals with ``z``, ``pos`` and ``cell``.
        - output: ``(num_graphs,)``.

    Raises:
        ImportError: if the optional ``chgnet`` package is not installed.
    """

    def __init__(self, freeze_backbone: bool = False, head_hidden: Sequence[int] = (64,),
                 pretrained: Literal["0.3.0", "0.2.0", "r2scan"] | None = "0.3.0",
                 out_channels: int = 1, cache_size: int = 20000) -> None:
        backbone = CHGNetBackbone(pretrained=pretrained, cache_size=cache_size)
        head = ScalarHead(backbone.feature_dim, tuple(head_hidden), out_channels)
        super().__init__(backbone, head, freeze_backbone=freeze_backbone,
                         feature_cache_size=cache_size)
        self.out_channels = out_channels

    @staticmethod
    def model_card() -> dict[str, Any]:
        """What the backbone was pretrained on (for cards and result tables)."""
        return {"backbone": "CHGNet 0.3.0 (chgnet package, weights shipped with it)",
                "pretraining_data": PRETRAINING_DATA,
                "saw_materials_project": True}
