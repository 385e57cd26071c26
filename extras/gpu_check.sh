#!/usr/bin/env bash
# The checks a CUDA machine is for, in one run: the benchmark's quick CUDA rows, then the whole test
# suite with CUDA visible (every script's --device auto picks the GPU). Logs and JSON go to $1.
# Usage: extras/gpu_check.sh OUT_DIR [BENCH_SECONDS] [TEST_SECONDS]
#
# What the GPU-throughput issue needs from a run (docs/performance.md, "On a GPU: what moves where"); the
# benchmark's CUDA modes cover the rows marked *, the others need a run prepared for them:
#   model alone, ViNet-S and ViNet at 224x384: fp32*, fp16*, bf16* (CC >= 0.999 vs fp32), channels_last_3d (the
#     PyTorch backend's default; --exact is the NCDHW baseline), torch.compile max-autotune, CUDA graphs*, batch
#     sizes 8* and 32*; targets ViNet-S >= 1000 windows/s, ViNet >= 600 on an H100/H200
#   end to end with frames resized and maps post-processed on the GPU (the engine's CUDA path now)*, against
#     extras/benchmark_cuda_h200.json (the CPU did them: ViNet-S fp32 batch 8, 103 frames/s); target >= 80% of
#     the model alone's pace on the same card
#   tests/test_gpu_processing.py on the GPU: the suite below runs it (its CUDA branch test takes CPU tensors)
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
