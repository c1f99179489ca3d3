#!/usr/bin/env bash
# On the GPU host, one call per part: copies this part into /tmp/bundle and checks that every earlier part
# is still there (they vanish when the host is replaced between calls: then start again from part 1).
set -u
D=$(cd "$(dirname "$0")" && pwd); B=${BUNDLE_DIR:-/tmp/bundle}; I=$(cat "$D/INDEX"); N=$(cat "$D/COUNT")
[ "$I" = 1 ] && rm -rf "$B"; mkdir -p "$B"
cp -f "$D"/part.* "$B/"
head -n "$I" "$D/PARTS.sha256" > "$B/expected"
if (cd "$B" && sha256sum -c --quiet expected); then echo "parts 1..$I of $N present in $B"
else echo "parts missing or corrupt in $B: start again from part 1"; exit 10; fi
if [ "$I" = 1 ]; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"; fi
