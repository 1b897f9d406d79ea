"""Statistics of the comparison: aggregation of training records over seeds, and the GB-Gap."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .zero_shot import gb_gap

__all__ = ["json_records", "mean_std", "summarize_benchmark", "summarize_zero_shot"]


def json_records(df: pd.DataFrame, cols: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``df[cols]`` as JSON-ready dicts (6 significant digits)."""
    return json.loads(df[list(cols)].to_json(orient="records", double_precision=6))


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (``None`` for one value), values and count."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()) if v.size else math.nan,
            "std": float(v.std(ddof=1)) if v.size > 1 else None,
            "values": [float(x) for x in v], "n_seeds": int(v.size)}


def summarize_benchmark(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate benchmark records over seeds (mean, sample std, per-seed values).

    Returns:
        ``{target: {model: {'seeds', 'test_mae', 'train_time_s', 'params', 'epochs',
        'per_crystal_system', 'per_space_group', 'predictions_seed<s>'}}}``; the MAE entries
        hold ``mean``, ``std`` (over seeds, ``ddof=1``; ``None`` for one seed) and ``values``.
    """
    out: dict[str, Any] = {}
    for r in sorted(records, key=lambda r: (r["target"], r["model"], r["seed"])):
        t = out.setdefault(r["target"], {})
        m = t.setdefault(r["model"], {"seeds": [], "_mae": [], "_time": [], "_cs": [],
                                      "_sg": [], "params": r["params"]})
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
    """Aggregate the zero-shot study per model: MAE on the held-out test crystals per ``k``
    and for the all-data model, GB-Gap per seed and over seeds, per-group tables."""
    out: dict[str, Any] = {}
    by = {(r["model"], r["seed"], r["variant"]): r for r in records}
    for model in dict.fromkeys(r["model"] for r in records):
        seeds = sorted({r["seed"] for r in records if r["model"] == model})
        variants = sorted({r["variant"] for r in records if r["model"] == model},
                          key=lambda v: -1 if v == "all" else int(v[1:]))
        entry: dict[str, Any] = {"seeds": seeds, "held_test_mae": {}, "train_size": {},
                                 "params": None}
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
