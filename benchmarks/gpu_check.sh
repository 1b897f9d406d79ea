#!/usr/bin/env bash
# GPU check, one script, under 5 minutes on one GPU: the CUDA tests, the encoding benchmark
# (both routings against plain features and dense routing, batches of 64 to 20,000 crystals'
# atoms) and the training benchmark; everything lands in benchmarks/results/gpu.json.
# Run from anywhere on a machine with CUDA and the package installed:
#     bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible')"
log=$(mktemp)
set +e
python -m pytest -q -m cuda -p no:cacheprovider 2>&1 | tee "$log"
set -e
python benchmarks/bench_training.py --device cuda --crystals 1024 --rounds 2 \
    --out benchmarks/results/gpu_training.json
python benchmarks/bench_gpu.py --device cuda --tests-log "$log" \
    --training-json benchmarks/results/gpu_training.json --out benchmarks/results/gpu.json
