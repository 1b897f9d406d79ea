"""A crystal of group G re-described in the standard setting of each t-subgroup H: exactly
H-invariant (1e-12, float64), the same physical crystal, and a CFT fed the H-description is
invariant under every operation of G; conjugate copies of H give the same prediction."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from cft_pyg import SpaceGroup
from cft_pyg.data import from_structure, standardize
from cft_pyg.data.generator import generate_crystal
from cft_pyg.experimental.augmentation import (
    SubgroupAugmented,
    augmentation_hooks,
    describe_in_subgroup,
    standardized_from_data,
    subgroup_data,
)
from cft_pyg.experimental.subgroups import t_subgroups
from cft_pyg.nn import CrystalFourierTransformer
from cft_pyg.testing import default_tolerance

GROUPS = (2, 14, 62, 92, 123, 139, 148, 166, 194, 216, 221, 227)


def _crystal(number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return generate_crystal(number, np.random.default_rng(number), max_atoms=24)


def _set_error(frac: np.ndarray, numbers: np.ndarray, group: SpaceGroup) -> float:
    """Largest distance (fractional) from an image of an atom to the nearest atom of its
    species, over every operation of ``group``."""
    images = group.apply(frac)
    d = np.abs((images[:, :, None, :] - frac[None, None, :, :] + 0.5) % 1.0 - 0.5).max(-1)
    d[:, numbers[:, None] != numbers[None, :]] = np.inf
    return float(d.min(axis=2).max())


def _cartesian_multiset(lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray,
                        shell: float = 6.0) -> np.ndarray:
    """Sorted (Z, distance) pairs of all neighbours within ``shell`` of each atom: a
    description-independent fingerprint per unit volume."""
    n = np.arange(-3, 4)
    shifts = np.array(np.meshgrid(n, n, n)).reshape(3, -1).T
    cart = frac @ lattice
    images = (frac[None] + shifts[:, None]) @ lattice
    d = np.linalg.norm(images[:, None, :, :] - cart[None, :, None, :], axis=-1)
    rows = [(numbers[i], round(float(x), 6)) for s in range(len(shifts))
            for i in range(len(numbers)) for x in d[s, i] if 1e-6 < x < shell]
    return np.array(sorted(rows))


@pytest.mark.parametrize("number", GROUPS)
def test_description_is_exactly_invariant_under_the_subgroup(number):
    std = standardize(_crystal(number))
    assert std.number == number
    volume = abs(np.linalg.det(std.lattice))
    for sub in t_subgroups(number):
        h = describe_in_subgroup(std, sub)
        assert _set_error(h.frac_coords, h.numbers, SpaceGroup(h.number)) < 1e-12
        # the same crystal: atoms per volume and every interatomic distance
        h_volume = abs(np.linalg.det(h.lattice))
        assert len(h.numbers) / h_volume == pytest.approx(len(std.numbers) / volume)
        if sub.index in (1, 2) or sub.number == 1:
            ratio = h_volume / volume
            a = _cartesian_multiset(std.lattice, std.frac_coords, std.numbers)
            b = _cartesian_multiset(h.lattice, h.frac_coords, h.numbers)
            assert len(b) == pytest.approx(len(a) * ratio)
            assert set(map(tuple, a.tolist())) == set(map(tuple, b.tolist()))


def test_the_group_itself_gives_the_crystal_back():
    for number in (14, 166, 227):
        std = standardize(_crystal(number))
        same = describe_in_subgroup(std, t_subgroups(number)[0])
        assert same.number == number and len(same.numbers) == len(std.numbers)
        assert np.allclose(same.lattice, std.lattice, atol=1e-10)
        order = np.lexsort(np.c_[std.numbers, std.frac_coords].T[::-1])
        order2 = np.lexsort(np.c_[same.numbers, same.frac_coords].T[::-1])
        assert np.allclose(std.frac_coords[order], same.frac_coords[order2], atol=1e-10)


def test_float32_data_round_trips_to_an_exact_crystal():
    data = from_structure(_crystal(194))
    std = standardized_from_data(data)
    assert _set_error(std.frac_coords, std.numbers, SpaceGroup(194)) < 1e-12
    assert np.abs(std.frac_coords - data.frac_coords.double().numpy()).max() < 1e-6


def test_not_a_subgroup_is_refused():
    std = standardize(_crystal(14))
    with pytest.raises(ValueError, match="not a subgroup"):
        describe_in_subgroup(std, t_subgroups(62)[1])


def _predict(model, items) -> torch.Tensor:
    with torch.no_grad():
        return model(Batch.from_data_list(items))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CrystalFourierTransformer().eval()


@pytest.mark.parametrize("number", (14, 62, 166, 194,
                                    pytest.param(227, marks=pytest.mark.slow)))
def test_cft_on_a_subgroup_description_is_invariant_under_every_operation_of_g(number, model):
    from pymatgen.core import Lattice, Structure

    std = standardize(_crystal(number))
    group = SpaceGroup(number)
    # the smallest subgroup of largest index that is not P1: the strictest test of the map
    sub = max(t_subgroups(number)[1:], key=lambda s: (s.index, -s.position))
    ref = _predict(model, [subgroup_data(from_structure(
        (std.lattice, std.frac_coords, std.numbers)), sub)])
    rng = np.random.default_rng(0)
    variants = []
    for k in range(group.num_operations):
        x = std.frac_coords @ group.rotations[k].T + group.translations[k]
        perm = rng.permutation(len(x))
        structure = Structure(Lattice(std.lattice), std.numbers[perm].tolist(), x[perm])
        variants.append(subgroup_data(from_structure(structure), sub))
    out = _predict(model, variants)
    atol, rtol = default_tolerance(torch.float32)
    assert torch.allclose(out, ref.expand_as(out), atol=atol, rtol=rtol)
    # the check can fail: another subgroup type gives another prediction
    other = next(s for s in t_subgroups(number) if s.number != sub.number)
    assert abs(float(_predict(model, [subgroup_data(from_structure(
        (std.lattice, std.frac_coords, std.numbers)), other)])) - float(ref)) > 1e-4


@pytest.mark.parametrize("number", (123, 194, 221, 227))
def test_conjugate_copies_give_one_prediction(number, model):
    data = from_structure(_crystal(number))
    by_class: dict[int, list[torch.Tensor]] = {}
    for sub in t_subgroups(number):
        by_class.setdefault(sub.conjugacy_class, []).append(sub)
    atol, rtol = default_tolerance(torch.float32)
    multi = [subs for subs in by_class.values() if len(subs) > 1]
    assert multi
    for subs in multi:
        out = _predict(model, [subgroup_data(data, s) for s in subs])
        assert torch.allclose(out, out[:1].expand_as(out), atol=atol, rtol=rtol)


def _items(numbers=(14, 62, 166, 221)) -> list:
    return [from_structure(_crystal(n)) for n in numbers]


def test_augmentation_probability_is_checked():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="probability"):
            SubgroupAugmented([], p)


def test_augmentation_off_returns_the_crystals_themselves():
    items = _items()
    aug = SubgroupAugmented(items, 0.0)
    assert len(aug) == len(items)
    for i in range(len(items)):
        assert aug[i] is items[i]


def test_augmentation_always_on_describes_each_crystal_in_a_proper_subgroup():
    items = [*_items(), from_structure(_crystal(1))]
    aug = SubgroupAugmented(items, 1.0, seed=3)
    for i, item in enumerate(items):
        number = int(item.space_group)
        seen = {int(aug[i].space_group) for _ in range(6)}
        if number == 1:  # P1 has no proper subgroup: the crystal itself
            assert seen == {1}
            continue
        proper = {sub.number for sub in t_subgroups(number)[1:]}
        assert seen <= proper
        density = item.num_nodes / abs(np.linalg.det(item.cell[0].double().numpy()))
        h = aug[i]
        assert h.num_nodes / abs(np.linalg.det(h.cell[0].double().numpy())) \
            == pytest.approx(density, rel=1e-5)


def test_augmentation_draws_are_reproducible_by_seed():
    items = _items()

    def groups(seed: int) -> list[int]:
        aug = SubgroupAugmented(items, 0.5, seed=seed)
        return [int(aug[i].space_group) for _ in range(5) for i in range(len(items))]

    assert groups(0) == groups(0)
    assert groups(0) != groups(1)


def test_training_option_is_validated():
    from cft_pyg.training import ConfigError, TrainConfig

    assert augmentation_hooks(0.0) == {}  # off by default: no hook at all
    with pytest.raises(ValueError, match="subgroup_augmentation"):
        augmentation_hooks(2.0)
    with pytest.raises(ValueError, match="measured geometry"):
        augmentation_hooks(0.5, featurization={"geometry": "measured"})
    # the retired config option: old files (at its default) still load, a setting is refused
    assert "subgroup_augmentation" not in TrainConfig.field_names()
    TrainConfig.from_dict({"subgroup_augmentation": 0.0})
    with pytest.raises(ConfigError, match="subgroup_augmentation was retired"):
        TrainConfig.from_dict({"subgroup_augmentation": 0.5})


def test_training_with_augmentation_runs_end_to_end(tmp_path, monkeypatch):
    import cft_pyg.experimental.augmentation as module
    from cft_pyg.data import SyntheticCrystals
    from cft_pyg.experimental.descent import training_groups_of
    from cft_pyg.training import TrainConfig, fit

    data = SyntheticCrystals(tmp_path / "data", num_crystals=24, seed=5, num_workers=0,
                             log=False)
    cfg = TrainConfig(model="cft", model_kwargs={"channels": 16, "heads": 2}, epochs=1,
                      batch_size=8, warmup_epochs=0.0, progress_bar=False, accelerator="cpu",
                      devices=1, output_dir=str(tmp_path / "run"))
    calls = []
    real = module.subgroup_data
    monkeypatch.setattr(module, "subgroup_data",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    result = fit(cfg, data[:16], data[16:], **augmentation_hooks(1.0, cfg.seed))
    assert result.epochs_run == 1 and np.isfinite(result.best_val_score)
    # the callback records every t-subgroup type as seen, in the checkpoint
    assert result.module.training_groups == training_groups_of(data[:16], augmented=True)
    n_proper = sum(len(t_subgroups(int(d.space_group))) > 1 for d in data[:16])
    assert len(calls) >= n_proper > 0  # every training crystal with a proper subgroup


def test_augmentation_cache_gives_the_same_descriptions():
    items = _items()
    cached, fresh = SubgroupAugmented(items, 1.0, seed=2), \
        SubgroupAugmented(items, 1.0, seed=2, cache=False)
    for _ in range(4):
        for i in range(len(items)):
            a, b = cached[i], fresh[i]
            assert int(a.space_group) == int(b.space_group)
            assert torch.equal(a.frac_coords, b.frac_coords) and torch.equal(a.z, b.z)
    assert 0 < len(cached._made) <= 4 * len(items) and not fresh._made


def test_descriptions_batch_with_the_crystals_they_come_from():
    """``y`` keeps the stored shape and a stored ``num_nodes`` is kept (as in a processed
    dataset's items), so a batch may mix crystals and subgroup descriptions."""
    for y in (torch.tensor([1.5]), torch.tensor([[1.5, 2.0]])):
        data = from_structure(_crystal(62))
        data.y = y
        data.num_nodes = int(data.z.numel())  # stored by processed datasets
        h = subgroup_data(data, t_subgroups(62)[-1])
        assert h.y.shape == y.shape and h.num_nodes == h.z.numel()
        batch = Batch.from_data_list([data, h])
        assert batch.num_graphs == 2


def test_descriptions_batch_with_synthetic_crystals(tmp_path):
    """Items without a field that ``from_structure`` adds (``std_rotation`` on the synthetic
    crystals) keep their fields in the description, so a mixed batch collates."""
    from cft_pyg.data import SyntheticCrystals

    data = SyntheticCrystals(tmp_path / "data", num_crystals=12, seed=5, num_workers=0,
                             log=False)
    items = [data[i] for i in range(len(data))]
    augmented = SubgroupAugmented(items, 0.5, seed=0)
    described = [augmented[i] for i in range(len(items))]
    assert any(d is not item for d, item in zip(described, items))
    for d, item in zip(described, items):
        assert set(d.keys()) == set(item.keys())
    assert Batch.from_data_list(described).num_graphs == len(items)
