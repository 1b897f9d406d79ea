"""``cft-pyg demo``: one CFT for all 230 space groups, random-split and zero-shot evaluation.

The zero-shot protocol: the held-out groups are the 92 centrosymmetric ones
(:func:`cft_pyg.data.centrosymmetric_groups`), the GB-gap is
:func:`cft_pyg.training.evaluation.gb_gap`.

On the built-in :class:`~cft_pyg.data.SyntheticCrystals` (every group present) the demo

1. splits the crystals of the groups **without** inversion (``seen``) and **with** inversion
   (``centrosymmetric``, about half of the groups) each at random into train/val/test;
2. trains a CFT on all groups (``model 'all-groups'``): its test MAE on the test crystals of
   both families is the ordinary random-split result;
3. trains the same CFT **without any centrosymmetric crystal** (``model 'zero-shot'``) and
   tests it on the centrosymmetric test crystals: groups it never saw, predicted with the same
   weights through their own symmetry-adapted encodings;
4. prints MAE tables (overall, per crystal system, the GB-gap of the published CFT: mean over
   held-out groups of ``|MAE_zero-shot - MAE_all-groups|``) and writes plots (parity,
   per-crystal-system MAE, learning curves) and CSV/JSON tables into the output folder.

Both models see identical test crystals, so the comparison is paired.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .training.presets import Presets, setting

if TYPE_CHECKING:  # light to import: the command line builds its flags from DemoSettings
    import pandas as pd

    from .training.evaluation import EvaluationReport

__all__ = ["DemoResult", "DemoSettings", "run_demo"]


@dataclass
class DemoSettings(Presets):
    """Settings of the demo (the defaults, or preset ``'quick'``: seconds, for tests;
    ``DemoSettings.from_preset(name, **changes)``).

    Attributes:
        num_crystals: synthetic crystals (all 230 groups appear once it is >= 230).
        seed: seed of data, splits and training.
        epochs, batch_size, lr, warmup_epochs, patience: training (see :class:`TrainConfig`).
        model: model name; ``model_kwargs`` its size.
        val_fraction, test_fraction: per family (seen / centrosymmetric).
        data_root: cache folder of the synthetic dataset (``None``: the default cache).
        max_atoms: largest synthetic cell.
        output_dir: where everything goes.
        progress_bar: show progress bars.
    """

    num_crystals: int = setting(2000, "synthetic crystals (all 230 groups from 230 on)")
    seed: int = setting(0, "seed of data, splits and training")
    epochs: int = setting(8, "training epochs")
    batch_size: int = setting(32, "crystals per batch")
    lr: float = setting(1e-3, "AdamW learning rate")
    warmup_epochs: float = setting(1.0, "linear warm-up, in epochs")
    patience: int | None = setting(None, "early-stopping patience (None: off)")
    model: str = setting("cft", "model name")
    model_kwargs: dict[str, Any] = setting(lambda: {"channels": 64, "num_blocks": 2, "heads": 4},
                                           "model constructor arguments (JSON)", "JSON")
    val_fraction: float = setting(0.1, "validation fraction per family")
    test_fraction: float = setting(0.15, "test fraction per family")
    data_root: str | None = setting(None, "cache folder of the synthetic dataset", "DIR")
    max_atoms: int = setting(48, "largest synthetic cell")
    output_dir: str = setting("cft-demo", "where tables, plots and checkpoints go", "DIR")
    progress_bar: bool = setting(True, "show progress bars", flags=("--progress",))

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"num_crystals": 120, "epochs": 1, "batch_size": 32, "test_fraction": 0.2,
                  "model_kwargs": {"channels": 16, "num_blocks": 1, "heads": 2}},
    }

    def update(self, values: dict[str, Any]) -> DemoSettings:
        """A copy with ``values`` applied (unknown keys raise :class:`ValueError`)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown demo option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        new = dataclasses.replace(self, **values)
        if new.num_crystals < 20:
            raise ValueError(f"num_crystals must be >= 20, got {new.num_crystals}")
        if new.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {new.epochs}")
        new.train_config()  # bad training settings fail here, before any data is made
        return new

    def train_config(self) -> Any:
        """The :class:`~cft_pyg.training.TrainConfig` of the demo's two trainings.

        Raises:
            ConfigError: a training setting is out of range (e.g. ``lr <= 0``).
        """
        from .training.config import TrainConfig

        return TrainConfig(model=self.model, model_kwargs=dict(self.model_kwargs),
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           warmup_epochs=self.warmup_epochs, patience=self.patience,
                           seed=self.seed, progress_bar=self.progress_bar, devices=1)


