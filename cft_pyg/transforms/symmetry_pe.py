""":class:`AddSymmetryAdaptedPE`: the symmetry-adapted Fourier encoding as node features."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch_geometric.data import Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform
from torch_geometric.transforms.add_positional_encoding import add_node_attr

from ..data.featurization import Featurization
from ..nn.encoding import SymmetryAdaptedFourierEncoding
from ..symmetry.frequencies import DEFAULT_CUTOFF
from .standardize import StandardizeCrystal

__all__ = ["AddSymmetryAdaptedPE"]


@functional_transform("add_symmetry_adapted_pe")
class AddSymmetryAdaptedPE(BaseTransform):
    r"""Add the symmetry-adapted Fourier encoding of every atom as a node feature
    (functional name: :obj:`add_symmetry_adapted_pe`; after PyG's ``AddRandomWalkPE``).

    .. math::

        \mathrm{pe}_a = P_{G}\, v(x_a), \qquad v_k(x) = e^{2\pi i k\cdot x},\ |k| \le R,

    the projection onto the space-group invariant subspace
    (:class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding`), so ``pe`` is the same for every
    atom of an orbit and for every description of the crystal: exactly invariant under the
    operations of ``SpaceGroup(space_group)``.

    The crystal must be standardized (``frac_coords`` in the setting of
    ``SpaceGroup(space_group)``, as every ``Data`` of :mod:`cft_pyg.data`); a ``Data`` in the
    common conventions only (``pos``, ``cell``, ``atomic_numbers``) is standardized first
    with :class:`StandardizeCrystal` when ``standardize=True`` (the default), else refused.

    Args:
        cutoff: frequency-ball radius ``R`` (default 5: 514 slots).
        output: ``'orbit'`` (``S`` real orthonormal functions, zero-padded) or
            ``'frequency'`` (``2 S`` interleaved real and imaginary parts).
        attr_name: the node attribute to write (default ``'symmetry_pe'``); ``None``
            concatenates the encoding to ``data.x``, as PyG's positional encodings do.
        standardize: standardize an unstandardized ``Data`` first (see above).
        dtype: dtype of the features (the encoding is computed in float64, then cast).
        featurization: options of that standardization (its ``cutoff`` is not used:
            ``cutoff`` here decides).
        **options: changes to ``featurization`` by name.

    Shapes:
        adds ``(n_atoms, S)`` (``'orbit'``) or ``(n_atoms, 2 S)`` (``'frequency'``).
    """

    def __init__(self, cutoff: float = DEFAULT_CUTOFF,
                 output: Literal["orbit", "frequency"] = "orbit",
                 attr_name: str | None = "symmetry_pe", *, standardize: bool = True,
                 dtype: torch.dtype = torch.float32,
                 featurization: Featurization | None = None, **options: Any) -> None:
        if output not in ("orbit", "frequency"):
            raise ValueError(f"output must be 'orbit' or 'frequency', got {output!r}")
        self.cutoff = float(cutoff)
        self.output = output
        self.attr_name = attr_name
        self.dtype = dtype
        self.standardizer = (StandardizeCrystal(featurization, **options) if standardize
                             else None)
        self._encoding: SymmetryAdaptedFourierEncoding | None = None

    @property
    def encoding(self) -> SymmetryAdaptedFourierEncoding:
        """The encoding layer (built on first use: its tables load from the disk cache)."""
        if self._encoding is None:
            self._encoding = SymmetryAdaptedFourierEncoding(self.cutoff, self.output)
        return self._encoding

    def __getstate__(self) -> dict[str, Any]:  # loader workers rebuild the layer lazily
        state = dict(self.__dict__)
        state["_encoding"] = None
        return state

    def forward(self, data: Data) -> Data:
        standardized = getattr(data, "frac_coords", None) is not None \
            and getattr(data, "space_group", None) is not None
        if not standardized:
            if self.standardizer is None:
                raise ValueError("AddSymmetryAdaptedPE needs a standardized crystal "
                                 "(frac_coords, space_group): apply StandardizeCrystal first "
                                 "or pass standardize=True")
            data = self.standardizer(data)
        frac = data.frac_coords.double()
        groups = data.space_group.reshape(-1)
        if groups.numel() == 1:
            groups = groups.expand(frac.shape[0])
        elif groups.numel() != frac.shape[0]:
            raise ValueError("AddSymmetryAdaptedPE works on one crystal at a time "
                             f"(space_group has {groups.numel()} entries)")
        with torch.no_grad():
            pe = self.encoding(frac, groups).to(self.dtype)
        return add_node_attr(data, pe, attr_name=self.attr_name)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(cutoff={self.cutoff}, output={self.output!r}, "
                f"attr_name={self.attr_name!r})")
