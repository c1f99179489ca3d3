#!/usr/bin/env bash
# Builds the GPU flavour of the CLI and packs it, with the .NET runtime and ONNX Runtime's 284 MB CUDA provider,
# into part folders of at most 55 MiB, for a GPU host that has no .NET and receives files in parts.
# usage: tests/gpu/build-bundle.sh [OUT_DIR=.gpu]    (run from anywhere; OUT_DIR is relative to the repository)
# Then, on the host, one call per part: `bash .gpu/partK/stage.sh`; in the last call:
#   `bash .gpu/partN/stage.sh && bash .gpu/partN/run-all.sh` (or run-check.sh [gpu-check options] for gpu-check alone)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); HERE=$ROOT/tests/gpu
OUT=${1:-.gpu}; case "$OUT" in /*) ;; *) OUT=$ROOT/$OUT ;; esac
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

dotnet publish "$ROOT/src/MLNetClassify.Cli" -c Release -r linux-x64 --self-contained false \
  -p:OnnxRuntimeFlavor=Gpu -o "$W/pub" -v quiet
CUDA_SO=$(find "$W/pub" -name libonnxruntime_providers_cuda.so | head -1)
[ -f "$CUDA_SO" ] || { echo "no libonnxruntime_providers_cuda.so in the publish output" >&2; exit 2; }

DOTNET_DIR=$(dirname "$(readlink -f "$(command -v dotnet)")")
RTV=$(ls "$DOTNET_DIR/shared/Microsoft.NETCore.App" | sort -V | tail -1)
mkdir -p "$W/rt/dotnet/shared/Microsoft.NETCore.App" "$W/rt/dotnet/host" "$W/b"
cp -a "$DOTNET_DIR/dotnet" "$W/rt/dotnet/"; cp -a "$DOTNET_DIR/host/fxr" "$W/rt/dotnet/host/"
cp -a "$DOTNET_DIR/shared/Microsoft.NETCore.App/$RTV" "$W/rt/dotnet/shared/Microsoft.NETCore.App/"
tar -C "$W/rt" -cf - dotnet | xz -6 -T0 > "$W/b/dotnet-runtime.tar.xz"
(cd "$W/pub" && tar --exclude=libonnxruntime_providers_cuda.so -cf - .) | xz -6 -T0 > "$W/b/app.tar.xz"
xz -6 -T0 -c "$CUDA_SO" > "$W/b/providers_cuda.so.xz"
(cd "$W/b" && sha256sum *.xz > BUNDLE.sha256)
tar -C "$W/b" -cf "$W/bundle.tar" BUNDLE.sha256 dotnet-runtime.tar.xz app.tar.xz providers_cuda.so.xz
(cd "$W" && split -b 55M -d -a 2 bundle.tar part. && sha256sum part.* > PARTS.sha256)

rm -rf "$OUT"; mkdir -p "$OUT"
N=$(ls "$W"/part.* | wc -l); i=0
for p in $(cd "$W" && ls part.* | sort); do
  i=$((i+1)); d=$OUT/part$i; mkdir -p "$d"
  mv "$W/$p" "$d/"; cp "$W/PARTS.sha256" "$HERE/stage.sh" "$d/"; echo "$i" > "$d/INDEX"; echo "$N" > "$d/COUNT"
done
cp "$HERE/unpack-env.sh" "$HERE/run-check.sh" "$HERE/run-all.sh" "$HERE/predict-tf32.sh" "$OUT/part$N/"
du -b "$OUT"/part*/part.* | awk '{printf "%s %.1f MiB\n", $2, $1/1048576}'
echo "$N parts in $OUT"
