#!/usr/bin/env bash
# scripts/test.sh - the test command: install what is missing, build, run every
# test (unit, integration against real PostgreSQL/ODBC/HTTP servers, fault
# tests, the end-to-end demo city) with ctest.
#   scripts/test.sh [--sanitize]   also build and run the unit tests under ASan/UBSan
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j2 --timeout 900
if [ "${1:-}" = "--sanitize" ]; then
  bash "$root/scripts/build.sh" --sanitize
  cd "$root/build-asan"
  ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 -R '^unit\.'
fi
