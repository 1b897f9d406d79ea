r"""Accuracy against training seconds: wall-clock learning curves on the full project splits.

Every (target, model, seed) trains for the **same budget of training seconds** (one torch
thread; two jobs side by side on a 2-core machine) through the engine's
:class:`~cft_pyg.training.TimeBudget`: the learning rate follows the clock (linear warm-up
over ``warmup_fraction`` of the budget, cosine decay to zero when it is spent), the
validation MAE on a fixed random subset of project-val (``n_val_curve`` crystals) is
measured at ``eval_points`` equally spaced moments of training time (the clock stops while
validating), and the weights of the best moment are evaluated on the **whole** project-test
split. Training seconds include data loading and the optimizer, not validation.

Models: the catalog's curve models (:func:`~studies.kit.catalog.models_for`; ALIGNN
in its small configuration: on 2 CPU cores the published size trains at about 0.6
crystals/s). Targets: MP-20 formation energy and band gap (all 14,475 project-train
crystals), Carbon-24 energy (its 3,250). MP-20 tables add the composition-only floor.

**Extended budgets.** At the common budget ALIGNN does not pass one MP-20 epoch.
``extended_budgets`` gives chosen models a longer budget on ``extended_targets`` (extra runs;
the common-budget runs stay). The claims (:class:`~studies.kit.claims.Claim`): the
CFT against every other model at the common budget and at every extended budget it shares
(bootstrap over test crystals of the seed-averaged errors), and "the CFT reaches ALIGNN's
best validation MAE in at most one fifth of ALIGNN's time" (ALIGNN's longest run, the CFT's
common-budget run).

``python -m studies.curves --preset full`` appends each run to
``<output>/curves_runs.jsonl`` (``--resume`` keeps them) and writes ``curves.json`` and
``curves.png``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cft_pyg.training.presets import setting

from .kit.catalog import TARGETS, label_of, model_entry, models_for, target_entry
from .kit.claims import Claim, judge, judge_reach
from .kit.data import load_parts
from .kit.jobs import recorded
from .kit.statistics import mean_curve, mean_std
from .kit.study import Study, StudySettings, default_root, study_main
from .kit.trainer import train

__all__ = ["CurveSettings", "STUDY", "entry_name", "main", "run", "summarize"]


@dataclass
class CurveSettings(StudySettings):
    """Settings of the wall-clock learning curves (presets ``'full'`` and ``'quick'``)."""

    mp20_root: str = setting(lambda: default_root("mp20"), "MP-20 folder", "DIR")
    carbon_root: str = setting(lambda: default_root("carbon24"), "Carbon-24 folder", "DIR")
    targets: tuple[str, ...] = setting(tuple(TARGETS), "target keys")
    models: tuple[str, ...] | None = setting(None, "catalog models (default: the catalog's "
                                             "curve models)")
    seeds: tuple[int, ...] = setting((0, 1), "training seeds")
    budget_seconds: float = setting(240.0, "the common budget of training seconds")
    extended_budgets: dict[str, float] = setting(
        lambda: {"alignn": 1200.0, "cft": 1200.0},
        "longer budgets of some models on the extended targets (JSON)", "JSON")
    extended_targets: tuple[str, ...] = setting(
        ("mp20/formation_energy_per_atom", "mp20/band_gap"), "targets of the extended budgets")
    eval_points: int = setting(8, "validation moments per run")
    n_train: int | None = setting(None, "training crystals (None: all)")
    n_val_curve: int = setting(400, "validation crystals of the curve")
    n_test: int | None = setting(None, "test crystals (None: all)")
    batch_size: int = setting(64, "crystals per batch")
    lr: float = setting(1e-3, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    warmup_fraction: float = setting(0.05, "warm-up share of the budget")
    reach_fraction: float = setting(0.2, "the share of ALIGNN's time in the reach claim")
    references: tuple[str, ...] = setting(("cft",), "models whose claims are judged, each "
                                          "against every model but the references before "
                                          "it")
    claim_criterion: str = setting("bootstrap", "criterion of the claims (bootstrap, "
                                   "two_std, mean)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {"quick": True, "seeds": (0,), "budget_seconds": 2.0, "eval_points": 2,
                  "n_train": 48, "n_val_curve": 16, "n_test": 16, "batch_size": 16,
                  "jobs": 1, "extended_budgets": {}},
    }

    def model_names(self) -> tuple[str, ...]:
        return self.models or models_for("curves", self.quick)

    def budgets_of(self, target: str, model: str) -> list[float]:
        """The common budget, and ``model``'s extended one on ``target`` where it has one."""
        out = [float(self.budget_seconds)]
        if target in self.extended_targets and model in self.extended_budgets:
            longer = float(self.extended_budgets[model])
            if longer <= out[0]:
                raise ValueError(f"the extended budget of {model} ({longer:g} s) must be "
                                 f"longer than the common budget ({out[0]:g} s)")
            out.append(longer)
        return out

    def runs(self) -> list[tuple[str, str, int, float]]:
        """Every ``(target, model, seed, budget)`` job, the longest and costliest first."""
        order = sorted(self.model_names(), key=lambda m: -model_entry(m).cost)
        jobs = [(t, m, s, b) for t in self.targets for m in order
                for b in self.budgets_of(t, m) for s in self.seeds]
        return sorted(jobs, key=lambda j: -j[3])

    def claims(self, target: str) -> list[Claim]:
        """Each reference (default the CFT) against every other model but the references
        before it, at every budget they share, and the CFT's reach claim against ALIGNN."""
        models = self.model_names()
        out: list[Claim] = []
        refs = [r for r in self.references if r in models]
        for i, ref in enumerate(refs):
            for budget in self.budgets_of(target, ref):
                out += [Claim(ref, m, target,
                              None if budget == self.budget_seconds else budget,
                              criterion=self.claim_criterion)
                        for m in models if m not in refs[:i + 1]
                        and budget in self.budgets_of(target, m)]
        if "cft" in refs and "alignn" in models:
            out.append(Claim("cft", "alignn", target, criterion="reach",
                             fraction=self.reach_fraction))
        return out


