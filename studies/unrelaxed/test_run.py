"""The quick preset of the unrelaxed-inputs study runs end to end (on a sample of the NREL
data; skipped where ``shared/data/nrel_hypothetical`` is absent), writes one JSON record per
run with the screen metrics, skips finished runs on a rerun, and its report is generated
from the JSON."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str):
    sys.path.insert(0, str(HERE.parents[1]))
    spec = importlib.util.spec_from_file_location(f"unrelaxed_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


run = _load("run")
report = _load("report")
needs_data = pytest.mark.skipif(not (run.DEFAULT_ROOT / "energies.csv.gz").exists(),
                                reason="shared/data/nrel_hypothetical is absent")


@pytest.mark.slow  # ~20 s of CPU (data processing of 64 crystals, three 1-s trainings)
@needs_data
def test_quick_preset(tmp_path: Path, capsys) -> None:
    args = ["--quick", "--results", str(tmp_path / "results"), "--processed-root",
            str(tmp_path / "cache")]
    assert run.main(args) == 0
    files = sorted((tmp_path / "results" / "runs").glob("*.json"))
    assert [f.name for f in files] == ["unrelaxed__cft__seed0.json",
                                       "unrelaxed__composition__seed0.json",
                                       "unrelaxed__wyckoff__seed0.json"]
    records = {json.loads(f.read_text())["model"]: json.loads(f.read_text()) for f in files}
    for record in records.values():
        m = record["metrics"]
        assert m["n_candidates"] == record["n_test"] == len(record["predictions"]["y_pred"])
        assert m["mae"] >= 0 and m["relative_mae"] >= 0 and 0 <= m["hit_rate"] <= 1
        assert record["fit_cpu_seconds"] >= record["budget_cpu_seconds"]
    floor = records["composition"]
    assert floor["composition_spread"] < 1e-4  # rounding only
    assert math.isclose(floor["metrics"]["spearman"], 0.0, abs_tol=0.0) or \
        math.isnan(floor["metrics"]["spearman"])  # constant within each composition
    capsys.readouterr()
    assert run.main(args) == 0  # a rerun skips every finished run
    assert capsys.readouterr().out.count("done, skipped") == 3

    # the report: summary JSON, the generated block between the markers, the figure
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.BEGIN}\nold\n{report.END}\ntail\n")
    assert report.main(["--results", str(tmp_path / "results"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and text.endswith(f"{report.END}\ntail\n")
    assert "composition only (floor)" in text and "| unrelaxed | CFT" in text
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert {r["model"] for r in summary["rows"]} == {"cft", "wyckoff", "composition"}
    assert (tmp_path / "results" / "ranking.png").stat().st_size > 0


@needs_data
def test_filters_run_only_the_new_jobs_and_skip_finished_ones(tmp_path: Path, capsys) -> None:
    """``--models`` restricts the full preset to the named models (CHGNet fine-tuned: one
    seed), and finished run files are skipped without loading any data."""
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    keys = [run.run_key(inp, m, s) for inp, m in run.PRESETS["full"].jobs
            for s in run.PRESETS["full"].seeds if m in ("wrenformer", "chgnet")
            and ((inp, m) not in run.ONE_SEED or s == 0)]
    assert len(keys) == 7 and "unrelaxed/chgnet/seed0" in keys
    for key in keys:
        run._file_of(results, key).write_text("{}")
    assert run.main(["--models", "wrenformer", "chgnet", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.count("done, skipped") == 7 and "wrenformer/seed2: done" in out
    assert "cft/" not in out and "chgnet/seed1" not in out
    assert run.main(["--models", "no-such-model", "--results", str(results)]) == 2
