#!/usr/bin/env bash
# tests/fuzz/run.sh - the fuzzing step of the test command: builds the libFuzzer
# targets (tests/fuzz/fuzz_*.c) with clang under ASan+UBSan in build-fuzz/,
# replays each seed corpus (tests/fuzz/corpus/<name>/, findings included), then
# fuzzes each target for a short time (GG_FUZZ_SECONDS, default 20). New inputs
# go to a scratch corpus, never into the repository. A finding (crash, leak,
# sanitizer report, timeout) fails the run and prints the reproducer: its path,
# its bytes in base64 and the command that replays it; add it to the target's
# corpus directory (it is then replayed by ctest -R '^fuzz\.') and fix the bug.
#   tests/fuzz/run.sh [TARGET...]      default: every target
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${GG_FUZZ_BUILD_DIR:-$root/build-fuzz}
secs=${GG_FUZZ_SECONDS:-20}
command -v clang >/dev/null || { echo "fuzz: clang is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
cmake -S "$root" -B "$dir" -DCMAKE_C_COMPILER=clang -DGG_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
cmake --build "$dir" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gg-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for t in "${targets[@]}"; do
  bin=$dir/fuzz_$t
  seeds=$root/tests/fuzz/corpus/$t
  mkdir -p "$scratch/$t" "$scratch/findings"
  log=$scratch/$t.log
  # 1. the seeds and earlier findings replay clean; 2. a short fuzzing run
  if "$bin" -runs=0 "$seeds" >"$log" 2>&1 &&
     "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
       -artifact_prefix="$scratch/findings/$t-" "$scratch/$t" "$seeds" >>"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz $t: ok ($execs runs in ${secs}s)"
  else
    failed=$((failed + 1))
    echo "fuzz $t: FINDING" >&2
    grep -E 'ERROR|runtime error|SUMMARY|==[0-9]+==|#[0-9]+ 0x' "$log" | head -40 >&2 || tail -40 "$log" >&2
    for a in "$scratch"/findings/"$t"-*; do
      [ -e "$a" ] || continue
      keep=$dir/findings/$(basename "$a")
      mkdir -p "$dir/findings"
      cp "$a" "$keep"
      echo "reproducer: $keep ($(stat -c %s "$a") bytes), base64:" >&2
      base64 -w 76 "$a" | head -40 >&2
      echo "replay: $bin $keep   (then: cp $keep $seeds/ and fix)" >&2
    done
  fi
done
echo "fuzz: ${#targets[@]} targets, $failed with findings"
[ "$failed" -eq 0 ]