def entry_name(model: str, budget: float, common: float) -> str:
    """Summary key of ``model``'s runs at ``budget``: the model name at the common budget,
    ``'<model>@<budget>s'`` at an extended one."""
    return model if budget == common else f"{model}@{budget:g}s"


def _splits(settings: CurveSettings, dataset: str, model: str | None = None
            ) -> tuple[Any, Any, Any]:
    """The parts of ``dataset``, featurized as ``model``'s catalog entry asks."""
    root = settings.mp20_root if dataset == "mp20" else settings.carbon_root
    return load_parts(dataset, root, settings.n_train, settings.n_val_curve, settings.n_test,
                      model_entry(model).featurization if model else None)


def _run_job(settings: CurveSettings, job: tuple[str, str, int, float]) -> dict[str, Any]:
    target, model, seed, budget = job
    t = target_entry(target)
    train_set, val_set, test_set = _splits(settings, t.dataset, model)
    load_start = os.getloadavg()
    run = train(model, t, train_set, val_set, test_set, seed=seed,
                output_dir=settings.workdir() / target.replace("/", "_")
                / f"{model}_seed{seed}_{budget:g}s",
                budget_seconds=budget, eval_points=settings.eval_points,
                warmup_fraction=settings.warmup_fraction, batch_size=settings.batch_size,
                lr=settings.lr, weight_decay=settings.weight_decay)
    b, report = run.budget, run.result.test_report
    errors = (report.predictions["y_pred"] - report.predictions["y_true"]).abs().to_numpy()
    return {
        "kind": "curve", "target": target, "property": t.column, "model": model, "seed": seed,
        "model_kwargs": model_entry(model).kwargs, "parameters": run.parameters,
        "n_train": len(train_set), "n_val_curve": len(val_set), "n_test": len(test_set),
        "budget_seconds": budget, "train_seconds": b.train_seconds, "steps": b.steps,
        "epochs": b.seen / len(train_set),
        "crystals_per_second": b.seen / b.train_seconds if b.train_seconds else None,
        "curve": b.curve, "best": min(b.curve, key=lambda p: p["val_mae"]),
        "best_val_mae": b.best_val_mae, "test_mae": report.overall["mae"],
        "test_abs_errors": [round(float(e), 6) for e in errors],
        "eval_seconds": b.eval_seconds, "wall_seconds": run.wall_seconds,
        "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
    }


def _key(r: dict[str, Any]) -> tuple[str, str, int, float]:
    return (r["target"], r["model"], int(r["seed"]), float(r["budget_seconds"]))


