"""The peers study: its summary (margins, marks of rows that saw the test crystals, the
"which model" table) on made-up runs, and the quick preset end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"peers_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(f"peers_{name}", module)
    spec.loader.exec_module(module)
    return module


summary = _load("summary")


def _run(target: str, model: str, seed: int, mae: float, source: str = "cft-pyg",
         saw: bool = False) -> dict:
    return {"kind": "train", "target": target, "model": model, "label": model.upper(),
            "seed": seed, "source": source, "saw_test": saw, "n_train": 10, "n_test": 5,
            "parameters": 100, "trainable_parameters": 100, "budget_cpu_seconds": 30.0,
            "epochs": 2.0, "crystals_per_cpu_second": 50.0,
            "inference_cpu_ms_per_crystal": 1.0, "test_mae": mae,
            "machine": {"load_average_1min": 1.0}}


def _runs() -> list[dict]:
    t, mp = "carbon24/energy_per_atom", "mp20/formation_energy_per_atom"
    runs = []
    for seed, noise in enumerate((0.0, 0.001, -0.001)):
        runs += [_run(t, "cft-no-encoding", seed, 0.10 + noise),
                 _run(t, "m3gnet", seed, 0.20 + noise, "matgl"),  # clearly behind
                 _run(t, "megnet", seed, 0.1005 + noise, "matgl"),  # within the noise
                 _run(t, "tensornet", seed, 0.05 + noise, "matgl"),  # clearly ahead
                 _run(t, "chgnet-frozen", seed, 0.08 + noise, "chgnet"),
                 _run(mp, "cft-no-encoding", seed, 0.05 + noise),
                 _run(mp, "chgnet", seed, 0.03 + noise, "chgnet", saw=True)]
    runs.append({"kind": "readout", "target": t, "model": "chgnet-ridge",
                 "label": "RIDGE", "seed": None, "source": "chgnet", "saw_test": False,
                 "n_train": 10, "n_test": 5, "test_mae": 0.09})
    return runs


def test_margins_decide_by_two_std() -> None:
    issue = summary.targets_of_issue(summary.summarize(_runs()))
    carbon = issue["carbon24/energy_per_atom"]["best_vs_matgl"]
    assert carbon["m3gnet"]["wins_by_2_std"] and not carbon["m3gnet"]["loses_by_2_std"]
    assert not carbon["megnet"]["wins_by_2_std"] and not carbon["megnet"]["loses_by_2_std"]
    assert carbon["tensornet"]["loses_by_2_std"]
    head = issue["carbon24/energy_per_atom"]["chgnet_head_vs_readout"]["chgnet-frozen"]
    assert head["readout"] == "chgnet-ridge" and head["at_least_as_accurate"]


def test_markdown_marks_rows_that_saw_the_test_crystals(tmp_path: Path) -> None:
    payload = summary.write_summary(_runs(), "test", tmp_path, missing=["a|b|0"])
    md = (tmp_path / "peers_test.md").read_text()
    assert md == payload["markdown"]
    lines = md.splitlines()
    assert f"| CHGNET {summary.SAW} | 0.0300 ± 0.0010 |" in "\n".join(lines)  # MP-20 row
    clean = [line for line in lines if line.startswith(("| CHGNET-FROZEN", "| TENSORNET"))]
    assert len(clean) == 2 and all(summary.SAW not in line for line in clean)
    assert "**behind** by more than 2 std" in md and "`a|b|0`" in md
    data = json.loads((tmp_path / "peers_test.json").read_text())
    assert data["complete"] is False and data["missing"] == ["a|b|0"]
    # which model: the rows of the README's table from this study, the best peer named,
    # CHGNet marked where it saw the test crystals (studies/which_model.py)
    which = summary.which_model(data["summary"], data["settings"], "test")
    assert "best peer `tensornet`" in which and f"best peer `chgnet`{summary.SAW}" in which
    assert f"fine-tuned 0.0300 ± 0.0010{summary.SAW}" in which  # MP-20: marked
    assert "frozen 0.0800 ± 0.0010 (" in which  # Carbon-24: not marked
    assert "on Carbon-24 energy `tensornet` is more accurate" in which
    assert md.endswith(which)


@pytest.mark.slow
def test_quick_preset_end_to_end(tmp_path: Path) -> None:
    from cft_pyg.nn.chgnet import chgnet_available
    from cft_pyg.nn.matgl import matgl_available

    run = _load("run")
    root = Path(run.ROOTS["carbon24"])
    if not root.is_dir():
        pytest.skip(f"Carbon-24 not found at {root}")
    if not (matgl_available() and chgnet_available()):
        pytest.skip("the optional matgl and chgnet extras are not installed")
    assert run.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "peers_quick.json").read_text())
    assert data["complete"]
    rows = data["summary"]["carbon24/energy_per_atom"]
    assert set(run.peers(True)) | {"chgnet-ridge", "chgnet-krr", "chgnet-energy-linear",
                                   "training-mean"} == set(rows)
    assert not any(r["saw_test"] for r in rows.values())  # Carbon-24 is not MP data
    assert all(r["test_mae"]["mean"] >= 0 for r in rows.values())


def test_summary_tables_go_between_the_markers_of_the_docs(tmp_path: Path) -> None:
    docs = tmp_path / "peers.md"
    docs.write_text("intro\n<!-- peers-long:begin -->\nold\n<!-- peers-long:end -->\nafter\n")
    study = _load("run")
    assert study.write_docs_block("| new |\n", "long", docs)
    assert docs.read_text() == ("intro\n<!-- peers-long:begin -->\n| new |\n"
                                "<!-- peers-long:end -->\nafter\n")
    assert not study.write_docs_block("| new |\n", "quick", docs)  # no markers: untouched
