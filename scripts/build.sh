#!/usr/bin/env bash
# scripts/build.sh - configure and build gridgate into build/ (or $GG_BUILD_DIR).
#   scripts/build.sh [--sanitize]   --sanitize: ASan+UBSan build in build-asan/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${GG_BUILD_DIR:-$root/build}
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  dir=$root/build-asan
  extra=(-DGG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "build: $dir/gridgate"
