"""Zero-shot prediction by subgroup descent: a crystal whose space group the model never saw,
predicted through the largest subgroups of that group that it did see.

A crystal invariant under ``G`` is invariant under every t-subgroup ``H`` of ``G``, so its
description in ``H``'s standard setting
(:func:`cft_pyg.experimental.augmentation.subgroup_data`) is an exact input, encoded with
``H``; and a permutation-invariant model fed it is still invariant under all of ``G``
(every operation of ``G`` only permutes the atoms).  For a crystal of group ``G`` and the
set ``S`` of groups seen in training (:attr:`CrystalPropertyModule.training_groups`, recorded
by :func:`~cft_pyg.training.fit`, widened by :class:`~.augmentation.RecordTrainingGroups` under
subgroup augmentation), descent predicts

.. math::

    \\hat y(x) = \\frac{1}{|\\mathcal H|} \\sum_{H \\in \\mathcal H} f(x_H), \\qquad
    \\mathcal H = \\{H \\le_t G : \\mathrm{type}(H) \\in S,\\ [G:H] \\text{ minimal}\\},

the mean over **every** t-subgroup of smallest index whose type was seen: every conjugate
copy of every such type, so that the result does not depend on which copy or which type is
taken first.  Conjugate copies give the same prediction up to rounding (their descriptions
differ by a permutation of the atoms); distinct types of the same index need not.  A
classifier averages class probabilities.

Modes (:data:`DESCENT_MODES`):

* ``'off'`` - every crystal is predicted as it is (plain :func:`~cft_pyg.training.predict`);
* ``'unseen'`` - crystals whose group is not in ``S`` descend; the others do not;
* ``'all'`` - every crystal descends through its largest seen **proper** t-subgroups
  (a crystal of P1, which has none, is predicted as it is): what descent costs where it is
  not needed.

A crystal with no seen t-subgroup at all (P1 itself unseen) is predicted as it is and counted
in a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from typing import Any

from ..data.splits import space_groups_of
from .subgroups import Subgroup, t_subgroups

__all__ = ["DESCENT_MODES", "descent_plan", "descent_subgroups", "evaluate_with_descent",
           "predict_with_descent", "training_groups_of"]

DESCENT_MODES = ("off", "unseen", "all")
"""Values of ``mode`` in :func:`predict_with_descent`."""


def descent_subgroups(number: int, seen: Collection[int], proper: bool = False
                      ) -> list[Subgroup]:
    """Every t-subgroup of smallest index of group ``number`` whose type is in ``seen``.

    Args:
        number: space-group number of the crystal (1-230).
        seen: space-group numbers the model was trained on.
        proper: leave ``G`` itself out (descend even when ``G`` was seen).

    Returns:
        The subgroups (every conjugate copy; empty when no t-subgroup type was seen).
    """
    candidates = t_subgroups(int(number))
    if proper:
        candidates = candidates[1:]
    hits = [s for s in candidates if s.number in seen]
    if not hits:
        return []
    index = min(s.index for s in hits)
    return [s for s in hits if s.index == index]


def descent_plan(groups: Sequence[int], seen: Collection[int] | None, mode: str
                 ) -> list[list[Subgroup] | None]:
    """For each crystal's group, the subgroups to predict through (``None``: as it is).

    Raises:
        ValueError: an unknown ``mode``, or a descending mode without ``seen`` groups.
    """
    if mode not in DESCENT_MODES:
        raise ValueError(f"descent must be one of {DESCENT_MODES}, got {mode!r}")
    if mode == "off":
        return [None] * len(groups)
    if not seen:
        raise ValueError(f"descent={mode!r} needs the groups seen in training: this "
                         "checkpoint does not record them (trained before cft-pyg 0.4?)")
    seen = set(int(g) for g in seen)
    plan: list[list[Subgroup] | None] = []
    stranded: set[int] = set()
    for number in map(int, groups):
        if mode == "unseen" and number in seen:
            plan.append(None)
            continue
        subs = descent_subgroups(number, seen, proper=(mode == "all"))
        if not subs and number != 1:
            stranded.add(number)
        plan.append(subs or None)
    if stranded:
        warnings.warn(f"no t-subgroup of space group(s) {sorted(stranded)} was seen in "
                      "training: those crystals are predicted as they are", UserWarning,
                      stacklevel=3)
    return plan


def training_groups_of(dataset: Sequence[Any], augmented: bool = False) -> list[int]:
    """The space groups of the crystals of ``dataset`` (sorted); with ``augmented``, also
    every t-subgroup type of them (what subgroup augmentation can show the model)."""
    groups = {int(g) for g in space_groups_of(dataset).unique()}
    if augmented:
        groups |= {s.number for g in list(groups) for s in t_subgroups(g)}
    return sorted(groups)


def predict_with_descent(module: Any, dataset: Sequence[Any], batch_size: int = 64,
                         config: Any = None, *, mode: str = "unseen",
                         progress: bool | None = None) -> Any:
    """:func:`~cft_pyg.training.predict` with zero-shot subgroup descent.

    Crystals chosen by ``mode`` (:data:`DESCENT_MODES`; ``'off'``: plain prediction) are
    predicted through their largest seen t-subgroups, averaged over every copy.  The frame
    of :func:`~cft_pyg.training.predict` gains ``descent_index`` (the index ``[G:H]`` of the
    subgroups used, 1: predicted as it is) and ``descent_types`` (their space-group numbers).

    Raises:
        ValueError: an unknown ``mode``, or descent with a checkpoint that does not record
            its training groups.
    """
    from ..training.prediction import checked_inputs, predict, prediction_frame

    if mode not in DESCENT_MODES:
        raise ValueError(f"descent must be one of {DESCENT_MODES}, got {mode!r}")
    if mode == "off":
        return predict(module, dataset, batch_size=batch_size, config=config,
                       progress=progress)
    dataset = checked_inputs(module, dataset)
    groups = [int(dataset[i].space_group.reshape(-1)[0]) for i in range(len(dataset))]
    plan = descent_plan(groups, module.training_groups, mode)
    items, owner = _descent_items(dataset, plan, progress)
    frame = prediction_frame(module, items, batch_size, config, progress)
    frame.insert(0, "_owner", owner)
    mean_columns = [c for c in frame.columns if c.startswith("prob_")] or ["y_pred"]
    out = frame.groupby("_owner", sort=True).first()
    out[mean_columns] = frame.groupby("_owner", sort=True)[mean_columns].mean()
    if module.is_classifier:
        out["y_pred"] = out[mean_columns].to_numpy().argmax(axis=1)
    out = out.reset_index(drop=True)
    out["space_group"] = groups
    if "natoms" in out.columns:
        out["natoms"] = [int(dataset[i].num_nodes) for i in range(len(dataset))]
    out["descent_index"] = [1 if subs is None else subs[0].index for subs in plan]
    out["descent_types"] = ["" if subs is None else ";".join(
        str(n) for n in sorted({s.number for s in subs})) for subs in plan]
    return out


def evaluate_with_descent(module: Any, dataset: Sequence[Any], batch_size: int = 64,
                          config: Any = None, *, mode: str = "unseen") -> Any:
    """:func:`~cft_pyg.training.evaluate` of :func:`predict_with_descent`."""
    from ..training.prediction import evaluate

    def predictor(m: Any, d: Sequence[Any], **kwargs: Any) -> Any:
        return predict_with_descent(m, d, mode=mode, **kwargs)

    return evaluate(module, dataset, batch_size=batch_size, config=config,
                    predictor=predictor)


def _descent_items(dataset: Sequence[Any], plan: list[Any], progress: bool | None
                   ) -> tuple[list[Any], list[int]]:
    """The inputs of a descent: each crystal itself or its subgroup descriptions, with the
    index of the crystal each one belongs to."""
    from tqdm.auto import tqdm

    from .augmentation import subgroup_data

    items: list[Any] = []
    owner: list[int] = []
    show = progress if progress is not None else sum(p is not None for p in plan) >= 200
    for i in tqdm(range(len(dataset)), desc="subgroup descriptions", unit="crystal",
                  disable=None if show else True):  # None: only on a terminal
        subs = plan[i]
        data = dataset[i]
        for sub in subs or [None]:
            items.append(data if sub is None else subgroup_data(data, sub))
            owner.append(i)
    return items, owner
