"""Label-free orbit-distance pretraining of the positional encoding, as a pipeline step.

:func:`run_pretraining` builds a registered model's positional module (``cft``,
``cft-published``, ...), trains it with :class:`cft_pyg.nn.pretrain.OrbitDistancePretrainer`
on synthetic two-atom crystals of all 230 groups (fresh pairs every epoch), records the
held-out orbit-distance error after every epoch against the pairs seen, and saves it.  The
file is rewritten after every epoch, so a run that stops (``time_limit``, or killed) goes on
with ``resume=True`` (``cft-pyg pretrain --resume``) from its last finished epoch.  At the
end it measures the error on held-out pairs (new lattices and positions, another seed),
overall and per crystal system.  :func:`load_pretrained_encoding` puts the saved weights
into a new model before training (``TrainConfig.pretrained_encoding``, ``cft-pyg train
--pretrained-encoding FILE_OR_NAME``); a name is one of the encoders shipped with the
package (:func:`shipped_encodings`).  The published CFT reports an orbit-distance error of
0.102 Å after 200 epochs on 125k pairs per group.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "PretrainingResult",
    "POSITIONAL_KEYS",
    "SHIPPED_ENCODINGS_DIR",
    "load_pretrained_encoding",
    "orbit_distance_errors",
    "resolve_encoding",
    "run_pretraining",
    "shipped_encodings",
]

FORMAT = "cft-pyg/pretrained-encoding/1"
POSITIONAL_KEYS = (
    "channels", "encoding", "encoding_cutoff", "lattice", "normalize_encoding", "family_inputs",
    "encoder_hidden", "encoder_initial", "encoder_blocks",
)
"""Model arguments that fix the shape of the positional module (saved with the weights)."""
SHIPPED_ENCODINGS_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "encoders"
"""Where the pretrained encoders shipped with the package lie (``NAME.pt`` + ``NAME.json``,
listed by :func:`cft_pyg.pretrained.available_encodings`)."""


def shipped_encodings() -> list[str]:
    """Names of the pretrained encoders shipped with the package."""
    return sorted(p.stem for p in SHIPPED_ENCODINGS_DIR.glob("*.pt"))


def resolve_encoding(name_or_path: str | os.PathLike) -> Path:
    """The file of a pretrained encoding: an existing path, or a shipped encoder's name.

    Raises:
        FileNotFoundError: neither a file nor a shipped name (the message lists the names).
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = SHIPPED_ENCODINGS_DIR / f"{name_or_path}.pt"
    if str(name_or_path) in shipped_encodings():
        return shipped
    names = ", ".join(shipped_encodings()) or "none"
    raise FileNotFoundError(f"pretrained encoding {name_or_path} is neither a file nor the name "
                            f"of a shipped encoder ({names})")


@dataclass
class PretrainingResult:
    """What :func:`run_pretraining` did and measured (``complete=False``: a part of a run,
    continued with ``resume=True``; the held-out figures are then those of the curve)."""

    path: str
    model: str
    model_kwargs: dict[str, Any]
    train_mse: list[float]
    heldout_mae: float
    heldout_rmse: float
    heldout_pairs: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    pairs_seen: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    heldout_mae_by_system: dict[str, float] = field(default_factory=dict)
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _positional_of(model: nn.Module) -> nn.Module:
    positional = getattr(model, "positional", None)
    if positional is None:
        raise ValueError(
            f"{type(model).__name__} has no positional encoding module to pretrain or load "
            "(only CrystalFourierTransformer and its variants have one)"
        )
    return positional


