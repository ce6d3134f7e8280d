#!/usr/bin/env bash
# scripts/test.sh - the test command: install what is missing, build, run every
# test (unit, integration against real PostgreSQL/ODBC/HTTP servers, fault
# tests, the end-to-end demo city) with ctest, then the fuzzing step: the
# libFuzzer targets of tests/fuzz/ built with clang in build-fuzz/ under
# ASan+UBSan, each seed corpus replayed and each target fuzzed for
# GG_FUZZ_SECONDS (20) seconds; a finding fails the run and prints its reproducer.
#   scripts/test.sh [--sanitize]   also build with ASan/UBSan and run the whole suite again
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
  # The whole suite, the sanitized gridgate included. ASan keeps freed memory in
  # a quarantine (256 MiB by default) that a worker's memory cap (RLIMIT_DATA,
  # memory_mb) cannot tell from the adapter's own: keep it small so the caps
  # measure what they do in the release build.
  GG_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=8 ctest --output-on-failure -j2 --timeout 900
fi
