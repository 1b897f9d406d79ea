"""Moved to :mod:`cft_pyg.experiments.demo` (an experiment, not part of the engine).

Kept so that ``from cft_pyg.training.demo import DemoSettings, run_demo`` (used by
:mod:`cft_pyg.cli`) keeps working; the names are loaded on first use, so importing
:mod:`cft_pyg.training` never imports the experiments layer.
"""

from __future__ import annotations

import importlib
from typing import Any

_MOVED = ("DemoResult", "DemoSettings", "run_demo")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module("cft_pyg.experiments.demo"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