@torch.no_grad()
def orbit_distance_errors(
    model: nn.Module, groups: list[int] | range = range(1, 231), *, pairs_per_group: int = 32,
    seed: int = 12345, by_system: bool = False,
) -> tuple[float, float, int] | tuple[float, float, int, dict[str, float]]:
    """``(MAE, RMSE, pairs)`` in Å of ``|p(x1) - p(x2)|`` against the orbit distance on fresh
    synthetic pairs (``seed`` different from the training seed); with ``by_system`` also the
    MAE per crystal system."""
    from ..nn.pretrain import encoding_distance, synthetic_pairs
    from ..symmetry.space_group import crystal_system

    pe = _positional_of(model)
    param = next(pe.parameters())
    x1, x2, cell, sg, target = (t.to(param.device) for t in synthetic_pairs(
        sorted(set(groups)), pairs_per_group, seed))
    x1, x2, cell, target = (t.to(param.dtype) for t in (x1, x2, cell, target))
    was_training = pe.training
    pe.eval()
    errors = [encoding_distance(pe, x1[idx], x2[idx], cell[idx], sg[idx]) - target[idx]
              for idx in torch.arange(target.numel(), device=param.device).split(1024)]
    pe.train(was_training)
    err = torch.cat(errors)
    out = (float(err.abs().mean()), float(err.square().mean().sqrt()), int(err.numel()))
    if not by_system:
        return out
    systems: dict[str, list[float]] = {}
    for number, e in zip(sg.tolist(), err.abs().tolist(), strict=True):
        systems.setdefault(crystal_system(number), []).append(e)
    return (*out, {k: sum(v) / len(v) for k, v in systems.items()})


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (a kill leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def run_pretraining(
    path: str | Path,
    model_kwargs: dict[str, Any] | None = None,
    *,
    model: str = "cft",
    groups: list[int] | range = range(1, 231),
    pairs_per_group: int = 256,
    epochs: int = 20,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    fresh_pairs: bool = True,
    heldout_pairs_per_group: int = 32,
    curve_pairs_per_group: int = 4,
    time_limit: float | None = None,
    resume: bool = False,
    overwrite: bool = False,
    threads: int | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> PretrainingResult:
    """Pretrain the positional module of a registered model on orbit distances, save it.

    Args:
        path: output file (``.pt``), rewritten after every epoch.
        model_kwargs: the model's arguments; those of :data:`POSITIONAL_KEYS` fix the
            module and are saved with it (a model loading the file must agree on them).
        model: registered model name (:func:`cft_pyg.training.build_model`) whose
            ``positional`` module is trained (``'cft'``, ``'cft-published'``, ...).
        groups: space groups of the synthetic pairs (all 230 by default: label-free, so
            also the groups a zero-shot split holds out are legitimately seen here).
        pairs_per_group, epochs, batch_size, lr, seed, fresh_pairs: see
            :class:`~cft_pyg.nn.pretrain.OrbitDistancePretrainer`.
        heldout_pairs_per_group: fresh pairs per group for the final error.
        curve_pairs_per_group: fresh pairs per group (a fixed set) for the error recorded
            after every epoch, against the pairs seen.
        time_limit: stop after the last epoch that fits in this many seconds of this call
            (judged by the previous epoch's time; at least one epoch runs; ``None``: run all
            epochs); the file is then incomplete, continue with ``resume=True``.
        resume: continue the incomplete run in ``path`` (same settings); a complete file is
            returned as it is.
        overwrite: replace an existing file.
        threads: torch CPU threads (``None``: :func:`~cft_pyg.training.threads.auto_threads`).
        progress: called with each new curve point.

    Returns:
        A :class:`PretrainingResult` (also stored in the file, key ``"result"``).

    Raises:
        FileExistsError: ``path`` exists and neither ``resume`` nor ``overwrite``.
        ValueError: ``resume`` of a file made with other settings, or a model without an
            encoding.
    """
    from ..nn.pretrain import OrbitDistancePretrainer
    from .registry import build_model
    from .threads import set_threads

    path = Path(path)
    if path.exists() and not (overwrite or resume):
        raise FileExistsError(f"{path} exists (pass overwrite=True / --overwrite to replace it, "
                              "or resume=True / --resume to continue it)")
    n_threads = set_threads(threads)
    kwargs = {k: v for k, v in (model_kwargs or {}).items() if k in POSITIONAL_KEYS}
    settings = {"model": model, "model_kwargs": kwargs, "groups": sorted(set(groups)),
                "pairs_per_group": pairs_per_group, "epochs": epochs, "batch_size": batch_size,
                "lr": lr, "seed": seed, "fresh_pairs": fresh_pairs,
                "heldout_pairs_per_group": heldout_pairs_per_group,
                "curve_pairs_per_group": curve_pairs_per_group}
    torch.manual_seed(seed)
    net = build_model(model, **kwargs)
    if getattr(net, "encoding", None) is None:
        raise ValueError("encoding='none' has no positional encoding to pretrain")
    pe = _positional_of(net)
    trainer = OrbitDistancePretrainer(pe, groups, pairs_per_group=pairs_per_group,
                                      epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                      fresh_pairs=fresh_pairs)
    curve: list[dict[str, float]] = []
    seconds = 0.0
    if resume and path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("format") != FORMAT or saved.get("settings") != settings:
            old = saved.get("settings")
            raise ValueError(f"cannot resume {path}: it was made with other settings ({old}); "
                             f"this call asks for {settings}")
        if saved["result"]["complete"]:
            return PretrainingResult(**saved["result"])
        pe.load_state_dict(saved["state_dict"])
        trainer.load_state_dict(saved["trainer"])
        curve, seconds = list(saved["result"]["curve"]), float(saved["result"]["seconds"])

    def payload(result: PretrainingResult) -> dict[str, Any]:
        out = {"format": FORMAT, "model": model, "positional": type(pe).__name__,
               "model_kwargs": kwargs, "settings": settings, "state_dict": pe.state_dict(),
               "result": result.to_dict()}
        if not result.complete:
            out["trainer"] = trainer.state_dict()
        return out

    def result_of(mae: float, rmse: float, count: int, complete: bool,
                  by_system: dict[str, float] | None = None) -> PretrainingResult:
        return PretrainingResult(
            str(path.resolve()), model, kwargs, list(trainer.history), mae, rmse, count, seconds,
            settings, complete, trainer.pairs_seen, list(curve), by_system or {}, n_threads)

    start = time.perf_counter()
    last_epoch, ran = 0.0, 0
    while not trainer.done:
        if time_limit is not None and ran and (
                time.perf_counter() - start + last_epoch > time_limit):
            break  # every call runs at least one epoch, so a resumed run always progresses
        t0 = time.perf_counter()
        mse = trainer.run_epoch()
        last_epoch, ran = time.perf_counter() - t0, ran + 1
        seconds += last_epoch
        mae, rmse, _ = orbit_distance_errors(net, groups, pairs_per_group=curve_pairs_per_group,
                                             seed=seed + 20_000)
        curve.append({"epoch": trainer.epoch, "pairs_seen": trainer.pairs_seen,
                      "train_mse": mse, "heldout_mae": mae, "heldout_rmse": rmse,
                      "seconds": seconds, "loadavg": os.getloadavg()[0]})
        if progress is not None:
            progress(curve[-1])
        if not trainer.done:
            _save(path, payload(result_of(mae, rmse, len(settings["groups"]) *
                                          curve_pairs_per_group, False)))
    if not trainer.done:
        return PretrainingResult(**torch.load(path, map_location="cpu",
                                              weights_only=True)["result"])
    mae, rmse, count, by_system = orbit_distance_errors(
        net, groups, pairs_per_group=heldout_pairs_per_group, seed=seed + 10_000,
        by_system=True)
    result = result_of(mae, rmse, count, True, by_system)
    _save(path, payload(result))
    return result


def load_pretrained_encoding(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a file of :func:`run_pretraining` (or a shipped encoder, by name) into
    ``model.positional`` (in place; weights stored in half precision are widened, and
    ``load_state_dict`` casts them to the model's dtype).

    Returns:
        The stored :class:`PretrainingResult` as a dict.

    Raises:
        FileNotFoundError: no such file and no shipped encoder of that name.
        ValueError: not a pretrained-encoding file, an unfinished one, or a model whose
            positional module has another kind or shape (the message names the arguments).
    """
    path = resolve_encoding(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cft-pyg pretrained encoding ({FORMAT})")
    if not payload["result"].get("complete", True):
        raise ValueError(f"{path} is an unfinished pretraining (epoch "
                         f"{len(payload['result']['train_mse'])} of "
                         f"{payload['settings']['epochs']}); finish it with resume=True "
                         "(cft-pyg pretrain --resume)")
    pe = _positional_of(model)
    kind = payload.get("positional", "CrystalPositionalEncoding")
    if type(pe).__name__ != kind:
        raise ValueError(f"the pretrained encoding {path} is a {kind} (model "
                         f"{payload.get('model', 'cft')!r}); this model's positional module is a "
                         f"{type(pe).__name__}")
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in payload["state_dict"].items()}
    try:
        pe.load_state_dict(state)
    except RuntimeError as err:
        saved = payload["model_kwargs"]
        raise ValueError(
            f"the pretrained encoding {path} does not fit this model: it was made with "
            f"{saved} (arguments {', '.join(POSITIONAL_KEYS)} must agree)"
        ) from err
    return payload["result"]
