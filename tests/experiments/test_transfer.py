"""The size-matched zero-shot study runs end to end (quick settings on real MP-20 rows): the
all-groups model trains on as many crystals for as many optimizer steps as the zero-shot
model, the pretrained variant runs after its pretraining, and the summary holds the GB-Gaps
and the claims."""

from __future__ import annotations

import json

from cft_pyg.experiments.transfer import TransferSettings, few_shot_table, run_transfer


def test_quick_transfer_study(shared_data_dir, tmp_path) -> None:
    settings = TransferSettings.from_preset(
        "quick", mp20_root=str(shared_data_dir / "mp_20"), output_dir=str(tmp_path / "out"),
        work_dir=str(tmp_path / "work"))
    payload = run_transfer(settings, echo=lambda _: None)
    assert payload["complete"], payload["missing"]
    runs = {(r["model"], r["variant"]): r for r in payload["runs"]}
    for model in settings.models:
        zs, al = runs[(model, "zero-shot")], runs[(model, "all-groups")]
        assert zs["n_train"] == al["n_train"] and zs["n_val"] == al["n_val"]
        assert zs["optimizer_steps"] == al["optimizer_steps"] > 0
        assert zs["n_test"] == al["n_test"] == payload["split_sizes"]["test"]
    assert runs[("cft", "k1")]["n_train"] > runs[("cft", "zero-shot")]["n_train"]
    assert payload["pretraining"]["heldout_mae"] > 0
    summary = payload["summary"]
    for model in settings.models:
        entry = summary["models"][model]
        assert entry["gb_gap_published"]["mean"] >= 0
        assert set(entry["held_test_mae"]) >= {"zero-shot", "all-groups"}
    assert "cft GB-Gap below cgcnn" in summary["claims"]
    on_disk = json.loads((tmp_path / "out" / "transfer.json").read_text())
    assert on_disk["split_sizes"] == payload["split_sizes"]
    assert (tmp_path / "out" / "transfer_fewshot.png").is_file()
    few = few_shot_table(summary)
    assert sorted(few[few.model == "cft"].k) == [0, 1]
    zero = few[(few.model == "cft") & (few.k == 0)].mae.item()
    assert zero == summary["models"]["cft"]["held_test_mae"]["zero-shot"]["mean"]
