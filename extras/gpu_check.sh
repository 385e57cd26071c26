#!/usr/bin/env bash
# The checks a CUDA machine is for, in one run: the benchmark's quick CUDA rows, then the whole test
# suite with CUDA visible (every script's --device auto picks the GPU). Logs and JSON go to $1.
# Usage: extras/gpu_check.sh OUT_DIR [BENCH_SECONDS] [TEST_SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?output folder}; bench_s=${2:-270}; test_s=${3:-240}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt" 2>&1
python -c "import torch, torchvision, av; print(torch.__version__, torchvision.__version__, av.__version__, torch.cuda.get_device_name())" >>"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
timeout "$bench_s" python benchmark.py --device cuda --quick --json "$out/benchmark_cuda.json" 2>&1 | tee "$out/benchmark.log" | grep -v "^ *[0-9]*%|" | tail -40
workers=$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))
timeout "$test_s" python -m pytest -q --no-header -p no:cacheprovider -n "$workers" tests 2>&1 | tee "$out/tests.log" | tail -40
