"""The README's "Which model" table, generated from the measured results.

Usage (from the repository root)::

    python -m studies.which_model            # rewrite the block of README.md
    python -m studies.which_model --check    # exit 1 when README.md's block differs
    python -m studies.which_model --print    # print the block

The block between ``<!-- which-model:begin -->`` and ``<!-- which-model:end -->`` tells a
user which model (or backbone + head) to pick per use, with the measured accuracy, its
conditions (seeds, training budget, test size, machine load) and the cost per crystal.
Sources (:data:`PEER_FILES`, :data:`SMALL`, :data:`UNRELAXED`, :data:`TENSORS`,
:data:`TRANSFER`, :data:`CARDS`), each read when present:

* the peers study, ``studies/peers/results/peers_long.json`` (MP-20 at 120 CPU-s) and
  ``peers_full.json`` (every target at 30 CPU-s): per target the first of the two that has
  trained rows of it, the cell naming the file it fell back from; its ``small`` preset,
  ``peers_small.json`` (500 MP-20 training crystals at 30 CPU-s), for the small-data row;
* the unrelaxed-prototype study (``studies/unrelaxed/results/summary.json``), the tensor
  study (``studies/tensors/results/tensors.json``), the transfer study
  (``studies/results/transfer.json``: its few-shot runs, named by the small-data row
  when ``peers_small.json`` is absent);
* the shipped model cards, ``cft_pyg/pretrained/models/*.json``.

A missing source, or one without the rows a cell needs, gives a line in that cell naming the
file: never a silent omission.  The comparisons (``margin``: "by more than 2 std", the larger
seed std of the two) and the mark of the rows whose backbone saw the test crystals are those
of ``studies/peers/summary.py``; the peers study's own "which model" table is
:func:`peers_markdown`, the rows of this table that come from that study.  The rows that are
not accuracy choices are constants (:data:`STATIC`).  Pure functions of the JSON (no torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- which-model:begin -->", "<!-- which-model:end -->"

PEER_FILES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("studies/peers/results/peers_long.json",
     ("mp20/formation_energy_per_atom", "mp20/band_gap")),
    ("studies/peers/results/peers_full.json", None))
"""The peers study's summaries in order of preference, with the targets each one covers
(``None``: any; the presets of ``studies/peers/run.py``)."""
UNRELAXED = "studies/unrelaxed/results/summary.json"
TENSORS = "studies/tensors/results/tensors.json"
TENSOR_BACKBONES = "studies/tensors/results/backbones.json"
TRANSFER = "studies/results/transfer.json"
SMALL = "studies/peers/results/peers_small.json"
"""The peers study's ``small`` preset (500 MP-20 training crystals), the small-data row."""
CARDS = "cft_pyg/pretrained/models"

CLI = {"cft-no-encoding": "cft-trunk"}
"""The registry name (``--model``) of a study's model where the two differ."""
LIBRARY = "cft-pyg"
"""The ``source`` of the library's own models in the peers study."""
LEARNED = 0.9
"""A model whose test MAE exceeds this fraction of the training mean's has not learned
(the threshold of the robustness tables, ``studies.kit.report``)."""

LINKS = {"peers": "[docs/peers.md](docs/peers.md)",
         "unrelaxed": "[studies/unrelaxed](studies/unrelaxed/README.md)",
         "tensors": "[studies/tensors](studies/tensors/README.md)",
         "results": "[docs/results.md](docs/results.md)",
         "pretrained": "[Pretrained models](#pretrained-models)"}

STATIC = {
    "unseen": ("groups never seen in training",
               "`--model cgcnn` (smallest zero-shot degradation) or `--model cft-published` "
               "(lowest zero-shot MAE)",
               "size-matched zero-shot study; " + LINKS["results"]),
    "paper": ("the paper's CFT: exact space-group invariance through the symmetry-adapted "
              "encoding",
              "`--model cft` (hybrid) or `--model cft-published` (the published architecture)",
              "the encoding is exact (tested), but costs accuracy in the hybrid trunk; "
              + LINKS["results"]),
    "store": ("more crystals than fit in memory",
              "a crystal store (`python -m cft_pyg.store_cli build`, `--dataset store`): below",
              "not an accuracy choice"),
}
"""The rows that are not accuracy choices: ``(your case, use, evidence)``."""

TENSOR_MODELS = {"symmetric": "`TensorHead`", "raw": "raw components", "mean": "mean tensor"}


