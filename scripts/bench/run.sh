#!/usr/bin/env bash
# scripts/bench/run.sh - end-to-end benchmark of one gridgate cycle on scaled
# demo cities; writes the figures to BENCHMARKS.md (scripts/bench/report.py).
#
#   run.sh [--residents N]... [--repeat R] [--perf N] [--no-perf] [--timeout S] [--keep]
#          [--gridgate PATH] [--results DIR] [--no-report]
#
# For each size N (default 100000): generate the city (gen_scale.py), start
# PostgreSQL (scripts/pg-cluster.sh) and the PSB service (psb_server.py) on random
# free ports, load the tables, then measure
#   (a) the floor: COPY (SELECT <the adapters' columns> FROM t) TO STDOUT for
#       yl_ffmx, wg_jmxx and sb_jfjs, summed (median of 3), plus the same with the
#       adapters' own ORDER BY;
#   (b) gridgate -c conf/demo.ini run --once --no-push from an empty state store:
#       wall time and peak RSS (/usr/bin/time -v);
#   (c) a second cycle on the same state store (steady state);
#   (d) the per-stream timings from gridgate's "stream X (...)" log lines,
# and checks the alerts found against what gen_scale.py planted.
# --repeat R runs (b) R times (each from an empty store) and then (c) R times
# (default: 3 up to 300k residents, else 1); the 1-minute load average before
# each run is kept, since other work on the machine skews wall times.
# --perf N profiles a further fresh-state cycle of size N with perf record
# --call-graph dwarf (default: the smallest size; --no-perf to skip) and
# breaks it down by pipeline stage (perf_breakdown.py).
# Everything started here is stopped, and the temporary directory removed, on
# exit (trap); --keep keeps the directory. Benchmarks are not part of ctest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

sizes=()
perf_size=
use_perf=1
timeout_s=1800
repeat=auto
keep=
gg=
results=
report=1
while [ $# -gt 0 ]; do
  case "$1" in
  --residents) sizes+=("${2:?--residents needs N}"); shift 2 ;;
  --perf) perf_size=${2:?--perf needs N}; shift 2 ;;
  --no-perf) use_perf=; shift ;;
  --repeat) repeat=${2:?--repeat needs a count}; shift 2 ;;
  --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
  --keep) keep=1; shift ;;
  --gridgate) gg=${2:?--gridgate needs a path}; shift 2 ;;
  --results) results=${2:?--results needs a directory}; shift 2 ;;
  --no-report) report=; shift ;;
  -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(100000)
