"""The API reference builds from the docstrings with warnings as errors (Sphinx ``-W``), and
the examples in the docstrings of the core objects run as written (doctests)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT

# the objects whose docstrings carry a runnable example (module, attribute)
DOCTESTED = [("cft_pyg.symmetry.space_group", "SpaceGroup"),
             ("cft_pyg.symmetry.constraint_graph", "constraint_graph"),
             ("cft_pyg.data.featurization", "Featurization"),
             ("cft_pyg.nn.encoding", "SymmetryAdaptedFourierEncoding")]


@pytest.mark.parametrize(("module", "name"), DOCTESTED, ids=[n for _, n in DOCTESTED])
def test_docstring_example_runs(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    finder = doctest.DocTestFinder(recurse=False)
    tests = [t for t in finder.find(obj, name, globs={}) if t.examples]
    assert tests, f"{module}.{name} has no example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 0, result


@pytest.mark.slow
def test_api_reference_builds_without_warnings(tmp_path) -> None:
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("sphinx is not installed (it is in the 'dev' extra)")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                          "html", str(REPO_ROOT / "docs" / "api"), str(tmp_path / "html")],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    for page in ("symmetry", "data", "nn", "training", "pretrained", "testing"):
        html = (tmp_path / "html" / f"{page}.html").read_text()
        assert f"cft_pyg.{page}" in html
    assert "SymmetryAdaptedFourierEncoding" in (tmp_path / "html" / "nn.html").read_text()
