"""PyG transforms (``BaseTransform``, ``@functional_transform``): crystals given as PyG ``Data``
in the common conventions, standardized and given the symmetry-adapted encoding.

* :class:`StandardizeCrystal` (``standardize_crystal``): ``Data`` with ``pos`` (Å),
  ``cell`` ``(1, 3, 3)`` and ``atomic_numbers`` or ``z`` (fairchem's ``AtomsToGraphs``,
  PyG's ``QM9``-style ``z``) -> the standardized crystal of
  :func:`~cft_pyg.data.from_structure`;
* :class:`AddSymmetryAdaptedPE` (``add_symmetry_adapted_pe``): the exactly space-group
  invariant Fourier encoding of every atom as a node feature, after PyG's
  ``AddRandomWalkPE``.

Both work as ``pre_transform`` (once, cached by the dataset) or ``transform`` (every read) of
any PyG dataset.  Layer: above :mod:`cft_pyg.nn` (the encoding), below
:mod:`cft_pyg.training`.
"""

from .standardize import StandardizeCrystal
from .symmetry_pe import AddSymmetryAdaptedPE

__all__ = ["AddSymmetryAdaptedPE", "StandardizeCrystal"]
