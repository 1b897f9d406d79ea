"""The README's "Which model" block (``studies/which_model.py``): the committed README equals
what the generator writes from the committed results (the ``--check`` logic), and the
formatting on a tiny hand-made summary, a missing source included."""

from __future__ import annotations

import json
from pathlib import Path

from studies import which_model as wm

from ..conftest import REPO_ROOT

CARBON, FORM, GAP = ("carbon24/energy_per_atom", "mp20/formation_energy_per_atom",
                     "mp20/band_gap")


def test_readme_block_equals_the_generated_one() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme.count(wm.BEGIN) == 1 and readme.count(wm.END) == 1
    block = readme.split(wm.BEGIN, 1)[1].split(wm.END, 1)[0]
    assert block == "\n" + wm.block(wm.load_sources(REPO_ROOT))
    assert wm.main(["--check", "--readme", str(REPO_ROOT / "README.md"),
                    "--root", str(REPO_ROOT)]) == 0


def test_the_block_quotes_the_committed_figures() -> None:
    """The headline figures come from the JSON (none typed in by hand)."""
    block = (REPO_ROOT / "README.md").read_text().split(wm.BEGIN, 1)[1].split(wm.END, 1)[0]
    for card in wm.load_sources(REPO_ROOT)["cards"]:
        screen = card["test"].get("screen")  # a screen model quotes its relative-energy MAE
        assert (f"MAE {screen['relative_mae']:.4f}" if screen
                else f"**{card['test']['mae']:.4f}**") in block
    full = json.loads((REPO_ROOT / wm.PEER_FILES[1][0]).read_text())
    carbon = full["summary"].get(CARBON, {}).get("cft-no-encoding")
    if carbon:
        assert f"**{carbon['test_mae']['mean']:.4f} ± {carbon['test_mae']['std']:.4f}**" in block
    unrelaxed = REPO_ROOT / wm.UNRELAXED
    if unrelaxed.is_file():
        rows = [r for r in json.loads(unrelaxed.read_text())["rows"]
                if r["input"] == "unrelaxed" and r["model"] in ("cft", "wyckoff")]
        assert all(f"{r['relative_mae']:.4f} ± {r['relative_mae_std']:.4f}" in block
                   for r in rows)
    tensors = REPO_ROOT / wm.TENSORS
    if tensors.is_file():
        summary = json.loads(tensors.read_text())["summary"]
        assert all(f"{t['symmetric']['frobenius_rel_pooled']:.3f}" in block
                   for t in summary.values() if "symmetric" in t)


def test_check_fails_on_a_stale_block_and_writing_fixes_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{wm.BEGIN}\na hand-written table\n{wm.END}\nafter\n")
    args = ["--readme", str(readme), "--root", str(REPO_ROOT)]
    assert wm.main(["--check", *args]) == 1
    assert "hand-written" in readme.read_text()  # --check writes nothing
    assert wm.main(args) == 0
    text = readme.read_text()
    assert text.startswith(f"before\n{wm.BEGIN}\n") and text.endswith(f"{wm.END}\nafter\n")
    assert "hand-written" not in text and wm.main(["--check", *args]) == 0


# ---------------------------------------------------------------------- a tiny hand-made case
def _run(target: str, model: str, seed: int, mae: float, source: str = "cft-pyg",
         saw: bool = False, parameters: int = 1000) -> dict:
    return {"kind": "train", "target": target, "model": model, "label": model.upper(),
            "seed": seed, "source": source, "saw_test": saw, "n_train": 50, "n_test": 7,
            "parameters": parameters, "trainable_parameters": parameters,
            "budget_cpu_seconds": 30.0, "epochs": 2.0, "crystals_per_cpu_second": 50.0,
            "inference_cpu_ms_per_crystal": 1.5, "test_mae": mae,
            "machine": {"load_average_1min": 3.5 + seed}}


