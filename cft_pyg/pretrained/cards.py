"""Model cards as text: what ``cft-pyg pretrained NAME`` prints (``--json``: the raw record).

Plain Python on the card dictionaries (no torch), so that reading a card is instant.
"""

from __future__ import annotations

from typing import Any

__all__ = ["format_encoding_card", "format_model_card"]


def _num(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _rows(rows: list[dict[str, Any]], key: str, unit: str) -> list[str]:
    """``  <key value>  n = ..  MAE ..`` lines of a breakdown table of the validity record."""
    def order(row: dict[str, Any]) -> tuple[int, str]:
        label = str(row[key])
        head = label.split("-")[0].rstrip("+")
        return (int(head) if head.isdigit() else 10**6, label)

    return [f"    {r[key]!s:14s} n = {r['n']:>5}  MAE {_num(r['mae'])} {unit}  "
            f"mean signed error {float(r['mean_signed_error']):+.4f}"
            for r in sorted(rows, key=order)]


def _screen_lines(screen: dict[str, Any], unit: str) -> list[str]:
    """The screen metrics of a card's test compositions (``test["screen"]``)."""
    ci = screen.get("relative_mae_95ci", [float("nan")] * 2)
    floor = screen.get("one_value_per_composition") or {}
    out = [f"  screen       {screen['n_compositions']} test compositions never seen in training "
           f"({screen['n_candidates']} candidates), averaged per composition:",
           f"    energy above the composition's ground state: MAE "
           f"{_num(screen['relative_mae'])} {unit} (95% CI {_num(ci[0])}-{_num(ci[1])})",
           f"    Spearman within a composition {screen['spearman']:.3f}; ground-state hits "
           f"{screen['hit_rate']:.2f} (predicted lowest within {screen['tolerance']} {unit} "
           f"of the DFT lowest)"]
    if floor:
        out.append(f"    one value per composition (no ranking): MAE "
                   f"{_num(floor['relative_mae'])} {unit}, hits {floor['hit_rate']:.2f}")
    return out


def _screen_validity_lines(validity: dict[str, Any], unit: str) -> list[str]:
    """The screen parts of a card's ``validity``: worst compositions, symmetry changes."""
    out = []
    if validity.get("worst_compositions"):
        out += ["", "  worst test compositions (energy above the ground state):"]
        out += [f"    {w['composition']:14s} n = {w['n']:>5}  MAE {_num(w['relative_mae'])} "
                f"{unit}  Spearman {w['spearman']:+.2f}  hit {w['hit']:.2f}"
                for w in validity["worst_compositions"]]
    if validity.get("by_symmetry_change"):
        sym = validity.get("symmetry_change") or {}
        out += ["", f"  by space group on relaxation (spglib, symprec {sym.get('symprec', '?')}; "
                "energy above the ground state, plain MAE):"]
        out += [f"    {r['space_group_on_relaxation']:14s} n = {r['n']:>5}  MAE "
                f"{_num(r['relative_mae'])} {unit}  plain {_num(r['mae'])}"
                for r in validity["by_symmetry_change"]]
    return out


def format_model_card(card: dict[str, Any]) -> str:
    """A shipped model's card as readable text: what it predicts, how it was trained, its
    test error, where it was measured to hold and where it fails, how to rebuild it."""
    unit = card.get("unit", "")
    data, test, train = card.get("data", {}), card.get("test", {}), card.get("training", {})
    recipe = card.get("recipe", {})
    lines = [f"{card['name']}: {card.get('description', '')}", ""]
    lines.append(f"  model        {recipe.get('model', '?')} {recipe.get('model_kwargs', {})}, "
                 f"{card.get('parameters', 0):,} parameters")
    options = "".join(f"; {k} {v}" for k, v in (data.get("options") or {}).items())
    groups = (f"; {data['n_train_compositions']} compositions"
              if "n_train_compositions" in data else "")
    lines.append(f"  trained on   {data.get('dataset', '?')} ({data.get('n_train', '?')} "
                 f"crystals{groups}{options}), target {recipe.get('target', '?')}")
    if data.get("split"):
        lines.append(f"  split        {data['split']}")
    if train:
        lines.append(f"  training     {train.get('epochs_run', '?')} epochs (best "
                     f"{train.get('best_epoch', '?')}), {train.get('wall_seconds', 0) / 60:.0f} "
                     f"min on {train.get('threads', '?')} thread(s)")
    if test:
        ci = test.get("mae_95ci", [float("nan")] * 2)
        lines.append(f"  test MAE     {_num(test['mae'])} {unit} (95% CI {_num(ci[0])}-"
                     f"{_num(ci[1])}, n = {test.get('n')}); predicting the training mean: "
                     f"{_num(test.get('mae_predict_train_mean', float('nan')))} {unit}")
    screen = test.get("screen")
    if screen:
        lines += _screen_lines(screen, unit)
    validity = card.get("validity") or {}
    if validity.get("domain"):
        lines += ["", f"  domain       {validity['domain']}"]
    lines += _screen_validity_lines(validity, unit)
    for title, key, rows_key in (("by elements per crystal", "n_elements", "by_elements"),
                                 ("by atoms per cell", "atoms", "by_atoms"),
                                 ("by crystal system", "crystal_system", "by_crystal_system")):
        if validity.get(rows_key):
            lines += ["", f"  test MAE {title}:", *_rows(validity[rows_key], key, unit)]
    outside = validity.get("outside_references") or {}
    for name, ref in outside.items():
        lines += ["", f"  outside reference: {ref.get('title', name)}"]
        lines += [f"    {k}: {_num(v) if not isinstance(v, dict) else v}"
                  for k, v in ref.items() if k not in ("title", "crystals")]
    if validity.get("failure_cases"):
        lines += ["", "  where it fails:"] + [f"    - {f}" for f in validity["failure_cases"]]
    lines += ["", f"  written by cft-pyg {card.get('library_version', '?')} on "
              f"{card.get('date', '?')}; rebuild: {card.get('command', '?')}",
              "  (the whole record: cft-pyg pretrained NAME --json)"]
    return "\n".join(lines)


def format_encoding_card(card: dict[str, Any]) -> str:
    """A shipped positional encoder's card as readable text."""
    h, p = card.get("heldout", {}), card.get("pretraining", {})
    lines = [f"{card['name']}: pretrained positional encoder of {card.get('model', '?')} "
             f"({card.get('parameters', 0):,} parameters, stored as "
             f"{card.get('stored_dtype', '?')})", "",
             f"  pretraining  label-free orbit distances, all {card.get('groups', 230)} groups: "
             f"{card.get('pairs_seen_per_group', '?')} pairs per group in "
             f"{p.get('epochs', '?')} epochs ({card.get('train_seconds', 0) / 60:.0f} min on "
             f"{card.get('threads', '?')} thread(s))",
             f"  held-out     orbit-distance MAE {_num(h.get('mae', float('nan')), 3)} Å, "
             f"RMSE {_num(h.get('rmse', float('nan')), 3)} Å on {h.get('pairs', '?')} pairs "
             f"(published: {card.get('published_mae', '?')} Å; target "
             f"{'met' if card.get('target_met') else 'not met'})"]
    if h.get("by_system"):
        lines += ["", "  held-out MAE by crystal system:"]
        lines += [f"    {k:14s} {v:.3f} Å" for k, v in h["by_system"].items()]
    lines += ["", f"  use: cft-pyg train --model {card.get('model', '?')} "
              f"--pretrained-encoding {card['name']} ...",
              "  (the whole record: cft-pyg pretrained NAME --json)"]
    return "\n".join(lines)
