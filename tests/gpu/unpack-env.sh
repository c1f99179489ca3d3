#!/usr/bin/env bash
# Sourced by run-check.sh after the last stage.sh: reassembles /tmp/bundle into /tmp/app-bundle and exports
# DOTNET_ROOT, APP_DIR and an LD_LIBRARY_PATH holding the host's CUDA 13 and cuDNN 9 libraries.
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); B=${BUNDLE_DIR:-/tmp/bundle}; P=${APP_BUNDLE:-/tmp/app-bundle}
(cd "$B" && sha256sum -c --quiet "$D/PARTS.sha256") || { echo "parts missing: start again from part 1"; return 10; }
rm -rf "$P"; mkdir -p "$P/app"
cat $(awk -v b="$B" '{print b"/"$2}' "$D/PARTS.sha256") | tar -x -C "$P" || return 11
(cd "$P" && sha256sum -c --quiet BUNDLE.sha256) || { echo "bundle corrupt"; return 12; }
xz -dc "$P/dotnet-runtime.tar.xz" | tar -x -C "$P"
xz -dc "$P/app.tar.xz" | tar -x -C "$P/app"
NATIVE=$(dirname "$(find "$P/app" -name libonnxruntime.so | head -1)")
xz -dc "$P/providers_cuda.so.xz" > "$NATIVE/libonnxruntime_providers_cuda.so"
rm -f "$P"/*.xz
NV=${CUDA_PY_SITE:-/opt/torch/.venv/lib/python3.12/site-packages}/nvidia
LIBDIRS=$(find "$NV" \( -name 'libcudart.so.13*' -o -name 'libcublas.so.13*' -o -name 'libcublasLt.so.13*' \
  -o -name 'libcurand.so.10*' -o -name 'libcudnn.so.9*' -o -name 'libnvrtc.so.13*' \) 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd: -)
export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:/usr/local/nvidia/lib64"
export DOTNET_ROOT="$P/dotnet" APP_DIR="$P/app" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "DOTNET_ROOT=$DOTNET_ROOT APP_DIR=$APP_DIR"
ldd "$NATIVE/libonnxruntime_providers_cuda.so" | grep -E 'not found' && echo "some CUDA libraries were not found (above)"
return 0