def _sources() -> dict:
    """Peers at 30 CPU-s only (``peers_long.json`` missing), no band-gap row, no tensor or
    transfer result; one shipped card; three unrelaxed rows."""
    ps = wm.peers_summary()
    runs = []
    for seed, noise in enumerate((0.0, 0.001, -0.001)):
        runs += [_run(CARBON, "cft-no-encoding", seed, 0.05 + noise, parameters=112393),
                 _run(CARBON, "megnet", seed, 0.20 + noise, "matgl"),
                 _run(CARBON, "chgnet-frozen", seed, 0.03 + noise, "chgnet"),  # ahead
                 _run(FORM, "cft-no-encoding", seed, 0.04 + noise, parameters=112393),
                 _run(FORM, "chgnet", seed, 0.02 + noise, "chgnet", saw=True)]
    runs += [{"kind": "readout", "target": CARBON, "model": "chgnet-ridge", "label": "RIDGE",
              "seed": None, "source": "chgnet", "saw_test": False, "n_train": 20, "n_test": 7,
              "feature_cpu_seconds": 3.0, "test_mae": 0.04},
             {"kind": "readout", "target": FORM, "model": "chgnet-energy-linear",
              "label": "LINEAR", "seed": None, "source": "chgnet", "saw_test": True,
              "n_train": 20, "n_test": 7, "test_mae": 0.01},
             {"kind": "reference", "target": CARBON, "model": "training-mean",
              "label": "mean", "seed": None, "source": "-", "saw_test": False, "n_train": 50,
              "n_test": 7, "test_mae": 0.21}]
    full = {"preset": "full", "settings": {"n_val": 3}, "summary": ps.summarize(runs)}
    card = {"name": "mp20-formation-energy", "unit": "eV/atom", "parameters": 112393,
            "data": {"dataset": "mp20", "n_train": 900},
            "recipe": {"target": "formation_energy_per_atom"}, "training": {"epochs_run": 4},
            "test": {"mae": 0.0375, "mae_95ci": [0.03, 0.04], "n": 100}}

    def row(model: str, mae: float, std: float) -> dict:
        return {"input": "unrelaxed", "model": model, "label": model, "seeds": [0, 1, 2],
                "relative_mae": mae, "relative_mae_std": std, "spearman": 0.5,
                "budget_cpu_seconds": 30.0, "parameters": 2000, "load": 4.2, "n_test": 60,
                "n_compositions": 3}

    unrelaxed = {"rows": [row("cft", 0.08, 0.001), row("wyckoff", 0.1, 0.001),
                          row("cft-no-encoding", 0.2, 0.01)]}
    return {"peers": [(wm.PEER_FILES[0][0], wm.PEER_FILES[0][1], None),
                      (wm.PEER_FILES[1][0], None, full)],
            "unrelaxed": unrelaxed, "tensors": None, "transfer": None, "small": None,
            "cards": [card]}


