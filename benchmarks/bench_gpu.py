"""GPU figures of the encoding and of a CFT training step (part of ``gpu_check.sh``).

For batches of the atoms of 64, 640, 6,400 and 20,000 crystals (10 atoms each, every crystal
in a random one of the 230 groups, float32) it times, after warm-up, with device
synchronization:

* ``gathered`` and ``grouped``: :class:`cft_pyg.nn.SymmetryAdaptedFourierEncoding` with each
  routing strategy (``gathered`` is the loop-free path: a fixed sequence of kernels whatever
  the number of groups in the batch);
* ``plain``: :class:`cft_pyg.nn.PlainFourierFeatures` (the cost floor, not invariant);
* ``dense``: :class:`cft_pyg.nn.reference_encodings.DenseRoutingEncoding` (the published
  dense routing; only up to 64,000 atoms);

and the share of the encoding in one CFT training step (forward, backward, AdamW) on 64
synthetic crystals.  Writes a JSON (default ``benchmarks/results/gpu.json``), merging in the
CUDA test log and the training benchmark JSON when given.

Usage (``benchmarks/gpu_check.sh`` runs it)::

    python benchmarks/bench_gpu.py --device cuda
    python benchmarks/bench_gpu.py --device cpu --crystals 64 640 --repeats 2   # dry run
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"
ATOMS_PER_CRYSTAL = 10
DENSE_MAX_ATOMS = 64_000


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, repeats: int) -> float:
    for _ in range(2):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def encoding_times(device: torch.device, crystals: list[int], repeats: int) -> list[dict]:
    from cft_pyg.nn import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
    from cft_pyg.nn.reference_encodings import DenseRoutingEncoding

    methods = {
        "gathered": SymmetryAdaptedFourierEncoding(strategy="gathered"),
        "grouped": SymmetryAdaptedFourierEncoding(strategy="grouped"),
        "plain": PlainFourierFeatures(),
        "dense": DenseRoutingEncoding(),
    }
    methods = {k: m.to(device) for k, m in methods.items()}
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n_crystals in crystals:
        n = n_crystals * ATOMS_PER_CRYSTAL
        x = torch.rand(n, 3, generator=gen).to(device)
        groups = torch.randint(1, 231, (n_crystals,), generator=gen)
        sg = groups.repeat_interleave(ATOMS_PER_CRYSTAL).to(device)
        row: dict[str, Any] = {"crystals": n_crystals, "atoms": n}
        with torch.no_grad():
            for name, module in methods.items():
                if name == "dense" and n > DENSE_MAX_ATOMS:
                    continue
                row[f"{name}_ms"] = 1e3 * _time(lambda m=module, x=x, sg=sg: m(x, sg), device,
                                                repeats)
        for name in ("gathered", "grouped", "dense"):
            if f"{name}_ms" in row:
                row[f"{name}_over_plain"] = row[f"{name}_ms"] / row["plain_ms"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def training_step_share(device: torch.device, repeats: int) -> dict[str, float]:
    """Encoding time / full CFT training step on 64 synthetic crystals."""
    import tempfile

    from torch_geometric.loader import DataLoader

    from cft_pyg.data import SyntheticCrystals
    from cft_pyg.nn import CrystalFourierTransformer

    with tempfile.TemporaryDirectory() as root:
        data = SyntheticCrystals(root, num_crystals=64, seed=0, num_workers=0, log=False)
        batch = next(iter(DataLoader(data, batch_size=64))).to(device)
    torch.manual_seed(0)
    model = CrystalFourierTransformer().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sg = batch.space_group[batch.batch]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(batch), batch.y.reshape(-1))
        loss.backward()
        opt.step()

    def encode() -> None:
        with torch.no_grad():
            model.encoding(batch.frac_coords, sg)

    step_s = _time(step, device, repeats)
    enc_s = _time(encode, device, repeats)
    return {"atoms": int(batch.num_nodes), "train_step_ms": 1e3 * step_s,
            "encoding_ms": 1e3 * enc_s, "encoding_share": enc_s / step_s}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--crystals", type=int, nargs="+", default=[64, 640, 6400, 20000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--tests-log", type=Path, default=None, help="CUDA test output")
    parser.add_argument("--training-json", type=Path, default=None,
                        help="bench_training.py output to include")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible: this check needs a GPU")
    start = time.perf_counter()
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "platform": platform.platform(),
        "encoding": encoding_times(device, args.crystals, args.repeats),
        "training_step": training_step_share(device, args.repeats),
    }
    if args.tests_log is not None and args.tests_log.is_file():
        lines = args.tests_log.read_text().strip().splitlines()
        result["cuda_tests"] = lines[-1] if lines else ""
    if args.training_json is not None and args.training_json.is_file():
        result["training_benchmark"] = json.loads(args.training_json.read_text())
    result["seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["training_step"]))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
