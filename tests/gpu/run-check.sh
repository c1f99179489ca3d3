#!/usr/bin/env bash
# Last call on the GPU host, after the last stage.sh: unpack, then run `mlnet-classify gpu-check`
# (CPU/CUDA agreement, then JPEG → features images/s at batch 1, 16, 64). Extra arguments go to gpu-check.
# Output is copied to $OUT/gpu-check.txt when $OUT is set.
set -u
D=$(cd "$(dirname "$0")" && pwd)
source "$D/unpack-env.sh" || exit $?
"$DOTNET_ROOT/dotnet" "$APP_DIR/mlnet-classify.dll" gpu-check --json "$@" 2>&1 | tee "${OUT:-/tmp}/gpu-check.txt"
exit "${PIPESTATUS[0]}"
