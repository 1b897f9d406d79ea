"""Reproducible experiments of cft-pyg (each one a module with a command line).

* :mod:`cft_pyg.experiments.demo` - ``cft-pyg demo``: one CFT for all 230 groups on the
  synthetic dataset, random split and zero-shot.
* :mod:`cft_pyg.experiments.compare` - CFT (hybrid and pure Transformer) vs CGCNN vs ALIGNN on
  MP-20 (same split, same epoch budget, several seeds), and the zero-shot / few-shot study on
  the centrosymmetric groups; writes ``<out>/*.json`` and ``<out>/*.png``::

      python -m cft_pyg.experiments.compare --full --data-root ../shared/data/mp_20 --out results
      python -m cft_pyg.experiments.compare --quick --data-root DIR   # minutes, a smoke test
      python -m cft_pyg.experiments.compare --full --parts notebooks --notebooks notebooks

  Its parts: :mod:`~cft_pyg.experiments.settings`, :mod:`~cft_pyg.experiments.runner`,
  :mod:`~cft_pyg.experiments.statistics`, :mod:`~cft_pyg.experiments.figures`,
  :mod:`~cft_pyg.experiments.notebooks`.
* :mod:`cft_pyg.experiments.zero_shot` - the zero-shot protocol both share (held-out groups,
  GB-Gap).

The submodules are imported on first use (so ``python -m`` runs them without a warning).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["compare", "demo", "figures", "notebooks", "runner", "settings", "statistics",
           "zero_shot"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
