"""Models and datasets by name, so that runs, configs and checkpoints can name them.

The built-in names map to classes of :mod:`cft_pyg.nn` (imported lazily, when used):

========================  ==========================================================
``cft``                   :class:`~cft_pyg.nn.CrystalFourierTransformer`, hybrid blocks
                          (global attention + local message passing), symmetry-adapted PE
``cft-transformer``       the same with the local part off (pure Transformer, like the
                          published CFT)
``transformer-plain``     :class:`~cft_pyg.nn.PlainPETransformer`: pure Transformer with
                          standard (non-symmetrized) Fourier PE
``cgcnn``                 :class:`~cft_pyg.nn.CGCNN`
``alignn``                :class:`~cft_pyg.nn.ALIGNN` (needs the ``alignn`` extra)
``m3gnet``                :class:`~cft_pyg.nn.M3GNet`, matgl's M3GNet from scratch (needs
                          the ``matgl`` extra)
``megnet``                :class:`~cft_pyg.nn.MEGNet`, matgl's MEGNet (``matgl`` extra)
``tensornet``             :class:`~cft_pyg.nn.TensorNet`, matgl's TensorNet (``matgl`` extra)
``chgnet``                :class:`~cft_pyg.nn.CHGNetRegressor`: pretrained CHGNet backbone
                          (MPtrj) fine-tuned under a scalar head (``chgnet`` extra)
``chgnet-frozen``         the same with CHGNet frozen, the head trained alone
``wyckoff``               :class:`~cft_pyg.nn.WyckoffTransformer`: coordinate-free, reads
                          elements, space group and Wyckoff letters (Wren-like)
``composition``           the same with elements only (a composition-only model)
``wrenformer``            :class:`~cft_pyg.nn.Wrenformer`: aviary's Wrenformer, coordinate-free
                          (protostructure label: elements, space group, Wyckoff positions;
                          ``aviary`` extra)
========================  ==========================================================

User keyword arguments override the preset ones. :func:`register_model` adds names (for
custom models; a checkpoint of such a model loads where the same name is registered).

Datasets (classes of :mod:`cft_pyg.data`, constructed with ``root`` and the run's
``dataset_kwargs``): ``synthetic`` (:class:`~cft_pyg.data.SyntheticCrystals`, all 230
groups, no download), ``mp20``, ``perov5``, ``carbon24``, ``cif-folder``
(:class:`~cft_pyg.data.CIFFolder`) and ``nrel-hypothetical``
(:class:`~cft_pyg.data.NRELHypothetical`); :func:`register_dataset` adds names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["available_datasets", "available_models", "build_dataset", "build_model",
           "dataset_accepts", "dataset_factory", "model_accepts",
           "model_presets", "register_dataset", "register_model"]

ModelFactory = Callable[..., nn.Module]

TRUNK_KWARGS: dict[str, Any] = {"channels": 64, "num_blocks": 2, "heads": 4,
                                "local_channels": 32, "encoding": "none"}
"""The recommended model for relaxed crystals (``'cft-trunk'``, the default of ``cft-pyg
train`` and the architecture of the shipped MP-20 models): the CFT trunk (element tokens,
attention with a pair-distance bias, gated local messages) without a positional encoding, the
most accurate at equal training time on all three measured targets (``docs/results.md``)."""

# name -> (class name in cft_pyg.nn, preset keyword arguments)
_BUILTIN: dict[str, tuple[str, dict[str, Any]]] = {
    "cft-trunk": ("CrystalFourierTransformer", TRUNK_KWARGS),
    "cft": ("CrystalFourierTransformer", {}),
    "cft-transformer": ("CrystalFourierTransformer", {"local": False}),
    "transformer-plain": ("PlainPETransformer", {}),
    "cft-published": ("PublishedCFT", {}),
    "cgcnn": ("CGCNN", {}),
    "alignn": ("ALIGNN", {}),
    "m3gnet": ("M3GNet", {}),
    "megnet": ("MEGNet", {}),
    "tensornet": ("TensorNet", {}),
    "chgnet": ("CHGNetRegressor", {}),
    "chgnet-frozen": ("CHGNetRegressor", {"freeze_backbone": True}),
    "wyckoff": ("WyckoffTransformer", {}),
    "composition": ("WyckoffTransformer", {"inputs": "composition"}),
    "wrenformer": ("Wrenformer", {}),
}

_CUSTOM: dict[str, ModelFactory] = {}


def register_model(name: str, factory: ModelFactory, *, overwrite: bool = False) -> None:
    """Make ``factory(**kwargs) -> nn.Module`` available under ``name``.

    The module must map a PyG ``Batch`` of crystals to a tensor of shape ``(num_graphs,)``.
    """
    if not overwrite and (name in _BUILTIN or name in _CUSTOM):
        raise ValueError(f"model name {name!r} is already registered")
    _CUSTOM[name] = factory


def available_models() -> list[str]:
    """All model names that :func:`build_model` accepts."""
    return [*_BUILTIN, *sorted(set(_CUSTOM) - set(_BUILTIN))]


def model_presets(name: str) -> dict[str, Any]:
    """The preset keyword arguments of a built-in model name (empty for custom ones)."""
    if name in _BUILTIN and name not in _CUSTOM:
        return dict(_BUILTIN[name][1])
    if name in _CUSTOM:
        return {}
    raise KeyError(_unknown(name))


def _unknown(name: str) -> str:
    return f"unknown model {name!r}; available: {', '.join(available_models())}"


def _accepts(factory: Any, argument: str) -> bool:
    """Whether ``factory`` takes ``argument``: in its signature, or, for a class taking
    ``**kwargs``, in the signature of a base class it passes them to."""
    for target in (factory, *getattr(factory, "__mro__", ())[1:]):
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            continue
        if argument in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return False


def model_accepts(name: str, argument: str) -> bool:
    """Whether model ``name``'s constructor takes ``argument`` (e.g. ``'radius'``)."""
    if name in _CUSTOM:
        return _accepts(_CUSTOM[name], argument)
    if name not in _BUILTIN:
        raise KeyError(_unknown(name))
    from .. import nn as models

    return _accepts(getattr(models, _BUILTIN[name][0], None), argument)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Construct the model registered as ``name`` (presets overridden by ``kwargs``).

    Raises:
        KeyError: unknown name.
        ImportError: the model's optional dependency (e.g. ``alignn``) is missing.
    """
    if name in _CUSTOM:
        return _CUSTOM[name](**kwargs)
    if name not in _BUILTIN:
        raise KeyError(_unknown(name))
    from .. import nn as models  # the model layer, loaded on first use

    cls_name, preset = _BUILTIN[name]
    cls = getattr(models, cls_name, None)
    if cls is None:
        raise ImportError(f"cft_pyg.nn has no {cls_name} (needed for model {name!r})")
    return cls(**{**preset, **kwargs})


# ---------------------------------------------------------------------------------- datasets
# name -> (class name, submodule of cft_pyg.data defining it)
_BUILTIN_DATASETS: dict[str, tuple[str, str]] = {
    "synthetic": ("SyntheticCrystals", "synthetic"),
    "mp20": ("MP20", "cdvae"),
    "perov5": ("Perov5", "cdvae"),
    "carbon24": ("Carbon24", "cdvae"),
    "cif-folder": ("CIFFolder", "cif_folder"),
    "store": ("CrystalStore", "store"),
    "nrel-hypothetical": ("NRELHypothetical", "nrel"),
}
_CUSTOM_DATASETS: dict[str, Callable[..., Any]] = {}


def register_dataset(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``factory(root=..., **kwargs)`` (crystal ``Data`` sequence) available as ``name``."""
    if not overwrite and (name in _BUILTIN_DATASETS or name in _CUSTOM_DATASETS):
        raise ValueError(f"dataset name {name!r} is already registered")
    _CUSTOM_DATASETS[name] = factory


