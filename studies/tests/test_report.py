"""The README's ablation block is generated from the committed results JSON."""

from __future__ import annotations

import json

import pytest

from studies.kit.report import ablation_markdown, markers, replace_block

from ..conftest import REPO_ROOT

BEGIN, END = markers("ablation")


def _payload_and_block(relative: str, name: str) -> tuple[dict, str]:
    """The committed results JSON at ``relative`` and the README block ``name`` (skips when
    the JSON is not committed)."""
    from studies.kit.report import markers

    path = REPO_ROOT / relative
    if not path.is_file():
        pytest.skip(f"{relative} not committed")
    begin, end = markers(name)
    doc = (REPO_ROOT / "studies" / "NOTEBOOK.md").read_text()
    return json.loads(path.read_text()), doc.split(begin, 1)[1].split(end, 1)[0]


def test_readme_ablation_block_matches_the_json():
    path = REPO_ROOT / "studies" / "results" / "ablation.json"
    if not path.is_file():
        pytest.skip("studies/results/ablation.json not committed")
    payload = json.loads(path.read_text())
    doc = (REPO_ROOT / "studies" / "NOTEBOOK.md").read_text()
    block = doc.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == ablation_markdown(payload).strip()
    # every headline test MAE of the JSON appears in the README
    for target in payload["summary"].values():
        for row in target["variants"].values():
            assert f"{row['test_mae']['mean']:.4f}" in block


def test_replace_block_needs_markers():
    assert replace_block(f"a {BEGIN}old{END} b", "new\n") == f"a {BEGIN}\nnew\n{END} b"
    with pytest.raises(ValueError, match="block"):
        replace_block("no markers", "x")


def test_readme_pretrained_block_matches_the_model_cards():
    from cft_pyg import pretrained
    from studies.kit.report import markers, pretrained_markdown

    begin, end = markers("pretrained")
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split(begin, 1)[1].split(end, 1)[0]
    cards = [pretrained.model_card(n) for n in pretrained.available()]
    encoders = [pretrained.encoding_card(n) for n in pretrained.available_encodings()]
    assert cards and block.strip() == pretrained_markdown(cards, encoders).strip()
    for card in cards:
        assert f"{card['test']['mae']:.4f}" in block
    for card in encoders:
        assert f"**{card['heldout']['mae']:.4f} Å**" in block


def test_readme_curves_block_matches_the_json():
    from studies.kit.report import curves_markdown

    payload, block = _payload_and_block("studies/results/curves.json", "curves")
    assert block.strip() == curves_markdown(payload).strip()
    for target in payload["summary"].values():
        for row in target["models"].values():
            assert f"{row['test_mae']['mean']:.4f}" in block


def test_readme_transfer_block_matches_the_json():
    from studies.kit.report import transfer_markdown

    payload, block = _payload_and_block("studies/results/transfer.json", "transfer")
    assert block.strip() == transfer_markdown(payload).strip()


def test_readme_encoding_block_matches_the_json():
    from studies.kit.report import encoding_markdown

    payload, block = _payload_and_block("benchmarks/results/encoding_targets.json", "encoding")
    assert block.strip() == encoding_markdown(payload).strip()
    for case in payload["cases"].values():
        if "over_plain" in case:
            assert f"{case['over_plain']['auto']:.2f}x" in block


def test_readme_robustness_block_matches_the_json():
    from studies.kit.report import robustness_markdown

    payload, block = _payload_and_block("benchmarks/results/robustness.json", "robustness")
    assert not payload["quick"], "the committed robustness figures come from a full run"
    assert block.strip() == robustness_markdown(payload).strip()
    # the mirror image changes no prediction of any model: the benchmark's target
    for dataset in payload["results"].values():
        for row in dataset["models"].values():
            for kind in ("mirror (x -> -x)", "mirror (frame z -> -z)"):
                assert row["changes"][kind]["changed"] == 0, (row["label"], kind)
            assert row["changes"]["symprec=0.1"]["max"] <= 1e-5 * max(1.0, row["test_mae"])


def test_every_generated_block_of_the_documents_matches_the_json():
    """README (summary, pretrained) and studies/NOTEBOOK.md (every other table) equal what
    ``report --write`` generates from the committed JSON; every block has its place."""
    from studies.kit.report import generate_blocks

    blocks = generate_blocks(REPO_ROOT / "studies" / "results",
                             REPO_ROOT / "benchmarks" / "results")
    docs = {p: (REPO_ROOT / p).read_text() for p in ("README.md", "studies/NOTEBOOK.md")}
    for name, block in blocks.items():
        begin, end = markers(name)
        where = [p for p, text in docs.items() if begin in text]
        assert len(where) == 1, (name, where)
        assert docs[where[0]].split(begin, 1)[1].split(end, 1)[0].strip() == block.strip(), name
    assert {"summary", "pretrained", "ablation", "curves", "transfer", "compare"} <= set(blocks)


def _gap(mean: float, std: float | None = 0.01, n: int = 3) -> dict:
    return {"mean": mean, "std": std, "values": [mean] * n, "n_seeds": n}


