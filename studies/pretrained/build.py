r"""Train a shipped pretrained model from its recipe, and write its weights and model card.

``python -m studies.pretrained.build mp20-formation-energy --data-root DIR`` trains the
recipe of :mod:`cft_pyg.pretrained.recipes` on its dataset's training part (the recipe's
``splits``, with its ``dataset_options``; single CPU thread unless ``--threads``), keeps the
best validation epoch, evaluates it on the test part and writes into ``--output`` (default:
the package's ``models/`` folder):

* ``<name>.pt`` - ``{"hparams": ..., "state_dict": ...}``, plain tensors and builtins only,
  so that :func:`cft_pyg.pretrained.load` reads it with ``torch.load(weights_only=True)``;
* ``<name>.json`` - the model card: recipe, data and split sizes, the training identifiers'
  count and digest (computed from the raw files), epochs run, best epoch, validation curve
  against training seconds, test MAE with a bootstrap 95% interval over the test crystals,
  parameters, library version, date, machine load, CPU time and the command. What else the
  card holds follows the dataset's entry of :data:`cft_pyg.pretrained.validity.SOURCES`: a
  screen model (``nrel-unrelaxed-energy``) adds the screen metrics of its test compositions
  (``test["screen"]``) and its measured domain and failures (``validity``), with the study
  that chose its architecture (:data:`EVIDENCE`); the MP-20 models' ``validity`` is written
  afterwards by ``python -m cft_pyg.pretrained.validity`` and ``studies/domains``.

The test MAE of the card is what ``tests/pretrained`` checks again from the shipped file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cft_pyg.pretrained.recipes import (
    RECIPES,
    Recipe,
    load_split,
    recipe,
    target_index,
)
from cft_pyg.pretrained.validity import ids_digest, source_of

__all__ = ["EVIDENCE", "bootstrap_mae", "build", "main", "reevaluate", "study_evidence"]

REPO = Path(__file__).resolve().parents[2]

EVIDENCE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "nrel-unrelaxed-energy": ("studies/unrelaxed/results/summary.json", "unrelaxed",
                              ("cft", "cft-no-encoding", "wyckoff", "wrenformer", "cgcnn",
                               "composition")),
}
"""Recipe name -> (summary JSON of the study that chose its architecture, the input of the
rows to keep, the models to keep): the card's ``validity["study"]``."""

_STUDY_KEYS = ("label", "seeds", "mae", "mae_std", "relative_mae", "relative_mae_std",
               "spearman", "spearman_std", "hit_rate", "hit_rate_std", "epochs",
               "budget_cpu_seconds", "parameters", "n_test", "n_compositions")


def study_evidence(rec: Recipe) -> dict[str, Any] | None:
    """The rows of the study that chose ``rec``'s architecture (:data:`EVIDENCE`), or
    ``None`` when the recipe cites none or the study's results are absent."""
    if rec.name not in EVIDENCE:
        return None
    source, inp, models = EVIDENCE[rec.name]
    path = REPO / source
    if not path.is_file():
        return None
    rows = {r["model"]: {k: r[k] for k in _STUDY_KEYS if k in r}
            for r in json.loads(path.read_text())["rows"]
            if r["input"] == inp and r["model"] in models}
    return {"source": source, "input": inp, "rows": rows}


def test_entry(module: Any, test: Any) -> dict[str, Any]:
    """The ``test`` entry of a model card: MAE with its bootstrap interval, the MAE of
    predicting the training mean, the number of crystals."""
    from cft_pyg._version import __version__
    from cft_pyg.training import predict

    df = predict(module, test, batch_size=128)
    errors = (df["y_pred"] - df["y_true"]).to_numpy()
    low, high = bootstrap_mae(errors)
    return {"mae": float(np.abs(errors).mean()), "mae_95ci": [low, high],
            "interval": "percentile bootstrap over test crystals, 2000 resamples",
            "mae_predict_train_mean": float(np.abs(df["y_true"].to_numpy()
                                                   - float(module.target_mean)).mean()),
            "n": len(df), "evaluated_with_version": __version__}


