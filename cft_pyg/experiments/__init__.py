"""The studies of cft-pyg and the kit they share.

**The kit** (every study uses it the same way; no kit module imports a study):

* :mod:`~cft_pyg.experiments.catalog` - every compared model (registered name, size, label,
  cost, studies) and every target (dataset, column, unit, label), one entry each;
* :mod:`~cft_pyg.experiments.data` - the one cached loader of the project splits;
* :mod:`~cft_pyg.experiments.trainer` - the one trainer (the engine's ``fit``, for epochs or
  a :class:`~cft_pyg.training.TimeBudget`) and the shared encoding pretraining;
* :mod:`~cft_pyg.experiments.jobs` - the one job pool and the append-only run log;
* :mod:`~cft_pyg.experiments.study` - base settings, run/resume/summarize, and the command
  line generated from a study's settings;
* :mod:`~cft_pyg.experiments.equal_epochs` - the equal-epochs protocol of the variant studies
  (settings, jobs, summary);
* :mod:`~cft_pyg.experiments.statistics`, :mod:`~cft_pyg.experiments.claims` (claims as
  data, judged from runs), :mod:`~cft_pyg.experiments.zero_shot` (the protocol, GB-Gap),
  :mod:`~cft_pyg.experiments.composition` (the composition-only floor),
  :mod:`~cft_pyg.experiments.figures`, :mod:`~cft_pyg.experiments.report` (README and
  ``docs/results.md`` tables from the JSON), :mod:`~cft_pyg.experiments.notebooks`.

**The studies** (thin modules that never import each other; each
``python -m cft_pyg.experiments.<study> --help``): :mod:`~cft_pyg.experiments.demo`
(``cft-pyg demo``), :mod:`~cft_pyg.experiments.compare`, :mod:`~cft_pyg.experiments.ablation`,
:mod:`~cft_pyg.experiments.published` (the paper's claims in its own architecture),
:mod:`~cft_pyg.experiments.curves`, :mod:`~cft_pyg.experiments.transfer`.

Submodules are imported on first use (so ``python -m`` runs them without a warning).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ablation", "catalog", "claims", "compare", "composition", "curves", "data", "demo",
           "equal_epochs", "figures", "jobs", "notebooks", "published", "report", "statistics",
           "study", "trainer", "transfer", "zero_shot"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
