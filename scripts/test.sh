#!/usr/bin/env bash
# scripts/test.sh - the test command: install what is missing, build, run every
# test (unit, integration against real PostgreSQL/ODBC/HTTP servers, fault
# tests, the end-to-end demo city) with ctest, then the fuzzing step: the
# libFuzzer targets of tests/fuzz/ built with clang in build-fuzz/ under
# ASan+UBSan, each seed corpus replayed and each target fuzzed for
# GG_FUZZ_SECONDS (20) seconds; a finding fails the run and prints its reproducer.
#   scripts/test.sh [--sanitize]   also build and run the unit tests under ASan/UBSan
#   GG_FUZZ_SECONDS=0 skips the fuzzing step
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j2 --timeout 900
if [ "${GG_FUZZ_SECONDS:-20}" != 0 ]; then
  bash "$root/tests/fuzz/run.sh"
fi
if [ "${1:-}" = "--sanitize" ]; then
  bash "$root/scripts/build.sh" --sanitize
  cd "$root/build-asan"
  ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 -R '^unit\.'
fi