def test_format_of_a_tiny_summary_with_missing_sources() -> None:
    ps = wm.peers_summary()
    table = wm.rows(_sources())
    text = wm.render(table)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(table) == 10  # header and nine uses
    assert all(line.count("|") == 4 for line in lines)  # three cells, no stray bar
    cells = {case: (use, evidence) for case, use, evidence in table}

    use, relaxed = cells["relaxed crystals (as MP-20, Carbon-24), one property"]
    carbon, form, gap, link = relaxed.split("<br>")
    assert carbon.startswith("**Carbon-24 energy** (eV/atom; 30 CPU-s of one-thread training, "
                             "3 seeds, 7 test crystals, load 3-5): `cft-trunk` **0.0500 ± "
                             "0.0010** (112k parameters, 1.5 CPU-ms/crystal predicting)")
    assert "best peer `chgnet-frozen`" in carbon and "**behind** by more than 2 std" in carbon
    assert "`megnet` within 10% of predicting the training mean (0.2100" in carbon
    assert "on Carbon-24 energy `chgnet-frozen` is more accurate" in use  # said plainly
    # MP-20 from the 30-s summary, saying so; CHGNet marked wherever it is shown on MP-20
    assert "from `peers_full.json`: `peers_long.json` absent" in form
    assert f"`chgnet`{ps.SAW} (CHGNET)" in form and ps.SAW not in carbon
    assert gap == ("**MP-20 band gap**: not measured (`peers_long.json` absent; none in "
                   "`peers_full.json`)") and link == wm.LINKS["peers"]

    shipped = cells["MP-20 formation energy or band gap now"][1]
    assert "`mp20-formation-energy` **0.0375** eV/atom (95% CI 0.0300-0.0400" in shipped
    assert "1.5 CPU-ms/crystal predicting as timed in the peers study" in shipped
    assert f"LINEAR{ps.SAW} 0.0100 (fit on 20 crystals, 7 test crystals)" in shipped

    unrelaxed = cells[next(c for c in cells if "unrelaxed" in c)]
    assert unrelaxed[0] == "`--model cft`"  # ahead of the Wyckoff model by 2 std
    assert "`cft` 0.0800 ± 0.0010, `wyckoff` 0.1000 ± 0.0010, `cft-trunk` 0.2000" in unrelaxed[1]

    backbone = cells["a pretrained backbone"][1]
    assert ("frozen 0.0300 ± 0.0010" in backbone and "RIDGE 0.0400" in backbone
            and "CHGNet features ≈ 100 CPU-ms/crystal" in backbone)  # 3 s / 30 crystals
    assert "the head is at least as accurate as the read-out" in backbone
    assert f"fine-tuned 0.0200 ± 0.0010{ps.SAW}" in backbone

    # a missing source is a line in its cell, never a silent omission
    tensors = cells["tensor properties (dielectric, piezoelectric, elastic)"][1]
    assert tensors == f"not measured (`{wm.TENSORS}` absent)"
    small = cells["small data (a few hundred labels)"]
    assert small == ("not measured", "not measured (`peers_small.json` absent)")
    assert cells["groups never seen in training"] == wm.STATIC["unseen"][1:]
    assert text.splitlines()[-3].startswith(f"{ps.SAW} CHGNet was pretrained")


def test_partial_sources_say_what_is_missing() -> None:
    """A result without the rows a cell needs says so in the cell (the tensor study's re-run
    may replace its file with fewer models)."""
    _, use, cell = wm.unrelaxed_row({"rows": []})
    assert cell == f"no unrelaxed-input row in `{wm.UNRELAXED}`" and "`--model wyckoff`" in use
    _, use, cell = wm.unrelaxed_row({"rows": [
        {"input": "unrelaxed", "model": "cft-no-encoding", "label": "x", "seeds": [0],
         "relative_mae": 0.2, "relative_mae_std": float("nan"), "spearman": 0.1,
         "budget_cpu_seconds": 30.0, "n_test": 9, "n_compositions": 2}]})
    assert "1 seed, 30 CPU-s" in cell and "`cft-trunk` 0.2000;" in cell
    raw = {"frobenius_rel_pooled": 0.5, "frobenius_rel_pooled_std": 0.01, "neumann_max": 1.0}
    _, _, cell = wm.tensors_row({"summary": {"elastic": {"raw": raw}}, "settings": {}})
    assert "elastic: no `TensorHead` row" in cell and "seeds not recorded" in cell
    assert wm.small_data_row(None, {"settings": {}})[2] == (
        "not measured (`peers_small.json` absent)")
    assert wm.small_data_row({"summary": {}})[2] == "not measured (none in `peers_small.json`)"


def test_peers_markdown_shows_only_the_targets_of_its_summary() -> None:
    full = _sources()["peers"][1][2]
    only_carbon = {**full, "summary": {CARBON: full["summary"][CARBON]}}
    text = wm.peers_markdown(only_carbon, "peers_x.json")
    assert "**Carbon-24 energy**" in text and "**MP-20" not in text
    assert wm.LINKS["peers"] not in text


