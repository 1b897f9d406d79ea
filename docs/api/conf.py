"""Sphinx configuration of the API reference (built from the docstrings; ``-W`` in the suite:
``tests/test_docs.py``).  Build: ``python -m sphinx -W -b html docs/api docs/api/_build``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cft_pyg._version import __version__

project = "cft-pyg"
author = "the cft-pyg developers"
release = version = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax",
              "sphinx.ext.doctest"]  # inherited Lightning docstrings use testcode
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures and the typed ``Args:`` say it once
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # NamedTuple fields are documented once, by autodoc
# the grouped argument sections of the settings classes (TrainConfig)
napoleon_custom_sections = [(s, "params_style") for s in
                            ("Model", "Data", "Optimization", "Hardware", "Output")]
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