def summarize(settings: CurveSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target: per model statistics and mean curves, and the judged claims."""
    summary: dict[str, Any] = {}
    common = float(settings.budget_seconds)
    for target in settings.targets:
        entries: dict[str, tuple[str, float, list[dict[str, Any]]]] = {}
        for m in settings.model_names():
            for b in settings.budgets_of(target, m):
                rs = sorted((r for r in runs if r["target"] == target and r["model"] == m
                             and float(r["budget_seconds"]) == b), key=lambda r: r["seed"])
                if rs:
                    entries[entry_name(m, b, common)] = (m, b, rs)
        if not entries:
            continue
        models = {}
        for name, (m, b, rs) in entries.items():
            models[name] = {
                "label": label_of(m) + ("" if b == common else f", {b:g} s"), "model": m,
                "budget_seconds": b, "seeds": [r["seed"] for r in rs],
                "parameters": rs[0]["parameters"],
                "test_mae": mean_std([r["test_mae"] for r in rs]),
                "best_val_mae": mean_std([r["best_val_mae"] for r in rs]),
                "epochs": mean_std([r["epochs"] for r in rs]),
                "crystals_per_second": mean_std([r["crystals_per_second"] for r in rs]),
                "curve": mean_curve(rs),
            }
        claims: dict[str, Any] = {}
        for c in settings.claims(target):
            if c.criterion == "reach":
                longest = max((n for n, e in entries.items() if e[0] == c.worse),
                              key=lambda n: entries[n][1], default=None)
                if longest is not None and c.better in models:
                    claims[c.key] = {"worse_budget_seconds": entries[longest][1],
                                     **judge_reach(c, models[c.better]["curve"],
                                                   models[longest]["curve"])}
                continue
            a = entries.get(entry_name(c.better, c.budget or common, common))
            b = entries.get(entry_name(c.worse, c.budget or common, common))
            if a is None or b is None:
                continue
            result = judge(c, {r["seed"]: r["test_mae"] for r in a[2]},
                           {r["seed"]: r["test_mae"] for r in b[2]},
                           {r["seed"]: np.asarray(r["test_abs_errors"]) for r in a[2]},
                           {r["seed"]: np.asarray(r["test_abs_errors"]) for r in b[2]})
            if result is not None:
                claims[c.key] = {"budget_seconds": c.budget or common, **result}
        summary[target] = {"models": models, "claims": claims}
    return summary


def _floors(settings: CurveSettings) -> dict[str, Any]:
    from .kit.composition import composition_floor

    path = Path(settings.output_dir) / "curves.json"
    kept, old = recorded(path, "composition_floors"), recorded(path, "settings") or {}
    wanted = {t for t in settings.targets if target_entry(t).dataset == "mp20"}
    if kept is not None and set(kept) >= wanted and all(
            old.get(k) == getattr(settings, k) for k in ("n_train", "n_val_curve", "n_test")):
        return {t: kept[t] for t in wanted}
    return {t: composition_floor(*_splits(settings, "mp20"), target_entry(t).index)
            for t in wanted}


def _results(settings: CurveSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"composition_floors": _floors(settings), "summary": summarize(settings, runs),
            "runs": [{k: v for k, v in r.items() if k != "test_abs_errors"} for r in runs]}


def _figure(payload: dict[str, Any], out: Path) -> None:
    from .kit.figures import plot_curves

    plot_curves(payload, out / "curves.png")


STUDY = Study("curves", lambda s: s.runs(), _run_job, _key, tuple,
              lambda r: (f"{r['target']} {r['model']} seed {r['seed']}: test MAE "
                         f"{r['test_mae']:.4f} after {r['epochs']:.2f} epochs "
                         f"({r['crystals_per_second']:.0f} crystals/s)"), _results,
              prepare=lambda s: [_splits(s, target_entry(t).dataset, m)
                                 for t in s.targets for m in s.model_names()],
              extra=_figure)


def run(settings: CurveSettings, *, resume: bool = False, echo: Any = print) -> dict[str, Any]:
    """Run every missing job of ``settings`` and write ``curves.json`` / ``curves.png``."""
    from .kit.study import run_study

    return run_study(STUDY, settings, resume=resume, echo=echo)


def _print(payload: dict[str, Any]) -> None:
    for target, block in payload["summary"].items():
        print(f"\n{target}")
        for name, row in block["models"].items():
            print(f"  {name:22s} test MAE {row['test_mae']['mean']:.4f} after "
                  f"{row['epochs']['mean']:.2f} epochs")
        for key, c in block["claims"].items():
            print(f"  {key}: {'met' if c['met'] else 'not met'}")


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, CurveSettings, argv, __doc__.split("\n\n")[0], _print)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
