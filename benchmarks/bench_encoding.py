"""Throughput of the invariant encoding: scatter routing vs dense routing vs naive averaging.

Encodes atoms spread uniformly over all 230 space groups (float32, no autograd) at
cutoffs R=5 and R=8 and prints atoms/s for

* ``scatter``: :class:`cft_pyg.nn.SymmetryAdaptedFourierEncoding` (orbit routing), both
  outputs (``frequency``: 2S features; ``orbit``: compact basis);
* ``plain``: :class:`cft_pyg.nn.PlainFourierFeatures` (cos and sin of the same
  frequencies, not invariant): the cost floor;
* ``dense``: :class:`cft_pyg.nn.reference_encodings.DenseRoutingEncoding`, the published
  dense ``N x N`` routing per group (matrices precomputed, build time excluded);
* ``naive``: :class:`cft_pyg.nn.reference_encodings.OrbitAveragingEncoding`, averaging
  over the point's orbit (measured on fewer atoms: it is slow), for all groups and for the
  cubic groups 195-230.

Every method runs in its own subprocess so that its peak memory (peak RSS growth during
the timed calls) is its own.  Ratios compare methods on the same atoms in this run.

``--targets`` measures the speed targets of the issue "decisive comparisons" instead (writes
``benchmarks/results/encoding_targets.json``): at 1 and 2 threads, the gathered, grouped and
auto routings (and dense routing for the small batch) against the plain features on a
64-crystal training batch (640 atoms in random groups) and on a large batch (23,000 atoms,
100 in each of the 230 groups), forward and forward + backward, with the methods interleaved
repeat by repeat (medians) so that a busy machine slows all of them alike; and the share of
the encoding in one training step of the default CFT on 64 synthetic crystals.

Usage::

    python benchmarks/bench_encoding.py --targets       # the issue's targets (~2 min)
    python benchmarks/bench_encoding.py                 # 200k atoms, R=5 and R=8
    python benchmarks/bench_encoding.py --atoms 20000 --cutoffs 5   # quick
    python benchmarks/bench_encoding.py --threads 1      # one intra-op thread

Writes ``benchmarks/results/encoding.json`` (and ``encoding_<device>.json`` for CUDA).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
CUBIC = list(range(195, 231))


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker(args: tuple) -> dict:
    method, cutoff, atoms, groups, device, repeats, seed, threads, chunk = args
    if threads:
        torch.set_num_threads(threads)
    from cft_pyg.nn import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
    from cft_pyg.nn.reference_encodings import DenseRoutingEncoding, OrbitAveragingEncoding

    gen = torch.Generator().manual_seed(seed)
    group_tensor = torch.tensor(groups)
    sg = group_tensor[torch.randint(0, len(groups), (atoms,), generator=gen)]
    x = torch.rand(atoms, 3, generator=gen)
    t0 = time.perf_counter()
    if method == "scatter":
        module = SymmetryAdaptedFourierEncoding(cutoff)
    elif method == "scatter-orbit":
        module = SymmetryAdaptedFourierEncoding(cutoff, output="orbit")
    elif method == "plain":
        module = PlainFourierFeatures(cutoff)
    elif method == "dense":
        module = DenseRoutingEncoding(cutoff)
    elif method == "naive":
        module = OrbitAveragingEncoding(cutoff)
    else:  # pragma: no cover
        raise ValueError(method)
    module = module.to(device)
    x, sg = x.to(device), sg.to(device)
    if method == "dense":  # precompute the routing matrices of the groups in use
        for g in sorted(set(groups)):
            module.matrix(g, x.dtype, x.device)
    build_s = time.perf_counter() - t0

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.no_grad():
        module(x[:1000], sg[:1000])  # warm-up
        sync()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        base = _rss_mib()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for start in range(0, atoms, chunk):  # batches as a data loader would give
                module(x[start : start + chunk], sg[start : start + chunk])
            sync()
            times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    best = min(times)
    return {
        "method": method, "cutoff": cutoff, "atoms": atoms, "num_groups": len(set(groups)),
        "seconds": best, "atoms_per_s": atoms / best, "build_s": build_s,
        "peak_mem_mib": max(peak, 0.0), "out_dim": int(module.out_dim),
    }


OPTIONS: dict = {"threads": 0, "chunk": 20_000}


def run(method: str, cutoff: float, atoms: int, groups: list[int], device: str,
        repeats: int, seed: int = 0) -> dict:
    ctx = mp.get_context("spawn")
    job = (method, cutoff, atoms, groups, device, repeats, seed, OPTIONS["threads"],
           OPTIONS["chunk"])
    with ctx.Pool(1) as pool:
        res = pool.apply(_worker, (job,))
    print(
        f"  {method:14s} R={cutoff:g} groups={res['num_groups']:3d} atoms={atoms:7d}: "
        f"{res['atoms_per_s']:12,.0f} atoms/s  peak +{res['peak_mem_mib']:8.1f} MiB  "
        f"(build {res['build_s']:.2f} s)",
        flush=True,
    )
    return res


def small_batches(threads: int, repeats: int = 20) -> dict:
    """Training-sized batches: grouped vs gathered routing, forward and forward+backward."""
    from cft_pyg.nn import SymmetryAdaptedFourierEncoding

    if threads:
        torch.set_num_threads(threads)
    out: dict = {}
    encoders = {s: SymmetryAdaptedFourierEncoding(5.0, strategy=s) for s in ("grouped", "gathered")}
    for atoms in (640, 2000):  # ~64 and ~200 MP-20 crystals
        gen = torch.Generator().manual_seed(atoms)
        sg = torch.randint(1, 231, (atoms,), generator=gen)
        x = torch.rand(atoms, 3, generator=gen)
        for grad in (False, True):
            key = f"{atoms}_atoms_{'fwd_bwd' if grad else 'fwd'}"
            out[key] = {}
            for name, enc in encoders.items():
                xi = x.clone().requires_grad_(grad)

                def step(enc=enc, xi=xi, grad=grad, sg=sg) -> None:
                    y = enc(xi, sg)
                    if grad:
                        y.square().sum().backward()

                step()
                t = time.perf_counter()
                for _ in range(repeats):
                    step()
                out[key][name] = (time.perf_counter() - t) / repeats
            ratio = out[key]["grouped"] / out[key]["gathered"]
            out[key]["grouped_over_gathered"] = ratio
            print(f"  small batch {key:22s} grouped {out[key]['grouped'] * 1e3:7.2f} ms  "
                  f"gathered {out[key]['gathered'] * 1e3:7.2f} ms  ratio {ratio:5.2f}", flush=True)
    return out


def _median_times(methods: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each method, the methods interleaved repeat by repeat."""
    import statistics

    times: dict[str, list[float]] = {name: [] for name in methods}
    for f in methods.values():
        f()  # warm up (caches, allocator)
    for _ in range(repeats):
        for name, f in methods.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def _cft_step_share(repeats: int) -> dict:
    """Seconds of one training step of the default CFT on 64 synthetic crystals, and of the
    encoding's forward on the same atoms (the coordinates need no gradient in training)."""
    import tempfile

    from torch_geometric.loader import DataLoader

    from cft_pyg.data import SyntheticCrystals
    from cft_pyg.nn import CrystalFourierTransformer

    with tempfile.TemporaryDirectory() as tmp:
        data = SyntheticCrystals(tmp, num_crystals=64, seed=0, log=False)
        batch = next(iter(DataLoader(list(data), batch_size=64)))
    model = CrystalFourierTransformer()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    encoding = model.positional.encoding
    sg = batch.space_group[batch.batch]

    def step() -> None:
        loss = model(batch).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def encode() -> None:
        encoding(batch.frac_coords, sg)

    t = _median_times({"step": step, "encoding": encode}, repeats)
    return {"atoms": int(batch.num_nodes), "crystals": 64, "step_s": t["step"],
            "encoding_s": t["encoding"], "share": t["encoding"] / t["step"]}