def reevaluate(name: str, data_root: str | os.PathLike,
               models_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate a shipped model again on its project-test split, featurized by this
    version's code with the model's own featurization, and rewrite its card's ``test``
    entry (the weights and the training record stay as built).

    A change of the featurization code (e.g. 0.3.1's fixed-point standardization) changes
    some test crystals slightly; the card then states the figure this version reproduces.
    """
    from cft_pyg.pretrained import load

    folder = Path(models_dir) if models_dir is not None else _default_output()
    module = load(name, models_dir=folder)
    rec = recipe(name)
    test = load_split(rec, data_root, "test", featurization=module.featurization)
    path = folder / f"{name}.json"
    card = json.loads(path.read_text())
    previous = card["test"]
    card["test"] = test_entry(module, test)
    metrics = source_of(rec).test_metrics
    if metrics is not None:
        card["test"].update(metrics(module, rec, Path(data_root), test=test))
    card["test"]["previous"] = {k: previous[k] for k in ("mae", "mae_95ci")
                                if k in previous}
    card["test"]["previous"]["evaluated_with_version"] = previous.get(
        "evaluated_with_version", card.get("library_version"))
    path.write_text(json.dumps(card, indent=2) + "\n")
    return card


def bootstrap_mae(errors: np.ndarray, n_resamples: int = 2000, seed: int = 0
                  ) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``|errors|`` over crystals."""
    err = np.abs(np.asarray(errors, dtype=np.float64))
    if err.size == 0:
        raise ValueError("no errors to bootstrap")
    rng = np.random.default_rng(seed)
    means = err[rng.integers(0, err.size, size=(n_resamples, err.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def export_weights(module: Any, path: Path) -> None:
    """Write the model's hyperparameters and weights in the ``weights_only`` format."""
    import torch

    hparams = json.loads(json.dumps(dict(module.hparams)))  # builtins only
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    torch.save({"format": "cft-pyg-pretrained/1", "hparams": hparams, "state_dict": state},
               path)


def build(name: str, data_root: str | os.PathLike, output: str | os.PathLike,
          *, threads: int = 1, work_dir: str | os.PathLike | None = None,
          epochs: int | None = None, max_rows: int | None = None,
          command: str | None = None) -> dict[str, Any]:
    """Train ``name`` from its recipe and write ``<output>/<name>.pt`` and ``.json``.

    Args:
        name: a key of :data:`cft_pyg.pretrained.recipes.RECIPES`.
        data_root: folder of the recipe's dataset.
        output: folder for the weights and the card.
        threads: torch CPU threads.
        work_dir: folder of the training run (default: a temporary folder).
        epochs, max_rows: override the recipe's epochs / use the first ``max_rows`` crystals
            of every split (tests only; the card records the override).
        command: the command line to record in the card.

    Returns:
        The model card.
    """
    import torch

    from cft_pyg._version import __version__
    from cft_pyg.training import TrainConfig, epoch_metrics, fit

    rec = recipe(name)
    source = source_of(rec)
    root = Path(data_root)
    cpu_start, load_start = time.process_time(), list(os.getloadavg())
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_start = children.ru_utime + children.ru_stime
    start_all = time.perf_counter()
    torch.set_num_threads(threads)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    splits = {s: load_split(rec, data_root, s, max_rows) for s in ("train", "val", "test")}
    run_epochs = rec.epochs if epochs is None else epochs
    with tempfile.TemporaryDirectory(prefix=f"cft-pyg-{name}-") as tmp:
        run_dir = Path(work_dir) if work_dir is not None else Path(tmp) / "run"
        config = TrainConfig(
            model=rec.model, model_kwargs=dict(rec.model_kwargs), target_index=target_index(rec),
            epochs=run_epochs, batch_size=rec.batch_size, lr=rec.lr,
            weight_decay=rec.weight_decay, warmup_epochs=min(rec.warmup_epochs, run_epochs - 1),
            patience=None, seed=rec.seed, output=rec.output, accelerator="cpu", devices=1,
            output_dir=str(run_dir), progress_bar=False)
        start = time.perf_counter()
        result = fit(config, splits["train"], splits["val"], None, overwrite=True)
        wall = time.perf_counter() - start
        curve = epoch_metrics(run_dir / "logs").dropna(subset=["val_mae"])
    module = result.module
    weights = out / f"{name}.pt"
    export_weights(module, weights)
    ids = source.training_ids(root, rec)
    data = {"dataset": rec.dataset, "split": source.note, "n_train": len(splits["train"]),
            "n_val": len(splits["val"]), "n_test": len(splits["test"]),
            "n_train_ids": len(ids), "train_ids_sha256": ids_digest(ids),
            # rows of the training part that failed conversion (recorded by the dataset)
            "n_train_skipped": len(getattr(splits["train"], "skipped", []))}
    if rec.dataset_options:
        data["options"] = dict(rec.dataset_options)
    if source.training_compositions is not None:
        compositions = source.training_compositions(root, rec)
        data.update(n_train_compositions=len(compositions),
                    train_compositions_sha256=ids_digest(compositions))
    test = test_entry(module, splits["test"])
    if source.test_metrics is not None:
        test.update(source.test_metrics(module, rec, root, test=splits["test"]))
    card = {
        "name": name,
        "description": rec.description,
        "recipe": rec.to_dict(),
        "recipe_overrides": {k: v for k, v in (("epochs", epochs), ("max_rows", max_rows))
                             if v is not None},
        "data": data,
        "training": {
            "epochs": run_epochs, "epochs_run": result.epochs_run,
            "best_epoch": int(curve.loc[curve["val_mae"].idxmin(), "epoch"]),
            "best_val_mae": result.best_val_mae,
            "train_seconds": float(curve["train_seconds"].max()),
            "wall_seconds": wall, "threads": threads,
            "curve": {"epoch": curve["epoch"].astype(int).tolist(),
                      "train_seconds": curve["train_seconds"].astype(float).tolist(),
                      "val_mae": curve["val_mae"].astype(float).tolist()},
        },
        "test": test,
        "unit": rec.unit,
        "parameters": int(sum(p.numel() for p in module.model.parameters())),
        "weights_bytes": weights.stat().st_size,
        "library_version": __version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "loadavg_at_start": load_start,
                    "loadavg_at_end": list(os.getloadavg()), "niceness": os.nice(0),
                    "torch": torch.__version__},
        "command": command or f"python -m studies.pretrained.build {name} --data-root DIR",
    }
    if source.measured_at_build:
        card["validity"] = source.measure(module, rec, root, train=splits["train"],
                                          test=splits["test"], study=study_evidence(rec))
    # the whole build in CPU seconds (data, training, evaluation, validity), with the
    # dataset's processing workers (finished child processes)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = children.ru_utime + children.ru_stime - children_start
    card["machine"]["build_cpu_seconds"] = time.process_time() - cpu_start + children_cpu
    card["machine"]["build_cpu_seconds_workers"] = children_cpu
    card["machine"]["build_wall_seconds"] = time.perf_counter() - start_all
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _default_output() -> Path:
    import cft_pyg.pretrained

    return Path(cft_pyg.pretrained.__file__).resolve().parent / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m studies.pretrained.build",
        description="Train a pretrained model from its recipe; write weights and model card.")
    parser.add_argument("names", nargs="+", choices=list(RECIPES), metavar="NAME",
                        help=f"model(s) to build: {', '.join(RECIPES)}")
    parser.add_argument("--data-root", required=True, help="folder of the dataset")
    parser.add_argument("--output", default=str(_default_output()),
                        help="folder for <name>.pt and <name>.json (default: the package)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--work-dir", default=None, help="keep the training run here")
    parser.add_argument("--reevaluate", action="store_true",
                        help="do not train: evaluate the shipped weights again with this "
                             "version's featurization code and rewrite the cards' test entry")
    args = parser.parse_args(argv)
    if args.reevaluate:
        for name in args.names:
            card = reevaluate(name, args.data_root, args.output)
            t, before = card["test"], card["test"]["previous"]
            print(f"{name}: test MAE {t['mae']:.5f} (was {before['mae']:.5f} with cft-pyg "
                  f"{before['evaluated_with_version']})", flush=True)
        return 0
    command = "python -m studies.pretrained.build " + " ".join(
        a if not a.startswith("/") else "DIR" for a in (argv if argv is not None
                                                        else sys.argv[1:]))
    for name in args.names:
        work = None if args.work_dir is None else Path(args.work_dir) / name
        card = build(name, args.data_root, args.output, threads=args.threads, work_dir=work,
                     command=command)
        t = card["test"]
        print(f"{name}: test MAE {t['mae']:.4f} {card['unit']} "
              f"(95% CI {t['mae_95ci'][0]:.4f}-{t['mae_95ci'][1]:.4f}, n={t['n']}), "
              f"{card['training']['epochs_run']} epochs, "
              f"{card['training']['train_seconds']:.0f} s of training, "
              f"{card['machine']['build_cpu_seconds']:.0f} CPU-s in all", flush=True)
        screen = t.get("screen")
        if screen:
            print(f"  test compositions ({screen['n_compositions']}, {screen['n_candidates']} "
                  f"candidates): relative-energy MAE {screen['relative_mae']:.4f}, Spearman "
                  f"{screen['spearman']:.3f}, ground-state hits {screen['hit_rate']:.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
