"""Training and inference throughput of CFT (hybrid, pure and the published architecture),
CGCNN and ALIGNN.

All models see the *same* MP-20 batches (same crystals, same neighbour graphs: 12
nearest neighbours within 8 Å, as CGCNN), one after the other in interleaved rounds so
that slow drifts of a shared machine hit every model alike; the median over rounds is
reported.  A training step is forward + MSE + backward + gradient clipping + AdamW step.
ALIGNN (``--slow``) is about 20x slower, so it is timed on the first ``--slow-batches``
batches in a single round; throughputs are per crystal either way.

Usage::

    python benchmarks/bench_training.py                       # 512 crystals, batch 64
    python benchmarks/bench_training.py --crystals 256 --rounds 3 --threads 2
    python benchmarks/bench_training.py --device cuda         # GPU figures
    python benchmarks/bench_training.py --models cft-published,cft-hybrid,cgcnn,alignn \
        --out benchmarks/results/published_speed.json        # the paper's Table 2

Writes ``benchmarks/results/training.json`` (``--out`` to change) and prints a table
with crystals/s, the ratios to CGCNN and ALIGNN, and parameter counts.  Timings on a
machine shared with other jobs are noisy: the JSON records the load average before and
after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mp_20"
RESULTS = REPO / "benchmarks" / "results"
TARGET = "formation_energy_per_atom"
PUBLISHED_TABLE2 = {"cft": {"train_seconds_per_epoch": 91, "infer_seconds_per_10k": 60},
                    "matformer": {"train_seconds_per_epoch": 266, "infer_seconds_per_10k": 222},
                    "alignn": {"train_seconds_per_epoch": 592, "infer_seconds_per_10k": 451},
                    "note": "the paper's Table 2 (hardware not stated)"}


def load_crystals(root: Path, count: int, cache: Path) -> tuple[list, str]:
    """``count`` MP-20 crystals as standardized ``Data`` (via ``cft_pyg.data.MP20`` when
    available, else ``from_structure`` on the first rows of ``val.csv.gz``)."""
    try:
        from cft_pyg.data import MP20

        ds = MP20(str(root), split="val", target=TARGET, max_rows=count,
                  processed_root=str(cache), log=False)
        return [ds[i] for i in range(len(ds))], "cft_pyg.data.MP20(split='val', max_rows=...)"
    except ImportError:
        pass
    import pandas as pd
    from pymatgen.core import Structure

    from cft_pyg.data import from_structure

    frame = pd.read_csv(root / "val.csv.gz", nrows=count)
    out = []
    for cif, y in zip(frame["cif"], frame[TARGET], strict=True):
        try:
            out.append(from_structure(Structure.from_str(cif, fmt="cif"), y=float(y)))
        except Exception as err:  # a benchmark skips the few structures that fail
            print(f"skipped a structure: {err}", file=sys.stderr)
    return out, "cft_pyg.data.from_structure on val.csv.gz rows"


def build_models(names: list[str]) -> dict[str, torch.nn.Module]:
    from cft_pyg import nn as cnn

    factories = {
        "cft-hybrid": lambda: cnn.CrystalFourierTransformer(),
        "cft-pure": lambda: cnn.CrystalFourierTransformer(local=False),
        "cft-published": lambda: cnn.PublishedCFT(),
        "transformer-plain": lambda: cnn.PlainPETransformer(),
        "cgcnn": lambda: cnn.CGCNN(),
        "alignn": lambda: cnn.ALIGNN(),
    }
    models = {}
    for name in names:
        try:
            torch.manual_seed(0)
            models[name] = factories[name]()
        except ImportError as err:
            print(f"{name}: not run ({err})", file=sys.stderr)
    return models


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(model, batches, device) -> float:
    model.train()
    opt = model._bench_opt
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(batch), batch.y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    sync(device)
    return time.perf_counter() - start


def infer_epoch(model, batches, device) -> float:
    model.eval()
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    sync(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MP-20 folder")
    parser.add_argument("--crystals", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per model")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared, loaded machine more "
                        "threads only add contention; 0 keeps torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--slow", default="alignn",
                        help="models timed on fewer batches (--slow-batches, one round)")
    parser.add_argument("--slow-batches", type=int, default=2)
    parser.add_argument("--models", default="cft-hybrid,cft-pure,transformer-plain,cgcnn,alignn")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cft_pyg" / "bench",
                        help="processed-data folder (never the shared data folder)")
    parser.add_argument("--out", type=Path, default=RESULTS / "training.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    crystals, source = load_crystals(args.data, args.crystals, args.cache)
    load_seconds = time.perf_counter() - t0
    loader = DataLoader(crystals, batch_size=args.batch_size, shuffle=False)
    batches: list[Batch] = [b.to(device) for b in loader]
    num = sum(b.num_graphs for b in batches)
    atoms = sum(b.num_nodes for b in batches)
    edges = sum(b.num_edges for b in batches)
    print(f"{num} crystals ({atoms} atoms, {edges} edges) in {len(batches)} batches of "
          f"{args.batch_size}; loaded in {load_seconds:.1f} s from {source}")

    models = build_models(args.models.split(","))
    slow = set(args.slow.split(",")) if args.slow else set()
    warm = Batch.from_data_list(crystals[:8]).to(device)
    for model in models.values():
        model.to(device)
        model._bench_opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
        # warm-up: first calls (lazy tables, allocator, PyG's jinja templates)
        train_epoch(model, [warm], device)
        infer_epoch(model, [warm], device)

    def subset(name: str) -> list[Batch]:
        return batches[: args.slow_batches] if name in slow else batches

    times: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in models}
    for r in range(args.rounds):
        for name, model in models.items():
            if name in slow and r > 0:
                continue
            times[name]["train"].append(train_epoch(model, subset(name), device))
            times[name]["infer"].append(infer_epoch(model, subset(name), device))
            print(f"  round {r + 1} {name}: {times[name]['train'][-1]:.1f} s train, "
                  f"{times[name]['infer'][-1]:.1f} s inference")
        print(f"round {r + 1}/{args.rounds} done")

    results = {}
    for name, model in models.items():
        train_s = statistics.median(times[name]["train"])
        infer_s = statistics.median(times[name]["infer"])
        count = sum(b.num_graphs for b in subset(name))
        results[name] = {
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "timed_crystals": count,
            "train_crystals_per_s": count / train_s,
            "infer_crystals_per_s": count / infer_s,
            "train_seconds_per_10k_crystals": 1e4 * train_s / count,
            "infer_seconds_per_10k_crystals": 1e4 * infer_s / count,
            "train_epoch_seconds": times[name]["train"],
            "infer_epoch_seconds": times[name]["infer"],
        }

    def ratio(a: str, b: str, key: str) -> float | None:
        if a in results and b in results:
            return results[a][key] / results[b][key]
        return None

    ratios = {}
    for base in ("cgcnn", "alignn"):
        for name in results:
            if name != base:
                for key in ("train", "infer"):
                    value = ratio(name, base, f"{key}_crystals_per_s")
                    if value is not None:
                        ratios[f"{name}/{base} {key}"] = value

    print(f"\n{'model':<18}{'params':>11}{'train cr/s':>12}{'infer cr/s':>12}"
          f"{'train/CGCNN':>13}{'train/ALIGNN':>14}")
    for name, res in results.items():
        vs_c = ratio(name, "cgcnn", "train_crystals_per_s")
        vs_a = ratio(name, "alignn", "train_crystals_per_s")
        print(f"{name:<18}{res['parameters']:>11,}{res['train_crystals_per_s']:>12.1f}"
              f"{res['infer_crystals_per_s']:>12.1f}"
              f"{'' if vs_c is None else f'{vs_c:.2f}x':>13}"
              f"{'' if vs_a is None else f'{vs_a:.2f}x':>14}")
    targets = {
        "cft-hybrid train >= cgcnn": ratios.get("cft-hybrid/cgcnn train", 0) >= 1.0
        if "cft-hybrid/cgcnn train" in ratios else None,
        "cft-hybrid train >= 5x alignn": ratios.get("cft-hybrid/alignn train", 0) >= 5.0
        if "cft-hybrid/alignn train" in ratios else None,
    }
    print("targets:", targets)
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
          f"on {os.cpu_count()} CPUs: timings on a shared machine are noisy")

    report = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "note": "shared machine: other jobs were running; medians over interleaved rounds",
        "data": {"source": source, "crystals": num, "atoms": atoms, "edges": edges,
                 "batch_size": args.batch_size, "graph": "12 nearest neighbours within 8 A"},
        "rounds": args.rounds,
        "slow_models": {"models": sorted(slow & set(models)), "batches": args.slow_batches,
                        "rounds": 1},
        "models": results,
        "ratios": ratios,
        "published_table2": PUBLISHED_TABLE2,
        "targets_met": targets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
