"""Wall-clock learning curves: the clock-driven schedule, the statistics, and a quick run of
the runner on real data (every job gets its budget, curves and JSON are written)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from cft_pyg.experiments.curves import (
    CurveSettings,
    bootstrap_difference,
    lr_factor,
    run_curves,
    summarize,
    time_to_reach,
)


def test_lr_follows_the_clock_to_zero() -> None:
    assert lr_factor(0.05, 0.05) == pytest.approx(1.0)
    assert lr_factor(1.0, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(2.0, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0.025, 0.05) == pytest.approx(0.5)
    values = [lr_factor(f, 0.05) for f in np.linspace(0.05, 1.0, 50)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_time_to_reach_and_bootstrap() -> None:
    assert time_to_reach([1, 2, 4], [0.5, 0.3, 0.2], 0.3) == 2.0
    assert time_to_reach([1, 2], [0.5, 0.4], 0.1) is None
    rng = np.random.default_rng(0)
    a = rng.random(500)
    b = a + 0.1 + 0.01 * rng.standard_normal(500)
    out = bootstrap_difference(a, b)
    assert out["mean"] == pytest.approx(0.1, abs=0.01)
    assert out["ci95"][0] < out["mean"] < out["ci95"][1] and out["ci95"][0] > 0


def test_quick_run_gives_every_model_its_budget(shared_data_dir, tmp_path) -> None:
    settings = CurveSettings.from_preset(
        "quick", mp20_root=str(shared_data_dir / "mp_20"),
        carbon_root=str(shared_data_dir / "carbon_24"), output_dir=str(tmp_path),
        targets=("carbon24/energy_per_atom",), models=("cft", "cgcnn"), budget_seconds=1.5,
        extended_budgets={"cgcnn": 2.5}, extended_targets=("carbon24/energy_per_atom",))
    payload = run_curves(settings, echo=lambda _: None)
    assert payload["complete"] and len(payload["runs"]) == 3
    budgets = sorted((r["model"], r["budget_seconds"]) for r in payload["runs"])
    assert budgets == [("cft", 1.5), ("cgcnn", 1.5), ("cgcnn", 2.5)]
    for run in payload["runs"]:
        assert run["train_seconds"] >= run["budget_seconds"]
        assert len(run["curve"]) == settings.eval_points
        times = [p["train_seconds"] for p in run["curve"]]
        assert times == sorted(times)
        assert run["n_test"] == settings.n_test and math.isfinite(run["test_mae"])
        assert run["best_val_mae"] == min(p["val_mae"] for p in run["curve"])
    block = payload["summary"]["carbon24/energy_per_atom"]
    assert set(block["models"]) == {"cft", "cgcnn", "cgcnn@2.5s"}
    assert block["models"]["cgcnn@2.5s"]["budget_seconds"] == 2.5
    # the equal-time claim pairs the common-budget runs only
    claim = block["claims"]["cft_beats_cgcnn_at_equal_time"]
    cgcnn = next(r for r in payload["runs"] if r["model"] == "cgcnn" and r["budget_seconds"] == 1.5)
    cft = next(r for r in payload["runs"] if r["model"] == "cft")
    assert claim["difference"]["mean"] == pytest.approx(cgcnn["test_mae"] - cft["test_mae"])
    on_disk = json.loads((tmp_path / "curves.json").read_text())
    assert on_disk["summary"] == json.loads(json.dumps(payload["summary"]))
    assert (tmp_path / "curves.png").is_file()
    assert len((tmp_path / "curves_runs.jsonl").read_text().splitlines()) == 3
    # --resume keeps finished runs and trains nothing more
    again = run_curves(settings, resume=True, echo=lambda _: None)
    assert len(again["runs"]) == 3


def _fake_run(model: str, seed: int, budget: float, maes: list[float]) -> dict:
    times = [budget * (i + 1) / len(maes) for i in range(len(maes))]
    return {"target": "mp20/band_gap", "model": model, "seed": seed, "budget_seconds": budget,
            "parameters": 1, "test_mae": min(maes), "best_val_mae": min(maes), "epochs": 1.0,
            "crystals_per_second": 1.0, "test_abs_errors": [min(maes)] * 4,
            "curve": [{"train_seconds": t, "epochs": 1.0, "val_mae": m}
                      for t, m in zip(times, maes, strict=True)]}


def test_one_fifth_claim_uses_alignns_longest_run() -> None:
    settings = CurveSettings.from_preset("full", mp20_root="m", carbon_root="c",
                                         targets=("mp20/band_gap",), models=("cft", "alignn"))
    assert settings.budgets_of("mp20/band_gap", "alignn") == [240.0, 1200.0]
    assert settings.budgets_of("carbon24/energy_per_atom", "alignn") == [240.0]
    assert settings.budgets_of("mp20/band_gap", "cft") == [240.0, 1200.0]
    assert settings.budgets_of("mp20/band_gap", "cgcnn") == [240.0]
    runs = [_fake_run("cft", s, 240.0, [0.5, 0.4, 0.3, 0.25]) for s in (0, 1)]
    runs += [_fake_run("cft", s, 1200.0, [0.4, 0.3, 0.2, 0.15]) for s in (0, 1)]
    runs += [_fake_run("alignn", s, 240.0, [0.9, 0.8, 0.7, 0.6]) for s in (0, 1)]
    runs += [_fake_run("alignn", s, 1200.0, [0.6, 0.5, 0.35, 0.3]) for s in (0, 1)]
    block = summarize(settings, runs)["mp20/band_gap"]
    assert set(block["models"]) == {"cft", "cft@1200s", "alignn", "alignn@1200s"}
    # equal time at the extended budget: ALIGNN 0.3 against the CFT's 0.15
    equal = block["claims"]["cft_beats_alignn_at_1200s"]
    assert equal["budget_seconds"] == 1200.0 and equal["seeds_cft_better"] == 2
    assert equal["difference"]["mean"] == pytest.approx(0.15) and equal["met"]
    claim = block["claims"]["cft_reaches_alignn_best_in_one_fifth"]
    # ALIGNN's best (0.3) came at 1200 s of its 1200 s run; the CFT reached 0.3 at 180 s
    assert claim["alignn_budget_seconds"] == 1200.0 and claim["alignn_seconds"] == 1200.0
    assert claim["cft_seconds"] == 180.0 and claim["ratio"] == pytest.approx(0.15)
    assert claim["met"]
    # the CFT's 1200-s run reached 0.3 at its second point (600 s)
    assert claim["cft_seconds_same_budget"] == 600.0
    assert claim["ratio_same_budget"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="longer than the common budget"):
        CurveSettings.from_preset("full", mp20_root="m", carbon_root="c",
                                  extended_budgets={"alignn": 100.0}).runs()


def test_recorded_seconds_survive_a_summary_rewrite(tmp_path) -> None:
    from cft_pyg.experiments.jobs import recorded_seconds

    assert recorded_seconds(tmp_path / "missing.json") is None
    (tmp_path / "curves.json").write_text(json.dumps({"total_seconds": 2409.8}))
    assert recorded_seconds(tmp_path / "curves.json") == 2409.8