for n in "${sizes[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "run.sh: --residents $n is not a number" >&2; exit 2; }
done
[[ "$repeat" = auto || "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --repeat $repeat is not a count" >&2; exit 2; }
if [ -n "$use_perf" ] && [ -z "$perf_size" ]; then
  perf_size=$(printf '%s\n' "${sizes[@]}" | sort -n | head -n 1)
fi

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- tools
if [ ! -x /usr/bin/time ]; then
  log "installing GNU time (/usr/bin/time) for peak RSS"
  apt-get install -y -q time >/dev/null || die "could not install the package 'time'"
fi
# Debian's python3 (a version manager's shim in PATH can add seconds per call).
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
# psql itself, not Debian's pg_wrapper (a Perl script that adds ~0.1 s per call).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
psql_bin=$pgbin/psql
[ -x "$psql_bin" ] || psql_bin=$(command -v psql) || die "psql not found (run scripts/deps.sh)"
if [ -n "$use_perf" ] && ! perf record -q -o /dev/null -- true >/dev/null 2>&1; then
  log "perf does not work here; profiling skipped"
  use_perf=
fi

if [ -z "$gg" ]; then
  bdir=${GG_BENCH_BUILD_DIR:-$root/build-bench}
  log "building gridgate (RelWithDebInfo) in $bdir"
  GG_BUILD_DIR=$bdir bash "$root/scripts/build.sh" >/dev/null || die "build failed"
  gg=$bdir/gridgate
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$bdir/CMakeCache.txt")
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$root" diff --quiet HEAD -- gateway 2>/dev/null || commit="$commit + uncommitted changes in gateway/"
  build_type="$build_type, commit $commit"
else
  build_type="given (--gridgate $gg)"
fi
[ -x "$gg" ] || die "no gridgate binary at $gg"
conf=$root/conf/demo.ini

results=${results:-$root/build-bench/results}
mkdir -p "$results"
results=$(cd "$results" && pwd)

# ---------------------------------------------------------------- per-size setup/teardown
work=
psb_pid=
cleanup() {
  if [ -n "$psb_pid" ] && kill -0 "$psb_pid" 2>/dev/null; then
    kill "$psb_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$psb_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  psb_pid=
  if [ -n "$work" ]; then
    [ -d "$work/pg" ] && bash "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
    if [ -n "$keep" ]; then log "kept $work"; else rm -rf "$work"; fi
  fi
  work=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a + b }'; }

# the columns each adapter selects (adapters/hr_pension.lua, adapters/grid.lua)
declare -A floor_cols=(
  [yl_ffmx]="lsh, sfzhm, xm, ffny, ffje, ffrq"
  [wg_jmxx]="jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz"
  [sb_jfjs]="lsh, sfzhm, xm, jfny, jfjs, dwmc"
)
declare -A floor_db=([yl_ffmx]=hr [wg_jmxx]=grid [sb_jfjs]=hr)
declare -A floor_order=([yl_ffmx]=lsh [wg_jmxx]=jmbh [sb_jfjs]=lsh)

# One COPY ... TO STDOUT read of a table into /dev/null; prints its seconds.
copy_read() {  # table ordered(0/1)
  local t=$1 q="SELECT ${floor_cols[$1]} FROM $1" t0 t1
  [ "$2" = 1 ] && q="$q ORDER BY ${floor_order[$1]}"
  t0=$(now)
  "${psql[@]}" -d "${floor_db[$t]}" -c "COPY ($q) TO STDOUT" >/dev/null || die "COPY from $t failed"
  t1=$(now)
  elapsed "$t0" "$t1"
}

# Sum of the three tables' read times, median of 3 rounds.
floor_sum() {  # ordered(0/1)
  local sums=() r t s x
  for r in 1 2 3; do
    s=0
    for t in yl_ffmx wg_jmxx sb_jfjs; do
      x=$(copy_read "$t" "$1") || exit 1
      s=$(add "$s" "$x")
    done
    sums+=("$s")
  done
  printf '%s\n' "${sums[@]}" | sort -n | sed -n 2p
}

# Per-table read times of one round (for the table), as JSON.
floor_tables() {
  local out="{" sep="" t
  for t in yl_ffmx wg_jmxx sb_jfjs; do
    out="$out$sep\"$t\": $(copy_read "$t" 0)"
    sep=", "
  done
  echo "$out}"
}

# One gridgate cycle under /usr/bin/time -v; files $work/$1.{log,out,time,rc,wall}.
cycle() {  # name [perf]
  local name=$1 t0 t1 rc=0
  local cmd=("$gg" -c "$conf" run --once --no-push)
  if [ "${2:-}" = perf ]; then
    cmd=(perf record -q -F 199 --call-graph "dwarf,16384" -o "$work/perf.data" -- "${cmd[@]}")
  fi
  cut -d' ' -f1 /proc/loadavg >"$work/$name.load"
  t0=$(now)
  timeout "$timeout_s" /usr/bin/time -v -o "$work/$name.time" "${cmd[@]}" >"$work/$name.out" 2>"$work/$name.log" || rc=$?
  t1=$(now)
  echo "$rc" >"$work/$name.rc"
  elapsed "$t0" "$t1" >"$work/$name.wall"
  log "  $name: exit $rc, $(cat "$work/$name.wall") s, $(tail -n 1 "$work/$name.out" 2>/dev/null)"
  if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    log "  $name failed; last log lines:"; tail -n 15 "$work/$name.log" >&2
  fi
}

fresh_state() {
  rm -f "$GG_DEMO_DIR/state.db" "$GG_DEMO_DIR/state.db-wal" "$GG_DEMO_DIR/state.db-shm"
}

# ---------------------------------------------------------------- the sizes
for n in "${sizes[@]}"; do
  work=$(mktemp -d /tmp/gg-bench.XXXXXX)
  chmod 755 "$work"    # the PostgreSQL server runs as gridgate-pg when we are root
  log "== $n residents (work dir $work)"

  t0=$(now)
  "$py" "$here/gen_scale.py" --residents "$n" --out "$work/city" >&2 || die "gen_scale.py failed"
  gen_s=$(elapsed "$t0" "$(now)")

  pg_port=$(free_port)
  psb_port=$(free_port)
  while [ "$psb_port" = "$pg_port" ]; do psb_port=$(free_port); done
  bash "$root/scripts/pg-cluster.sh" start "$work/pg" "$pg_port" >&2 || die "PostgreSQL did not start"
  export PGOPTIONS="-c client_min_messages=warning"
  psql=("$psql_bin" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1)

  t0=$(now)
  for db in hr grid; do
    "${psql[@]}" -d postgres -c "CREATE DATABASE $db" || die "CREATE DATABASE $db failed"
    "${psql[@]}" -d "$db" -f "$work/city/${db}_schema.sql" >/dev/null || die "schema of $db failed"
  done
  while read -r db table cols; do
    "${psql[@]}" -d "$db" -c "COPY $table ($cols) FROM STDIN" <"$work/city/$table.tsv" \
      || die "loading $table failed"
  done <"$work/city/copy.list"
  "${psql[@]}" -d hr -f "$work/city/hr_index.sql" || die "indexes failed"
  for db in hr grid; do "${psql[@]}" -d "$db" -c "VACUUM ANALYZE" || die "VACUUM of $db failed"; done
  load_s=$(elapsed "$t0" "$(now)")
  log "  generated in $gen_s s, loaded in $load_s s"

  "$py" "$root/scripts/demo/psb_server.py" --data "$work/city/psb.json" --token-file "$work/city/psb.token" \
    --port "$psb_port" --notices "$work/psb_notices.json" >"$work/psb.log" 2>&1 </dev/null &
  psb_pid=$!
  ok=
  for _ in $(seq 100); do
    kill -0 "$psb_pid" 2>/dev/null || { tail -n 20 "$work/psb.log" >&2; die "psb_server exited"; }
    if curl -fsS -o /dev/null "http://127.0.0.1:$psb_port/health" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || die "psb_server did not answer within 10 s"

  export GG_DEMO_DIR=$work/city GG_PG_PORT=$pg_port GG_PSB_PORT=$psb_port

  log "  floor (COPY TO STDOUT, median of 3)"
  copy_read yl_ffmx 0 >/dev/null   # warm the page cache once
  copy_read wg_jmxx 0 >/dev/null
  copy_read sb_jfjs 0 >/dev/null
  conn_s=$(for _ in 1 2 3; do t0=$(now); "${psql[@]}" -d hr -Atc 'SELECT 1' >/dev/null; elapsed "$t0" "$(now)"; done \
           | sort -n | sed -n 2p)
  floor=$(floor_sum 0)
  floor_ordered=$(floor_sum 1)
  floor_by_table=$(floor_tables)
  log "  floor $floor s (with the adapters' ORDER BY: $floor_ordered s; psql start + connect $conn_s s per table)"

  r=$repeat
  [ "$r" = auto ] && { if [ "$n" -le 300000 ]; then r=3; else r=1; fi; }
  cycles=()
  for i in $(seq "$r"); do
    fresh_state
    cycle "cold$i"
    cycles+=("cold$i")
  done
  alerts_json=$("$gg" -c "$conf" alerts export 2>/dev/null | "$py" -c '
import collections, json, sys
c = collections.Counter(json.loads(l)["rule"] for l in sys.stdin if l.strip())
print(json.dumps(dict(sorted(c.items()))))') || alerts_json='{}'
  state_bytes=$(stat -c %s "$GG_DEMO_DIR/state.db" 2>/dev/null || echo 0)
  for i in $(seq "$r"); do
    cycle "steady$i"
    cycles+=("steady$i")
  done

  profiled=
  if [ -n "$use_perf" ] && [ "$n" = "$perf_size" ]; then
    log "  profiling a fresh-state cycle with perf (DWARF call graphs)"
    fresh_state
    cycle perf perf
    if [ -f "$work/perf.data" ]; then
      perf script -i "$work/perf.data" -F ip,sym 2>/dev/null >"$work/perf.script" || true
      "$py" "$here/perf_breakdown.py" "$work/perf.script" >"$results/perf-$n.txt" || log "  perf_breakdown.py failed"
      perf report -i "$work/perf.data" --stdio --no-children --sort dso --percent-limit 0.5 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -n 15 >"$results/perf-$n-dso.txt" || true
      rm -f "$work/perf.data" "$work/perf.script"
      profiled=1
    fi
  fi

  for c in "${cycles[@]}" perf; do
    [ -f "$work/$c.log" ] && cp "$work/$c.log" "$results/cycle-$n-$c.log"
  done
  "$py" "$here/collect.py" --work "$work" --residents "$n" --floor "$floor" --floor-ordered "$floor_ordered" --psql-connect "$conn_s" \
    --floor-tables "$floor_by_table" --gen-seconds "$gen_s" --load-seconds "$load_s" \
    --alerts "$alerts_json" --state-bytes "$state_bytes" --build-type "$build_type" \
    ${profiled:+--profiled} --cycles "${cycles[*]}" --out "$results/result-$n.json" || die "collect.py failed"
  log "  result: $results/result-$n.json"
  cleanup
done

if [ -n "$report" ]; then
  "$py" "$here/report.py" --results "$results" --out "$root/BENCHMARKS.md" || die "report.py failed"
  log "wrote $root/BENCHMARKS.md"
fi
