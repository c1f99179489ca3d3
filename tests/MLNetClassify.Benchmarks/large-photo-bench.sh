#!/usr/bin/env bash
# The large-photo benchmark: 60 phone-sized photos (shared flowers-200 images upscaled to 4032×3024, JPEG quality 90),
# then `mlnet-classify bench` on them: ours and ML.NET's path, each in its own process, ratios from one run.
# Usage: tests/MLNetClassify.Benchmarks/large-photo-bench.sh [SHARED_DATA_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data}
work=${2:-$(mktemp -d)/large-photos}
dotnet run -c Release --project tests/MLNetClassify.Benchmarks -- largephotos "$data/flowers-200" "$work" 12
dotnet run -c Release --project src/MLNetClassify.Cli -- bench --data "$work" --limit 60 --json