# ------------------------------------------------------------------------------ sources
def peers_summary() -> ModuleType:
    """``studies/peers/summary.py`` (loaded by path: the peers study is not a package)."""
    module = sys.modules.get("peers_summary")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "peers_summary", ROOT / "studies" / "peers" / "summary.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["peers_summary"] = module
        spec.loader.exec_module(module)
    return module


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def load_sources(root: Path = ROOT) -> dict[str, Any]:
    """Every source of the table under ``root`` (``None`` for a missing file)."""
    cards = sorted((root / CARDS).glob("*.json"))
    return {"peers": [(f, targets, _load(root / f)) for f, targets in PEER_FILES],
            "unrelaxed": _load(root / UNRELAXED), "tensors": _load(root / TENSORS),
            "tensor_backbones": _load(root / TENSOR_BACKBONES),
            "transfer": _load(root / TRANSFER), "small": _load(root / SMALL),
            "cards": [json.loads(p.read_text()) for p in cards]}


# ------------------------------------------------------------------------------ formatting
def _name(p: str) -> str:
    return p.rsplit("/", 1)[-1]


def _cli(model: str) -> str:
    return f"`{CLI.get(model, model)}`"


def _k(parameters: int | None) -> str:
    if parameters is None:
        return "?"
    return f"{parameters / 1000:.0f}k" if parameters >= 1000 else str(parameters)


def _loads(values: list[float]) -> str:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return ""
    lo, hi = int(min(v)), int(max(v))
    return f", load {lo}" if lo == hi else f", load {lo}-{hi}"


def _seeds(n: int) -> str:
    return "seeds not recorded" if not n else f"{n} seed{'' if n == 1 else 's'}"


def _stat(mean: float, std: float | None, digits: int = 4) -> str:
    s = "" if std is None or not math.isfinite(std) else f" ± {std:.{digits}f}"
    return f"{mean:.{digits}f}{s}"


def _ms(row: dict[str, Any]) -> str:
    ms = row.get("inference_cpu_ms_per_crystal", {}).get("mean")
    return "?" if ms is None else f"{ms:.1f}"


def _mark(row: dict[str, Any]) -> str:
    return peers_summary().SAW if row.get("saw_test") else ""


def _verdict(c: dict[str, Any] | None, ahead: str, behind: str) -> str:
    return "not judged" if c is None else peers_summary().verdict(c, ahead, behind)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------------------ peers
PeerSource = tuple[str, tuple[str, ...] | None, dict[str, Any] | None]


def _trained(rows: dict[str, Any]) -> dict[str, Any]:
    return {m: r for m, r in rows.items()
            if r["kind"] == "train" and r["test_mae"]["mean"] is not None}


def _best(rows: dict[str, Any], keep: Any) -> tuple[str, dict[str, Any]] | None:
    cands = [(m, r) for m, r in rows.items() if keep(m, r)]
    return min(cands, key=lambda mr: mr[1]["test_mae"]["mean"]) if cands else None


def find_peers(target: str, peers: list[PeerSource]) -> dict[str, Any]:
    """The peers study's rows of ``target`` from the first summary that has trained rows of
    it: ``{"rows", "payload", "file", "fallback"}`` (``fallback``: the preferred files that
    were absent), or ``{"missing": reason}``."""
    absent, empty = [], []
    for path, targets, payload in peers:
        if targets is not None and target not in targets:
            continue
        if payload is None:
            absent.append(f"`{_name(path)}` absent")
            continue
        rows = payload.get("summary", {}).get(target, {})
        if _trained(rows):
            return {"rows": rows, "payload": payload, "file": _name(path), "fallback": absent}
        empty.append(f"none in `{_name(path)}`")
    return {"missing": "; ".join(absent + empty) or "no source"}


def _conditions(found: dict[str, Any]) -> str:
    rows = _trained(found["rows"])
    budgets = sorted({r["budget_cpu_seconds"] for r in rows.values()})
    seeds = max(r["test_mae"]["n_seeds"] for r in rows.values())
    n_test = next(iter(rows.values()))["n_test"]
    loads = [v for r in rows.values() for v in r.get("load_average_1min", {}).get("values", [])]
    fallback = (f"; from `{found['file']}`: " + ", ".join(found["fallback"])
                if found["fallback"] else "")
    return (f"{'/'.join(f'{b:g}' for b in budgets)} CPU-s of one-thread training, "
            f"{_seeds(seeds)}, {n_test} test crystals{_loads(loads)}{fallback}")


def _label(target: str) -> str:
    """``'MP-20 band gap (eV)'`` of ``'mp20/band_gap'``."""
    return peers_summary().TARGET_LABELS.get(target, target)


def _short(target: str) -> str:
    """The label without its unit."""
    return _label(target).split(" (")[0]


def _unit(target: str) -> str:
    label = _label(target)
    return label.rsplit(" (", 1)[1].rstrip(")") if " (" in label else ""


def _head(target: str, conditions: str) -> str:
    return f"**{_short(target)}** ({'; '.join(x for x in (_unit(target), conditions) if x)}): "


