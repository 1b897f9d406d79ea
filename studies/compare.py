r"""CFT vs CGCNN vs ALIGNN on MP-20 at equal epochs, and zero-shot / few-shot on the
centrosymmetric groups.

**Benchmark**: for every target (formation energy, band gap) and catalog model, one
training per seed with the same crystals (the first ``n_*`` rows of the project split: a
random subset, the split being a seeded permutation), epochs, batch size, optimizer and
schedule; early stopping off, evaluated at the best validation epoch; test MAE overall, per
crystal system and per space group, parameters and training time.

**Zero-shot / few-shot** (:func:`studies.kit.zero_shot.random_zero_shot_split`):
the crystals above are pooled and split at random (``zs_fractions``); the *held-out test
set* is the test crystals whose group contains inversion. Per model and seed: ``all``
(trained on the whole training part), ``k = 0`` (zero-shot: the non-centrosymmetric groups
only, validation likewise) and ``k = 1, 5, 20`` (``k`` training crystals of each held-out
group added). All variants are tested on the same held-out crystals; the published GB-Gap is
``mean over held-out groups g of |MAE_zero-shot(g) - MAE_all(g)|``.

A small-budget CPU comparison (a few thousand crystals, a few epochs), not the published
full training. Writes ``<output>/compare.json`` (with the run log ``compare_runs.jsonl``),
``benchmark_mp20.json`` and ``zeroshot_mp20.json`` (read by the notebooks) and the figures;
``--notebooks DIR`` then executes the notebooks of ``DIR`` into ``<output>/notebooks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from cft_pyg.training.presets import setting

from .kit.catalog import label_of, model_entry, models_for, target_entry
from .kit.data import load_parts
from .kit.statistics import json_records, mean_std
from .kit.study import Study, StudySettings, default_root, study_main, write_json
from .kit.trainer import train
from .kit.zero_shot import GB_GAP_DEFINITION, gb_gap, random_zero_shot_split

__all__ = ["NOTE", "STUDY", "CompareSettings", "main", "run", "summarize_benchmark",
           "summarize_zero_shot"]

NOTE = ("Small-budget CPU comparison on a subset of the project's fixed MP-20 split (the "
        "official MP-20 train file is not available here): every model gets the same "
        "crystals, epochs, batch size, optimizer and schedule; reduced model sizes; not the "
        "published full training. Training times are wall-clock seconds on a shared 2-core "
        "machine with `jobs` trainings in parallel and vary with its load.")


@dataclass
class CompareSettings(StudySettings):
    """All settings of the comparison (presets ``'full'``, the README's settings, and
    ``'quick'``, a few minutes on 2 cores)."""

    data_root: str = setting(lambda: default_root("mp20"), "MP-20 folder", "DIR")
    parts: tuple[str, ...] = setting(("benchmark", "zeroshot"), "benchmark and/or zeroshot")
    n_train: int = setting(2000, "first rows of project-train")
    n_val: int = setting(400, "first rows of project-val")
    n_test: int = setting(600, "first rows of project-test")
    targets: tuple[str, ...] = setting(("formation_energy_per_atom", "band_gap"),
                                       "MP-20 targets of the benchmark")
    models: tuple[str, ...] | None = setting(None, "catalog models of the benchmark "
                                             "(default: the catalog's compare models)")
    seeds: tuple[int, ...] = setting((0, 1, 2), "training seeds")
    model_seeds: dict[str, tuple[int, ...]] = setting(lambda: {"alignn": (0, 1)},
                                                      "fewer seeds for some models (JSON)",
                                                      "JSON")
    epochs: int = setting(8, "epochs of every training")
    batch_size: int = setting(64, "crystals per batch")
    lr: float = setting(1e-3, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    warmup_epochs: float = setting(1.0, "linear warm-up, in epochs")
    zs_target: str = setting("formation_energy_per_atom", "target of the zero-shot study")
    zs_models: tuple[str, ...] | None = setting(None, "models of the zero-shot study "
                                                "(default: those of the benchmark)")
    zs_seeds: tuple[int, ...] = setting((0, 1, 2), "zero-shot seeds")
    zs_model_seeds: dict[str, tuple[int, ...]] = setting(lambda: {"alignn": (0,)},
                                                         "fewer zero-shot seeds (JSON)", "JSON")
    few_shot_ks: tuple[int, ...] = setting((0, 1, 5, 20), "k values (0: zero-shot)")
    zs_model_ks: dict[str, tuple[int, ...]] = setting(lambda: {"alignn": (0,)},
                                                      "fewer k for some models (JSON)", "JSON")
    zs_fractions: tuple[float, float, float] = setting((0.7, 0.1, 0.2),
                                                       "train/val/test fractions of the pool")
    notebooks: str | None = setting(None, "execute these notebooks into <output>/notebooks",
                                    "DIR")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # measured on the 2-core machine: ~29 min in all, ALIGNN most of it
        "full": {},
        "quick": {"quick": True, "n_train": 200, "n_val": 60, "n_test": 100, "epochs": 2,
                  "seeds": (0, 1), "model_seeds": {"alignn": (0,)}, "zs_seeds": (0,),
                  "zs_model_seeds": {}, "few_shot_ks": (0, 1, 5),
                  "zs_model_ks": {"alignn": (0,)},
                  "output_dir": str(Path("runs") / "compare-quick")},
    }

    def model_names(self, zero_shot: bool = False) -> tuple[str, ...]:
        if zero_shot and self.zs_models is not None:
            return self.zs_models
        return self.models or models_for("compare", self.quick)

    def seeds_of(self, model: str, zero_shot: bool = False) -> tuple[int, ...]:
        """The seeds a model is trained with (benchmark or zero-shot study)."""
        if zero_shot:
            return tuple(self.zs_model_seeds.get(model, self.zs_seeds))
        return tuple(self.model_seeds.get(model, self.seeds))

    def deviations(self) -> list[str]:
        """Where a model got less than the others (fewer seeds or variants), in words."""
        out = []
        for m, seeds in self.model_seeds.items():
            if m in self.model_names() and tuple(seeds) != tuple(self.seeds):
                out.append(f"{m}: benchmark seeds {list(seeds)} instead of {list(self.seeds)} "
                           "(training time); same epochs and data as the others")
        for m, seeds in self.zs_model_seeds.items():
            if m in self.model_names(True) and tuple(seeds) != tuple(self.zs_seeds):
                out.append(f"{m}: zero-shot seeds {list(seeds)} instead of "
                           f"{list(self.zs_seeds)} (training time)")
        for m, ks in self.zs_model_ks.items():
            if m in self.model_names(True) and tuple(ks) != tuple(self.few_shot_ks):
                out.append(f"{m}: zero-shot study with k in {list(ks)} only (plus all-data), "
                           f"not {list(self.few_shot_ks)} (training time)")
        return out


def _parts(settings: CompareSettings) -> tuple[Any, Any, Any]:
    return load_parts("mp20", settings.data_root, settings.n_train, settings.n_val,
                      settings.n_test)


def _jobs(settings: CompareSettings) -> list[tuple[Any, ...]]:
    jobs: list[tuple[Any, ...]] = []
    if "benchmark" in settings.parts:
        jobs += [("benchmark", t, m, s) for t in settings.targets
                 for m in settings.model_names() for s in settings.seeds_of(m)]
    if "zeroshot" in settings.parts:
        jobs += [("zeroshot", v, m, s) for m in settings.model_names(True)
                 for s in settings.seeds_of(m, True)
                 for v in ["all", *[f"k{k}" for k in
                                    settings.zs_model_ks.get(m, settings.few_shot_ks)]]]
    return sorted(jobs, key=lambda j: -model_entry(j[2]).cost)


def _run_job(settings: CompareSettings, job: tuple[Any, ...]) -> dict[str, Any]:
    from torch.utils.data import ConcatDataset

    from cft_pyg.data import space_groups_of
    from cft_pyg.training import evaluate

    kind, what, model, seed = job
    common = dict(seed=seed, epochs=settings.epochs, batch_size=settings.batch_size,
                  lr=settings.lr, weight_decay=settings.weight_decay,
                  warmup_epochs=settings.warmup_epochs)
    record = {"kind": kind, "model": model, "seed": seed}
    if kind == "benchmark":
        train_set, val_set, test_set = _parts(settings)
        run = train(model, target_entry(what), train_set, val_set, test_set,
                    output_dir=settings.workdir() / f"bench-{what}-{model}-s{seed}", **common)
        rep = run.result.test_report
        record.update(target=what, test={
            "overall": rep.overall,
            "per_crystal_system": json_records(rep.per_crystal_system,
                                               ["crystal_system", "n", "mae"]),
            "per_space_group": json_records(rep.per_space_group, ["space_group", "n", "mae"]),
            "predictions": json_records(rep.predictions, ["space_group", "y_true", "y_pred"]),
        })
    else:
        parts = _parts(settings)
        pool = ConcatDataset(parts)
        import torch

        groups = torch.cat([space_groups_of(p) for p in parts]).numpy()
        idx = random_zero_shot_split(groups, settings.zs_fractions, settings.few_shot_ks, seed)
        train_set = [pool[i] for i in (idx["all_train"] if what == "all"
                                       else idx[f"{what}_train"])]
        val_set = [pool[i] for i in (idx["all_val"] if what == "all" else idx["seen_val"])]
        held = [pool[i] for i in idx["held_test"]]
        run = train(model, target_entry(settings.zs_target), train_set, val_set, None,
                    output_dir=settings.workdir() / f"zs-{model}-{what}-s{seed}", **common)
        rep = evaluate(run.result.module, held, config=run.config)
        record.update(variant=what, n_train=len(train_set), held_test={
            "overall": rep.overall,
            "per_space_group": json_records(rep.per_space_group, ["space_group", "n", "mae"]),
        })
    record.update(train_time_s=run.wall_seconds, cpu_time_s=run.cpu_seconds,
                  params=run.parameters, epochs_run=int(run.result.epochs_run),
                  best_val_mae=float(run.result.best_val_mae))
    return record


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["kind"], r.get("target") or r.get("variant"), r["model"], r["seed"])


def summarize_benchmark(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate benchmark records over seeds: ``{target: {model: {'seeds', 'test_mae',
    'train_time_s', 'params', 'epochs', 'per_crystal_system', 'per_space_group',
    'predictions_seed<s>'}}}`` (MAE entries: mean, sample std over seeds, values)."""
    out: dict[str, Any] = {}
    for r in sorted(records, key=lambda r: (r["target"], r["model"], r["seed"])):
        t = out.setdefault(r["target"], {})
        m = t.setdefault(r["model"], {"label": label_of(r["model"]), "seeds": [], "_mae": [],
                                      "_time": [], "_cs": [], "_sg": [], "params": r["params"]})
        m["seeds"].append(r["seed"])
        m["_mae"].append(r["test"]["overall"]["mae"])
        m["_time"].append(r["train_time_s"])
        m["_cs"].append(pd.DataFrame(r["test"]["per_crystal_system"]))
        m["_sg"].append(pd.DataFrame(r["test"]["per_space_group"]))
        m["epochs"] = r["epochs_run"]
        m.setdefault("mae_predict_mean", r["test"]["overall"].get("mae_predict_mean"))
        m.setdefault("n_test", r["test"]["overall"]["n"])
        m.setdefault(f"predictions_seed{r['seed']}", r["test"]["predictions"])
    for t in out.values():
        for m in t.values():
            m["test_mae"] = mean_std(m.pop("_mae"))
            m["train_time_s"] = mean_std(m.pop("_time"))
            for key, col in (("_cs", "crystal_system"), ("_sg", "space_group")):
                df = pd.concat(m.pop(key), ignore_index=True)
                agg = df.groupby(col, sort=False).agg(n=("n", "first"), mae=("mae", "mean"),
                                                      mae_std=("mae", "std")).reset_index()
                name = "per_crystal_system" if key == "_cs" else "per_space_group"
                m[name] = json_records(agg, [col, "n", "mae", "mae_std"])
    return out


