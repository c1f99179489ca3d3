#!/usr/bin/env bash
# predict on CUDA against the CPU, with ORT's default TF32 and under NVIDIA_TF32_OVERRIDE=0 (on a classifier zip, predict runs
# the library's featurizer, TF32 off unless asked; before 2026-12-05 it ran ML.NET's own ONNX step, which takes ORT's default).
set -u
D=$(cd "$(dirname "$0")" && pwd)
source "$D/unpack-env.sh" > /dev/null 2>&1 || { echo "unpack failed"; exit 10; }
CLI=("$DOTNET_ROOT/dotnet" "$APP_DIR/mlnet-classify.dll")
R=${OUT:-/tmp/r}; mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$R/gpu.txt"
timeout 120 "${CLI[@]}" demo --dir /tmp/d --images-per-class 40 --json > "$R/demo.json" 2> "$R/demo.err"; echo "demo exit $?"
M=/tmp/d/logo-model.zip; I=/tmp/d/logo-vs-other
timeout 120 "${CLI[@]}" predict --model $M $I --top 2 --json > "$R/cpu.jsonl" 2> "$R/cpu.err"; echo "cpu exit $?"
timeout 120 "${CLI[@]}" predict --model $M $I --top 2 --device cuda --require-device --json > "$R/cuda.jsonl" 2> "$R/cuda.err"; echo "cuda exit $?"
NVIDIA_TF32_OVERRIDE=0 timeout 120 "${CLI[@]}" predict --model $M $I --top 2 --device cuda --require-device --json > "$R/cuda-notf32.jsonl" 2> "$R/cuda-notf32.err"; echo "cuda no-tf32 exit $?"
python3 - "$R" <<'PY'
import json, sys, os
r = sys.argv[1]
def load(n):
    out = {}
    for line in open(os.path.join(r, n)):
        line = line.strip()
        if not line.startswith('{'): continue
        d = json.loads(line)
        if 'top' in d: out[d['path']] = {t['label']: t['score'] for t in d['top']}
    return out
cpu = load('cpu.jsonl')
for n in ['cuda.jsonl', 'cuda-notf32.jsonl']:
    other = load(n)
    diffs = [abs(cpu[p][l] - other[p][l]) for p in cpu if p in other for l in cpu[p]]
    flips = sum(1 for p in cpu if p in other and max(cpu[p], key=cpu[p].get) != max(other[p], key=other[p].get))
    print(f"{n}: {len(diffs)//2} images, max |dscore| {max(diffs):.3e}, mean {sum(diffs)/len(diffs):.3e}, top-1 changes {flips}")
PY