def relaxed_part(target: str, found: dict[str, Any]) -> tuple[str, str | None]:
    """The evidence of the relaxed-crystals row on ``target``: the library's best
    from-scratch model against the best trained peer; and the peer when it is ahead."""
    ps = peers_summary()
    if "missing" in found:
        return f"**{_short(target)}**: not measured ({found['missing']})", None
    rows = _trained(found["rows"])
    lib = _best(rows, lambda m, r: r["source"] == LIBRARY)
    peer = _best(rows, lambda m, r: r["source"] != LIBRARY)
    head = _head(target, _conditions(found))
    if lib is None or peer is None:
        which = "the library's model" if lib is None else "a peer"
        return head + f"{which} not in `{found['file']}`", None
    (lm, lr), (pm, pr) = lib, peer
    c = ps.margin(lr["test_mae"], pr["test_mae"])
    text = (head + f"{_cli(lm)} **{ps._mae(lr['test_mae'])}** ({_k(lr['parameters'])} "
            f"parameters, {_ms(lr)} CPU-ms/crystal predicting) against the best peer "
            f"{_cli(pm)}{_mark(pr)} ({pr['label']}) {ps._mae(pr['test_mae'])} "
            f"({_k(pr['parameters'])}, {_ms(pr)} ms): {_verdict(c, 'ahead', '**behind**')}")
    mean = next((r["test_mae"]["mean"] for r in found["rows"].values()
                 if r["kind"] == "reference"), None)
    peers = {m: r for m, r in rows.items() if r["source"] != LIBRARY}
    idle = [m for m, r in peers.items() if mean and r["test_mae"]["mean"] > LEARNED * mean]
    if idle:
        epochs = max(peers[m]["epochs"]["mean"] for m in idle)
        who = "every peer" if len(idle) == len(peers) else _and([_cli(m) for m in idle])
        text += (f"; {who} within {100 * (1 - LEARNED):.0f}% of predicting the training mean "
                 f"({mean:.4f}; at most {epochs:.1f} epochs): a speed, not an accuracy, "
                 "comparison")
    return text, (pm if c is not None and c["loses_by_2_std"] else None)


