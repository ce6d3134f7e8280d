#!/usr/bin/env bash
# scripts/bench/channel_bench.sh [N] - build scripts/bench/channel_bench.c against
# the build/ tree's libgridgate_core.a and run it (default N = 1000000 facts).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${GG_BUILD_DIR:-$root/build}
[ -f "$build/libgridgate_core.a" ] || bash "$root/scripts/build.sh" >/dev/null
out=$build/channel_bench
cc -O2 -std=c11 -Wall -Wextra -I"$root/gateway/src" -o "$out" "$root/scripts/bench/channel_bench.c" \
   "$build/libgridgate_core.a" \
   $(pkg-config --libs lua5.4 jansson libcurl opencc sqlite3 libpq odbc inih libseccomp) -lm
"$out" "${1:-1000000}"
