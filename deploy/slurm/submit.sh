#!/usr/bin/env bash
# Submits predict-array.sbatch as an array of TASKS tasks and, after all of them succeed, a merge job writing
# OUT_DIR/predictions.jsonl (the JSON lines of one `predict --json` over the same images, in the same order).
# Prints the two job ids.
#
#   deploy/slurm/submit.sh TASKS MODEL.zip OUT_DIR IMAGES_OR_FOLDERS...
set -euo pipefail
if [ $# -lt 4 ]; then echo "usage: $0 TASKS MODEL.zip OUT_DIR IMAGES_OR_FOLDERS..." >&2; exit 2; fi
tasks=$1 model=$2 out=$3
shift 3
here=$(dirname "$(readlink -f "$0")")
mkdir -p "$out"
array=$(sbatch --parsable --array=0-$((tasks - 1)) --output="$out/slurm-%A_%a.out" "$here/predict-array.sbatch" "$model" "$out" "$@")
files=()
for ((i = 0; i < tasks; i++)); do files+=("$out/predictions.$i.jsonl"); done
merge=$(sbatch --parsable --dependency="afterok:$array" --job-name=mlnet-classify-merge --output="$out/slurm-merge-%j.out" \
  --wrap "${MLNET_CLASSIFY:-mlnet-classify} predict --merge $(printf '%q ' "${files[@]}") --out $(printf '%q' "$out/predictions.jsonl")")
echo "array job $array ($tasks tasks), merge job $merge → $out/predictions.jsonl"
