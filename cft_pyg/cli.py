"""The ``cft-pyg`` command: ``train``, ``evaluate``, ``predict``, ``pretrained``, ``pretrain``
and ``demo``.

Examples::

    cft-pyg demo                                  # all-230-group synthetic demo on the CPU
    cft-pyg train --dataset mp20 --data-root ../shared/data --target formation_energy_per_atom \\
        --model cft --epochs 200 --output-dir runs/mp20-cft
    cft-pyg train --config run.yaml --lr 3e-4     # flags override the config file
    cft-pyg train --config run.yaml --resume runs/mp20-cft/checkpoints/last.ckpt
    cft-pyg evaluate runs/mp20-cft/checkpoints/best.ckpt --part test --output-dir runs/eval
    cft-pyg predict runs/mp20-cft/checkpoints/best.ckpt structures/ a.cif -o predictions.csv
    cft-pyg predict --pretrained mp20-formation-energy a.cif     # shipped model, offline
    cft-pyg pretrained                            # list the shipped models (model cards)
    cft-pyg pretrain pe.pt --model-kwargs '{"channels": 128}'   # label-free, all 230 groups
    cft-pyg train --pretrained-encoding pe.pt ...                # start from it

Exit status: 0 on success, 2 for bad arguments, 1 when an input cannot be read or an output
would be overwritten (without ``--overwrite``); the message on stderr says which and why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cli_parser import PROG, build_parser
from .training.flags import config_options

__all__ = ["main", "build_parser", "config_options"]


class CLIError(Exception):
    """A user-facing error: printed as ``cft-pyg: error: <message>``, exit status 1."""


class UsageError(CLIError):
    """Arguments that do not fit together (exit status 2, as argparse's own errors)."""


# ----------------------------------------------------------------------------- helpers
def _quiet(verbose: bool) -> None:
    """Keep the terminal readable: Lightning's info lines only with ``--verbose``. Called by
    the commands that use Lightning, after their cheap checks, so that the others (and every
    argument error) never import it."""
    if not verbose:
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # DDP's C++ advice, per rank
        from .training.quiet import silence_lightning

        silence_lightning()
    _quiet_warnings()  # Lightning installs its own warning format on import


def _train_config(args: argparse.Namespace) -> Any:
    """TrainConfig from defaults <- --preset <- --config file <- flags."""
    from .training import ConfigError, TrainConfig

    values = _layered(TrainConfig, args)
    default_warmup = TrainConfig.__dataclass_fields__["warmup_epochs"].default
    epochs = values.get("epochs", TrainConfig.__dataclass_fields__["epochs"].default)
    if "warmup_epochs" not in values and isinstance(epochs, int) and 0 < epochs <= \
            default_warmup:
        values["warmup_epochs"] = epochs / 2  # the default warm-up would outlast the run
        _print(f"warm-up: {epochs / 2:g} epochs (half of --epochs {epochs}; the default "
               f"{default_warmup:g} is longer than the run; --warmup-epochs sets it)")
    try:
        return TrainConfig.from_dict(values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from err


def _augmentation_hooks(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """The ``fit`` hooks of ``--subgroup-augmentation`` (none when it is 0)."""
    if not args.subgroup_augmentation:
        return {}
    from .experimental.augmentation import augmentation_hooks

    try:
        return augmentation_hooks(args.subgroup_augmentation, config.seed, config.featurization)
    except ValueError as err:
        raise CLIError(str(err)) from err


def _check_names(config: Any) -> None:
    """Unknown model or dataset names fail before anything is loaded or written."""
    from .training import ConfigError, available_datasets, available_models

    if config.model not in available_models():
        raise ConfigError(f"unknown model {config.model!r}; available: "
                          f"{', '.join(available_models())}")
    if config.dataset not in available_datasets():
        raise ConfigError(f"unknown dataset {config.dataset!r}; available: "
                          f"{', '.join(available_datasets())}")


def _check_readable(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} not found: {p}")
    if p.is_file() and not os.access(p, os.R_OK):
        raise CLIError(f"{what} is not readable: {p}")
    return p


def _is_rank_zero() -> bool:
    """Whether this process is the first of a data-parallel run (or the only process).

    Lightning starts the other processes of ``--strategy ddp`` by running the same command
    with ``LOCAL_RANK`` (and ``NODE_RANK`` on other nodes) set; they print nothing."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def _print(msg: str = "") -> None:
    if _is_rank_zero():
        print(msg, flush=True)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, line: str | None = None) -> str:
    """``cft-pyg: warning: <message>``: no file name and no line of source code."""
    return f"{PROG}: warning: {message}\n"


def _quiet_warnings() -> None:
    """Warnings as one line each; none at all on the other processes of a DDP run."""
    import warnings

    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
    if not _is_rank_zero():
        warnings.simplefilter("ignore")


# ----------------------------------------------------------------------------- commands
def _cmd_train(args: argparse.Namespace) -> int:
    config = _train_config(args)
    _check_names(config)
    if config.resume is not None:
        _check_readable(config.resume, "checkpoint to resume from")
        from .training.checkpoints import check_resume

        check_resume(config.resume, config, check_data=False)  # before the data are loaded
    out = Path(config.output_dir)
    if (out / "checkpoints").exists() and not args.overwrite and config.resume is None:
        raise CLIError(f"output folder {out} already holds a run; use --overwrite to replace "
                       "it or --resume <checkpoint> to continue it")
    hooks = _augmentation_hooks(args, config)
    _quiet(args.verbose)
    from .training import fit
    from .training.data import build_splits
    from .training.evaluation import format_table
    from .training.threads import resolve_threads

    auto = config.threads is None
    config = config.replace(threads=resolve_threads(config.threads))
    _print(f"torch CPU threads: {config.threads}"
           + (" (the idle cores; --threads N sets it)" if auto else ""))
    _print(f"loading dataset {config.dataset!r} ...")
    splits = build_splits(config)
    _print(f"crystals: train {len(splits.train)}, val {len(splits.val)}, test {len(splits.test)}"
           + (f", zero-shot {len(splits.zeroshot)}" if splits.zeroshot is not None else "")
           + (f" (--max-crystals {config.max_crystals}: a seeded sample of every part)"
              if config.max_crystals else ""))
    extra = {"zeroshot": splits.zeroshot} if splits.zeroshot is not None else None
    result = fit(config, splits.train, splits.val, splits.test, extra_eval=extra,
                 overwrite=args.overwrite, **hooks)
    metric = "MAE" if result.monitor == "val_mae" else "cross-entropy"
    _print(f"\nbest validation {metric} {result.best_val_score:.4f} after {result.epochs_run} "
           "epochs")
    if result.test_report is not None:
        _print(f"test {_headline(result.test_report.overall)}\n")
        _print(format_table(result.test_report.per_crystal_system))
    if "zeroshot" in result.extra_reports:
        o = result.extra_reports["zeroshot"].overall
        _print(f"\nzero-shot {_headline(o)} in {o['n_space_groups']} held-out space groups "
               "(never seen in training)")
    _print(f"\ncheckpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    _print(f"tables and logs: {result.output_dir}")
    return 0


def _headline(o: dict[str, Any]) -> str:
    """One line of an evaluation's overall metrics (regression or classification)."""
    if "accuracy" in o:
        base = (f" (majority class: {o['accuracy_majority']:.4f})"
                if "accuracy_majority" in o else "")
        return (f"accuracy {o['accuracy']:.4f}{base}, ROC-AUC {o['roc_auc']:.4f}, "
                f"cross-entropy {o['cross_entropy']:.4f} on {o['n']} crystals")
    base = (f" (predicting the training mean: {o['mae_predict_mean']:.4f})"
            if "mae_predict_mean" in o else "")
    return f"MAE {o['mae']:.4f}{base} on {o['n']} crystals"


def _run_dir(checkpoint: Path) -> Path:
    """The run folder of a checkpoint (``<run>/checkpoints/x.ckpt``; else its own folder),
    relative when the checkpoint was given relative (paths are printed as the user gave them)."""
    folder = checkpoint.parent
    return folder.parent if folder.name == "checkpoints" else folder


def _run_config_for(checkpoint: Path, args: argparse.Namespace) -> Any:
    """The run's config (``<run>/config.yaml`` or ``--config``) with evaluate's overrides."""
    from .training import TrainConfig, load_config_file

    values: dict[str, Any] = {}
    default = _run_dir(checkpoint) / "config.yaml"
    if args.config:
        values.update(load_config_file(args.config))
    elif default.is_file():
        values.update(load_config_file(default))
    for name in TrainConfig.field_names():
        if name in vars(args):
            values[name] = getattr(args, name)
    values["progress_bar"] = False
    return TrainConfig.from_dict(values)


def _load_checkpoint(path: str) -> Any:
    from .training import load_predictor

    p = _check_readable(path, "checkpoint")
    if p.is_dir():
        raise CLIError(f"checkpoint must be a file, got a folder: {p}")
    try:
        return load_predictor(p)
    except (ValueError, FileNotFoundError) as err:
        raise CLIError(str(err)) from err


def _cmd_evaluate(args: argparse.Namespace) -> int:
    ckpt = Path(args.checkpoint)
    _check_readable(args.checkpoint, "checkpoint")
    config = _run_config_for(ckpt, args)
    _check_names(config)
    out = Path(args.tables_dir) if args.tables_dir else \
        _run_dir(ckpt) / f"evaluation_{args.part}"
    existing = [p for p in (out / "metrics.json", out / "predictions.csv") if p.exists()]
    if existing and not args.overwrite:
        raise CLIError(f"{existing[0]} exists; use --overwrite to replace it")
    _quiet(args.verbose)
    from .training import evaluate
    from .training.data import build_splits, load_dataset
    from .training.evaluation import format_table
    from .training.threads import set_threads

    set_threads(config.threads)

    module = _load_checkpoint(args.checkpoint)
    if args.part == "all":
        dataset = load_dataset(config)
    else:
        try:
            dataset = build_splits(config).part(args.part)
        except KeyError as err:
            raise CLIError(str(err.args[0])) from err
    if len(dataset) == 0:
        raise CLIError(f"the {args.part!r} part is empty")
    if args.descent == "off":
        report = evaluate(module, dataset, batch_size=args.batch_size, config=config)
    else:
        from .experimental.descent import evaluate_with_descent

        report = evaluate_with_descent(module, dataset, batch_size=args.batch_size,
                                       config=config, mode=args.descent)
    report.write(out, overwrite=args.overwrite)
    o = report.overall
    _print(f"{args.part}: {_headline(o)} in {o['n_space_groups']} space groups\n")
    _print(format_table(report.per_crystal_system))
    _print()
    _print(format_table(report.per_space_group.sort_values("n", ascending=False), max_rows=15))
    _print(f"\ntables written to {out}")
    return 0


def _structure_files(inputs: Sequence[str]) -> list[Path]:
    """The structure files of the inputs: files as given, folders' known structure files.
    The other files of a folder are listed on stderr (never dropped without a word)."""
    files: list[Path] = []
    for item in inputs:
        p = _check_readable(item, "input")
        if p.is_dir():
            from .data.readers import STRUCTURE_FILE_PATTERNS, other_files, structure_files

            found, others = structure_files(p), other_files(p)
            if not found:
                raise CLIError(f"no structure files in folder {p} (looked for "
                               f"{', '.join(STRUCTURE_FILE_PATTERNS)})")
            if others:
                names = ", ".join(q.name for q in others[:20])
                more = f" and {len(others) - 20} more" if len(others) > 20 else ""
                print(f"{PROG}: note: not read in {p}: {len(others)} file(s) whose names are "
                      f"not of a structure file ({names}{more}); name a file explicitly to "
                      "read it", file=sys.stderr)
            files.extend(found)
        else:
            files.append(p)
    return files


def _featurization_for(module: Any) -> Any:
    """:func:`cft_pyg.training.inputs.featurization_for`, warning on stderr."""
    from .training.inputs import featurization_for

    return featurization_for(
        module, warn=lambda msg: print(f"{PROG}: warning: {msg}", file=sys.stderr))


def _cmd_predict(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and out.is_dir():
        raise CLIError(f"--output must be a file, got a folder: {out}")
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out} exists; use --overwrite to replace it")
    if args.pretrained is None:
        if len(args.items) < 2:
            raise UsageError("give a checkpoint and at least one structure file, or "
                             "--pretrained NAME and the inputs")
        checkpoint, inputs = args.items[0], args.items[1:]
    else:
        checkpoint, inputs = None, args.items
    files = _structure_files(inputs)  # cheap checks first, heavy imports after
    if checkpoint is not None:
        _check_readable(checkpoint, "checkpoint")

    _quiet(args.verbose)
    import pandas as pd

    from .data import from_file
    from .training import predict
    from .training.threads import set_threads

    set_threads(args.threads)

    if checkpoint is None:
        from . import pretrained

        module = pretrained.load(args.pretrained)
    else:
        module = _load_checkpoint(checkpoint)
    featurization = _featurization_for(module)
    if args.symprec is not None:
        featurization = featurization.replace(symprec=args.symprec)
    data, names, failed = [], [], []
    for f in files:
        try:
            d = from_file(f, featurization=featurization)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            failed.append((f, str(err).splitlines()[0] if str(err) else type(err).__name__))
            continue
        d.y = None
        data.append(d)
        names.append(f)
    if failed:
        lines = "\n".join(f"  {f}: {msg}" for f, msg in failed)
        if not args.skip_invalid:
            raise CLIError(f"{len(failed)} of {len(files)} structure file(s) could not be read "
                           f"(nothing written; --skip-invalid skips them):\n{lines}")
        print(f"{PROG}: warning: skipped {len(failed)} unreadable structure file(s):\n{lines}",
              file=sys.stderr)
    if not data:
        raise CLIError("no readable crystals to predict")
    if args.descent == "off":
        df = predict(module, data, batch_size=args.batch_size)
    else:
        from .experimental.descent import predict_with_descent

        df = predict_with_descent(module, data, batch_size=args.batch_size, mode=args.descent)
    df.insert(0, "file", [str(n) for n in names])
    if "material_id" in df.columns:
        df = df.drop(columns=["material_id"])
    df = df.rename(columns={"y_pred": "prediction"})
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(df).to_csv(out, index=False)
    source = f"pretrained {args.pretrained!r}" if checkpoint is None else \
        repr(module.hparams.model)
    _print(f"predicted {len(df)} crystal(s) with {source}; written to {out}")
    return 0


def _cmd_pretrained(args: argparse.Namespace) -> int:
    from . import pretrained

    encoders = pretrained.available_encodings()
    if args.name is not None:
        from .pretrained.cards import format_encoding_card, format_model_card

        encoder = args.name in encoders
        card = pretrained.encoding_card(args.name) if encoder else \
            pretrained.model_card(args.name)
        _print(json.dumps(card, indent=2) if args.json else
               format_encoding_card(card) if encoder else format_model_card(card))
        return 0
    if args.json:
        raise UsageError("--json prints one card: give its NAME")
    names = pretrained.available()
    if not names and not encoders:
        _print("no pretrained model is shipped with this installation")
        return 0
    for name in names:
        card = pretrained.model_card(name)
        t = card["test"]
        screen = t.get("screen")
        ranking = (f", energy above the ground state {screen['relative_mae']:.4f} on "
                   f"{screen['n_compositions']} test compositions" if screen else "")
        _print(f"{name:26s} {card['description']}: test MAE {t['mae']:.4f} {card['unit']} "
               f"(95% CI {t['mae_95ci'][0]:.4f}-{t['mae_95ci'][1]:.4f}, n={t['n']}){ranking}, "
               f"{card['parameters']:,} parameters")
    for name in encoders:
        card = pretrained.encoding_card(name)
        h = card["heldout"]
        _print(f"{name:26s} pretrained encoder of {card['model']} (--pretrained-encoding "
               f"{name}): held-out orbit-distance MAE {h['mae']:.3f} Å (published "
               f"{card['published_mae']} Å), {card['parameters']:,} parameters")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .training.pretraining import run_pretraining

    def show(point: dict[str, float]) -> None:
        _print(f"epoch {point['epoch']:>4}  pairs seen {point['pairs_seen']:>10,}  "
               f"train MSE {point['train_mse']:.4f} Å²  held-out MAE {point['heldout_mae']:.3f} Å"
               f"  {point['seconds']:.0f} s")

    result = run_pretraining(
        args.output, args.model_kwargs, model=args.model, pairs_per_group=args.pairs_per_group,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        fresh_pairs=not args.same_pairs, time_limit=args.time_limit, resume=args.resume,
        overwrite=args.overwrite, threads=args.threads, progress=show,
    )
    if not result.complete:
        _print(f"stopped after epoch {len(result.train_mse)} of {args.epochs} "
               f"({result.seconds:.0f} s in all); continue with the same command and --resume")
        _print(f"saved to {result.path}")
        return 0
    _print(f"pretrained in {result.seconds:.1f} s; final train MSE {result.train_mse[-1]:.4f} Å²")
    _print(f"orbit-distance error on {result.heldout_pairs} held-out pairs: "
           f"MAE {result.heldout_mae:.3f} Å, RMSE {result.heldout_rmse:.3f} Å "
           "(published CFT: 0.102 Å)")
    _print(f"saved to {result.path}")
    return 0


def _layered(cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Settings values of ``cls``: preset <- ``--config`` file <- flags."""
    import dataclasses

    from .training.config import load_config_file

    values = cls.preset_values(args.preset)
    if getattr(args, "config", None):
        values.update(load_config_file(args.config))
    for f in dataclasses.fields(cls):
        if f.name in vars(args):
            values[f.name] = getattr(args, f.name)
    return values


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoSettings

    try:
        settings = DemoSettings().update(_layered(DemoSettings, args))
    except (TypeError, ValueError) as err:
        raise UsageError(f"bad demo option: {err}") from err
    out = Path(settings.output_dir)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise CLIError(f"output folder {out} is not empty; use --overwrite to replace its "
                       "contents or choose another --output-dir")
    _quiet(args.verbose)
    from .demo import run_demo

    run_demo(settings, overwrite=args.overwrite, echo=_print)
    return 0


def _cmd_tensor(args: argparse.Namespace) -> int:
    from .cli_tensors import run_tensor_command

    return run_tensor_command(args)


_COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict,
             "pretrained": _cmd_pretrained, "pretrain": _cmd_pretrain, "demo": _cmd_demo,
             "tensor": _cmd_tensor}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cft-pyg`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: --help (0) or bad arguments (2, message printed)
        return int(exc.code or 0)
    from .training import ConfigError

    _quiet_warnings()
    try:
        return _COMMANDS[args.command](args)
    except (ConfigError, UsageError) as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (CLIError, FileExistsError, FileNotFoundError, KeyError, ImportError, ValueError,
            OSError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"{PROG} {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
