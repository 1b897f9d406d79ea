"""cft-pyg: exactly space-group-invariant Fourier encodings and the Crystal Fourier Transformer
for PyTorch Geometric.

Map of the library (data flows one way, a lower layer never imports a higher one):

* :mod:`cft_pyg.symmetry` -- the exact math: :class:`SpaceGroup` (230 numbers, 530 Hall
  settings), closed frequency sets, :func:`constraint_graph` (the dual constraint graph as a
  PyG ``Data``; orbits are its connected components, inconsistent orbits the systematic
  absences), :class:`SymmetryAdaptedBasis`, the disk cache :func:`load_bases`, the affine
  normalizer, orbit distances.
* :mod:`cft_pyg.data` -- structures in, standardized crystal ``Data`` out
  (:func:`~cft_pyg.data.from_structure`, :func:`~cft_pyg.data.from_cif`), the periodic
  neighbour graph, datasets (MP-20, Perov-5, Carbon-24, CGCNN's CIF folders, synthetic
  crystals of all 230 groups) and splits (random, space-group hold-out, few-shot).
* :mod:`cft_pyg.nn` -- :class:`~cft_pyg.nn.SymmetryAdaptedFourierEncoding` (one layer for all
  230 groups), :class:`~cft_pyg.nn.CrystalFourierTransformer`, CGCNN, a plain-PE Transformer,
  an ALIGNN adapter, element descriptors, orbit-distance pretraining.
* :mod:`cft_pyg.training` -- the Lightning engine (config, fit, evaluate, predict, model and
  dataset registry, pretraining files).
* :mod:`cft_pyg.demo`, :mod:`cft_pyg.viz`, :mod:`cft_pyg.cli` -- the demo (``cft-pyg demo``),
  figures, and the ``cft-pyg`` command.  The studies behind the published figures are not part
  of the package: they live beside it in the source checkout (``studies/``).
* :mod:`cft_pyg.testing` -- reusable invariance checkers; :mod:`cft_pyg.home` -- the cache root.

The symmetry core is importable from the top level (``cft_pyg.SpaceGroup`` ...); it is loaded
on first use, so ``import cft_pyg`` (and ``cft-pyg --help``) stays fast.

**How to cite.** cft-pyg implements the Crystal Fourier Transformer of arXiv:2512.13989 (ICLR
2026, https://arxiv.org/abs/2512.13989); if you use it, cite that paper (title and authors as on
its arXiv page) and this library with its version (``cft_pyg.__version__``); the README gives a
BibTeX entry.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_FROM_SYMMETRY = (
    "FrequencySet",
    "SpaceGroup",
    "SymmetryAdaptedBasis",
    "ball_frequencies",
    "constraint_graph",
    "load_bases",
)

__all__ = [*_FROM_SYMMETRY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _FROM_SYMMETRY:
        value = getattr(importlib.import_module(".symmetry", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cft_pyg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_SYMMETRY})
