"""The argument parser of the ``cft-pyg`` command (:func:`build_parser`); the commands
themselves are in :mod:`cft_pyg.cli`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .training.flags import add_config_options, json_mapping, positive_int

__all__ = ["PROG", "build_parser"]

PROG = "cft-pyg"


def _add_train_options(p: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    from .training.config import TrainConfig

    add_config_options(p, TrainConfig, only)


def _add_common(p: argparse.ArgumentParser, config: bool = True) -> None:
    if config:
        p.add_argument("--config", metavar="FILE",
                       help="YAML or JSON file of options (flags override it)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-v", "--verbose", action="store_true", help="show Lightning's messages")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cft-pyg``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Space-group-invariant crystal property models "
        "(Crystal Fourier Transformer) on PyTorch Geometric + Lightning.")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train a model",
                       description="Train a model. Options come from --config and flags "
                                   "(flags win); the settings used are saved in "
                                   "<output-dir>/config.yaml.")
    _add_common(p)
    from .training.config import TrainConfig

    _add_preset(p, TrainConfig)
    _add_train_options(p)
    p.add_argument("--subgroup-augmentation", type=float, default=0.0, metavar="P",
                   help="experimental (cft_pyg.experimental.augmentation): probability of "
                        "showing a training crystal through a random proper t-subgroup "
                        "description (exact inputs); default 0: off")

    p = sub.add_parser("evaluate", help="MAE overall / per space group / per crystal system",
                       description="Evaluate a checkpoint on a part of a dataset. By default the "
                                   "dataset and split of the run (its config.yaml) are used.")
    p.add_argument("checkpoint", help="checkpoint file (.ckpt)")
    p.add_argument("--part", default="test", choices=["train", "val", "test", "zeroshot", "all"],
                   help="which crystals (default test)")
    p.add_argument("--output-dir", dest="tables_dir", metavar="DIR",
                   help="folder for the tables (default <run>/evaluation_<part>)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--descent", choices=["off", "unseen", "all"], default="off",
                   help="zero-shot subgroup descent: crystals of space groups the model never "
                        "saw are predicted through their largest seen t-subgroups, averaged "
                        "over every copy (unseen), or every crystal through its proper ones "
                        "(all); default off")
    _add_train_options(p, only=("dataset", "data_root", "dataset_kwargs", "featurization",
                                "target",
                                "target_index", "max_crystals", "split", "holdout_groups",
                                "val_fraction", "test_fraction", "seed", "accelerator",
                                "threads"))
    _add_common(p)

    p = sub.add_parser("predict", help="predict for structure files (CIF, POSCAR, ...) -> CSV",
                       usage=f"{PROG} predict [-h] (CHECKPOINT | --pretrained NAME) INPUT "
                             "[INPUT ...] [options]",
                       description="Predict the property of every crystal in structure "
                                   "files (any format pymatgen or ASE reads: CIF, POSCAR/"
                                   "CONTCAR/*.vasp, extended XYZ, ...) and/or folders of them "
                                   "with a checkpoint of `cft-pyg train` or a pretrained model "
                                   "shipped with cft-pyg; write a CSV (a classifier adds the "
                                   "probability of every class).")
    p.add_argument("items", nargs="+", metavar="CHECKPOINT INPUT",
                   help="checkpoint file (.ckpt; omitted with --pretrained), then structure "
                        "files or folders (taking every *.cif, *POSCAR*, *CONTCAR*, *.vasp, "
                        "*.xyz, *.extxyz, ... file in them)")
    p.add_argument("--pretrained", metavar="NAME", default=None,
                   help="use a pretrained model shipped with cft-pyg instead of a checkpoint "
                        "(names: see `cft-pyg pretrained`)")
    p.add_argument("-o", "--output", default="predictions.csv", help="CSV file to write "
                   "(default predictions.csv)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--skip-invalid", action="store_true",
                   help="skip structure files that cannot be read (listed on stderr) instead "
                        "of failing")
    p.add_argument("--descent", choices=["off", "unseen", "all"], default="off",
                   help="zero-shot subgroup descent: crystals of space groups the model never "
                        "saw are predicted through their largest seen t-subgroups, averaged "
                        "over every copy (unseen), or every crystal through its proper ones "
                        "(all); default off")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="torch CPU threads (default: the cores idle at the start)")
    p.add_argument("--symprec", type=float, default=None,
                   help="symmetry tolerance in Å for the space-group detection (default: "
                        "that of the model's training crystals, recorded in its checkpoint)")
    _add_common(p, config=False)

    from .cli_tensors import add_tensor_parser

    add_tensor_parser(sub)

    p = sub.add_parser("pretrained", help="list the pretrained models and encoders (cards)",
                       description="List the pretrained models shipped with cft-pyg (name, "
                                   "property, test MAE of the model card) and the pretrained "
                                   "positional encoders (held-out orbit-distance MAE); with a "
                                   "NAME, print its card (--json: the raw record).")
    p.add_argument("name", nargs="?", default=None,
                   help="print this model's (or pretrained encoder's) card")
    p.add_argument("--json", action="store_true",
                   help="with NAME: print the card's whole record as JSON")
    _add_common(p, config=False)

    p = sub.add_parser("pretrain", help="pretrain the positional encoding on orbit distances",
                       description="Label-free pretraining of a CFT's positional encoding on "
                                   "synthetic two-atom crystals of all 230 space groups: "
                                   "|p(x1) - p(x2)| regresses the orbit distance (Å). Prints "
                                   "the error on held-out pairs and saves the weights for "
                                   "`cft-pyg train --pretrained-encoding FILE`.")
    p.add_argument("output", help="file to write (.pt); rewritten after every epoch")
    p.add_argument("--model", default="cft",
                   help="registered model whose positional module is pretrained (cft, "
                        "cft-published, ...; default cft)")
    p.add_argument("--model-kwargs", type=json_mapping, default={}, metavar="JSON",
                   help="arguments of the model to be trained later (channels, encoding, "
                        "...); they must match at training time")
    p.add_argument("--pairs-per-group", type=positive_int, default=256,
                   help="synthetic pairs per group and epoch (default 256)")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--same-pairs", action="store_true",
                   help="reuse one set of pairs every epoch (default: fresh pairs every epoch)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="stop after the last epoch that fits in this time; continue with "
                        "--resume")
    p.add_argument("--resume", action="store_true",
                   help="continue the unfinished run in OUTPUT (same settings)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: the idle cores)")
    _add_common(p, config=False)

    p = sub.add_parser("demo", help="train + evaluate a CFT on all 230 groups (synthetic data)",
                       description="Train a CFT on the built-in synthetic dataset that covers "
                                   "all 230 space groups, evaluate it on a random split and "
                                   "zero-shot on held-out (centrosymmetric) groups, print "
                                   "tables and write plots.")
    from .demo import DemoSettings

    _add_preset(p, DemoSettings)
    p.add_argument("--quick", dest="preset", action="store_const", const="quick",
                   help="the same as --preset quick (a small run, for tests)")
    add_config_options(p, DemoSettings)
    _add_common(p)
    return parser


def _add_preset(p: argparse.ArgumentParser, cls: Any) -> None:
    p.add_argument("--preset", default="default", choices=cls.preset_names(),
                   help="named settings to start from (then --config, then flags); "
                        f"{', '.join(cls.preset_names())} (default 'default')")
