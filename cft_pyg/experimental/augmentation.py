"""A crystal of group ``G`` re-described, exactly, in the standard setting of a subgroup ``H``.

A crystal invariant under ``G`` is invariant under every t-subgroup ``H`` of ``G``
(:func:`cft_pyg.experimental.subgroups.t_subgroups`), so it has an exact description in the default
setting of ``SpaceGroup(H.number)``: the coordinates ``x_H = P x_G + p`` of the subgroup's
map, the lattice rows ``P^-T L``, and every atom of the (possibly larger or smaller)
conventional cell of ``H``.  :func:`describe_in_subgroup` builds it with the canonical choices
of :func:`cft_pyg.data.standardize`: the result is symmetrized with ``H``'s operations, its
lattice rebuilt in the Cholesky frame, the second member of an enantiomorphic pair mapped onto
the first (``canonical_handedness``) and one description chosen among those related by
``H``'s affine normalizer (``canonical_origin``).  Conjugate subgroups (``H`` and ``g H g^-1``,
``g`` in ``G``) then give the same description up to the order of the atoms, because ``g``
maps the crystal onto itself and relates their standard settings by an element of ``H``'s
normalizer.

Every operation of ``G`` only permutes the atoms of a ``G``-symmetric crystal, so a
permutation-invariant model fed an ``H``-description is still invariant under all of ``G``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import Callback
from torch_geometric.data import Data

from ..data.errors import StructureError
from ..data.featurization import Featurization
from ..data.standardization import (
    StandardizedCrystal,
    _symmetrize_lattice,
    _wrap,
    canonical_crystal,
    symmetrize_frac_coords,
)
from ..data.structure import from_standardized
from ..symmetry.space_group import SpaceGroup, default_hall_number
from .subgroups import Subgroup, t_subgroups

__all__ = ["RecordTrainingGroups", "SubgroupAugmented", "augmentation_hooks",
           "describe_in_subgroup", "standardized_from_data", "subgroup_data"]


def _cell_atoms(frac: np.ndarray, numbers: np.ndarray, P: np.ndarray, p: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Every atom of the new cell: ``P (x + n) + p`` wrapped, for the lattice vectors ``n``
    of the old cell that reach it, de-duplicated (the new cell holds ``n_atoms / det P``)."""
    P_inv = np.linalg.inv(P)
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=3)))
    old = (corners - p) @ P_inv.T  # the new cell's corners in old coordinates
    lo, hi = np.floor(old.min(axis=0)) - 1, np.ceil(old.max(axis=0)) + 1
    shifts = np.array(list(itertools.product(*(range(int(a), int(b) + 1)
                                               for a, b in zip(lo, hi)))), dtype=np.float64)
    images = (frac[None, :, :] + shifts[:, None, :]) @ P.T + p  # (s, n, 3)
    inside = np.all((images > -1e-8) & (images < 1 - 1e-8), axis=-1)
    x = _wrap(images[inside])
    z = np.broadcast_to(numbers, inside.shape)[inside]
    expected = len(numbers) / abs(np.linalg.det(P))
    keys = np.rint(x * 1e6).astype(np.int64) % 1_000_000
    _, first = np.unique(np.concatenate([z[:, None], keys], axis=1), axis=0, return_index=True)
    first = np.sort(first)
    if abs(len(first) - expected) > 1e-6:  # pragma: no cover - a symmetric input always fits
        raise StructureError(
            f"the subgroup cell holds {len(first)} atoms where {expected:g} were expected",
            "symmetry_failed")
    return x[first], z[first]


