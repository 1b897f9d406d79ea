"""Reproducible experiments of cft-pyg (each one a module with a command line).

* :mod:`cft_pyg.experiments.compare` - CFT (hybrid and pure Transformer) vs CGCNN vs ALIGNN on
  MP-20 (same split, same epoch budget, several seeds), and the zero-shot / few-shot study on
  the centrosymmetric groups; writes ``results/*.json`` and ``results/*.png``::

      python -m cft_pyg.experiments.compare --full     # README numbers + all notebooks
      python -m cft_pyg.experiments.compare --quick    # minutes, for a smoke test
      python -m cft_pyg.experiments.compare --full --parts notebooks  # notebooks only

The submodules are imported on first use (so ``python -m`` runs them without a warning).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["compare"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
