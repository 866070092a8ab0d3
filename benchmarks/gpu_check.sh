#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one go (they skip or are absent on CPU-only machines):
# system metrics' GPU series, the Lightning logger fed CUDA tensors, and the Lightning overhead
# benchmark on the GPU. Usage, from the repository root: bash benchmarks/gpu_check.sh [OUT_DIR]
# Needs torch, lightning, pytest, psutil and nvidia-ml-py; runs runlog from src/.
set -uo pipefail
out=${1:-${OUT:-gpu_check_out}}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
$python -c "import sys, torch, lightning; print('python', sys.version.split()[0], 'torch', torch.__version__, 'lightning', lightning.__version__)" | tee -a "$out/gpu.txt"
timeout 200 $python -m pytest -q -p no:cacheprovider -rs tests/core/test_system_metrics.py tests/core/test_run_api.py \
  tests/integrations/test_lightning.py 2>&1 | tee "$out/tests.txt"
timeout 330 $python benchmarks/lightning_overhead.py --accelerator gpu --repeats 3 --skip-peers mlflow 2>&1 \
  | tee "$out/lightning_gpu.txt"