def test_small_data_row_ranks_every_model_and_says_when_the_backbone_wins() -> None:
    """The small-data row from a made-up ``small`` preset: on formation energy a CHGNet
    read-out wins (said plainly, marked, the best from scratch named), on the band gap the
    library's trunk wins; every model listed best first with its cost per crystal."""
    ps = wm.peers_summary()
    runs = []
    for seed, noise in enumerate((0.0, 0.002, -0.002)):
        runs += [_run(FORM, "cft-no-encoding", seed, 0.10 + noise),
                 _run(FORM, "megnet", seed, 0.30 + noise, "matgl"),
                 _run(FORM, "chgnet", seed, 0.20 + noise, "chgnet", saw=True),
                 _run(GAP, "cft-no-encoding", seed, 0.40 + noise),
                 _run(GAP, "chgnet-frozen", seed, 0.60 + noise, "chgnet", saw=True),
                 _run(GAP, "megnet", seed, 0.95 + noise, "matgl")]  # not learned
    runs += [{"kind": "readout", "target": FORM, "model": "chgnet-energy-linear",
              "label": "LINEAR", "seed": None, "source": "chgnet", "saw_test": True,
              "n_train": 50, "n_test": 7, "feature_cpu_seconds": 6.0, "test_mae": 0.03},
             {"kind": "reference", "target": GAP, "model": "training-mean",
              "label": "mean", "seed": None, "source": "-", "saw_test": False,
              "n_train": 50, "n_test": 7, "test_mae": 1.0}]
    small = {"preset": "small", "settings": {"n_val": 3}, "summary": ps.summarize(runs),
             "missing": []}
    case, use, cell = wm.small_data_row(small, None)
    form, gap, link = cell.split("<br>")
    assert form.startswith("**MP-20 formation energy** (eV/atom; 50 training crystals, 30 "
                           "CPU-s of one-thread training, 3 seeds, 7 test crystals")
    assert (f"**LINEAR{ps.SAW} 0.0300** (≈ 100 CPU-ms/crystal of CHGNet features) < "
            "`cft-trunk` 0.1000 ± 0.0020 (2.0 epochs, 1.5 CPU-ms/crystal) < "
            f"`chgnet`{ps.SAW} 0.2000 ± 0.0020") in form
    assert (f"**the pretrained backbone wins** (LINEAR{ps.SAW} against the best from "
            "scratch, `cft-trunk`: ahead by more than 2 std)") in form
    assert gap.endswith("training mean 1.0000 (`megnet` within 10% of it, at most 2.0 "
                        "epochs: not learned in the budget); from scratch wins (`cft-trunk` "
                        f"against the best on CHGNet, `chgnet-frozen`{ps.SAW}: ahead by more "
                        "than 2 std)")
    assert use.startswith(f"on MP-20 formation energy LINEAR{ps.SAW} (a read-out")
    assert use.endswith("from scratch `cft-pyg train` (`--model cft-trunk`); on MP-20 band "
                        "gap `cft-pyg train` (`--model cft-trunk`)")
    assert link == wm.LINKS["peers"]
    own = wm.peers_markdown({**small, "settings": {"label": "small", "n_val": 3}},
                            "peers_small.json")  # the study's own "which model" section
    assert own.startswith(f"| your case | use | measured |\n|---|---|---|\n| {case} |")
    assert "relaxed crystals" not in own
    assert "2 planned runs missing: `a`, `b`" in wm.small_data_row(
        {**small, "missing": ["a", "b"]})[2]


def test_tensor_backbones_clause_orders_and_separates_by_two_std() -> None:
    """Best first; a backbone ahead of every other by more than 2 std says so, one within
    2 std of the best is named as not separated; no file, no clause."""
    def row(mean: float, std: float) -> dict[str, float]:
        return {"frobenius_rel_pooled": mean, "frobenius_rel_pooled_std": std}

    payload = {"settings": {"budget_s": 60.0}, "summary": {
        "elastic": {"symmetric": row(0.30, 0.01), "megnet": row(0.50, 0.01)},
        "dielectric": {"symmetric": row(0.50, 0.05), "chgnet": row(0.45, 0.05),
                       "mean": row(0.9, 0.0)}}}
    text = wm.tensor_backbones_clause(payload)
    assert "60 CPU-s" in text
    assert "elastic CGCNN 0.300 ± 0.010 < MEGNet 0.500 ± 0.010 (ahead by more than 2 std)" in text
    assert ("dielectric CHGNet fine-tuned† 0.450 ± 0.050 < CGCNN 0.500 ± 0.050 "
            "(not separated by 2 std from CGCNN)") in text
    assert "0.900" not in text  # the mean tensor is not a backbone
    assert wm.tensor_backbones_clause(None) == ""
