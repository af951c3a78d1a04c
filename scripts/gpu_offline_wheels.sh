#!/usr/bin/env bash
# Download (on a machine with PyPI) the wheels scripts/gpu_check_offline.sh installs on a GPU
# machine without registry access that already has python3.12, torch (CUDA), transformers,
# peft, accelerate and sentence-transformers: driftlab's other run-time dependencies for a
# quickstart round (TRL and datasets with pyarrow/pandas, Typer, rich, pydantic), CPython 3.12,
# manylinux x86_64. Usage: scripts/gpu_offline_wheels.sh [DIR]   (default gpu-wheels, ~61 MiB)
# datasets 4.7 and pyarrow 21 (TRL's minimums) rather than driftlab's pins (5.2, 26): pyarrow 26
# alone is 53 MiB, and the folder must fit in 64 MiB.
set -euo pipefail
DIR=${1:-gpu-wheels}
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
mkdir -p "$DIR"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$DIR" \
  trl==1.16.0 datasets==4.7.0 pyarrow==21.0.0 pandas==3.1.1 python-dateutil==4.0.0 tzdata==2026.6 \
  dill==0.4.0 multiprocess==0.70.18 xxhash==4.1.0 requests==2.32.5 urllib3==2.5.0 \
  charset-normalizer==3.4.3 \
  typer==0.29.1 annotated-doc==0.0.7 colorama==0.4.6 rich==15.0.0 markdown-it-py==4.3.0 \
  mdurl==0.1.2 pygments==2.21.0 pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 \
  typing-inspection==0.4.5 tomli-w==1.2.0
du -sh --apparent-size "$DIR"; ls "$DIR"
