"""Checkpoints: loading a trained model safely, and the version policy.

A checkpoint is read with ``torch.load(weights_only=True)`` (tensors, plain containers and
numbers only), so that loading one from elsewhere cannot run code. It records the cft-pyg
version that wrote it (:func:`check_library_version`), the featurization of its training
crystals, and the run's dataset and target (its run folder's ``config.yaml``).
"""

from __future__ import annotations

import contextlib
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .._version import __version__

if TYPE_CHECKING:
    from ..data.featurization import Featurization
    from .config import TrainConfig
    from .module import CrystalPropertyModule
    from .property_model import PropertyModel

__all__ = ["CHECKPOINT_COMPATIBLE", "RUN_RECORD", "check_library_version", "check_resume",
           "load_model", "load_predictor", "read_checkpoint", "run_record"]

RUN_RECORD = ("dataset", "target", "target_index", "task")
"""Settings of a run that a checkpoint records (:func:`run_record`) and a resumed run must
share with it; the data themselves are compared through the target's training statistics."""


def load_predictor(checkpoint: str | Path, map_location: str | torch.device = "cpu"
                   ) -> PropertyModel:
    """A trained model for prediction (with its target normalization), without Lightning.

    The same model as :func:`load_model`, as a plain
    :class:`~cft_pyg.training.property_model.PropertyModel` in eval mode: what
    :func:`~cft_pyg.training.predict`, :func:`~cft_pyg.training.evaluate` and ``cft-pyg
    predict`` need, at about half the import time. The file is read with
    ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a cft-pyg checkpoint, or one of an incompatible version.
        ImportError: the model needs an optional extra that is not installed.
    """
    from .property_model import PropertyModel

    path = Path(checkpoint)
    payload = read_checkpoint(path)
    hparams = payload.get("hyper_parameters") or {}
    check_library_version(path, hparams.get("library_version"))
    with _building(path):
        module = PropertyModel(hparams)
        state = {k: v for k, v in payload["state_dict"].items()
                 if k.startswith("model.") or k in ("target_mean", "target_std")}
        module.load_state_dict(state)
    return module.to(map_location).eval()


def load_model(checkpoint: str | Path, map_location: str | torch.device = "cpu"
               ) -> CrystalPropertyModule:
    """Restore a trained model (with its target normalization) from a checkpoint, as the
    LightningModule that trains it (:func:`load_predictor` loads it for prediction only).

    The file is read with ``torch.load(weights_only=True)``: tensors, plain containers and
    numbers only, so that loading a checkpoint from elsewhere cannot run code.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a cft-pyg checkpoint.
        ImportError: the model needs an optional extra that is not installed.
    """
    from .module import CrystalPropertyModule

    path = Path(checkpoint)
    hparams = read_checkpoint(path).get("hyper_parameters") or {}
    check_library_version(path, hparams.get("library_version"))
    with _building(path):
        module = CrystalPropertyModule.load_from_checkpoint(str(path), map_location=map_location,
                                                            weights_only=True)
    if hparams.get("domain") is not None:  # recorded by fit, not a constructor argument
        module.hparams["domain"] = hparams["domain"]
    module.eval()
    return module


@contextlib.contextmanager
def _building(path: Path) -> Iterator[None]:
    """Errors of building a model from a checkpoint's record, as the loaders raise them: an
    optional extra that is missing (``ImportError`` naming the file), anything else (weights
    that do not fit the recorded model, a removed option, ...) as one-line ``ValueError``."""
    try:
        yield
    except ImportError as err:  # a model of an optional extra (alignn, matgl, chgnet)
        raise ImportError(f"{path} holds a model that needs an optional package: {err}"
                          ) from err
    except Exception as err:
        raise ValueError(f"{path} is not a usable cft-pyg checkpoint: {_first_line(err)}"
                         ) from None


def _first_line(err: BaseException) -> str:
    """One line of an error, never PyTorch's advice to load with ``weights_only=False``."""
    text = str(err)
    if "Unsupported global" in text:  # a pickled object: reading it could run code
        return "it holds objects other than tensors, containers and numbers"
    if "weights_only" in text or "WeightsUnpickler" in text:
        return "corrupt, truncated, or not a PyTorch checkpoint file"
    if "PytorchStreamReader" in text or isinstance(err, EOFError):
        return "corrupt or truncated (an incomplete or empty file)"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0].split(". ")[0] if lines else type(err).__name__)[:160]


def read_checkpoint(checkpoint: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary, read with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a checkpoint (corrupt, truncated, another format, or one
            whose reading would build arbitrary objects); one line, never advice to turn the
            safe loader off.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError,
            AttributeError, KeyError, IndexError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable cft-pyg checkpoint: {_first_line(err)}"
                         ) from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path} is not a cft-pyg checkpoint (no model weights in it)")
    return payload


def run_record(config: TrainConfig) -> dict[str, Any]:
    """The settings of :data:`RUN_RECORD` of ``config`` (stored in every checkpoint of
    :func:`~cft_pyg.training.fit` by :class:`~cft_pyg.training.trainer.RunRecord`)."""
    return {name: getattr(config, name) for name in RUN_RECORD}


