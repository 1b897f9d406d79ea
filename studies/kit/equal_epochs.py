r"""The equal-epochs protocol of the studies that compare variants (the ablation, the
published architecture): every (target, variant, seed) trains for a fixed number of epochs
(cosine schedule to zero, so the validation MAE plateaus at the end; the curve is recorded) and
is evaluated on the test split at its best validation epoch.

A study over this protocol is a thin module: an :class:`EqualEpochsSettings` subclass that
says which variants run on which target (:meth:`~EqualEpochsSettings.variants`) and what is
claimed (:meth:`~EqualEpochsSettings.claims`), and ``make_study(name)``. Targets: Carbon-24
energy (all of its val + test, project split), MP-20 formation energy and band gap
(``n_train_mp20`` crystals of project-train, full project-val/test); MP-20 tables add the
composition-only floor (:mod:`studies.kit.composition`). A variant with
``pretrained_encoding`` in the catalog starts from an encoding pretrained once in the study;
one with ``shipped_encoding`` from that shipped encoder.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cft_pyg.training.presets import setting

from .catalog import TARGETS, model_entry, target_entry
from .claims import Claim, judge
from .data import load_parts
from .jobs import recorded, wait_for
from .statistics import mean_std
from .study import Study, StudySettings, default_root
from .trainer import crystals_per_second, pretrain, train

__all__ = ["EqualEpochsSettings", "composition_floors", "make_study", "print_summary",
           "summarize"]


@dataclass
class EqualEpochsSettings(StudySettings):
    """Settings of an equal-epochs study (``from_preset('full' | 'quick', **changes)``);
    subclasses define :meth:`variants`, :meth:`claims` and :attr:`study_name`."""

    study_name: ClassVar[str] = ""

    carbon_root: str = setting(lambda: default_root("carbon24"), "Carbon-24 folder", "DIR")
    mp20_root: str = setting(lambda: default_root("mp20"), "MP-20 folder", "DIR")
    targets: tuple[str, ...] = setting(tuple(TARGETS), "target keys")
    models: tuple[str, ...] | None = setting(
        None, "variants (catalog names; default: the catalog's models of the study)")
    seeds: tuple[int, ...] = setting((0, 1, 2), "training seeds")
    epochs: dict[str, int] = setting(lambda: {
        "carbon24/energy_per_atom": 25, "mp20/formation_energy_per_atom": 15,
        "mp20/band_gap": 15}, "epochs per target (JSON)", "JSON")
    n_train_mp20: int | None = setting(5000, "MP-20 training crystals")
    n_train_carbon: int | None = setting(None, "Carbon-24 training crystals (None: all)")
    n_eval: int | None = setting(None, "validation and test crystals (None: all)")
    batch_size: int = setting(64, "crystals per batch")
    lr: float = setting(1e-3, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    warmup_epochs: float = setting(2.0, "linear warm-up, in epochs")
    pretrain_pairs_per_group: int = setting(256, "pretraining pairs per group")
    pretrain_epochs: int = setting(20, "pretraining epochs")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {"quick": True, "seeds": (0,), "n_train_mp20": 48, "n_train_carbon": 48,
                  "n_eval": 24, "epochs": dict.fromkeys(TARGETS, 2), "batch_size": 16,
                  "pretrain_pairs_per_group": 4, "pretrain_epochs": 1, "warmup_epochs": 0.0},
    }

    def variants(self, target: str) -> tuple[str, ...]:
        """The variants trained on ``target``."""
        raise NotImplementedError

    def claims(self) -> list[Claim]:
        """The claims judged per target."""
        raise NotImplementedError


def _pretrained_path(settings: EqualEpochsSettings) -> Path:
    return Path(settings.workdir()) / "pretrained_encoding.pt"


def _splits(settings: EqualEpochsSettings, dataset: str) -> tuple[Any, Any, Any]:
    root, n = ((settings.mp20_root, settings.n_train_mp20) if dataset == "mp20"
               else (settings.carbon_root, settings.n_train_carbon))
    return load_parts(dataset, root, n, settings.n_eval, settings.n_eval)


def _jobs(settings: EqualEpochsSettings) -> list[Any]:
    trainings = [(t, v, s) for t in settings.targets for v in settings.variants(t)
                 for s in settings.seeds]
    trainings.sort(key=lambda j: model_entry(j[1]).pretrained_encoding is True)
    needs = any(model_entry(j[1]).pretrained_encoding for j in trainings)
    return (["pretrain"] if needs else []) + trainings


def _run_job(settings: EqualEpochsSettings, job: Any) -> dict[str, Any]:
    if job == "pretrain":
        name = next(v for t in settings.targets for v in settings.variants(t)
                    if model_entry(v).pretrained_encoding is True)
        return pretrain(_pretrained_path(settings), name,
                        settings.pretrain_pairs_per_group, settings.pretrain_epochs)
    target, variant, seed = job
    entry, t = model_entry(variant), target_entry(target)
    train_set, val_set, test_set = _splits(settings, t.dataset)
    pretrained = wait_for(_pretrained_path(settings)) if entry.pretrained_encoding else None
    run = train(variant, t, train_set, val_set, test_set, seed=seed,
                output_dir=settings.workdir() / target.replace("/", "_") / f"{variant}_seed{seed}",
                epochs=settings.epochs[target], batch_size=settings.batch_size, lr=settings.lr,
                weight_decay=settings.weight_decay, warmup_epochs=settings.warmup_epochs,
                pretrained_encoding=pretrained)
    curve = run.epoch_curve()
    train_seconds = float(curve["train_seconds"].max()) if "train_seconds" in curve else math.nan
    epochs_done = int(curve["epoch"].max()) + 1 if len(curve) else 0
    report = run.result.test_report
    return {
        "kind": "training", "target": target, "property": t.column, "variant": variant,
        "model": entry.model, "model_kwargs": entry.kwargs, "seed": seed,
        "parameters": run.parameters,
        "n_train": len(train_set), "n_val": len(val_set), "n_test": len(test_set),
        "best_val_mae": run.result.best_val_mae,
        "best_epoch": int(curve.loc[curve["val_mae"].idxmin(), "epoch"]) if len(curve) else None,
        "test_mae": report.overall["mae"] if report is not None else None,
        "train_seconds": train_seconds, "wall_seconds": run.wall_seconds,
        "train_crystals_per_second": crystals_per_second(len(train_set), epochs_done,
                                                         train_seconds),
        "curve": {c: [None if (isinstance(v, float) and math.isnan(v)) else v
                      for v in curve[c].tolist()] for c in curve.columns},
        "loadavg": os.getloadavg(),
    }


def _run_key(run: dict[str, Any]) -> Any:
    return "pretrain" if run.get("kind") == "pretraining" else (
        run["target"], run["variant"], run["seed"])


def _describe(r: dict[str, Any]) -> str:
    if r["kind"] == "pretraining":
        return f"pretraining: held-out orbit-distance MAE {r['heldout_mae']:.3f} Å"
    return (f"{r['target']} {r['variant']} seed {r['seed']}: test MAE {r['test_mae']:.4f}, "
            f"{r['train_seconds']:.0f} s")


def composition_floors(settings: EqualEpochsSettings) -> dict[str, Any]:
    from .composition import composition_floor

    # a rewrite from the log keeps the floors of the same data (they take minutes)
    path = Path(settings.output_dir) / f"{settings.study_name}.json"
    kept, old = recorded(path, "composition_floors"), recorded(path, "settings") or {}
    wanted = {t for t in settings.targets if t.startswith("mp20")}
    if kept is not None and set(kept) >= wanted and all(
            old.get(k) == getattr(settings, k) for k in ("n_train_mp20", "n_eval")):
        return {t: kept[t] for t in wanted}
    floors = {}
    for target in settings.targets:
        t = target_entry(target)
        if t.dataset == "mp20":
            floors[target] = composition_floor(*_splits(settings, "mp20"), t.index)
    return floors


def summarize(settings: EqualEpochsSettings, runs: list[dict[str, Any]],
              floors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mean ± std per (target, variant) and the judged claims per target."""
    training = [r for r in runs if r.get("kind") == "training"]
    summary: dict[str, Any] = {}
    for target in settings.targets:
        rows_of: dict[str, list[dict[str, Any]]] = {}
        for r in training:
            if r["target"] == target:
                rows_of.setdefault(r["variant"], []).append(r)
        if not rows_of:
            continue
        rows = {}
        for variant in [v for v in settings.variants(target) if v in rows_of] + [
                v for v in rows_of if v not in settings.variants(target)]:
            rs = sorted(rows_of[variant], key=lambda r: r["seed"])
            rows[variant] = {
                "test_mae": mean_std([r["test_mae"] for r in rs]),
                "best_val_mae": mean_std([r["best_val_mae"] for r in rs]),
                "train_seconds": mean_std([r["train_seconds"] for r in rs]),
                "crystals_per_second": mean_std([r["train_crystals_per_second"] for r in rs]),
                "parameters": rs[0]["parameters"], "best_epoch": [r["best_epoch"] for r in rs],
                "epochs": len(rs[0]["curve"].get("epoch", [])),
            }
        by_seed = {v: {r["seed"]: r["test_mae"] for r in rs} for v, rs in rows_of.items()}
        claims = {}
        for c in settings.claims():
            if c.target == target and c.better in by_seed and c.worse in by_seed:
                claims[c.key] = judge(c, by_seed[c.better], by_seed[c.worse])
        summary[target] = {"variants": rows, "claims": claims}
        if floors and target in floors:
            floor = floors[target]
            summary[target]["composition_floor"] = floor
            cft = rows.get("cft", {}).get("test_mae", {}).get("mean")
            if cft is not None and target.endswith("formation_energy_per_atom"):
                summary[target]["cft_below_composition_floor"] = cft < floor["test_mae"]
    return summary


def results(settings: EqualEpochsSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    floors = composition_floors(settings)
    return {"runs": runs, "summary": summarize(settings, runs, floors),
            "composition_floors": floors}


def make_study(name: str) -> Study:
    """The :class:`~studies.kit.study.Study` ``name`` over this protocol."""
    return Study(name, _jobs, _run_job, _run_key,
                 lambda j: j if j == "pretrain" else tuple(j), _describe, results,
                 prepare=lambda s: [_splits(s, d) for d in
                                    {target_entry(t).dataset for t in s.targets}])


def print_summary(payload: dict[str, Any]) -> None:
    for target, block in payload["summary"].items():
        print(f"\n{target}")
        for variant, row in block["variants"].items():
            mae = row["test_mae"]
            std = f" ± {mae['std']:.4f}" if mae["std"] is not None else ""
            print(f"  {variant:22s} test MAE {mae['mean']:.4f}{std}  ({mae['n_seeds']} seeds, "
                  f"{row['parameters']} params, {row['train_seconds']['mean']:.0f} s)")
        if "composition_floor" in block:
            print(f"  composition-only floor: {block['composition_floor']['test_mae']:.4f}")
        for key, c in block["claims"].items():
            print(f"  {key}: {'met' if c['met'] else 'not met'}")
