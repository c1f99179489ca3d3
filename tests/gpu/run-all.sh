#!/usr/bin/env bash
# Last call on the GPU host, after the last stage.sh: every GPU measurement in one go, in about 4 minutes on an H200
# host with 16 cores before the fine-tuning steps (added 2026-12-05; not yet run on a GPU, each step has its timeout). Writes three files to $OUT (or /tmp/gpu-results): log.txt (everything printed),
# results.jsonl (each step's JSON line, named) and summary.md (the tables, printed last).
#   1. gpu-check: CPU vs CUDA features with TF32 off and on; JPEG → features img/s and per-stage times per batch size
#   2. train on the generated images: CUDA, CPU, CUDA with --tf32, CUDA again, the last three through one feature
#      cache (TF32 features must not be read back as float32 ones; CPU ones are)
#   3. gpu-check again under NVIDIA_TF32_OVERRIDE=0 (whether the libraries' switch also turns TF32 off in ONNX Runtime)
#   4. train --fine-tune on the generated images with --device cuda, then on the CPU: time and test accuracy of each
# usage: run-all.sh [IMAGES=4000] [BATCHES="1 16 64 256"]
set -u
D=$(cd "$(dirname "$0")" && pwd)
IMAGES=${1:-4000}; BATCHES=${2:-1 16 64 256}
R=${OUT:-/tmp/gpu-results}; mkdir -p "$R"
LOG=$R/log.txt; JSONL=$R/results.jsonl; SUMMARY=$R/summary.md
: > "$LOG"; : > "$JSONL"; : > "$SUMMARY"
say() { echo "$*" | tee -a "$LOG" >> "$SUMMARY"; }

{
  date -u +"%Y-%m-%d %H:%M UTC"; uname -srm
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || echo "no nvidia-smi"
  echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"; free -g | head -2
} 2>&1 | tee -a "$LOG" >> "$SUMMARY"
source "$D/unpack-env.sh" >> "$LOG" 2>&1 || { tail -20 "$LOG"; exit 10; }
CLI=("$DOTNET_ROOT/dotnet" "$APP_DIR/mlnet-classify.dll")
DATA=/tmp/mlnc-gpu-check; CACHE=/tmp/mlnc-gpu-cache; rm -rf "$CACHE"

# step NAME LIMIT_S ARGS...: runs the CLI with --json, logs stderr, keeps the JSON line.
step() {
  local name=$1 limit=$2; shift 2
  echo "== $name: mlnet-classify $*" | tee -a "$LOG"
  local start=$SECONDS
  timeout "$limit" "${CLI[@]}" "$@" --json > "$R/.out" 2>> "$LOG"
  local rc=$?
  echo "{\"step\":\"$name\",\"rc\":$rc,\"wall_s\":$((SECONDS - start)),\"result\":$(tail -n 1 "$R/.out" | grep '^{' || echo null)}" >> "$JSONL"
  say "- $name: exit $rc, $((SECONDS - start)) s"
}

# shellcheck disable=SC2086
step gpu-check 240 gpu-check --images "$IMAGES" --batch $BATCHES --dir "$DATA"
grep -E '^\||^CPU vs|^TF32 off' "$LOG" >> "$SUMMARY"
step train-cuda 90 train --data "$DATA" --model /tmp/m-cuda.zip --device cuda --require-device --no-cache
step train-cpu 150 train --data "$DATA" --model /tmp/m-cpu.zip --device cpu --cache "$CACHE"
step train-cuda-tf32 90 train --data "$DATA" --model /tmp/m-tf32.zip --device cuda --require-device --tf32 --cache "$CACHE"
step train-cuda-cached 90 train --data "$DATA" --model /tmp/m-cached.zip --device cuda --require-device --cache "$CACHE"
ls "$CACHE" >> "$SUMMARY"
NVIDIA_TF32_OVERRIDE=0 step gpu-check-override 90 gpu-check --images 512 --batch 64 --dir "$DATA-override"
grep -E '^CPU vs' "$LOG" | tail -2 | sed 's/^/override: /' >> "$SUMMARY"
step fine-tune-cuda 300 train --data "$DATA" --model /tmp/m-tuned-cuda.zip --fine-tune --device cuda --require-device --cache "$CACHE"
step fine-tune-cpu 600 train --data "$DATA" --model /tmp/m-tuned-cpu.zip --fine-tune --device cpu --cache "$CACHE"
grep '"step":"fine-tune' "$JSONL" | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line); r = d["result"] or {}
    print("%s: exit %s, %s s, test accuracy %s, log-loss %s, kept epoch %s" % (d["step"], d["rc"], d["wall_s"], r.get("accuracy"), r.get("log_loss"), r.get("best_epoch")))
' >> "$SUMMARY"
rm -f "$R/.out"
echo "---- summary"; cat "$SUMMARY"
echo "---- results"; cat "$JSONL"