def test_zero_shot_row_judges_both_protocols():
    """Figure 3's cell: the published protocol (a baseline missing from the published models'
    run is taken from the comparison and says so), the cost of the group one-hot, the
    size-matched claims; the verdict follows the numbers."""
    from studies.kit.report_published import zero_shot_row

    def entry(gap: float, k0: float, seeds: int = 3) -> dict:
        return {"gb_gap": _gap(gap, n=seeds), "seeds": list(range(seeds)),
                "held_test_mae": {"all": _gap(0.1), "k0": _gap(k0)}}

    protocol = {"settings": {"n_train": 2000, "n_val": 400, "n_test": 600,
                             "zs_fractions": [0.7, 0.1, 0.2], "epochs": 8,
                             "zs_seeds": [0, 1, 2]},
                "results": {"published": entry(0.10, 0.20),
                            "published-onehot": entry(0.30, 0.45),
                            "cgcnn": entry(0.15, 0.25)}}
    comparison = {"results": {"alignn": entry(0.20, 0.30, seeds=1)}}
    transfer = {"summary": {
        "models": {m: {"gb_gap_published": _gap(g), "relative_degradation": _gap(r),
                       "per_seed": {0: {}, 1: {}, 2: {}}}
                   for m, g, r in [("published", 0.02, 0.1), ("cgcnn", 0.01, 0.08)]},
        "claims": {"published beats cgcnn": {"claim": {"better": "published",
                                                       "worse": "cgcnn"}, "met": False}}}}
    row = zero_shot_row(protocol, comparison, transfer)
    assert "published CFT 0.1000 ± 0.0100" in row
    assert "ALIGNN (small) 0.2000 ± 0.0100 (from the comparison, 1 seed)" in row
    assert "below CGCNN's and ALIGNN's: **reproduced**" in row
    assert "the group one-hot costs +0.2500 eV/atom" in row
    assert "size-matched protocol (`transfer`, 3 seeds)" in row
    assert "published CFT 0.0200 ± 0.0100 (+10%)" in row and "0 of 1 claims met" in row
    protocol["results"]["published"] = entry(0.18, 0.20)
    assert "**not reproduced**" in zero_shot_row(protocol, comparison, None)
    assert zero_shot_row(None, None, None) == "not measured yet in the published architecture"


def test_equal_time_rows_judge_their_own_criterion_from_the_seeds():
    """Each row is judged by its own criterion from the per-seed test MAEs, whatever claims
    the curves run judged (here it judged none, as for a pair of non-reference models)."""
    import pytest

    from studies.kit.report_published import equal_time_rows

    def row(values: list[float], epochs: float) -> dict:
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        return {"budget_seconds": 240.0, "seeds": [0, 1, 2], "epochs": _gap(epochs),
                "test_mae": {"mean": mean, "std": std, "values": values, "n_seeds": 3}}

    curves = {"summary": {"carbon24/energy_per_atom": {
        "models": {"published": row([0.025, 0.026, 0.027], 12.0),
                   "published-plain": row([0.030, 0.031, 0.032], 16.0),
                   "published-pretrained": row([0.0255, 0.0265, 0.0275], 12.0)},
        "claims": {}}}}
    (line,) = equal_time_rows(curves, "published", "published-plain", "by more than 2 std")
    assert line == ("Carbon-24 energy (eV/atom) at 240 training seconds: 0.0260 ± 0.0010 vs "
                    "0.0310 ± 0.0010 (3 seeds, 12.0 vs 16.0 epochs, 3.5 std), by more than "
                    "2 std: **reproduced**")
    # a lower mean by less than 2 std: reproduced by one criterion, not by the other
    assert equal_time_rows(curves, "published", "published-pretrained",
                           "lower mean")[0].endswith("lower mean: **reproduced**")
    assert equal_time_rows(curves, "published", "published-pretrained",
                           "by more than 2 std")[0].endswith("**not reproduced**")
    assert equal_time_rows(curves, "published-pretrained", "published",
                           "lower mean")[0].endswith("**not reproduced**")
    assert equal_time_rows(curves, "published", "published-none", "lower mean") == []
    assert equal_time_rows(None, "published", "published-plain", "lower mean") == []
    with pytest.raises(ValueError, match="unknown criterion"):
        equal_time_rows(curves, "published", "published-plain", "x")


def test_every_figure_of_the_user_page_is_a_generated_one():
    """``docs/results.md`` (the short user page) quotes figures, never makes them: each of its
    decimal figures and counts appears in the lab notebook or the README, whose tables are
    generated from the committed JSON (checked above)."""
    import re

    page = (REPO_ROOT / "docs" / "results.md").read_text()
    source = "".join((REPO_ROOT / p).read_text() for p in ("studies/NOTEBOOK.md", "README.md"))
    figures = set(re.findall(r"\d+\.\d+|\d{1,3}(?:,\d{3})+", page))
    assert len(figures) > 30
    missing = sorted(f for f in figures if f not in source)
    assert missing == [], missing
    assert len(page.splitlines()) <= 130  # a user page, not a lab notebook
