"""The import-cost study parses ``-X importtime`` and finds who pulled a module in."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _study():
    spec = importlib.util.spec_from_file_location("import_cost_run",
                                                  Path(__file__).with_name("run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_and_chain() -> None:
    study = _study()
    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:        10 |         10 |     c\n"
              "import time:        20 |         30 |   b\n"
              "import time:        40 |         70 | a\n")
    rows = study._parse(stderr)
    assert rows == [(10, "c", 5), (30, "b", 3), (70, "a", 1)]
    assert study._chain(rows, "c") == ["b", "a"]


def test_pretrained_listing_leaves_torch_out() -> None:
    study = _study()
    result = study.measure(study.TARGETS["cft-pyg pretrained listing"], 1)
    assert "torch" not in result["modules"] and "lightning" not in result["modules"]


def test_predict_leaves_lightning_out() -> None:
    study = _study()
    label = next(k for k in study.TARGETS if k.startswith("predict"))
    result = study.measure(study.TARGETS[label], 1)
    assert "torch" in result["modules"] and "lightning" not in result["modules"]