def summarize_zero_shot(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: MAE on the held-out test crystals per ``k`` and for the all-data model,
    GB-Gap per seed and over seeds, the per-group table of the first seed."""
    out: dict[str, Any] = {}
    by = {(r["model"], r["seed"], r["variant"]): r for r in records}
    for model in dict.fromkeys(r["model"] for r in records):
        seeds = sorted({r["seed"] for r in records if r["model"] == model})
        variants = sorted({r["variant"] for r in records if r["model"] == model},
                          key=lambda v: -1 if v == "all" else int(v[1:]))
        entry: dict[str, Any] = {"label": label_of(model), "seeds": seeds,
                                 "held_test_mae": {}, "train_size": {}, "params": None}
        for v in variants:
            rs = [by[(model, s, v)] for s in seeds if (model, s, v) in by]
            entry["held_test_mae"][v] = mean_std([r["held_test"]["overall"]["mae"] for r in rs])
            entry["train_size"][v] = rs[0]["n_train"] if rs else None
            entry["params"] = rs[0]["params"] if rs else entry["params"]
        gaps, groups = [], []
        for s in seeds:
            if (model, s, "k0") in by and (model, s, "all") in by:
                zs = pd.DataFrame(by[(model, s, "k0")]["held_test"]["per_space_group"])
                al = pd.DataFrame(by[(model, s, "all")]["held_test"]["per_space_group"])
                g, n = gb_gap(zs, al)
                gaps.append(g)
                groups.append(n)
                if s == seeds[0]:
                    both = zs.merge(al, on=["space_group", "n"], suffixes=("_zero_shot", "_all"))
                    entry["per_space_group_seed0"] = json_records(
                        both, ["space_group", "n", "mae_zero_shot", "mae_all"])
        entry["gb_gap"] = mean_std(gaps)
        entry["gb_gap_groups"] = groups[0] if groups else 0
        out[model] = entry
    return out


def _results(settings: CompareSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    bench = [r for r in runs if r["kind"] == "benchmark"]
    zs = [r for r in runs if r["kind"] == "zeroshot"]
    return {"note": NOTE, "deviations": settings.deviations(),
            "results": {"benchmark": summarize_benchmark(bench) if bench else None,
                        "zeroshot": summarize_zero_shot(zs) if zs else None},
            "runs": runs}


def _extra(payload: dict[str, Any], out: Path) -> None:
    """The per-part files the notebooks read, and the figures."""
    from .kit.figures import write_compare_figures

    res = payload["results"]
    extra = {"benchmark": {}, "zeroshot": {"held_out_groups": "every space group containing "
                                                              "inversion (92 groups)",
                                           "metric": GB_GAP_DEFINITION}}
    for part in ("benchmark", "zeroshot"):
        if res[part] is not None:
            write_json(out / f"{part}_mp20.json", {
                "experiment": f"{part}_mp20", "note": NOTE,
                "deviations": payload["deviations"], "settings": payload["settings"],
                "environment": payload["machine"], "wall_time_s": payload["total_seconds"],
                **extra[part], "results": res[part]}, compact=True)
    write_compare_figures(res["benchmark"], res["zeroshot"], out)
    notebooks = payload["settings"].get("notebooks")
    if notebooks:  # executed with these results (notebook 01 saves its figures beside them)
        from .kit.notebooks import run_notebooks

        run_notebooks(notebooks, out / "notebooks",
                      parameters={"01_constraint_graphs.ipynb": {"save_dir": str(out)}},
                      log=print)


STUDY = Study("compare", _jobs, _run_job, _key, lambda j: tuple(j),
              lambda r: (f"{r['kind']:9s} {r.get('target') or r.get('variant'):26s} "
                         f"{r['model']:16s} seed {r['seed']}: MAE "
                         f"{(r.get('test') or r.get('held_test'))['overall']['mae']:.4f}, "
                         f"{r['train_time_s']:.0f} s"), _results,
              prepare=_parts, extra=_extra)


def run(settings: CompareSettings, *, resume: bool = False, echo: Any = print
        ) -> dict[str, Any]:
    """Run the comparison and write its files (and, with ``settings.notebooks``, execute
    the notebooks on them)."""
    from .kit.study import run_study

    return run_study(STUDY, settings, resume=resume, echo=echo)


def _print(payload: dict[str, Any]) -> None:
    for part, res in payload["results"].items():
        for key, models in (res or {}).items():
            if part == "benchmark":
                print(f"{key}: " + ", ".join(f"{m} {e['test_mae']['mean']:.4f}"
                                             for m, e in models.items()))
            else:
                print(f"zero-shot {key}: " + ", ".join(
                    f"{v} {s['mean']:.4f}" for v, s in models["held_test_mae"].items()))


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, CompareSettings, argv, __doc__.split("\n\n")[0], _print)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
