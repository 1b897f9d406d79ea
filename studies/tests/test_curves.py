"""Training for a budget of seconds (the engine's TimeBudget), the statistics and claims of
the wall-clock study, and the run log's recorded figures."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from cft_pyg.training.budget import TimeBudget, clock_lr_factor
from studies.curves import CurveSettings, summarize
from studies.kit.claims import Claim, judge
from studies.kit.statistics import bootstrap_difference, time_to_reach


def test_lr_follows_the_clock_to_zero() -> None:
    assert clock_lr_factor(0.05, 0.05) == pytest.approx(1.0)
    assert clock_lr_factor(1.0, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert clock_lr_factor(2.0, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert clock_lr_factor(0.025, 0.05) == pytest.approx(0.5)
    values = [clock_lr_factor(f, 0.05) for f in np.linspace(0.05, 1.0, 50)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_time_budget_stops_on_the_clock_and_returns_the_best_moment(tmp_path) -> None:
    """With a fake clock (1 s per reading) the run is exact: the budget, the moments, the
    learning rate reaching zero, and fit returning the best moment's weights."""
    from cft_pyg.data.synthetic import SyntheticCrystals
    from cft_pyg.training import TrainConfig, fit

    ds = SyntheticCrystals(root=tmp_path / "s", num_crystals=30, seed=0, max_atoms=8,
                           log=False)
    train, val = [ds[i] for i in range(20)], [ds[i] for i in range(20, 30)]
    ticks = itertools.count()
    budget = TimeBudget(6.0, eval_points=3, warmup_fraction=0.0,
                        clock=lambda: float(next(ticks)))
    config = TrainConfig(model="cgcnn", model_kwargs={"atom_fea_len": 8, "n_conv": 1,
                                                      "h_fea_len": 8},
                         batch_size=4, patience=None, warmup_epochs=0.0, progress_bar=False,
                         output_dir=str(tmp_path / "run"))
    result = fit(config, train, val, None, overwrite=True, budget=budget)
    assert budget.train_seconds == 6.0 and budget.steps == 6  # one clock second per step
    assert [p["train_seconds"] for p in budget.curve] == [2.0, 4.0, 6.0]
    assert result.best_val_mae == min(p["val_mae"] for p in budget.curve)
    assert result.val_report.overall["mae"] == pytest.approx(result.best_val_mae, rel=1e-5)
    with pytest.raises(ValueError, match="does not combine"):
        fit(config.replace(patience=3), train, val, None, overwrite=True,
            budget=TimeBudget(1.0))


def test_time_to_reach_and_bootstrap() -> None:
    assert time_to_reach([1, 2, 4], [0.5, 0.3, 0.2], 0.3) == 2.0
    assert time_to_reach([1, 2], [0.5, 0.4], 0.1) is None
    rng = np.random.default_rng(0)
    a = rng.random(500)
    b = a + 0.1 + 0.01 * rng.standard_normal(500)
    out = bootstrap_difference(a, b)
    assert out["mean"] == pytest.approx(0.1, abs=0.01)
    assert out["ci95"][0] < out["mean"] < out["ci95"][1] and out["ci95"][0] > 0


def test_claims_are_judged_by_their_criterion() -> None:
    better, worse = {0: 0.10, 1: 0.11, 2: 0.12}, {0: 0.20, 1: 0.21, 2: 0.19}
    two = judge(Claim("a", "b", criterion="two_std"), better, worse)
    assert two["met"] and two["wins"] == 3 and two["seeds"] == [0, 1, 2]
    assert two["difference"]["mean"] == pytest.approx(0.09)
    close = judge(Claim("a", "b", criterion="two_std"), better, {0: 0.11, 1: 0.10, 2: 0.14})
    assert not close["met"]
    assert judge(Claim("a", "b", criterion="mean"), better, {0: 0.11, 1: 0.12, 2: 0.13})["met"]
    assert judge(Claim("a", "b"), better, {5: 1.0}) is None
    # bootstrap: over items (seed-averaged); no items, no bootstrap, not met
    items = {s: np.full(50, v) for s, v in better.items()}
    worse_items = {s: np.full(50, v) for s, v in worse.items()}
    assert judge(Claim("a", "b"), better, worse, items, worse_items)["met"]
    assert not judge(Claim("a", "b"), better, worse)["met"]
    with pytest.raises(ValueError, match="criterion"):
        Claim("a", "b", criterion="vibes")


def _fake_run(model: str, seed: int, budget: float, maes: list[float]) -> dict:
    times = [budget * (i + 1) / len(maes) for i in range(len(maes))]
    return {"target": "mp20/band_gap", "model": model, "seed": seed, "budget_seconds": budget,
            "parameters": 1, "test_mae": min(maes), "best_val_mae": min(maes), "epochs": 1.0,
            "crystals_per_second": 1.0, "test_abs_errors": [min(maes)] * 4,
            "curve": [{"train_seconds": t, "epochs": 1.0, "val_mae": m}
                      for t, m in zip(times, maes, strict=True)]}


