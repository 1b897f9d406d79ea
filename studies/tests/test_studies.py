"""Every study's quick preset, end to end on real rows, through the one study kit.

* What does not depend on the machine equals the reference (``quick_reference.json``, written
  by the pre-0.4 study modules at commit 3d7232a with the same settings): the runs, their
  sizes and parameter counts.  The trained figures (MAEs, losses) depend on the machine's
  floating point (another CPU of the same kind trains a few ulps apart and the runs drift):
  they are checked for their properties (finite, positive) and against a reference
  regenerated in the same session (one job run again gives the same figures: the study is
  deterministic on the machine it runs on).  No float of one machine is pinned.
* A dummy model registered once (one registry line and one catalog entry) is trained by
  every study's quick run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from cft_pyg.demo import DemoSettings, run_demo
from cft_pyg.training.registry import register_model
from studies import ablation, compare, curves, transfer
from studies.kit import catalog

REFERENCE = json.loads((Path(__file__).with_name("quick_reference.json")).read_text())
DUMMY = "dummy-mean"


class MeanOfElements(nn.Module):
    """The dummy model: a per-element embedding averaged over each crystal."""

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(120, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, data: Any) -> torch.Tensor:
        from torch_geometric.utils import scatter

        h = scatter(self.embedding(data.z), data.batch, dim=0, dim_size=data.num_graphs,
                    reduce="mean")
        return self.out(h).squeeze(-1)


@pytest.fixture(scope="module")
def dummy() -> Any:
    register_model(DUMMY, MeanOfElements, overwrite=True)
    catalog.register(catalog.ModelEntry(DUMMY, DUMMY, {"hidden": 8}, "dummy",
                                        studies=catalog.STUDIES, quick=catalog.STUDIES),
                     replace=True)
    yield DUMMY
    catalog.unregister(DUMMY)


@pytest.fixture(scope="module")
def roots(shared_data_dir: Path) -> dict[str, str]:
    return {"mp20": str(shared_data_dir / "mp_20"), "carbon24": str(shared_data_dir / "carbon_24")}


def _matches(got: Any, reference: Any) -> bool:
    """``got`` has the reference's shape: the same keys and list lengths, the same integers
    (sizes, parameter counts), and a finite positive float wherever the reference has one (a
    trained figure of another machine: an MAE or a loss)."""
    if isinstance(reference, dict):
        return (isinstance(got, dict) and set(got) == set(reference)
                and all(_matches(got[k], reference[k]) for k in reference))
    if isinstance(reference, list):
        return (isinstance(got, list) and len(got) == len(reference)
                and all(_matches(x, y) for x, y in zip(got, reference, strict=True)))
    if isinstance(reference, float):
        return isinstance(got, float) and math.isfinite(got) and got > 0
    return got == reference


FIGURES = ("test_mae", "best_val_mae", "parameters", "params", "n_train", "heldout_mae")


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    """The figures of a finished run that do not depend on the clock."""
    out = {k: run[k] for k in FIGURES if k in run}
    for part in ("test", "held_test", "held_test_descent"):
        if isinstance(run.get(part), dict) and "overall" in run[part]:
            out[part] = run[part]["overall"]
    return out


def _rerun_gives_the_same(study: Any, settings: Any, runs: list[dict[str, Any]],
                          pick: Any) -> None:
    """A reference regenerated in the same session: the first run that ``pick`` accepts,
    run again in this process, gives the same figures."""
    first = next(r for r in runs if pick(r))
    job = next(j for j in study.jobs(settings) if study.job_key(j) == study.run_key(first))
    again = study.run_job(settings, job)
    assert _figures(first), first
    assert _close(_figures(again), _figures(first)), (_figures(again), _figures(first))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
    return a == b


@pytest.mark.slow  # trains every model of the study's quick preset
def test_demo_quick_matches_the_reference(tmp_path: Path) -> None:
    s = DemoSettings.from_preset("quick", output_dir=str(tmp_path / "demo"),
                                 data_root=str(tmp_path / "synth"), progress_bar=False)
    summary = run_demo(s, echo=lambda *_: None).summary
    got = {k: summary[k] for k in REFERENCE["demo"]}
    assert _matches(got, REFERENCE["demo"]), (got, REFERENCE["demo"])


@pytest.mark.slow  # trains every model of the study's quick preset
def test_ablation_quick(roots: dict[str, str], dummy: str, tmp_path: Path) -> None:
    old = {"none": "cft-no-encoding", "plain": "cft-plain", "symmetry-raw": "cft-raw-tokens",
           "symmetry": "cft", "symmetry-pre": "cft-pretrained", "cgcnn": "cgcnn"}
    s = ablation.AblationSettings.from_preset(
        "quick", carbon_root=roots["carbon24"], mp20_root=roots["mp20"],
        output_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "work"), jobs=1,
        targets=("carbon24/energy_per_atom", "mp20/formation_energy_per_atom"),
        models=(*old.values(), dummy))
    payload = ablation.run(s, echo=lambda *_: None)
    got = {}
    for r in payload["runs"]:
        if r["kind"] == "pretraining":
            got["pretrain"] = r["heldout_mae"]
        else:
            name = {v: k for k, v in old.items()}.get(r["variant"], r["variant"])
            got[f"{r['target']}/{name}/{r['seed']}"] = [r["test_mae"], r["best_val_mae"],
                                                        r["parameters"]]
    got["floor"] = payload["composition_floors"]["mp20/formation_energy_per_atom"]["test_mae"]
    assert _matches({k: got[k] for k in REFERENCE["ablation"]}, REFERENCE["ablation"]), (
        json.dumps({k: got[k] for k in REFERENCE["ablation"]}))
    _rerun_gives_the_same(ablation.STUDY, s, payload["runs"],
                          lambda r: r.get("variant") == "cft" and r["kind"] != "pretraining")
    assert any(r.get("variant") == dummy for r in payload["runs"])
    assert dummy in payload["summary"]["carbon24/energy_per_atom"]["variants"]
    assert payload["complete"] and payload["missing"] == []
    claims = payload["summary"]["carbon24/energy_per_atom"]["claims"]
    assert f"cft beats {dummy} on carbon24/energy_per_atom" in claims  # a new model gets claims
    # resume: nothing left to run; a partial log: the summary lists what is missing
    again = ablation.run(s, resume=True, echo=lambda *_: None)
    assert [r.get("test_mae") for r in again["runs"]] == [r.get("test_mae")
                                                          for r in payload["runs"]]
    from studies.kit.report import ablation_markdown
    from studies.kit.study import finish

    partial = finish(ablation.STUDY, s, payload["runs"][:3], None)
    assert not partial["complete"] and partial["missing"]
    assert "Incomplete run" in ablation_markdown({**partial, "total_seconds": 1.0})


@pytest.mark.slow  # trains every model of the study's quick preset
def test_compare_quick(roots: dict[str, str], dummy: str, tmp_path: Path) -> None:
    s = compare.CompareSettings.from_preset(
        "quick", data_root=roots["mp20"], output_dir=str(tmp_path / "cmp"), n_train=48,
        n_val=24, n_test=32, models=("cft", "cgcnn", dummy), jobs=1,
        work_dir=str(tmp_path / "w"))
    payload = compare.run(s, echo=lambda *_: None)
    res = payload["results"]
    got = {"benchmark": {f"{t}/{m}": v["test_mae"]["values"] for t, ms in res["benchmark"].items()
                         for m, v in ms.items() if m != dummy},
           "zeroshot": {m: {k: v["values"] for k, v in e["held_test_mae"].items()}
                        for m, e in res["zeroshot"].items() if m != dummy}}
    assert _matches(got, REFERENCE["compare"]), (got, REFERENCE["compare"])
    _rerun_gives_the_same(compare.STUDY, s, payload["runs"],
                          lambda r: r["model"] == "cft" and r["kind"] == "benchmark")
    assert dummy in res["benchmark"]["band_gap"] and dummy in res["zeroshot"]
    for part in ("benchmark", "zeroshot"):  # the files the notebooks read
        assert json.loads((tmp_path / "cmp" / f"{part}_mp20.json").read_text())["results"]
    assert (tmp_path / "cmp" / "fewshot_mp20.png").is_file()


@pytest.mark.slow  # trains every model of the study's quick preset
def test_transfer_quick(roots: dict[str, str], dummy: str, tmp_path: Path) -> None:
    s = transfer.TransferSettings.from_preset(
        "quick", mp20_root=roots["mp20"], output_dir=str(tmp_path / "out"),
        work_dir=str(tmp_path / "work"))
    assert dummy in s.model_names()
    payload = transfer.run(s, echo=lambda *_: None)
    assert payload["complete"], payload["missing"]
    got = {f"{r['model']}/{r['seed']}/{r['variant']}": [
        r["held_test"]["overall"]["mae"], r["best_val_mae"], r["parameters"], r["n_train"]]
        for r in payload["runs"] if r["model"] != dummy}
    got["pretrain"] = payload["pretraining"]["heldout_mae"]
    assert _matches(got, REFERENCE["transfer"]), json.dumps(got)
    _rerun_gives_the_same(transfer.STUDY, s, payload["runs"],
                          lambda r: r["model"] == "cft" and r["variant"] == "zero-shot")
    runs = {(r["model"], r["variant"]): r for r in payload["runs"]}
    for model in s.model_names():
        zs, al = runs[(model, "zero-shot")], runs[(model, "all-groups")]
        assert zs["n_train"] == al["n_train"] and zs["n_val"] == al["n_val"]
        assert zs["optimizer_steps"] == al["optimizer_steps"] > 0
        assert zs["n_test"] == al["n_test"] == payload["split_sizes"]["test"]
    claims = payload["summary"]["claims"]
    assert f"cft beats {dummy}" in claims and "cft beats cgcnn" in claims
    # zero-shot by subgroup descent: recorded beside the plain zero-shot figure, same test set
    zs = runs[("cft", "zero-shot")]
    assert zs["held_test_descent"]["overall"]["n"] == zs["held_test"]["overall"]["n"]
    assert "cft+descent" in payload["summary"]["models"]
    assert "cft+descent beats cgcnn" in claims
    few = transfer.few_shot_table(payload["summary"])
    assert sorted(few[few.model == "cft"].k) == [0, 1]
    assert (tmp_path / "out" / "transfer_fewshot.png").is_file()


@pytest.mark.slow  # trains every model of the study's quick preset
def test_curves_quick(roots: dict[str, str], dummy: str, tmp_path: Path) -> None:
    s = curves.CurveSettings.from_preset("quick", mp20_root=roots["mp20"],
                                         carbon_root=roots["carbon24"],
                                         output_dir=str(tmp_path / "cur"))
    assert dummy in s.model_names()
    payload = curves.run(s, echo=lambda *_: None)
    assert payload["complete"], payload["missing"]
    got = {f"{r['target']}/{r['model']}/{r['seed']}": [r["parameters"], r["n_train"],
                                                       r["n_test"]]
           for r in payload["runs"] if r["model"] != dummy}
    assert got == REFERENCE["curves"]  # the clock decides the rest
    for r in payload["runs"]:
        assert r["train_seconds"] >= r["budget_seconds"] and r["steps"] > 0
        assert len(r["curve"]) <= s.eval_points and r["best_val_mae"] > 0
    block = payload["summary"]["mp20/band_gap"]
    assert dummy in block["models"]
    assert f"cft beats {dummy} on mp20/band_gap" in block["claims"]
    assert "cft reaches the best of alignn on mp20/band_gap in 0.2 of its time" in block["claims"]
    assert (tmp_path / "cur" / "curves.png").is_file()


@pytest.mark.parametrize("module", [ablation, compare, curves, transfer])
def test_study_jobs_reach_the_worker_pool(module: Any) -> None:
    """What the pool sends to its workers pickles (a study's other fields are lambdas: the
    full runs with ``--jobs 2`` once failed on them) and runs the study's own job."""
    import pickle

    from studies.kit.study import _Job

    settings_cls = next(v for k, v in vars(module).items()
                        if k.endswith("Settings") and isinstance(v, type)
                        and v.__module__ == module.__name__)
    job = _Job(module.STUDY, settings_cls.from_preset("quick"))
    back = pickle.loads(pickle.dumps(job))
    assert back.run_job is module.STUDY.run_job
    assert back.settings == job.settings