def describe_in_subgroup(
    crystal: StandardizedCrystal,
    subgroup: Subgroup,
    featurization: Featurization | None = None,
) -> StandardizedCrystal:
    """The crystal in the default setting of the type of ``subgroup`` (exact).

    Args:
        crystal: a crystal standardized in ``SpaceGroup(subgroup.parent)`` (by
            :func:`~cft_pyg.data.standardize`, or :func:`standardized_from_data`).
        subgroup: a t-subgroup of the crystal's group (:func:`~.subgroups.t_subgroups`).
        featurization: its ``canonical_origin`` and ``canonical_handedness`` apply (default
            :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`); the symmetrization tolerance is
            ``1e-6`` Å, as the input is exactly symmetric.

    Returns:
        A :class:`StandardizedCrystal` of group ``subgroup.number`` (or its enantiomorphic
        partner); ``transformation_matrix`` and ``origin_shift`` map the coordinates of
        ``crystal``'s own input to it (composed with ``crystal``'s), ``std_rotation_matrix``
        likewise.

    Raises:
        ValueError: the subgroup is not one of the crystal's group.
    """
    f = Featurization.resolve(featurization)
    if subgroup.parent != crystal.number or crystal.hall_number != default_hall_number(
            crystal.number):
        raise ValueError(f"{subgroup!r} is not a subgroup of the crystal's group "
                         f"{crystal.number} (default setting)")
    P, p = subgroup.transformation_matrix, subgroup.origin_shift
    number = subgroup.number
    group = SpaceGroup(number)
    frac, numbers = _cell_atoms(crystal.frac_coords, crystal.numbers, P, p)
    lattice, R = _symmetrize_lattice(np.linalg.inv(P).T @ crystal.lattice, group)
    frac = symmetrize_frac_coords(frac, numbers, lattice, group, tolerance=1e-6)
    return canonical_crystal(number, lattice, frac, numbers, P @ crystal.transformation_matrix,
                             P @ crystal.origin_shift + p, R @ crystal.std_rotation_matrix, f)


def standardized_from_data(data: Data, tolerance: float = 1e-3) -> StandardizedCrystal:
    """The float64 :class:`StandardizedCrystal` of one standardized crystal ``Data``.

    ``Data`` stores float32 coordinates; they are symmetrized again with the operations of
    ``SpaceGroup(data.space_group)`` (the Reynolds projection), which restores exact
    symmetry to float64 rounding.

    Args:
        data: one crystal made by :func:`~cft_pyg.data.from_structure` (fields ``z``,
            ``frac_coords``, ``cell``, ``space_group``, ``transformation_matrix``,
            ``origin_shift``).
        tolerance: largest accepted mismatch (Å) of the float32 positions.
    """
    number = int(data.space_group.reshape(-1)[0])
    group = SpaceGroup(number)
    lattice, R = _symmetrize_lattice(data.cell.reshape(3, 3).double().numpy(), group)
    numbers = data.z.numpy().astype(np.int64)
    frac = symmetrize_frac_coords(data.frac_coords.double().numpy(), numbers, lattice, group,
                                  tolerance=tolerance)
    P = data.transformation_matrix.reshape(3, 3).double().numpy() if hasattr(
        data, "transformation_matrix") else np.eye(3)
    p = data.origin_shift.reshape(3).double().numpy() if hasattr(
        data, "origin_shift") else np.zeros(3)
    return StandardizedCrystal(
        number=number, hall_number=default_hall_number(number), lattice=lattice,
        frac_coords=_wrap(frac), numbers=numbers, transformation_matrix=P, origin_shift=p,
        std_rotation_matrix=R, mirrored=False)



def subgroup_data(data: Data, subgroup: Subgroup, featurization: Featurization | None = None,
                  ) -> Data:
    """One standardized crystal ``Data`` re-described in ``subgroup``'s standard setting.

    Args:
        data: a crystal made by :func:`~cft_pyg.data.from_structure`.
        subgroup: a t-subgroup of ``SpaceGroup(data.space_group)``.
        featurization: default: the one recorded on ``data`` (``data.featurization``).

    Returns:
        A ``Data`` with the same fields as ``data`` (``y`` and ``material_id`` carried over,
        the neighbour graph rebuilt when ``data`` has one), ``space_group`` the subgroup's
        type.
    """
    if featurization is None and isinstance(getattr(data, "featurization", None), str):
        featurization = Featurization.from_json(data.featurization)
    if Featurization.resolve(featurization).geometry == "measured":
        raise ValueError("subgroup re-descriptions are built from the symmetrized crystal, "
                         "which does not keep the measured geometry "
                         "(Featurization(geometry='measured')): use geometry='symmetrized' "
                         "with subgroup augmentation or descent")
    std = describe_in_subgroup(standardized_from_data(data), subgroup, featurization)
    out = from_standardized(std, featurization, neighbor_graph="edge_index" in data,
                            material_id=getattr(data, "material_id", None))
    if getattr(data, "y", None) is not None:
        out.y = data.y.clone()  # as stored: batches of both descriptions collate
    if "num_nodes" in data:  # a processed dataset's items store it
        out.num_nodes = int(out.z.numel())
    for key in set(out.keys()) - set(data.keys()):  # e.g. std_rotation on older items
        del out[key]
    return out


