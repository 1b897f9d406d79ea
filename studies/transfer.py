r"""Zero-shot transfer measured at equal data: the size- and step-matched protocol.

The published zero-shot protocol holds out every space group with inversion. On MP-20 those
groups hold about 76% of the crystals, so a zero-shot model trains on far fewer crystals than
an all-groups model and the GB-Gap mostly measures the lost data. Here
(:func:`studies.kit.zero_shot.matched_split` on the whole pool of 18,093 MP-20
crystals):

* the **test set** is ``test_fraction`` of the held-out-group crystals;
* the **zero-shot** model trains on the seen-group crystals;
* the **all-groups** model trains on a random subset, of the **same size**, of every crystal
  outside the test set, for the **same number of epochs and batch size** (hence optimizer
  steps), so the two differ only in which groups they saw;
* **few-shot** models add ``k`` crystals of every held-out group to the zero-shot training
  set (``few_shot_models`` only, for time).

Per model and seed: the held-out test MAE of each variant, the published GB-Gap (all
held-out groups), the GB-Gap over groups with at least ``min_group_count`` test crystals,
plain and count-weighted, and the relative degradation; over seeds, mean ± std; and the
claims "the CFT's GB-Gap is below every other model's" (for the CFT and the pretrained CFT;
paired per-seed differences and a bootstrap over held-out groups of the seed-averaged
gaps).

``python -m studies.transfer --preset full [--models ...] [--resume]`` appends
each run to ``<output>/transfer_runs.jsonl`` and writes ``transfer.json`` and
``transfer_fewshot.png``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from cft_pyg.training.presets import setting

from .kit.catalog import label_of, model_entry, models_for, target_entry
from .kit.claims import Claim, judge
from .kit.data import load_pool
from .kit.jobs import wait_for
from .kit.statistics import json_records, mean_std
from .kit.study import Study, StudySettings, default_root, study_main
from .kit.trainer import pretrain, train
from .kit.zero_shot import gb_gap, gb_gap_table, matched_split

__all__ = ["STUDY", "TransferSettings", "few_shot_table", "main", "run", "summarize"]

REFERENCES = ("cft", "cft-pretrained", "cft-subgroup-aug", "published", "published-pretrained")
"""The models whose GB-Gap is claimed below every other model's (with their ``+descent``
evaluations): the hybrid CFT variants and the published architecture with and without the
shipped pretrained encoder (the paper's Figure 3)."""

DESCENT = "+descent"
"""Suffix of a model's zero-shot runs evaluated with subgroup descent
(:mod:`cft_pyg.experimental.descent`): crystals of the held-out groups predicted through their
largest seen t-subgroups."""


@dataclass
class TransferSettings(StudySettings):
    """Settings of the size-matched zero-shot study (presets ``'full'`` and ``'quick'``)."""

    mp20_root: str = setting(lambda: default_root("mp20"), "MP-20 folder", "DIR")
    target: str = setting("formation_energy_per_atom", "MP-20 target")
    models: tuple[str, ...] | None = setting(None, "catalog models (default: the catalog's "
                                             "transfer models)")
    seeds: tuple[int, ...] = setting((0, 1, 2), "training seeds")
    few_shot_ks: tuple[int, ...] = setting((1, 5, 20), "crystals per held-out group added")
    few_shot_models: tuple[str, ...] = setting(("cft", "cgcnn"), "models with few-shot runs")
    descent_models: tuple[str, ...] = setting(("cft", "cft-subgroup-aug"),
                                              "models whose zero-shot runs are also evaluated "
                                              "with subgroup descent")
    epochs: int = setting(15, "epochs of every variant")
    model_epochs: dict[str, int] = setting(lambda: {"alignn": 3},
                                           "fewer epochs for some models (JSON)", "JSON")
    batch_size: int = setting(64, "crystals per batch")
    lr: float = setting(1e-3, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    warmup_epochs: float = setting(1.0, "linear warm-up, in epochs")
    test_fraction: float = setting(0.4, "share of the held-out-group crystals tested")
    val_fraction: float = setting(0.15, "validation share")
    min_group_count: int = setting(5, "test crystals a group needs to count in the GB-Gap")
    max_pool: int | None = setting(None, "first rows of each MP-20 part (None: all)")
    pretrain_pairs_per_group: int = setting(256, "pretraining pairs per group")
    pretrain_epochs: int = setting(20, "pretraining epochs")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {"quick": True, "seeds": (0,), "few_shot_ks": (1,), "epochs": 1,
                  "model_epochs": {}, "batch_size": 16, "warmup_epochs": 0.0, "max_pool": 200,
                  "pretrain_pairs_per_group": 2, "pretrain_epochs": 1, "jobs": 1,
                  "few_shot_models": ("cft",)},
    }

    def model_names(self) -> tuple[str, ...]:
        return self.models or models_for("transfer", self.quick)

    def epochs_of(self, model: str) -> int:
        """Epochs of ``model`` (the same for all its variants, so steps match)."""
        return int(self.model_epochs.get(model, self.epochs))

    def runs(self) -> list[tuple[str, int, str]]:
        """Every ``(model, seed, variant)`` job."""
        out = []
        for m in self.model_names():
            variants = ["zero-shot", "all-groups"]
            if m in self.few_shot_models:
                variants += [f"k{k}" for k in self.few_shot_ks]
            out += [(m, s, v) for s in self.seeds for v in variants]
        return out

    def descent_names(self) -> tuple[str, ...]:
        """``<model>+descent`` of every run model of :attr:`descent_models`."""
        return tuple(m + DESCENT for m in self.model_names() if m in self.descent_models)

    def claims(self) -> list[Claim]:
        """The GB-Gap of each CFT variant (pretrained, augmented, with descent) below every
        other model's."""
        models = self.model_names()
        refs = [m for m in models if m in REFERENCES]
        refs += [d for d in self.descent_names() if d[:-len(DESCENT)] in refs]
        return [Claim(ref, m) for ref in refs for m in models if m not in REFERENCES]


def split_of(settings: TransferSettings) -> Any:
    """The matched split of the pool (fixed: seed 0, whatever the training seed)."""
    _, groups = load_pool(settings.mp20_root, settings.max_pool)
    return matched_split(groups, test_fraction=settings.test_fraction,
                         val_fraction=settings.val_fraction,
                         few_shot_ks=settings.few_shot_ks, seed=0)


def _indices(split: Any, variant: str) -> tuple[list[int], list[int]]:
    if variant == "zero-shot":
        return split.zero_shot_train, split.zero_shot_val
    if variant == "all-groups":
        return split.all_train, split.all_val
    return split.few_shot_train[int(variant[1:])], split.zero_shot_val


def _pretrained_path(settings: TransferSettings) -> Path:
    return settings.workdir() / "transfer_pretrained_encoding.pt"


def _jobs(settings: TransferSettings) -> list[Any]:
    needs = any(model_entry(m).pretrained_encoding for m in settings.model_names())
    return (["pretrain"] if needs else []) + settings.runs()


def _run_job(settings: TransferSettings, job: Any) -> dict[str, Any]:
    from cft_pyg.experimental.descent import evaluate_with_descent
    from cft_pyg.training import evaluate

    if job == "pretrain":
        return pretrain(_pretrained_path(settings), "cft-pretrained",
                        settings.pretrain_pairs_per_group, settings.pretrain_epochs)
    model, seed, variant = job
    pool, _ = load_pool(settings.mp20_root, settings.max_pool)
    split = split_of(settings)
    tr, va = _indices(split, variant)
    train_set, val_set = [pool[i] for i in tr], [pool[i] for i in va]
    test_set = [pool[i] for i in split.test]
    pretrained = (wait_for(_pretrained_path(settings))
                  if model_entry(model).pretrained_encoding else None)
    epochs = settings.epochs_of(model)
    run = train(model, target_entry(settings.target), train_set, val_set, None,
                seed=seed, output_dir=settings.workdir() / f"{model}_{variant}_seed{seed}",
                epochs=epochs, batch_size=settings.batch_size, lr=settings.lr,
                weight_decay=settings.weight_decay,
                warmup_epochs=min(settings.warmup_epochs, epochs - 1) if epochs > 1 else 0.0,
                pretrained_encoding=pretrained)
    report = evaluate(run.result.module, test_set, config=run.config)
    extra: dict[str, Any] = {}
    if variant == "zero-shot" and model in settings.descent_models:
        start = time.perf_counter()
        descended = evaluate_with_descent(run.result.module, test_set, config=run.config,
                                          mode="unseen")
        extra = {"held_test_descent": {
            "overall": descended.overall,
            "per_space_group": json_records(descended.per_space_group,
                                            ["space_group", "n", "mae"])},
            "descent_seconds": time.perf_counter() - start}
    return {
        "kind": "transfer", "model": model, "seed": seed, "variant": variant,
        "n_train": len(train_set), "n_val": len(val_set), "n_test": len(test_set),
        "epochs": epochs,
        "optimizer_steps": epochs * math.ceil(len(train_set) / settings.batch_size),
        "parameters": run.parameters, "best_val_mae": run.result.best_val_mae,
        "wall_seconds": run.wall_seconds,
        "held_test": {"overall": report.overall,
                      "per_space_group": json_records(report.per_space_group,
                                                      ["space_group", "n", "mae"])},
        **extra,
        "loadavg": list(os.getloadavg()),
    }


def _key(r: dict[str, Any]) -> Any:
    return "pretrain" if r["kind"] == "pretraining" else (r["model"], r["seed"], r["variant"])


def _describe(res: dict[str, Any]) -> str:
    if res["kind"] == "pretraining":
        return f"pretraining: held-out orbit-distance MAE {res['heldout_mae']:.3f} Å"
    return (f"{res['model']} {res['variant']} seed {res['seed']}: held-out test MAE "
            f"{res['held_test']['overall']['mae']:.4f}")


def _group_gaps(a: pd.DataFrame, b: pd.DataFrame, min_count: int) -> pd.Series:
    """``|MAE zero-shot - MAE all-groups|`` of every held-out group with ``min_count`` test
    crystals (``a``, ``b``: per-space-group tables of the two models)."""
    a, b = a.set_index("space_group"), b.set_index("space_group")
    common = [g for g in a.index.intersection(b.index) if a.loc[g, "n"] >= min_count]
    return (a.loc[common, "mae"] - b.loc[common, "mae"]).abs()


def _model_entry(settings: TransferSettings, by: dict[Any, dict[str, Any]], m: str,
                 label: str, zero_shot_field: str) -> tuple[dict[str, Any], dict[int, Any]]:
    """The summary of model ``m`` whose zero-shot test is ``zero_shot_field`` of its runs
    (``held_test``, or ``held_test_descent``: only the zero-shot variant then), and its
    per-group gaps per seed."""
    def test_of(r: dict[str, Any]) -> dict[str, Any]:
        return r[zero_shot_field] if r["variant"] == "zero-shot" else r["held_test"]

    rows = [r for r in by.values() if r["model"] == m
            and (r["variant"] != "zero-shot" or zero_shot_field in r)]
    if zero_shot_field != "held_test":
        rows = [r for r in rows if r["variant"] in ("zero-shot", "all-groups")]
    variants = sorted({r["variant"] for r in rows},
                      key=lambda v: {"all-groups": -2, "zero-shot": -1}.get(v, 0) or int(v[1:]))
    entry: dict[str, Any] = {"label": label, "held_test_mae": {}, "n_train": {},
                             "optimizer_steps": {}, "per_seed": {}}
    runs = {(r["seed"], r["variant"]): r for r in rows}
    for v in variants:
        rs = [runs[(s, v)] for s in settings.seeds if (s, v) in runs]
        entry["held_test_mae"][v] = mean_std([test_of(r)["overall"]["mae"] for r in rs])
        entry["n_train"][v] = rs[0]["n_train"]
        entry["optimizer_steps"][v] = rs[0]["optimizer_steps"]
    gaps: dict[int, Any] = {}
    for s in settings.seeds:
        if (s, "zero-shot") in runs and (s, "all-groups") in runs:
            a = pd.DataFrame(test_of(runs[(s, "zero-shot")])["per_space_group"])
            b = pd.DataFrame(runs[(s, "all-groups")]["held_test"]["per_space_group"])
            published, groups = gb_gap(a, b)
            entry["per_seed"][s] = {"gb_gap_published": published, "groups_published": groups,
                                    **gb_gap_table(a, b, settings.min_group_count)}
            gaps[s] = _group_gaps(a, b, settings.min_group_count)
    for key in ("gb_gap_published", "gb_gap", "gb_gap_weighted", "relative_degradation"):
        entry[key] = mean_std([v[key] for v in entry["per_seed"].values()])
    first = next(iter(entry["per_seed"].values()), {})
    entry["groups_counted"] = first.get("groups", 0)
    entry["epochs"] = settings.epochs_of(m)
    entry["parameters"] = rows[0]["parameters"] if rows else 0
    if zero_shot_field != "held_test":
        entry["descent_seconds"] = mean_std([r["descent_seconds"] for r in rows
                                             if "descent_seconds" in r])
    return entry, gaps


def summarize(settings: TransferSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model (and per ``<model>+descent`` evaluation): MAE per variant, GB-Gaps per seed
    and over seeds, and the judged claims."""
    by = {_key(r): r for r in runs if r["kind"] == "transfer"}
    out: dict[str, Any] = {"models": {}, "claims": {}}
    gaps: dict[str, dict[int, pd.Series]] = {}
    names = [(m, m, label_of(m), "held_test") for m in settings.model_names()]
    names += [(d, d[:-len(DESCENT)], f"{label_of(d[:-len(DESCENT)])}, subgroup descent",
               "held_test_descent") for d in settings.descent_names()]
    for name, m, label, field_name in names:
        if not any(r["model"] == m and field_name in r for r in by.values()):
            continue
        out["models"][name], gaps[name] = _model_entry(settings, by, m, label, field_name)
    for c in settings.claims():
        if c.better in gaps and c.worse in gaps:
            result = judge(c, {s: float(g.mean()) for s, g in gaps[c.better].items()},
                           {s: float(g.mean()) for s, g in gaps[c.worse].items()},
                           gaps[c.better], gaps[c.worse], over="held-out groups")
            if result is not None:
                out["claims"][c.key] = result
    return out


def few_shot_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Held-out test MAE against ``k`` (``k = 0``: zero-shot) of every model with few-shot
    runs: columns ``model``, ``k``, ``mae``, ``mae_std``, ``n_seeds``."""
    rows = []
    for m, e in summary["models"].items():
        variants = e["held_test_mae"]
        if not any(v.startswith("k") for v in variants):
            continue
        for v, stats in variants.items():
            if v == "all-groups":
                continue
            k = 0 if v == "zero-shot" else int(v[1:])
            rows.append({"model": m, "k": k, "mae": stats["mean"], "mae_std": stats["std"],
                         "n_seeds": stats["n_seeds"]})
    return pd.DataFrame(rows, columns=["model", "k", "mae", "mae_std", "n_seeds"])


def _results(settings: TransferSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    done = {_key(r) for r in runs}
    full = TransferSettings.from_preset("full", mp20_root=settings.mp20_root).runs()
    pre = [r for r in runs if r["kind"] == "pretraining"]
    return {"split_sizes": split_of(settings).sizes(),
            "full_study": {"runs": len(full), "done": sum(tuple(j) in done for j in full),
                           "missing": [list(j) for j in full if j not in done]},
            "pretraining": pre[0] if pre else None,
            "summary": summarize(settings, runs),
            "runs": [r for r in runs if r["kind"] == "transfer"]}


def _figure(payload: dict[str, Any], out: Path) -> None:
    from .kit.figures import plot_transfer_few_shot

    plot_transfer_few_shot(few_shot_table(payload["summary"]), payload["summary"],
                           out / "transfer_fewshot.png")


STUDY = Study("transfer", _jobs, _run_job, _key,
              lambda j: j if j == "pretrain" else tuple(j), _describe, _results,
              prepare=lambda s: load_pool(s.mp20_root, s.max_pool), extra=_figure)


def run(settings: TransferSettings, *, resume: bool = False, echo: Any = print
        ) -> dict[str, Any]:
    """Run every missing job and write ``transfer.json`` and its figure."""
    from .kit.study import run_study

    return run_study(STUDY, settings, resume=resume, echo=echo)


def _print(payload: dict[str, Any]) -> None:
    for m, e in payload["summary"]["models"].items():
        print(f"{m:18s} " + ", ".join(f"{v} {s['mean']:.4f}"
                                      for v, s in e["held_test_mae"].items()))
    for key, c in payload["summary"]["claims"].items():
        print(f"{key}: {'met' if c['met'] else 'not met'}")


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, TransferSettings, argv, __doc__.split("\n\n")[0], _print)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