@pytest.mark.slow  # trains every model of the study's quick preset
def test_published_quick(roots: dict[str, str], dummy: str, tmp_path: Path) -> None:
    """The published architecture's claims: its three encodings (and the dummy) on two
    targets, the paper's claims judged per target, the generated block lists them."""
    from studies import published
    from studies.kit.report_published import published_markdown

    s = published.PublishedSettings.from_preset(
        "quick", carbon_root=roots["carbon24"], mp20_root=roots["mp20"],
        output_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "work"), jobs=1)
    assert s.variants("carbon24/energy_per_atom") == (
        "published", "published-plain", "published-none", dummy)
    payload = published.run(s, echo=lambda *_: None)
    assert payload["complete"] and json.loads((tmp_path / "out" / "published.json")
                                              .read_text())["complete"]
    for target in s.targets:
        block = payload["summary"][target]
        assert set(block["variants"]) == {"published", "published-plain", "published-none",
                                          dummy}
        claims = block["claims"]
        assert f"published beats published-plain on {target} by > 2 std" in claims
        assert f"published beats published-none on {target}" in claims
        assert f"published beats {dummy} on {target}" in claims
        params = {v: r["parameters"] for v, r in block["variants"].items()}
        assert params["published"] == params["published-plain"] > params["published-none"]
    text = published_markdown(payload, [])
    assert "Carbon-24 energy (eV/atom): " in text and "not measured yet" in text