def _recorded_run(path: Path, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The run record of a checkpoint: its own (cft-pyg >= 0.5), else its run folder's
    ``config.yaml`` (``<run>/checkpoints/x.ckpt``), else ``None``."""
    for key, state in (payload.get("callbacks") or {}).items():
        if str(key).startswith("RunRecord"):
            return dict(state)
    config = path.resolve().parent.parent / "config.yaml"
    if path.resolve().parent.name == "checkpoints" and config.is_file():
        from .config import load_config_file

        values = load_config_file(config)
        return {name: values.get(name) for name in RUN_RECORD if name in values}
    return None


def _epochs_done(payload: dict[str, Any]) -> int:
    """Epochs a checkpoint has completed (Lightning's fit-loop progress; its ``epoch`` field
    counts differently depending on when the checkpoint was written)."""
    try:
        return int(payload["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError, ValueError):
        return int(payload.get("epoch", -1)) + 1


def check_resume(checkpoint: str | Path, config: TrainConfig,
                 featurization: Featurization | None = None,
                 target_statistics: tuple[float, float] | None = None, *,
                 check_data: bool = True) -> None:
    """Refuse to resume ``config`` from a checkpoint that does not fit it.

    Checked, each with a one-line message naming both sides: the file is a readable
    checkpoint; its cft-pyg version loads here (:func:`check_library_version`); it is of the
    same model and task; ``config.epochs`` is not below the epochs it already ran; the run it
    records (dataset, target, target index, task: :data:`RUN_RECORD`) is this one; its
    training crystals were featurized as these; and (``target_statistics``: the training
    target's mean and std here) its stored normalization is that of these training crystals,
    so that the data behind it are the same. ``check_data=False`` leaves out the last two
    (the command line checks the rest before it loads a dataset).

    Raises:
        FileNotFoundError: no such file.
        ValueError: any of the above fails.
    """
    path = Path(checkpoint)
    payload = read_checkpoint(path)
    hp = payload.get("hyper_parameters") or {}
    check_library_version(path, hp.get("library_version"))
    there = f"the checkpoint {path} has"

    def differ(what: str, theirs: Any, ours: Any) -> ValueError:
        return ValueError(f"cannot resume: {there} {what} {theirs!r}, this run {ours!r} "
                          "(resume with the settings of the run that wrote it, or start a new "
                          "run in another --output-dir)")

    if hp.get("model") != config.model:
        raise differ("model", hp.get("model"), config.model)
    if hp.get("task", "regression") != config.task:
        raise differ("task", hp.get("task", "regression"), config.task)
    done = _epochs_done(payload)
    if config.epochs < done:
        raise ValueError(f"cannot resume: {there} already run {done} epochs, more than "
                         f"--epochs {config.epochs} (give --epochs {done} or more)")
    recorded = _recorded_run(path, payload)
    if recorded is not None:
        for name, ours in run_record(config).items():
            if name in recorded and recorded[name] != ours:
                raise differ(name, recorded[name], ours)
    if not check_data:
        return
    theirs_f = hp.get("featurization")
    ours_f = featurization.to_dict() if featurization is not None else None
    if theirs_f != ours_f:
        raise differ("featurization", theirs_f, ours_f)
    if target_statistics is not None and config.task == "regression":
        stats = (float(hp.get("target_mean", 0.0)), float(hp.get("target_std", 1.0)))
        if not all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
                   for a, b in zip(stats, target_statistics, strict=True)):
            raise ValueError(
                f"cannot resume: {there} the training-target mean/std {stats[0]:.6g}/"
                f"{stats[1]:.6g}, the training crystals of this run "
                f"{target_statistics[0]:.6g}/{target_statistics[1]:.6g}: they are other "
                "data (another dataset, target, split or --max-crystals)")


CHECKPOINT_COMPATIBLE = {"0.3": "0.5", "0.4": "0.5"}
"""Versions whose checkpoints load in this one (``old -> new``): 0.4 changed the studies, not
the models, the featurization or the checkpoint format; 0.5 removed two CFT options that no
checkpoint of the shipped recipes sets (``attention=False``, ``element_features=False``: a
checkpoint that set them is refused with a message naming the option) and added the run
record (dataset, target) to checkpoints, read when present."""


def check_library_version(path: Path, version: str | None) -> None:
    """Checkpoints load within the same major.minor version of cft-pyg (and from the versions
    of :data:`CHECKPOINT_COMPATIBLE`)."""
    if version is None:
        raise ValueError(f"{path} was written by cft-pyg 0.1 (no version or featurization "
                         f"recorded); this is cft-pyg {__version__}, whose models differ: "
                         "retrain, or load it with cft-pyg 0.1")
    old, new = ".".join(version.split(".")[:2]), ".".join(__version__.split(".")[:2])
    if old != new and CHECKPOINT_COMPATIBLE.get(old) != new:
        raise ValueError(f"{path} was written by cft-pyg {version}, incompatible with this "
                         f"cft-pyg {__version__} (major.minor must agree): retrain, or load "
                         f"it with cft-pyg {version}")