def _readout(found: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    return _best(found["rows"], lambda m, r: r["kind"] == "readout"
                 and r["test_mae"]["mean"] is not None)


def _readout_text(found: dict[str, Any], row: dict[str, Any]) -> str:
    """``label value (fit on N crystals, ...)`` of a read-out row, with the CPU time of its
    features per crystal (train, val and test crystals featurized once)."""
    n_val = row.get("n_val", (found["payload"].get("settings") or {}).get("n_val"))
    seconds = row.get("feature_cpu_seconds")
    cost = ""
    if seconds is not None and n_val is not None:
        per = 1e3 * seconds / (row["n_train"] + n_val + row["n_test"])
        cost = f", CHGNet features ≈ {per:.0f} CPU-ms/crystal"
    return (f"{row['label']}{_mark(row)} {_mae_of(row)} (fit on {row['n_train']:,} crystals, "
            f"{row['n_test']} test crystals{cost})")


def _mae_of(row: dict[str, Any]) -> str:
    return peers_summary()._mae(row["test_mae"])


def backbone_part(target: str, found: dict[str, Any]) -> str:
    """The evidence of the pretrained-backbone row on ``target``: CHGNet frozen and
    fine-tuned under the library's head against the best read-out of its features and the
    library's best from-scratch model."""
    ps = peers_summary()
    if "missing" in found:
        return f"**{_short(target)}**: not measured ({found['missing']})"
    rows = _trained(found["rows"])
    heads = [(m, rows[m]) for m in ("chgnet-frozen", "chgnet") if m in rows]
    if not heads:
        return f"**{_short(target)}**: no CHGNet row in `{found['file']}`"
    names = {"chgnet-frozen": "frozen", "chgnet": "fine-tuned"}
    text = (_head(target, _conditions(found)) + "CHGNet under the library's head, "
            + " / ".join(f"{names[m]} {ps._mae(r['test_mae'])}{_mark(r)}" for m, r in heads)
            + " (" + " / ".join(_ms(r) for _, r in heads) + " CPU-ms/crystal predicting)")
    best_head = min(heads, key=lambda mr: mr[1]["test_mae"]["mean"])[1]
    read = _readout(found)
    lib = _best(rows, lambda m, r: r["source"] == LIBRARY)
    against = []
    if read is not None:
        against.append("the best read-out of its features, " + _readout_text(found, read[1]))
    if lib is not None:
        against.append(f"{_cli(lib[0])} from scratch {ps._mae(lib[1]['test_mae'])}")
    if against:
        text += " against " + " and ".join(against)
    verdicts = []
    if read is not None:
        ok = best_head["test_mae"]["mean"] <= read[1]["test_mae"]["mean"]
        verdicts.append(f"the head is {'at least as accurate as' if ok else 'worse than'} "
                        "the read-out")
    if lib is not None:
        c = ps.margin(best_head["test_mae"], lib[1]["test_mae"])
        verdicts.append(f"against {_cli(lib[0])}: "
                        + _verdict(c, "CHGNet ahead", "CHGNet **behind**"))
    return text + ("; " + "; ".join(verdicts) if verdicts else "")


def _targets(peers: list[PeerSource]) -> list[str]:
    """Every target of the peers study: the labelled ones, then any other in the files."""
    ps = peers_summary()
    seen = [t for _, _, p in peers if p for t in p.get("summary", {})]
    return list(dict.fromkeys([*ps.TARGET_LABELS, *seen]))


def _merge_missing(parts: list[tuple[str, dict[str, Any]]], text: Any) -> list[str]:
    """The lines of a cell, one per target; consecutive targets missing for the same reason
    share one line."""
    lines: list[list[Any]] = []  # [labels, reason] of missing targets, or [text]
    for target, found in parts:
        if "missing" not in found:
            lines.append([text(target, found)])
        elif lines and len(lines[-1]) == 2 and lines[-1][1] == found["missing"]:
            lines[-1][0].append(f"**{_short(target)}**")
        else:
            lines.append([[f"**{_short(target)}**"], found["missing"]])
    return [x[0] if len(x) == 1 else f"{_and(x[0])}: not measured ({x[1]})" for x in lines]


def relaxed_row(peers: list[PeerSource], targets: list[str] | None = None,
                link: bool = True) -> tuple[str, str, str]:
    """The relaxed-crystals row (on ``targets``; default: every target of the study; with
    the link to the study's page)."""
    parts = [(t, find_peers(t, peers)) for t in (_targets(peers) if targets is None else targets)]
    ahead = {t: relaxed_part(t, f)[1] for t, f in parts if "missing" not in f}
    use = ("`cft-pyg train` (the default `--model cft-trunk`: the CFT trunk without a "
           "positional encoding)")
    wins = [f"on {_short(t)} {_cli(p)} is more accurate"
            for t, p in ahead.items() if p]
    if wins:
        use += "; " + "; ".join(wins)
    cells = _merge_missing(parts, lambda t, f: relaxed_part(t, f)[0])
    return ("relaxed crystals (as MP-20, Carbon-24), one property", use,
            "<br>".join(cells + [LINKS["peers"]] * link))


def backbone_row(peers: list[PeerSource], targets: list[str] | None = None,
                 link: bool = True) -> tuple[str, str, str]:
    """The pretrained-backbone row (as :func:`relaxed_row`)."""
    parts = [(t, find_peers(t, peers)) for t in (_targets(peers) if targets is None else targets)]
    cells = _merge_missing(parts, backbone_part)
    return ("a pretrained backbone",
            "`--model chgnet-frozen` or `chgnet` (extra `chgnet`: CHGNet's pretrained "
            "representation under the library's head)",
            "<br>".join(cells + [LINKS["peers"]] * link))


# ------------------------------------------------------------------------------ shipped
def _card_target(card: dict[str, Any]) -> str:
    return f"{card['data']['dataset']}/{card['recipe']['target']}"


def shipped_row(cards: list[dict[str, Any]], peers: list[PeerSource]) -> tuple[str, str, str]:
    """The "MP-20 now" row: the shipped models (their cards), and the best CHGNet read-out
    of the peers study on the same target (marked: CHGNet saw these crystals)."""
    case = "MP-20 formation energy or band gap now"
    cards = [c for c in cards if c["data"]["dataset"] == "mp20"]
    if not cards:
        return case, "no shipped model", f"no model card in `{CARDS}/`"
    order = {t: i for i, t in enumerate(_targets(peers))}
    cards = sorted(cards, key=lambda c: (order.get(_card_target(c), len(order)), c["name"]))
    use = ("`cft-pyg predict --pretrained " + cards[0]["name"] + "`"
           + "".join(f" / `{c['name']}`" for c in cards[1:]))
    parts = []
    for c in cards:
        t, target = c["test"], _card_target(c)
        ci = t.get("mae_95ci")
        text = (f"**{_short(target)}**: `{c['name']}` **{t['mae']:.4f}** {c.get('unit', '')} ("
                + (f"95% CI {ci[0]:.4f}-{ci[1]:.4f}, " if ci else "")
                + f"{t['n']:,} project-test crystals; trained {c['training']['epochs_run']} "
                f"epochs on {c['data']['n_train']:,} crystals; {_k(c.get('parameters'))} "
                "parameters" + _shipped_cost(c, peers) + ")")
        found = find_peers(target, peers)
        read = None if "missing" in found else _readout(found)
        if "missing" in found:
            text += f"; CHGNet read-out: not measured ({found['missing']})"
        elif read is None:
            text += f"; CHGNet read-out: not in `{found['file']}`"
        else:
            text += "; the best CHGNet read-out, " + _readout_text(found, read[1])
        parts.append(text)
    return case, use, "<br>".join(parts) + f"<br>{LINKS['pretrained']}, {LINKS['peers']}"


def _shipped_cost(card: dict[str, Any], peers: list[PeerSource]) -> str:
    """The prediction time of the shipped network where the peers study timed a network of
    the same parameter count (that target first)."""
    timed = []
    for target in _targets(peers):
        found = find_peers(target, peers)
        for r in ({} if "missing" in found else _trained(found["rows"])).values():
            if r["source"] == LIBRARY and r["parameters"] == card.get("parameters"):
                timed.append((target != _card_target(card), target, r))
    if not timed:
        return ""
    _, target, r = min(timed, key=lambda x: x[0])
    where = "" if target == _card_target(card) else f" on {_short(target)}"
    return f", {_ms(r)} CPU-ms/crystal predicting as timed{where} in the peers study"


# ------------------------------------------------------------------------------ unrelaxed
def _shipped_screen(cards: list[dict[str, Any]]) -> str:
    """The shipped models for unrelaxed candidates (cards with per-composition screen
    metrics), for the "use" cell."""
    out = []
    for c in cards:
        screen = (c.get("test") or {}).get("screen")
        if not screen:
            continue
        out.append(f"`cft-pyg predict --pretrained {c['name']}` ({c['description']}; "
                   f"{c['training']['epochs_run']} epochs; on its {screen['n_compositions']} "
                   "test compositions relative-energy "
                   f"MAE {screen['relative_mae']:.4f}, Spearman {screen['spearman']:.2f}, "
                   f"ground state found in {screen['hit_rate']:.0%})")
    return ("ready-made: " + "; ".join(out) + "; to train: ") if out else ""


def unrelaxed_row(payload: dict[str, Any] | None, cards: list[dict[str, Any]] | None = None
                  ) -> tuple[str, str, str]:
    """The unrelaxed-candidates row: the shipped model for unrelaxed candidates (its card),
    and the CFT with the encoding, the Wyckoff model, aviary's Wrenformer (the maintained
    Wyckoff baseline, where measured) and the trunk without the encoding on unrelaxed inputs
    (the study)."""
    ps = peers_summary()
    case = ("**unrelaxed** candidate structures (a screen before relaxation: exact symmetry, "
            "wrong distances)")
    default_use = (_shipped_screen(cards or []) + "`--model cft` (with the encoding) or the "
                   "coordinate-free `--model wyckoff`")
    if payload is None:
        return case, default_use, f"not measured (`{UNRELAXED}` absent)"
    rows = {r["model"]: r for r in payload.get("rows", []) if r["input"] == "unrelaxed"}
    shown = [m for m in ("cft", "wyckoff", "wrenformer", "cft-no-encoding") if m in rows]
    if not shown:
        return case, default_use, f"no unrelaxed-input row in `{UNRELAXED}`"

    def stat(m: str) -> dict[str, Any]:
        r = rows[m]
        std = r.get("relative_mae_std")
        return {"mean": r["relative_mae"],
                "std": None if std is None or not math.isfinite(std) else std}

    first = rows[shown[0]]
    seeds = max(len(rows[m]["seeds"]) for m in shown)
    budgets = "/".join(f"{b:g}" for b in sorted({rows[m]["budget_cpu_seconds"] for m in shown}))
    text = (f"relative-energy MAE (eV/atom) on {first['n_test']:,} candidates of "
            f"{first['n_compositions']} compositions never seen in training ({_seeds(seeds)}, "
            f"{budgets} CPU-s of one-thread training{_loads([rows[m].get('load') for m in shown])}"
            "): " + ", ".join(f"{_cli(m)} {_stat(rows[m]['relative_mae'], stat(m)['std'])}"
                              for m in shown)
            + "; within-composition Spearman "
            + " / ".join(f"{rows[m]['spearman']:.2f}" for m in shown)
            + "; " + " / ".join(_k(rows[m].get("parameters")) for m in shown) + " parameters")
    if "cft" in rows:
        for other, name in (("wyckoff", "the Wyckoff model"),
                            ("wrenformer", "aviary's Wrenformer"),
                            ("cft-no-encoding", "the trunk without it")):
            if other in rows:
                c = ps.margin(stat("cft"), stat(other))
                text += f"; the CFT against {name}: {_verdict(c, 'ahead', '**behind**')}"
    text += "; prediction time not recorded by the study"
    # the pick: the models of the two candidates not behind the better one by 2 std
    cands = [m for m in ("cft", "wyckoff", "wrenformer") if m in rows]
    if not cands:
        return case, default_use, text + f"; {LINKS['unrelaxed']}"
    best = min(cands, key=lambda m: rows[m]["relative_mae"])
    keep = [m for m in cands if m == best
            or not (ps.margin(stat(best), stat(m)) or {}).get("wins_by_2_std")]
    use = (default_use if sorted(keep) == ["cft", "wyckoff"]
           else _shipped_screen(cards or []) + " or ".join(f"`--model {CLI.get(m, m)}`"
                                                         for m in keep))
    return case, use, text + f"; {LINKS['unrelaxed']}"


# ------------------------------------------------------------------------------ tensors
TENSOR_BACKBONE_LABELS = {"symmetric": "CGCNN", "chgnet-frozen": "CHGNet frozen†",
                          "chgnet": "CHGNet fine-tuned†", "megnet": "MEGNet"}
"""The backbones under the ``TensorHead`` in ``TENSOR_BACKBONES`` (``symmetric``: the
library's CGCNN backbone, re-run in the same window)."""


def tensor_backbones_clause(payload: dict[str, Any] | None) -> str:
    """Which backbone under the ``TensorHead`` is best per property (pooled relative
    Frobenius error, mean ± std over seeds, CPU-second budget), and whether it is ahead of
    the others by more than 2 std; ``''`` without the file."""
    if not payload or not payload.get("summary"):
        return ""
    ps = peers_summary()
    parts = []
    for t, rows in payload["summary"].items():
        stats = {m: {"mean": r["frobenius_rel_pooled"], "std": r.get("frobenius_rel_pooled_std")}
                 for m, r in rows.items()
                 if m in TENSOR_BACKBONE_LABELS and r.get("frobenius_rel_pooled") is not None}
        if not stats:
            continue
        order = sorted(stats, key=lambda m: stats[m]["mean"])
        best = order[0]
        ties = [m for m in order[1:]
                if not (ps.margin(stats[best], stats[m]) or {}).get("wins_by_2_std")]
        parts.append(f"{t} " + " < ".join(f"{TENSOR_BACKBONE_LABELS[m]} "
                                          f"{_stat(stats[m]['mean'], stats[m]['std'], 3)}"
                                          for m in order)
                     + (f" (not separated by 2 std from "
                        f"{_and([TENSOR_BACKBONE_LABELS[m] for m in ties])})" if ties else
                        " (ahead by more than 2 std)"))
    budget = payload.get("settings", {}).get("budget_seconds") or \
        payload.get("settings", {}).get("budget_s")
    return ("<br>**Backbones under the `TensorHead`** ("
            + (f"{budget:g} " if budget else "") + "CPU-s of one-thread training, "
            "† pretrained on Materials Project data): " + "; ".join(parts))


def tensors_row(payload: dict[str, Any] | None,
                backbones: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """The tensors row: the ``TensorHead`` (model ``symmetric``) against raw components and
    the mean tensor, pooled relative Frobenius error; where it is not more accurate; and
    which backbone under the head is best (:func:`tensor_backbones_clause`)."""
    ps = peers_summary()
    case = "tensor properties (dielectric, piezoelectric, elastic)"
    use = "`cft-pyg tensor train --target elastic` (a `TensorHead` on any backbone)"
    if payload is None:
        return case, use, f"not measured (`{TENSORS}` absent)"
    summary, settings = payload.get("summary", {}), payload.get("settings", {})

    def stat(t: str, m: str) -> dict[str, Any] | None:
        r = summary.get(t, {}).get(m)
        if r is None or r.get("frobenius_rel_pooled") is None:
            return None
        return {"mean": r["frobenius_rel_pooled"], "std": r.get("frobenius_rel_pooled_std")}

    parts, not_raw, not_mean, neumann = [], [], [], {"symmetric": [], "raw": []}
    for t in summary:
        runs = payload.get("targets", {}).get(t, {}).get("runs", [])
        tests = sorted({r["split"]["test"] for r in runs if "split" in r})
        n = f" ({'/'.join(map(str, tests))} test)" if tests else ""
        s = stat(t, "symmetric")
        if s is None:
            parts.append(f"{t}{n}: no `TensorHead` row")
            continue
        others = [(m, stat(t, m)) for m in ("raw", "mean")]
        parts.append(f"{t}{n} " + " / ".join("–" if o is None else _stat(o["mean"], o["std"], 3)
                                             for o in (s, *dict(others).values())))
        for m, o in others:
            c = None if o is None else ps.margin(s, o)
            if c is not None and not c["wins_by_2_std"]:
                (not_raw if m == "raw" else not_mean).append(t)
        for m in neumann:
            v = summary[t].get(m, {}).get("neumann_max")
            if v is not None:
                neumann[m].append(v)
    loads = [payload.get("conditions", {}).get(k) for k in ("load_at_start", "load_at_end")]
    loads += [m.get("load_at_start") for t in payload.get("targets", {}).values()
              for r in t.get("runs", []) for m in r.get("models", [])
              if m.get("model") in ("symmetric", "raw")]
    seeds = len(settings.get("seeds", [])) or max(
        (len(t.get("runs", [])) for t in payload.get("targets", {}).values()), default=0)
    text = ""
    if neumann["symmetric"]:
        text += (f"every prediction has exactly its point group's form (Neumann violation at "
                 f"most {max(neumann['symmetric']):.0e}"
                 + (f" against {max(neumann['raw']):.1f} for raw components"
                    if neumann["raw"] else "") + ") and rotates with the input; ")
    budget = settings.get("budget_s")
    text += ("pooled relative Frobenius error after "
             + (f"{budget:g} s of " if budget is not None else "")
             + f"one-thread training ({_seeds(seeds)}{_loads(loads)}), "
             + " / ".join(TENSOR_MODELS.values()) + ": " + "; ".join(parts))
    if not_raw:
        text += (f"; **not** more accurate than raw components (by 2 std) on "
                 f"{_and(not_raw)}")
    if not_mean:
        text += f"; not better than the mean tensor (by 2 std) on {_and(not_mean)}"
    return case, use, text + tensor_backbones_clause(backbones) + f"; {LINKS['tensors']}"


# ------------------------------------------------------------------------------ small data
PRETRAINED = ("chgnet",)
"""The ``source`` of the peers study's models built on a pretrained backbone."""


def _pretrained(row: dict[str, Any]) -> bool:
    return row["source"] in PRETRAINED


def _small_cost(found: dict[str, Any], row: dict[str, Any]) -> str:
    """CPU-ms per crystal predicting: the timed prediction of a trained model; CHGNet's
    features of a read-out (train, val and test crystals featurized once)."""
    if row["kind"] == "train":
        return f"{_ms(row)} CPU-ms/crystal"
    n_val = row.get("n_val", (found["payload"].get("settings") or {}).get("n_val"))
    seconds = row.get("feature_cpu_seconds")
    if seconds is None or n_val is None:
        return "prediction time not recorded"
    per = 1e3 * seconds / (row["n_train"] + n_val + row["n_test"])
    return f"≈ {per:.0f} CPU-ms/crystal of CHGNet features"


def _small_name(model: str, row: dict[str, Any]) -> str:
    return _cli(model) + _mark(row) if row["kind"] == "train" else row["label"] + _mark(row)


def _small_use(model: str, row: dict[str, Any]) -> str:
    """What a user runs to get ``model`` of the peers study."""
    if model in CLI:
        return f"`cft-pyg train` (`--model {CLI[model]}`)"
    if row["kind"] == "train":
        return f"`--model {model}`{_mark(row)}"
    return (f"{row['label']}{_mark(row)} (a read-out of CHGNet's pretrained model, "
            "`studies/peers/run.py`, no `cft-pyg` command)")


def small_part(target: str, found: dict[str, Any]) -> tuple[str, str | None]:
    """The evidence of the small-data row on ``target`` (every model of the ``small``
    preset of the peers study, best first, with its cost per crystal), and its "use" words:
    the most accurate model, and the best from scratch where a pretrained backbone wins."""
    ps = peers_summary()
    if "missing" in found:
        return f"**{_short(target)}**: not measured ({found['missing']})", None
    rows = {m: r for m, r in found["rows"].items()
            if r["kind"] in ("train", "readout") and r["test_mae"]["mean"] is not None}
    ranked = sorted(rows.items(), key=lambda mr: mr[1]["test_mae"]["mean"])
    n_train = sorted({r["n_train"] for r in rows.values()})
    head = _head(target, f"{'/'.join(map(str, n_train))} training crystals, "
                 + _conditions(found))
    items = []
    for m, r in ranked:
        epochs = (f"{r['epochs']['mean']:.1f} epochs, " if r["kind"] == "train"
                  and r.get("epochs", {}).get("mean") is not None else "")
        items.append(f"{_small_name(m, r)} {ps._mae(r['test_mae'])} "
                     f"({epochs}{_small_cost(found, r)})")
    items[0] = "**" + items[0].replace(" (", "** (", 1)
    text = head + " < ".join(items)
    mean = next((r["test_mae"]["mean"] for r in found["rows"].values()
                 if r["kind"] == "reference"), None)
    if mean is not None:
        text += f"; training mean {mean:.4f}"
        idle = [(m, r) for m, r in ranked if r["kind"] == "train"
                and r["test_mae"]["mean"] > LEARNED * mean]
        if idle:
            epochs = max(r["epochs"]["mean"] for _, r in idle)
            text += (f" ({_and([_small_name(m, r) for m, r in idle])} within "
                     f"{100 * (1 - LEARNED):.0f}% of it, at most {epochs:.1f} epochs: not "
                     "learned in the budget)")
    (best, row), scratch = ranked[0], [(m, r) for m, r in ranked if not _pretrained(r)]
    use = f"on {_short(target)} {_small_use(best, row)}"
    if _pretrained(row):
        text += f"; **the pretrained backbone wins** ({_small_name(best, row)}"
        if scratch:
            m, r = scratch[0]
            c = ps.margin(row["test_mae"], r["test_mae"])
            text += (f" against the best from scratch, {_cli(m)}: "
                     + _verdict(c, "ahead", "behind"))
            use += f", from scratch {_small_use(m, r)}"
        text += ")"
    else:
        pre = [(m, r) for m, r in ranked if _pretrained(r)]
        text += f"; from scratch wins ({_cli(best)}"
        if pre:
            m, r = pre[0]
            c = ps.margin(row["test_mae"], r["test_mae"])
            text += (f" against the best on CHGNet, {_small_name(m, r)}: "
                     + _verdict(c, "ahead", "**behind**"))
        text += ")"
    return text, use


def small_data_row(small: dict[str, Any] | None = None,
                   transfer: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """Small data: the ``small`` preset of the peers study (500 MP-20 training crystals),
    per target every model best first; without it, not measured, naming the nearest
    measurement, the few-shot runs of the transfer study."""
    case = "small data (a few hundred labels)"
    sources: list[PeerSource] = [(SMALL, None, small)]
    targets = [t for t in _targets(sources) if small is not None and t in small["summary"]]
    if not targets:
        reason = f"`{_name(SMALL)}` absent" if small is None else f"none in `{_name(SMALL)}`"
        ks = (transfer or {}).get("settings", {}).get("few_shot_ks") or []
        n = next((m["n_train"].get("zero-shot") for m in
                  (transfer or {}).get("summary", {}).get("models", {}).values()
                  if m.get("n_train", {}).get("zero-shot")), None)
        near = ""
        if ks and n:
            near = (f"; the nearest, the few-shot runs of the transfer study, add k = "
                    f"{', '.join(map(str, ks))} crystals of each unseen group to {n:,} "
                    "training crystals (row \"groups never seen\")")
        return case, "not measured", f"not measured ({reason}){near}"
    parts = [(t, find_peers(t, sources)) for t in targets]
    uses = [u for t, f in parts if (u := small_part(t, f)[1])]
    cells = _merge_missing(parts, lambda t, f: small_part(t, f)[0])
    missing = small.get("missing") or []
    if missing:
        cells.append(f"{len(missing)} planned runs missing: " + ", ".join(
            f"`{m}`" for m in missing))
    return (case, "; ".join(uses) or "not measured", "<br>".join([*cells, LINKS["peers"]]))


# ------------------------------------------------------------------------------ the table
def rows(sources: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of the table, in order."""
    peers = sources["peers"]
    return [relaxed_row(peers), shipped_row(sources["cards"], peers), STATIC["unseen"],
            STATIC["paper"], unrelaxed_row(sources["unrelaxed"], sources["cards"]),
            tensors_row(sources["tensors"], sources.get("tensor_backbones")),
            backbone_row(peers),
            small_data_row(sources["small"], sources["transfer"]), STATIC["store"]]


def _notes() -> list[str]:
    ps = peers_summary()
    return [f"{ps.SAW} CHGNet was pretrained on the Materials Project's relaxation "
            "trajectories (MPtrj), which very likely hold the MP-20 test crystals: its MP-20 "
            "figures are not a held-out test.",
            "Mean ± std over seeds; \"by 2 std\": the difference of the means against twice "
            "the larger seed std; budgets are CPU-seconds of one-thread training on a shared "
            "2-core machine (load average in the cell); CPU-ms/crystal: prediction time on one "
            "thread."]


def render(table: list[tuple[str, str, str]]) -> str:
    """The markdown table and its notes."""
    lines = ["| your case | use | measured |", "|---|---|---|"]
    lines += [f"| {case} | {use} | {evidence} |" for case, use, evidence in table]
    return "\n\n".join(["\n".join(lines), *_notes()]) + "\n"


def block(sources: dict[str, Any]) -> str:
    """The README block (without its markers)."""
    return ("<!-- generated by `python -m studies.which_model` from the results JSON; edit "
            "the generator, not this table -->\n" + render(rows(sources)))


def peers_markdown(payload: dict[str, Any], file: str) -> str:
    """The rows of the table that come from one summary of the peers study (its "which
    model" section; ``payload``: ``{"summary": ..., "settings": ...}``, ``file`` its name):
    the relaxed-crystals and pretrained-backbone rows, or for the ``small`` preset the
    small-data row."""
    if (payload.get("settings") or {}).get("label") == "small":  # the small-data row
        return render([small_data_row(payload)])
    peers: list[PeerSource] = [(file, None, payload)]
    targets = [t for t in _targets(peers) if t in payload["summary"]]
    return render([relaxed_row(peers, targets, link=False),
                   backbone_row(peers, targets, link=False)])


def replace(text: str, new_block: str) -> str:
    """``text`` with its which-model block replaced by ``new_block``."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{new_block}{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.which_model",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="where the results JSON and the model cards are read")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 1 when the README block differs from the generated one")
    mode.add_argument("--print", action="store_true", help="print the block only")
    args = parser.parse_args(argv)
    new = block(load_sources(args.root))
    if args.print:
        print(new, end="")
        return 0
    text = args.readme.read_text()
    updated = replace(text, new)
    if args.check:
        if updated != text:
            print(f"{args.readme}: the which-model block differs from the generated one; "
                  "run `python -m studies.which_model`", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(updated)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
