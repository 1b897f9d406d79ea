r"""Pretrained positional encoders shipped with cft-pyg: list, read the card, load, build.

An encoder is the ``positional`` module of a model (for example the two-branch encoder of
``cft-published``) pretrained label-free on orbit distances of all 230 groups
(:func:`cft_pyg.training.pretraining.run_pretraining`).  It lies in the package as
``encoders/<name>.pt`` (weights in half precision, read with ``weights_only=True``) with
its card ``encoders/<name>.json``: pairs, epochs, the held-out orbit-distance MAE overall
and per crystal system, the curve against pairs seen, and the command that made it.

.. code-block:: python

    from cft_pyg import pretrained
    from cft_pyg.training import build_model

    model = build_model("cft-published")
    pretrained.load_encoding(model, "cft-published-r5")   # offline
    pretrained.encoding_card("cft-published-r5")["heldout"]["mae"]

or ``cft-pyg train --model cft-published --pretrained-encoding cft-published-r5 ...``.
Build one from a finished pretraining file::

    python -m cft_pyg.pretrained.encoders PRETRAINING.pt NAME --command "cft-pyg pretrain ..."

The card's held-out figures are measured on the stored (half-precision) weights, on pairs
regenerated from a fixed seed, so a user can reproduce them
(:func:`heldout_errors`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["available_encodings", "build_encoding", "encoding_card", "heldout_errors",
           "load_encoding"]

PUBLISHED_MAE = 0.102
"""The published CFT's held-out orbit-distance error (Å; 125k pairs per group, 200 epochs)."""
HELDOUT_SEED = 10_000
"""Seed of the card's held-out pairs (other than every training seed's pairs)."""


def _dir() -> Path:
    """The shipped encoders' folder: :data:`cft_pyg.training.pretraining.SHIPPED_ENCODINGS_DIR`
    once that module is loaded, else the same folder named here, so that listing the cards
    does not import torch."""
    loaded = sys.modules.get("cft_pyg.training.pretraining")
    if loaded is not None:
        return Path(loaded.SHIPPED_ENCODINGS_DIR)
    return Path(__file__).resolve().parent / "encoders"


def available_encodings() -> list[str]:
    """Names of the encoders shipped in this installation."""
    return sorted(p.stem for p in _dir().glob("*.pt"))


def encoding_card(name: str) -> dict[str, Any]:
    """The card of the shipped encoder ``name``.

    Raises:
        KeyError: no such encoder (the message lists the shipped ones).
    """
    card = _dir() / f"{name}.json"
    if name not in available_encodings() or not card.is_file():
        raise KeyError(f"no shipped encoder {name!r}; shipped: "
                       f"{', '.join(available_encodings()) or 'none'}")
    return json.loads(card.read_text())


def load_encoding(model: Any, name: str) -> dict[str, Any]:
    """Load the shipped encoder ``name`` into ``model.positional`` (in place); returns its
    card.  The model must have been built with the card's ``model`` and ``model_kwargs``
    (the message of the :class:`ValueError` says which differ)."""
    from ..training.pretraining import load_pretrained_encoding

    card = encoding_card(name)
    load_pretrained_encoding(model, name)
    return card


def heldout_errors(name_or_path: str | os.PathLike, pairs_per_group: int = 32,
                   seed: int = HELDOUT_SEED) -> dict[str, Any]:
    """Orbit-distance errors (Å) of an encoder (shipped name or file) on synthetic pairs of
    all 230 groups regenerated from ``seed``: ``{"mae", "rmse", "pairs", "by_system"}``."""
    import torch

    from ..training.pretraining import (
        load_pretrained_encoding,
        orbit_distance_errors,
        resolve_encoding,
    )
    from ..training.registry import build_model

    payload = torch.load(resolve_encoding(name_or_path), map_location="cpu", weights_only=True)
    model = build_model(payload.get("model", "cft"), **payload["model_kwargs"])
    load_pretrained_encoding(model, name_or_path)
    groups = payload["settings"]["groups"]
    mae, rmse, count, by_system = orbit_distance_errors(model, groups,
                                                        pairs_per_group=pairs_per_group,
                                                        seed=seed, by_system=True)
    return {"mae": mae, "rmse": rmse, "pairs": count, "pairs_per_group": pairs_per_group,
            "seed": seed, "by_system": by_system}


def build_encoding(source: str | os.PathLike, name: str, command: str,
                   out_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Ship the finished pretraining file ``source`` as encoder ``name``: half-precision
    weights (``<name>.pt``) and the card (``<name>.json``), its held-out errors measured on
    the stored weights.

    Args:
        source: a complete file of :func:`~cft_pyg.training.pretraining.run_pretraining`.
        name: the encoder's name.
        command: the command that made ``source`` (recorded in the card).
        out_dir: target folder (default: the package's ``encoders/``).

    Returns:
        The card.

    Raises:
        ValueError: ``source`` is unfinished or not a pretraining file.
    """
    import torch

    from .._version import __version__
    from ..training.pretraining import FORMAT

    payload = torch.load(Path(source), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{source} is not a cft-pyg pretrained encoding ({FORMAT})")
    result = payload["result"]
    if not result.get("complete", True):
        raise ValueError(f"{source} is an unfinished pretraining; finish it with --resume")
    folder = Path(out_dir) if out_dir is not None else _dir()
    folder.mkdir(parents=True, exist_ok=True)
    shipped = {k: v for k, v in payload.items() if k != "trainer"}
    shipped["state_dict"] = {k: v.half() if v.is_floating_point() else v
                             for k, v in payload["state_dict"].items()}
    weights = folder / f"{name}.pt"
    torch.save(shipped, weights)
    heldout = heldout_errors(weights)
    settings = payload["settings"]
    card = {
        "name": name, "model": payload.get("model", "cft"),
        "positional": payload.get("positional"), "model_kwargs": payload["model_kwargs"],
        "parameters": sum(v.numel() for v in payload["state_dict"].values()),
        "stored_dtype": "float16",
        "pretraining": {k: settings[k] for k in ("pairs_per_group", "epochs", "batch_size",
                                                  "lr", "seed", "fresh_pairs")},
        "groups": len(settings["groups"]), "pairs_seen": result["pairs_seen"],
        "pairs_seen_per_group": result["pairs_seen"] // len(settings["groups"]),
        "train_seconds": result["seconds"], "threads": result.get("threads"),
        "heldout": heldout,
        "heldout_full_precision": {"mae": result["heldout_mae"],
                                   "rmse": result["heldout_rmse"],
                                   "by_system": result["heldout_mae_by_system"]},
        "published_mae": PUBLISHED_MAE, "target_met": heldout["mae"] <= PUBLISHED_MAE,
        "curve": result["curve"], "command": command, "library_version": __version__,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cft_pyg.pretrained.encoders",
                                description="Ship a finished pretraining file as a named "
                                            "encoder (half-precision weights + card).")
    p.add_argument("source", help="complete file of `cft-pyg pretrain`")
    p.add_argument("name", help="name of the shipped encoder")
    p.add_argument("--command", required=True, help="the command that made SOURCE")
    p.add_argument("--out-dir", default=None, help="target folder (default: the package's)")
    args = p.parse_args(argv)
    card = build_encoding(args.source, args.name, args.command, args.out_dir)
    h = card["heldout"]
    print(f"{args.name}: held-out orbit-distance MAE {h['mae']:.4f} Å on {h['pairs']} pairs "
          f"(published {PUBLISHED_MAE} Å: {'met' if card['target_met'] else 'not met'})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
