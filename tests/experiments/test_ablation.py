"""The ablation runner end to end on tiny settings, and its statistics."""

from __future__ import annotations

import json

import pytest

from cft_pyg.experiments.ablation import AblationSettings, run_ablation, summarize


def test_quick_ablation_writes_runs_and_summary(shared_data_dir, tmp_path):
    settings = AblationSettings.from_preset(
        "quick",
        carbon_root=str(shared_data_dir / "carbon_24"), mp20_root=str(shared_data_dir / "mp_20"),
        output_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "work"), jobs=1,
    )
    settings.variants = {"carbon24/energy_per_atom": ("none", "symmetry", "symmetry-pre"),
                         "mp20/formation_energy_per_atom": ("symmetry",)}
    # process into a temporary copy: nothing may be written into ../shared
    for name in ("carbon_24", "mp_20"):
        (tmp_path / name).mkdir()
        for f in ("val.csv.gz", "test.csv.gz"):
            (tmp_path / name / f).symlink_to(shared_data_dir / name / f)
    settings.carbon_root, settings.mp20_root = str(tmp_path / "carbon_24"), str(
        tmp_path / "mp_20")
    payload = run_ablation(settings, echo=lambda *_: None)
    saved = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(payload["summary"]))
    runs = [r for r in saved["runs"] if r["kind"] == "training"]
    assert len(runs) == 4 and all(r["test_mae"] > 0 for r in runs)
    assert all(len(r["curve"]["val_mae"]) == 2 for r in runs)
    assert all(r["curve"]["train_seconds"][-1] > 0 for r in runs)
    assert any(r["kind"] == "pretraining" for r in saved["runs"])
    floor = saved["summary"]["mp20/formation_energy_per_atom"]["composition_floor"]
    assert floor["test_mae"] > 0 and floor["n_train"] == 48
    lines = (tmp_path / "out" / "ablation_runs.jsonl").read_text().splitlines()
    assert len(lines) == 5
    assert saved["complete"] and saved["missing"] == []
    # resume: nothing left to run, the same runs come back
    again = run_ablation(settings, resume=True, echo=lambda *_: None)
    maes = [r.get("test_mae") for r in payload["runs"]]
    assert [r.get("test_mae") for r in again["runs"]] == maes
    # a partial runs file: the summary says what is missing
    from cft_pyg.experiments.ablation import write_results

    partial = write_results(settings, payload["runs"][:3])
    assert not partial["complete"] and len(partial["missing"]) == 2
    from cft_pyg.experiments.report import ablation_markdown

    assert "Incomplete run" in ablation_markdown(partial)


def test_paired_statistics():
    runs = [
        {"kind": "training", "target": "t", "variant": v, "seed": s, "test_mae": m,
         "best_val_mae": m, "train_seconds": 1.0, "train_crystals_per_second": 1.0,
         "parameters": 1, "best_epoch": 0, "curve": {"epoch": [0]}}
        for v, maes in (("symmetry", (1.0, 1.1, 0.9)), ("none", (2.0, 2.1, 1.9)),
                        ("plain", (1.05, 1.0, 1.05)))
        for s, m in enumerate(maes)
    ]
    summary = summarize(runs)["t"]
    assert summary["variants"]["symmetry"]["test_mae"]["mean"] == pytest.approx(1.0)
    assert summary["variants"]["symmetry"]["test_mae"]["std"] == pytest.approx(0.1)
    none = summary["comparisons"]["symmetry<none"]
    assert none["beats_by_two_std"] and none["wins"] == 3
    assert none["difference"]["mean"] == pytest.approx(1.0)
    plain = summary["comparisons"]["symmetry<plain"]
    assert not plain["beats_by_two_std"]
