#!/usr/bin/env bash
# The one device check: GPU facts, CUDA compile tests, GPU tests (in parallel workers where
# pytest-xdist exists: most of their time is nvcc), then the GPU bench.
# Usage (repository root): .ci/gpu_check.sh [out_dir]   (env MXC_SHARED: the shared data)
# Env: MXC_GPU_BENCH (workloads, default tutorial,mlp,lenet), MXC_GPU_TEST_S / MXC_GPU_BENCH_S
# (time limits in seconds, default 165 / 105), MXC_GPU_WORKERS (default 12).
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:-${OUT:-/tmp/mxc-gpu-check}}"
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export MXC_CACHE_DIR="${MXC_CACHE_DIR:-$(mktemp -d)}"
PY="${PYTHON:-python3}"
# the package as installed by `pip install -e .`, or straight from this checkout
if ! "$PY" -c "import mxc.compiler" 2>/dev/null; then
  rm -rf /tmp/mxc-path && mkdir -p /tmp/mxc-path
  cp -r runtime /tmp/mxc-path/mxc
  cp -r compiler /tmp/mxc-path/mxc/compiler
  cp -r templates /tmp/mxc-path/mxc/compiler/templates
  export PYTHONPATH="/tmp/mxc-path${PYTHONPATH:+:$PYTHONPATH}"
fi
{
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
  nvcc --version | tail -1
  "$PY" -c "import numpy, cffi, jinja2, mxc.compiler; print('numpy', numpy.__version__, 'cffi', cffi.__version__, 'jinja2', jinja2.__version__)"
} 2>&1 | tee "$OUTDIR/env.txt"
PAR=()
if "$PY" -c "import xdist" 2>/dev/null; then PAR=(-n "${MXC_GPU_WORKERS:-12}"); fi
timeout "${MXC_GPU_TEST_S:-165}" "$PY" -m pytest -q -rs "${PAR[@]}" -p no:cacheprovider \
  tests/compiler/test_cuda.py tests/gpu tests/runtime/test_executor_cuda.py 2>&1 \
  | tee "$OUTDIR/tests.txt"
rc=${PIPESTATUS[0]}
timeout "${MXC_GPU_BENCH_S:-105}" "$PY" tests/gpu/bench_gpu.py \
  --workloads "${MXC_GPU_BENCH:-tutorial,mlp,lenet}" 2>&1 | tee "$OUTDIR/bench.txt"
echo "gpu_check: tests exit code $rc"
exit $rc