def issue_targets(repeats: int = 15) -> dict:
    """The encoding speed targets (module docstring), at 1 and 2 threads."""
    from cft_pyg.nn import PlainFourierFeatures, SymmetryAdaptedFourierEncoding
    from cft_pyg.nn.reference_encodings import DenseRoutingEncoding

    plain = PlainFourierFeatures(5.0)
    encoders = {s: SymmetryAdaptedFourierEncoding(5.0, strategy=s)
                for s in ("gathered", "grouped", "auto")}
    dense = DenseRoutingEncoding(5.0)
    gen = torch.Generator().manual_seed(0)
    batches = {
        "64_crystals_640_atoms": torch.randint(1, 231, (640,), generator=gen),
        "large_23000_atoms_all_groups": torch.arange(1, 231).repeat_interleave(100),
    }
    out: dict = {"load_avg_at_start": os.getloadavg(), "cases": {}}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, sg in batches.items():
            x = torch.rand(sg.numel(), 3, generator=gen)
            for grad in (False, True):
                xi = x.clone().requires_grad_(grad)

                def call(f, xi=xi, sg=sg, grad=grad):
                    def run() -> None:
                        y = f(xi, sg)
                        if grad:
                            y.sum().backward()
                    return run

                methods = {"plain": call(plain)}
                methods.update({s: call(e) for s, e in encoders.items()})
                if name.startswith("64") and not grad:
                    methods["dense"] = call(dense)
                t = _median_times(methods, repeats if sg.numel() < 5000 else max(3, repeats // 3))
                key = f"{name}_{'fwd_bwd' if grad else 'fwd'}_{threads}thread"
                case = {"seconds": t, "over_plain": {m: v / t["plain"] for m, v in t.items()}}
                limit = 5.0 if name.startswith("64") else 2.0
                case["target"] = f"auto <= {limit:g} x plain"
                case["met"] = case["over_plain"]["auto"] <= limit
                out["cases"][key] = case
                print(f"  {key:44s} " + "  ".join(f"{m} {v:5.2f}x" for m, v in
                                                   case["over_plain"].items())
                      + f"  ({case['target']}: {'met' if case['met'] else 'MISSED'})",
                      flush=True)
        share = _cft_step_share(max(5, repeats // 3))
        share["target"] = "encoding forward < 10% of a CFT training step"
        share["met"] = share["share"] < 0.10
        out["cases"][f"cft_step_share_{threads}thread"] = share
        print(f"  CFT step {share['step_s'] * 1e3:.1f} ms, encoding {share['encoding_s'] * 1e3:.2f}"
              f" ms: {100 * share['share']:.1f}% ({'met' if share['met'] else 'MISSED'})",
              flush=True)
    out["load_avg_at_end"] = os.getloadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", action="store_true",
                        help="only the issue's speed targets -> results/encoding_targets.json")
    parser.add_argument("--atoms", type=int, default=200_000)
    parser.add_argument("--naive-atoms", type=int, default=5_000)
    parser.add_argument("--dense-groups-r8", type=int, default=40,
                        help="dense routing at R=8 on this many groups (N^2 matrices: "
                             "all 230 would need ~8 GB)")
    parser.add_argument("--cutoffs", type=float, nargs="+", default=[5.0, 8.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--chunk", type=int, default=20_000,
                        help="atoms per call, as a data loader would batch them")
    args = parser.parse_args()
    OPTIONS.update(threads=args.threads, chunk=args.chunk)
    if args.targets:
        report = {"torch": torch.__version__, "machine": platform.machine(),
                  "cpu_count": os.cpu_count(), **issue_targets(args.repeats * 5)}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "encoding_targets.json").write_text(json.dumps(report, indent=1) + "\n")
        return

    all_groups = list(range(1, 231))
    threads = args.threads or torch.get_num_threads()
    print(f"device={args.device} threads={threads} chunk={args.chunk} "
          f"load_avg={os.getloadavg()}", flush=True)
    report: dict = {
        "device": args.device, "threads": threads, "chunk": args.chunk,
        "torch": torch.__version__, "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_avg_at_start": os.getloadavg(), "runs": [],
        "ratios": {},
    }
    for cutoff in args.cutoffs:
        print(f"R={cutoff:g}: {args.atoms} atoms over all 230 groups", flush=True)
        r = {m: run(m, cutoff, args.atoms, all_groups, args.device, args.repeats)
             for m in ("scatter", "scatter-orbit", "plain")}
        dense_groups = all_groups
        if cutoff > 5 and args.dense_groups_r8 < 230:
            step = 230 // args.dense_groups_r8
            dense_groups = all_groups[::step][: args.dense_groups_r8]
        r["dense"] = run("dense", cutoff, args.atoms, dense_groups, args.device, 1)
        if dense_groups != all_groups:  # scatter on the same groups for a fair ratio
            r["scatter-dense-subset"] = run("scatter", cutoff, args.atoms, dense_groups,
                                            args.device, args.repeats)
        r["naive"] = run("naive", cutoff, args.naive_atoms, all_groups, args.device, 1)
        r["scatter-naive-subset"] = run("scatter", cutoff, args.naive_atoms, all_groups,
                                        args.device, args.repeats)
        r["naive-cubic"] = run("naive", cutoff, args.naive_atoms, CUBIC, args.device, 1)
        r["scatter-cubic"] = run("scatter", cutoff, args.naive_atoms, CUBIC, args.device,
                                 args.repeats)
        report["runs"].extend(r.values())
        s = r["scatter"]["atoms_per_s"]
        dense_ref = r.get("scatter-dense-subset", r["scatter"])["atoms_per_s"]
        ratios = {
            "scatter_time_over_plain_time": r["plain"]["atoms_per_s"] / s,
            "orbit_output_time_over_plain_time": (
                r["plain"]["atoms_per_s"] / r["scatter-orbit"]["atoms_per_s"]
            ),
            "scatter_speedup_over_dense": dense_ref / r["dense"]["atoms_per_s"],
            "scatter_speedup_over_naive_all_groups": (
                r["scatter-naive-subset"]["atoms_per_s"] / r["naive"]["atoms_per_s"]
            ),
            "scatter_speedup_over_naive_cubic": (
                r["scatter-cubic"]["atoms_per_s"] / r["naive-cubic"]["atoms_per_s"]
            ),
        }
        report["ratios"][f"R={cutoff:g}"] = ratios
        targets = {
            "scatter_time_over_plain_time": ("<=", 2.5),
            "scatter_speedup_over_dense": (">=", 1.0 if cutoff <= 5 else 3.0),
            "scatter_speedup_over_naive_cubic": (">=", 50.0),
        }
        for name, value in ratios.items():
            target = targets.get(name)
            mark = ""
            if target:
                ok = value <= target[1] if target[0] == "<=" else value >= target[1]
                mark = f"  (target {target[0]} {target[1]:g}: {'met' if ok else 'MISSED'})"
            print(f"  {name:40s} {value:8.2f}{mark}", flush=True)
    if args.device == "cpu":
        print("R=5: small (training-sized) batches, routing strategies", flush=True)
        report["small_batches"] = small_batches(args.threads)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.device == "cpu" else f"_{args.device.split(':')[0]}"
    out = RESULTS / f"encoding{suffix}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