def test_claims_of_the_curves_study_at_every_shared_budget() -> None:
    settings = CurveSettings.from_preset("full", mp20_root="m", carbon_root="c",
                                         targets=("mp20/band_gap",), models=("cft", "alignn"))
    assert settings.budgets_of("mp20/band_gap", "alignn") == [240.0, 1200.0]
    assert settings.budgets_of("carbon24/energy_per_atom", "alignn") == [240.0]
    runs = [_fake_run("cft", s, 240.0, [0.5, 0.4, 0.3, 0.25]) for s in (0, 1)]
    runs += [_fake_run("cft", s, 1200.0, [0.4, 0.3, 0.2, 0.15]) for s in (0, 1)]
    runs += [_fake_run("alignn", s, 240.0, [0.9, 0.8, 0.7, 0.6]) for s in (0, 1)]
    runs += [_fake_run("alignn", s, 1200.0, [0.6, 0.5, 0.35, 0.3]) for s in (0, 1)]
    block = summarize(settings, runs)["mp20/band_gap"]
    assert set(block["models"]) == {"cft", "cft@1200s", "alignn", "alignn@1200s"}
    equal = block["claims"]["cft beats alignn on mp20/band_gap at 1200 s"]
    assert equal["budget_seconds"] == 1200.0 and equal["wins"] == 2
    assert equal["difference"]["mean"] == pytest.approx(0.15) and equal["met"]
    assert block["claims"]["cft beats alignn on mp20/band_gap"]["met"]
    reach = block["claims"]["cft reaches the best of alignn on mp20/band_gap in 0.2 of its time"]
    # ALIGNN's best (0.3) came at 1200 s of its 1200 s run; the CFT reached 0.3 at 180 s
    assert reach["worse_budget_seconds"] == 1200.0 and reach["worse_seconds"] == 1200.0
    assert reach["better_seconds"] == 180.0 and reach["ratio"] == pytest.approx(0.15)
    assert reach["met"]
    with pytest.raises(ValueError, match="longer than the common budget"):
        CurveSettings.from_preset("full", mp20_root="m", carbon_root="c",
                                  extended_budgets={"alignn": 100.0}).runs()


def test_claims_of_chosen_references_with_their_criterion() -> None:
    """The published Table 1 / Table 3 at equal training time: the pretrained CFT against
    every model, then the CFT against the rest (not against the earlier reference), by
    more than 2 std; no reach claim without the hybrid CFT."""
    models = ("published-pretrained", "published", "published-plain")
    settings = CurveSettings.from_preset(
        "full", mp20_root="m", carbon_root="c", targets=("carbon24/energy_per_atom",),
        models=models, references=models[:2], claim_criterion="two_std")
    keys = [c.key for c in settings.claims("carbon24/energy_per_atom")]
    on = "on carbon24/energy_per_atom by > 2 std"
    assert keys == [f"published-pretrained beats published {on}",
                    f"published-pretrained beats published-plain {on}",
                    f"published beats published-plain {on}"]
    assert CurveSettings.from_preset("full", mp20_root="m", carbon_root="c",
                                     models=("cgcnn", "alignn")).claims("mp20/band_gap") == []


def test_recorded_figures_survive_a_summary_rewrite(tmp_path) -> None:
    from studies.kit.jobs import recorded

    assert recorded(tmp_path / "missing.json", "total_seconds") is None
    (tmp_path / "curves.json").write_text(json.dumps({"total_seconds": 2409.8}))
    assert recorded(tmp_path / "curves.json", "total_seconds") == 2409.8


def test_time_budget_counts_the_time_spent_fetching_batches(tmp_path) -> None:
    """Loading and augmenting a batch is training time: a data set that takes 10 clock
    seconds per crystal spends a 100-second budget in three steps of four crystals."""
    from cft_pyg.data.synthetic import SyntheticCrystals
    from cft_pyg.training import TrainConfig, fit

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            self.now += 1.0
            return self.now

    clock = Clock()

    class Slow:
        def __init__(self, items: list) -> None:
            self.items = items

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i: int):
            clock.now += 10.0
            return self.items[i]

    ds = SyntheticCrystals(root=tmp_path / "s", num_crystals=30, seed=0, max_atoms=8,
                           log=False)
    train, val = Slow([ds[i] for i in range(20)]), [ds[i] for i in range(20, 30)]
    budget = TimeBudget(100.0, eval_points=1, warmup_fraction=0.0, clock=clock)
    config = TrainConfig(model="cgcnn", model_kwargs={"atom_fea_len": 8, "n_conv": 1,
                                                      "h_fea_len": 8},
                         batch_size=4, patience=None, warmup_epochs=0.0, progress_bar=False,
                         output_dir=str(tmp_path / "run"))
    fit(config, train, val, None, overwrite=True, budget=budget)
    assert budget.steps == 3 and budget.train_seconds == 3 * 41.0


@pytest.mark.slow  # processes real crystals and trains
def test_a_model_with_its_own_featurization_gets_its_crystals(tmp_path, shared_data_dir
                                                               ) -> None:
    """A catalog entry's featurization: the study loader featurizes the crystals so (its
    graph then differs), and the trainer refuses crystals featurized otherwise rather than
    training the model on them silently."""
    from cft_pyg.data import FeaturizationMismatchError, featurization_of
    from studies.kit.catalog import model_entry, target_entry
    from studies.kit.data import load_parts
    from studies.kit.trainer import train

    root = shared_data_dir / "carbon_24"
    entry = model_entry("cgcnn-measured")
    assert entry.featurization == {"geometry": "measured"}
    default = load_parts("carbon24", str(root), 12, 4, 4)
    measured = load_parts("carbon24", str(root), 12, 4, 4, entry.featurization)
    assert featurization_of(measured[0]).geometry == "measured"
    assert featurization_of(default[0]).geometry == "symmetrized"
    assert [int(d.space_group) for d in measured[0]] == [int(d.space_group) for d in default[0]]
    target = target_entry("carbon24/energy_per_atom")
    with pytest.raises(FeaturizationMismatchError, match="geometry"):
        train("cgcnn-measured", target, default[0], default[1], None, seed=0,
              output_dir=tmp_path / "run", epochs=1)
    run = train("cgcnn-measured", target, measured[0], measured[1], None, seed=0,
                output_dir=tmp_path / "run", epochs=1)
    assert run.result.module.featurization.geometry == "measured"
