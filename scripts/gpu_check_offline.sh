#!/usr/bin/env bash
# The GPU check for a machine WITHOUT registry access that has python3.12 with torch (CUDA),
# transformers, peft, accelerate and sentence-transformers: no vLLM there (it cannot be
# installed), so it checks what runs without it. driftlab comes from this checkout
# (PYTHONPATH), the rest from a folder of carried wheels (scripts/gpu_offline_wheels.sh makes
# it, ~61 MiB), the model from a carried folder. It prints
#   1. transformers sampling tokens/s on CUDA vs CPU, same prompts and settings;
#   2. a 1-round quickstart (LMSI + TRL LoRA training) on the GPU, and its round table.
# Usage: scripts/gpu_check_offline.sh WHEELS_DIR MODEL_DIR        (~3-5 min on one GPU)
# Smaller: PROMPTS=8 EVAL_SIZE=8 TRAIN_SIZE=8 scripts/gpu_check_offline.sh ...  (DEVICE=cpu: a dry run)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=$(realpath "${1:?usage: gpu_check_offline.sh WHEELS_DIR MODEL_DIR}")
MODEL=$(realpath "${2:?usage: gpu_check_offline.sh WHEELS_DIR MODEL_DIR}")
PY=${PYTHON:-$(command -v python3.12 || command -v python3)}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-runs/gpu-offline}
VENV=${VENV:-.venv-gpu}
[ -f "$MODEL/config.json" ] || { echo "$MODEL holds no model (no config.json)"; exit 2; }
t0=$(date +%s)
stamp() { echo "== $1 ($(( $(date +%s) - t0 )) s)"; }

# a venv over the machine's packages: torch, transformers, peft... stay as they are
if [ ! -x "$VENV/bin/python" ]; then
  if "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
    # the machine's python is itself a venv (its torch lives there, not in the base's
    # site-packages), which a nested --system-site-packages venv would not see: use it as is
    mkdir -p "$VENV/bin"
    printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v "$PY")" > "$VENV/bin/python"
    chmod +x "$VENV/bin/python"
  else
    "$PY" -m venv --system-site-packages "$VENV"
  fi
fi
missing=$("$VENV/bin/python" - "$WHEELS" <<'PYEOF'
import importlib.util, pathlib, sys
# import name -> wheel name prefix; only what the machine lacks is installed (no upgrades)
mods = {"trl": "trl", "datasets": "datasets", "pyarrow": "pyarrow", "pandas": "pandas",
        "dateutil": "python_dateutil", "tzdata": "tzdata", "dill": "dill",
        "multiprocess": "multiprocess", "xxhash": "xxhash", "requests": "requests",
        "urllib3": "urllib3", "charset_normalizer": "charset_normalizer", "typer": "typer",
        "annotated_doc": "annotated_doc", "colorama": "colorama", "rich": "rich",
        "markdown_it": "markdown_it_py", "mdurl": "mdurl", "pygments": "pygments",
        "pydantic": "pydantic-", "pydantic_core": "pydantic_core", "annotated_types": "annotated_types",
        "typing_inspection": "typing_inspection", "tomli_w": "tomli_w"}
wheels = sorted(pathlib.Path(sys.argv[1]).glob("*.whl"))
for mod, prefix in mods.items():
    if importlib.util.find_spec(mod) is None:
        hits = [w for w in wheels if w.name.startswith(prefix)]
        if not hits:
            sys.exit(f"{mod} is missing and {sys.argv[1]} has no {prefix}*.whl")
        print(hits[0])
PYEOF
)
[ -z "$missing" ] || "$VENV/bin/python" -m pip install -q --no-index --no-deps $missing
export PYTHONPATH=$PWD DRIFTLAB_QUIET=${DRIFTLAB_QUIET:-}
"$VENV/bin/python" -c "import torch, transformers, trl, peft; print('torch', torch.__version__, \
'cuda', torch.cuda.is_available(), '| transformers', transformers.__version__, '| trl', \
trl.__version__, '| peft', peft.__version__)"
"$VENV/bin/python" -c "import torch; import sys; sys.exit(0 if '$DEVICE' == 'cpu' or \
torch.cuda.is_available() else 'no CUDA device visible to torch')"
mkdir -p "$OUT"
stamp "environment ready"

for dev in "$DEVICE" cpu; do  # same prompts, settings and seeds on both devices
  batch=64; [ "$dev" = cpu ] || batch=256
  "$VENV/bin/python" benchmarks/server_throughput.py --skip-vllm --skip-llama --model "$MODEL" \
    --device "$dev" --prompts "${PROMPTS:-32}" --samples 4 --batch-size "$batch" --threads "$(nproc)" \
    2>&1 | tee "$OUT/throughput-$dev.log" | tail -2
  [ "$dev" = cpu ] && break
done
stamp "throughput done"

# the quickstart, 1 round, on the carried model folder; monitors that need no extra package
"$VENV/bin/python" - "$MODEL" "$DEVICE" "$OUT/quickstart.toml" <<'PYEOF'
import os, sys, tomllib
from importlib import resources
import tomli_w
from driftlab import presets
cfg = tomllib.loads(presets.read("run", "quickstart")[0])
cfg.update(name="quickstart-gpu-offline", rounds=1)
cfg["model"].update(name=sys.argv[1], device=sys.argv[2])
for key in ("train_size", "eval_size"):
    cfg["task"][key] = int(os.environ.get(key.upper(), cfg["task"][key]))
cfg["monitors"] = {"capability": cfg["monitors"]["capability"],  # diversity needs sacrebleu
                   "diversity": {"enabled": False}}          # and an embedding model package
open(sys.argv[3], "wb").write(tomli_w.dumps(cfg).encode())
PYEOF
rm -rf "$OUT/quickstart"
"$VENV/bin/python" -m driftlab run "$OUT/quickstart.toml" --out "$OUT/quickstart" 2>&1 \
  | tee "$OUT/quickstart.log" | tail -12
stamp "quickstart done"

echo; echo "== summary (logs in $OUT/)"
for f in "$OUT"/throughput-*.log; do grep "transformers" "$f" | tail -1; done
grep -B10 "^artifacts:" "$OUT/quickstart.log" || tail -10 "$OUT/quickstart.log"
