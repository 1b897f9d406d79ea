"""The kit every study shares (no kit module imports a study).

* :mod:`~studies.kit.catalog` - every compared model (registered name, size, label, cost,
  studies) and every target (dataset, column, unit, label), one entry each;
* :mod:`~studies.kit.data` - the one cached loader of the project splits;
* :mod:`~studies.kit.trainer` - the one trainer (the engine's ``fit``, for epochs or a
  :class:`~cft_pyg.training.TimeBudget`) and the shared encoding pretraining;
* :mod:`~studies.kit.jobs` - the one job pool and the append-only run log;
* :mod:`~studies.kit.study` - base settings, run/resume/summarize, and the command line
  generated from a study's settings;
* :mod:`~studies.kit.equal_epochs` - the equal-epochs protocol of the variant studies;
* :mod:`~studies.kit.statistics`, :mod:`~studies.kit.claims` (claims as data, judged from
  runs), :mod:`~studies.kit.zero_shot` (the protocol, GB-Gap tables),
  :mod:`~studies.kit.composition` (the composition-only floor), :mod:`~studies.kit.figures`,
  :mod:`~studies.kit.report` (the generated tables of ``README.md`` and
  ``studies/NOTEBOOK.md``), :mod:`~studies.kit.notebooks`.

The studies themselves are the modules of :mod:`studies` (``python -m studies.<study>``).
Submodules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["catalog", "claims", "composition", "data", "equal_epochs", "figures", "jobs",
           "notebooks", "report", "report_published", "statistics", "study", "trainer",
           "zero_shot"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