@dataclass
class DemoResult:
    """Reports of the two models on the two test families and the summary numbers."""

    summary: dict[str, Any]
    reports: dict[str, EvaluationReport]
    output_dir: Path


def _split_family(indices: Sequence[int], val_fraction: float, test_fraction: float,
                  seed: int) -> tuple[list[int], list[int], list[int]]:
    from .data import splits as S

    fr = (1.0 - val_fraction - test_fraction, val_fraction, test_fraction)
    tr, va, te = S.random_split(len(indices), fr, seed=seed)
    return tuple([indices[i] for i in part.tolist()] for part in (tr, va, te))  # type: ignore


def _plots(out: Path, reports: dict[str, EvaluationReport],
           curves: dict[str, pd.DataFrame]) -> list[Path]:
    """Parity, MAE per crystal system and learning curves, drawn by :mod:`cft_pyg.viz`."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from .viz import (
        plot_learning_curves,
        plot_mae_by_crystal_system,
        plot_parity,
        save_figure,
    )

    series = {"all/seen": "all-groups model, seen groups",
              "all/centro": "all-groups model, centrosym. groups",
              "zeroshot/centro": "zero-shot model, centrosym. groups (unseen)"}
    parity = plot_parity({label: reports[key].predictions for key, label in series.items()},
                         quantity="energy", unit="eV/atom", ncols=3)
    per_system = pd.concat([reports[key].per_crystal_system.assign(model=label)
                            for key, label in series.items()], ignore_index=True)
    systems = plot_mae_by_crystal_system(per_system[["model", "crystal_system", "mae"]],
                                         unit="eV/atom", title="MAE per crystal system")
    learning = plot_learning_curves({f"{name} model": df for name, df in curves.items()},
                                    unit="eV/atom")
    return [save_figure(parity, out / "parity.png", dpi=120),
            save_figure(systems, out / "mae_per_crystal_system.png", dpi=120),
            save_figure(learning, out / "learning_curves.png", dpi=120)]


def run_demo(settings: DemoSettings | None = None, *, overwrite: bool = False,
             echo: Callable[[str], None] = print) -> DemoResult:
    """Run the demo (see the module docstring); returns and writes the results.

    Raises:
        FileExistsError: ``settings.output_dir`` is not empty and ``overwrite`` is false.
    """
    import pandas as pd

    from .data.splits import centrosymmetric_groups, space_groups_of
    from .data.synthetic import SyntheticCrystals
    from .training import epoch_metrics, evaluate, fit
    from .training.data import subset
    from .training.evaluation import evaluation_report, format_table, gb_gap

    s = settings or DemoSettings()
    out = Path(s.output_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output folder {out} is not empty (use --overwrite)")
        for sub in ("runs",):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    echo(f"[1/4] synthetic dataset: {s.num_crystals} crystals over all 230 space groups")
    ds = SyntheticCrystals(root=s.data_root, num_crystals=s.num_crystals, seed=s.seed,
                           max_atoms=s.max_atoms, log=s.progress_bar)
    groups = space_groups_of(ds).tolist()
    centro = centrosymmetric_groups()
    held = [g in set(centro) for g in groups]
    seen_idx = [i for i, h in enumerate(held) if not h]
    cen_idx = [i for i, h in enumerate(held) if h]
    s_tr, s_va, s_te = _split_family(seen_idx, s.val_fraction, s.test_fraction, s.seed)
    c_tr, c_va, c_te = _split_family(cen_idx, s.val_fraction, s.test_fraction, s.seed + 1)
    centro_present = {g for g, h in zip(groups, held) if h}
    echo(f"      {len(set(groups))} groups; the {len(centro_present)} centrosymmetric groups "
         f"present ({len(cen_idx)} crystals; {len(centro)} exist) are held out from the "
         "zero-shot model")
    t_data = time.perf_counter() - t0

    base = s.train_config()
    tests = {"seen": subset(ds, s_te), "centro": subset(ds, c_te)}
    plans = {
        "all": (subset(ds, s_tr + c_tr), subset(ds, s_va + c_va)),
        "zeroshot": (subset(ds, s_tr), subset(ds, s_va)),
    }
    reports: dict[str, EvaluationReport] = {}
    curves: dict[str, pd.DataFrame] = {}
    timings: dict[str, float] = {"data_s": t_data}
    for step, (name, (train, val)) in enumerate(plans.items(), start=2):
        label = "on all groups" if name == "all" else "without centrosymmetric groups"
        echo(f"[{step}/4] training {s.model} {label}: {len(train)} train / {len(val)} val "
             f"crystals, {s.epochs} epochs")
        t = time.perf_counter()
        cfg = base.replace(output_dir=str(out / "runs" / name))
        result = fit(cfg, train, val, None, overwrite=True)
        timings[f"train_{name}_s"] = time.perf_counter() - t
        curves[name] = epoch_metrics(out / "runs" / name / "logs")
        for fam, test in tests.items():
            rep = evaluate(result.module, test, config=cfg.replace(progress_bar=False))
            reports[f"{name}/{fam}"] = rep
            rep.write(out / "tables", prefix=f"{name}_model_{fam}_groups_", overwrite=True)

    # random-split result of the all-groups model over both families
    both = pd.concat([reports["all/seen"].predictions, reports["all/centro"].predictions],
                     ignore_index=True)
    ref = reports["all/seen"].overall.get("mae_predict_mean")
    random_split = evaluation_report(both[["material_id", "space_group", "natoms", "y_true",
                                           "y_pred"]])
    mean_all = float(pd.concat([reports["all/seen"].predictions,
                                reports["all/centro"].predictions])["y_true"].mean())
    summary: dict[str, Any] = {
        "num_crystals": s.num_crystals,
        "num_space_groups": len(set(groups)),
        "num_centrosymmetric_groups_held_out": len(centro),
        "random_split_test_mae": random_split.overall["mae"],
        "random_split_test_n": random_split.overall["n"],
        "seen_groups_test_mae": {"all_groups_model": reports["all/seen"].overall["mae"],
                                 "zero_shot_model": reports["zeroshot/seen"].overall["mae"]},
        "centrosymmetric_test_mae": {
            "all_groups_model": reports["all/centro"].overall["mae"],
            "zero_shot_model": reports["zeroshot/centro"].overall["mae"]},
        "predict_training_mean_mae": {"seen": ref,
                                      "centro": reports["all/centro"].overall["mae_predict_mean"]},
        "gb_gap": gb_gap(reports["zeroshot/centro"].per_space_group,
                         reports["all/centro"].per_space_group)[0],
        "test_target_mean": mean_all,
        "settings": dataclasses.asdict(s),
    }

    echo("[4/4] results (test MAE, eV/atom)")
    rows = [
        {"test crystals": "seen groups (no inversion)", "n": reports["all/seen"].overall["n"],
         "all-groups model": reports["all/seen"].overall["mae"],
         "zero-shot model": reports["zeroshot/seen"].overall["mae"],
         "predict mean": reports["all/seen"].overall["mae_predict_mean"]},
        {"test crystals": "centrosymmetric groups", "n": reports["all/centro"].overall["n"],
         "all-groups model": reports["all/centro"].overall["mae"],
         "zero-shot model": reports["zeroshot/centro"].overall["mae"],
         "predict mean": reports["all/centro"].overall["mae_predict_mean"]},
        {"test crystals": "random split (both)", "n": random_split.overall["n"],
         "all-groups model": random_split.overall["mae"], "zero-shot model": float("nan"),
         "predict mean": float("nan")},
    ]
    table = pd.DataFrame(rows)
    table.to_csv(out / "summary.csv", index=False)
    echo(format_table(table))
    echo(f"\nzero-shot on {len(reports['zeroshot/centro'].per_space_group)} unseen "
         f"centrosymmetric groups: GB-gap (mean over groups of |MAE_zero-shot - "
         f"MAE_all-groups|) = {summary['gb_gap']:.4f}")
    cs = reports["zeroshot/centro"].per_crystal_system[["crystal_system", "n", "mae"]].rename(
        columns={"mae": "zero-shot MAE"})
    cs = cs.merge(reports["all/centro"].per_crystal_system[["crystal_system", "mae"]].rename(
        columns={"mae": "all-groups MAE"}), on="crystal_system")
    echo("\ncentrosymmetric test crystals per crystal system:")
    echo(format_table(cs))

    plots = _plots(out, reports, curves)
    timings["total_s"] = time.perf_counter() - t0
    summary["timings"] = timings
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    echo(f"\nplots: {', '.join(str(p) for p in plots)}")
    echo(f"tables: {out / 'tables'}, summary: {out / 'summary.json'}; "
         f"total {timings['total_s']:.0f} s")
    return DemoResult(summary, reports, out)
