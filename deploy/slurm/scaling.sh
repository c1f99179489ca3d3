#!/usr/bin/env bash
# Measures predict as Slurm arrays of 1, 2, 4 ... tasks over the same images: wall time of the whole array (submit to
# last task done, polling every 0.2 s), images per second for the array and per task (each task's own figure, model
# loading excluded), and checks each merge equals the first. Prints a Markdown table.
#
#   deploy/slurm/scaling.sh MODEL.zip IMAGES_DIR [TASKS...]      (default TASKS: 1 2 4)
# MLNET_CLASSIFY as in predict-array.sbatch.
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: $0 MODEL.zip IMAGES_DIR [TASKS...]" >&2; exit 2; fi
model=$(readlink -f "$1") images=$(readlink -f "$2")
shift 2
counts=("${@:-1}")
[ $# -gt 0 ] || counts=(1 2 4)
here=$(dirname "$(readlink -f "$0")")
cli=${MLNET_CLASSIFY:-mlnet-classify}
work=$(mktemp -d)
trap '[ $? = 0 ] && rm -rf "$work"' EXIT
echo "| tasks | images | array wall s | array img/s | per-task img/s (mean) |"
echo "|---|---|---|---|---|"
first=""
for n in "${counts[@]}"; do
  out="$work/$n"
  mkdir -p "$out"
  start=$(date +%s.%N)
  job=$(sbatch --parsable --array=0-$((n - 1)) --output="$out/slurm-%A_%a.out" "$here/predict-array.sbatch" "$model" "$out" "$images")
  while squeue -h -j "$job" 2>/dev/null | grep -q .; do sleep 0.2; done
  end=$(date +%s.%N)
  files=()
  for ((i = 0; i < n; i++)); do files+=("$out/predictions.$i.jsonl"); done
  # shellcheck disable=SC2086
  $cli predict --merge "${files[@]}" --out "$out/merged.jsonl" 2>/dev/null || { echo "error: merge of $n tasks failed; see $out" >&2; cat "$out"/slurm-*.out >&2; exit 1; }
  if [ -z "$first" ]; then first="$out/merged.jsonl"; else cmp -s "$first" "$out/merged.jsonl" || { echo "error: merge of $n tasks differs" >&2; exit 1; }; fi
  count=$(wc -l <"$out/merged.jsonl")
  per_task=$(grep -h '^{' "$out"/slurm-*.out | sed 's/.*"images_per_s":\([0-9.]*\).*/\1/' | awk '{s += $1} END {printf "%.1f", s / NR}')
  awk -v n="$n" -v c="$count" -v s="$start" -v e="$end" -v t="$per_task" 'BEGIN {printf "| %d | %d | %.1f | %.1f | %s |\n", n, c, e - s, c / (e - s), t}'
done
