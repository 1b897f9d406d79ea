"""``python -m cft_pyg.store_cli``: build, merge and inspect crystal stores.

::

    # one machine, every core; rerun the same command after a crash to resume
    python -m cft_pyg.store_cli build crystals.db store/ --targets energy
    # N machines (e.g. a SLURM array: k = $SLURM_ARRAY_TASK_ID, N = $SLURM_ARRAY_TASK_COUNT)
    python -m cft_pyg.store_cli build crystals.db parts/$k --shard $k/$N
    python -m cft_pyg.store_cli merge parts/* --out store/
    python -m cft_pyg.store_cli info store/

Sources: a folder of CIF/POSCAR/... files, an ASE database (``.db``; ``.aselmdb`` with
``ase-db-backends``), extended XYZ (``.xyz``/``.extxyz``) or a CSV with a ``cif`` column.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .data.featurization import Featurization
from .data.store import BACKENDS, CrystalStore, build_store_from, merge_stores, parse_shard

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cft_pyg.store_cli",
                                     description="Stores of standardized crystals.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="featurize a source into a store (resumable)")
    b.add_argument("source", help="folder, .db, .aselmdb, .xyz/.extxyz or .csv")
    b.add_argument("store", help="the store folder (resumed when it exists)")
    b.add_argument("--targets", nargs="*", default=[], help="target names to store")
    b.add_argument("--backend", choices=BACKENDS, default=None)
    b.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    b.add_argument("--chunk-size", type=int, default=256)
    b.add_argument("--shard", default=None, help="k/N: this task's share of N")
    b.add_argument("--symprec", type=float, default=None)
    b.add_argument("--angle-tolerance", type=float, default=None)
    b.add_argument("--quiet", action="store_true")
    m = sub.add_parser("merge", help="unite shard stores into one")
    m.add_argument("parts", nargs="+")
    m.add_argument("--out", required=True)
    m.add_argument("--quiet", action="store_true")
    i = sub.add_parser("info", help="counts, bytes and options of a store")
    i.add_argument("store")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "build":
        changes = {k: v for k, v in (("symprec", args.symprec),
                                     ("angle_tolerance", args.angle_tolerance)) if v is not None}
        report = build_store_from(
            args.source, args.store, Featurization.resolve(None, **changes),
            targets=args.targets, backend=args.backend, num_workers=args.workers,
            chunk_size=args.chunk_size, shard=parse_shard(args.shard), log=not args.quiet)
        print(json.dumps(report.__dict__))
    elif args.command == "merge":
        print(json.dumps(merge_stores(args.parts, args.out, log=not args.quiet)))
    else:
        store = CrystalStore(args.store)
        info = {**store.summary, "bytes": store.file_bytes(),
                "bytes_per_crystal": store.file_bytes() / max(len(store), 1),
                "atoms": int(store.natoms.sum()), "targets": store.targets,
                "symmetry": store.config["symmetry"]}
        print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