class SubgroupAugmented(Sequence):
    """A training set whose crystals are shown through random t-subgroup descriptions.

    Item ``i`` is, with probability ``probability``, ``dataset[i]`` re-described
    (:func:`subgroup_data`) in a t-subgroup drawn uniformly from the **proper** t-subgroups
    of its group, and otherwise ``dataset[i]`` itself.  Each description is an exact input
    (the crystal is invariant under the subgroup), so a model trained on them is exactly as
    invariant as before; the model sees every crystal through many groups, so its answer
    depends less on which group the tolerance detected.

    Draws are seeded by ``(seed, i, k)`` for the ``k``-th access of item ``i`` in this
    process: a run is reproducible from its start, but a resumed run draws anew and a
    loader with worker processes draws per worker.  Each description is made once (about
    26 ms on one core) and kept in memory (``cache``): a crystal has a few proper
    t-subgroups in the low-symmetry groups and up to 97 in ``m-3m``.

    Args:
        dataset: a sequence of crystal ``Data`` made by :func:`~cft_pyg.data.from_structure`.
        probability: chance of a subgroup description, in ``[0, 1]``.
        seed: seed of the draws.
        cache: keep every description made (memory grows with the descriptions drawn).
    """

    def __init__(self, dataset: Sequence[Any], probability: float = 0.5, seed: int = 0,
                 cache: bool = True) -> None:
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError(f"probability must lie in [0, 1], got {probability}")
        self.dataset = dataset
        self.probability = float(probability)
        self.seed = int(seed)
        self.cache = bool(cache)
        self._draws: dict[int, int] = {}
        self._made: dict[tuple[int, int], Data] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Data:  # type: ignore[override]
        data = self.dataset[index]
        k = self._draws.get(index, 0)
        self._draws[index] = k + 1
        rng = np.random.default_rng([self.seed, int(index), k])
        subs = t_subgroups(int(data.space_group.reshape(-1)[0]))
        if len(subs) == 1 or rng.random() >= self.probability:
            return data
        key = (int(index), int(rng.integers(1, len(subs))))
        made = self._made.get(key)
        if made is None:
            made = subgroup_data(data, subs[key[1]])
            if self.cache:
                self._made[key] = made
        return made

    def __repr__(self) -> str:
        return (f"SubgroupAugmented({len(self)} crystals, probability={self.probability}, "
                f"seed={self.seed})")



class RecordTrainingGroups(Callback):
    """Widen the training groups recorded in the checkpoint (``hparams['training_groups']``,
    set by :func:`~cft_pyg.training.fit` from the training crystals) by every t-subgroup
    type of them: the groups that :class:`SubgroupAugmented` can show the model, which
    zero-shot descent (:func:`cft_pyg.experimental.descent.predict_with_descent`) counts as
    seen."""

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        groups = pl_module.hparams.get("training_groups")
        if groups is not None:
            pl_module.hparams["training_groups"] = sorted(
                {s.number for g in groups for s in t_subgroups(int(g))})


def augmentation_hooks(probability: float, seed: int = 0,
                       featurization: Any = None) -> dict[str, Any]:
    """The keyword arguments of :func:`~cft_pyg.training.fit` that train with subgroup
    augmentation: ``fit(config, train, val, **augmentation_hooks(0.5, config.seed,
    config.featurization))``.

    Args:
        probability: chance of a subgroup description (:class:`SubgroupAugmented`), in
            ``[0, 1]``; 0 returns no hooks.
        seed: seed of the draws.
        featurization: the run's featurization (a mapping, a :class:`Featurization` or
            ``None``); measured geometry is refused.

    Returns:
        ``train_transform`` (wraps the training set in :class:`SubgroupAugmented`) and
        ``callbacks`` (:class:`RecordTrainingGroups`).

    Raises:
        ValueError: ``probability`` outside ``[0, 1]``, or a measured-geometry featurization.
    """
    if not 0.0 <= float(probability) <= 1.0:
        raise ValueError(f"subgroup_augmentation is a probability in [0, 1], got {probability}")
    if not probability:
        return {}
    if Featurization.resolve(featurization).geometry == "measured":
        raise ValueError("subgroup augmentation re-describes the symmetrized crystal, which "
                         "does not keep the measured geometry: use it with featurization "
                         "geometry 'symmetrized'")

    def train_transform(train: Sequence[Any]) -> Sequence[Any]:
        return SubgroupAugmented(train, probability, seed=seed)

    return {"train_transform": train_transform, "callbacks": [RecordTrainingGroups()]}
