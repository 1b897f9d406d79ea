"""Experimental options: measured, not shown to help, off by default.

What is here:

* :mod:`~cft_pyg.experimental.subgroups` - the t-subgroups of every space group
  (:func:`t_subgroups`, :func:`maximal_subgroups`, :func:`point_subgroups`).
* :mod:`~cft_pyg.experimental.augmentation` - a crystal re-described exactly in a
  t-subgroup's standard setting (:func:`subgroup_data`), the training-set wrapper
  :class:`SubgroupAugmented`, and :func:`augmentation_hooks` (the ``train_transform`` and
  the :class:`RecordTrainingGroups` callback that :func:`cft_pyg.training.fit` takes).
* :mod:`~cft_pyg.experimental.descent` - zero-shot prediction of unseen space groups
  through their largest seen t-subgroups (:func:`predict_with_descent`,
  :func:`evaluate_with_descent`).

Why experimental: both are exact (a subgroup description is a valid input, and the model
stays invariant under the whole group), and both were measured (``studies/transfer.py``,
``docs/results.md``): they lower the hybrid CFT's zero-shot MAE but not its relative
degradation on unseen groups, so they are not shown to help.  They are off by default and
quarantined here, as e3nn keeps unproven code in ``o3/experimental``.  The core
(:mod:`cft_pyg.symmetry`, :mod:`cft_pyg.data`, :mod:`cft_pyg.nn`, :mod:`cft_pyg.training`)
never imports this package; it attaches through generic hooks
(``fit(train_transform=..., callbacks=...)``, ``evaluate(predictor=...)``), wired by the
caller (the command line's ``--subgroup-augmentation`` and ``--descent``).
"""

from .augmentation import (
    RecordTrainingGroups,
    SubgroupAugmented,
    augmentation_hooks,
    describe_in_subgroup,
    standardized_from_data,
    subgroup_data,
)
from .descent import (
    DESCENT_MODES,
    descent_plan,
    descent_subgroups,
    evaluate_with_descent,
    predict_with_descent,
    training_groups_of,
)
from .subgroups import Subgroup, maximal_subgroups, point_subgroups, t_subgroups

__all__ = [
    "DESCENT_MODES",
    "RecordTrainingGroups",
    "Subgroup",
    "SubgroupAugmented",
    "augmentation_hooks",
    "descent_plan",
    "descent_subgroups",
    "describe_in_subgroup",
    "evaluate_with_descent",
    "maximal_subgroups",
    "point_subgroups",
    "predict_with_descent",
    "standardized_from_data",
    "subgroup_data",
    "t_subgroups",
    "training_groups_of",
]