def available_datasets() -> list[str]:
    """All dataset names that :func:`build_dataset` accepts."""
    return [*_BUILTIN_DATASETS, *sorted(set(_CUSTOM_DATASETS) - set(_BUILTIN_DATASETS))]


def dataset_factory(name: str) -> Callable[..., Any]:
    """The class (or factory) registered as dataset ``name``.

    Raises:
        KeyError: unknown name.
        ImportError: :mod:`cft_pyg.data` does not provide the class.
    """
    if name in _CUSTOM_DATASETS:
        return _CUSTOM_DATASETS[name]
    if name not in _BUILTIN_DATASETS:
        raise KeyError(f"unknown dataset {name!r}; available: {', '.join(available_datasets())}")
    from .. import data  # the data layer, loaded on first use

    cls_name, _ = _BUILTIN_DATASETS[name]
    factory = getattr(data, cls_name, None)
    if factory is None:
        raise ImportError(f"cft_pyg.data has no {cls_name} (needed for dataset {name!r})")
    return factory


def dataset_accepts(name: str, argument: str) -> bool:
    """Whether dataset ``name``'s constructor takes ``argument`` (e.g. ``'split'``)."""
    return _accepts(dataset_factory(name), argument)


def build_dataset(name: str, root: str | None = None, **kwargs: Any) -> Any:
    """Construct the dataset registered as ``name`` (``root=None``: the class's default).

    Raises:
        KeyError: unknown name.
        ImportError: :mod:`cft_pyg.data` does not provide the class.
    """
    factory = dataset_factory(name)
    if root is not None:
        kwargs["root"] = root
    return factory(**kwargs)
