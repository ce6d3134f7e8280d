#!/usr/bin/env bash
# scripts/bench/run.sh - end-to-end benchmark of one gridgate cycle on scaled
# demo cities; writes the figures to BENCHMARKS.md (scripts/bench/report.py).
#
#   run.sh [--residents N]... [--repeat R] [--perf N] [--no-perf] [--timeout S] [--keep]
#          [--gridgate PATH] [--results DIR] [--no-report]
#
# For each size N (default 100000; 100k, 1M and 4M are the sizes the City scale
# issue names): generate the city (gen_scale.py), start PostgreSQL
# (scripts/pg-cluster.sh) and the PSB service (psb_server.py) on random free
# ports, load the tables, then measure
#   (a) the floor: reading every source the demo adapters read, serially, with
#       the adapters' columns and filters: COPY (SELECT ...) TO STDOUT of each
#       PostgreSQL table, the civil affairs SQLite queries through unixODBC's isql
#       (SQLite3 driver), every page of the PSB service with curl; each part and
#       the sum (median of 3 rounds), and the sum with the adapters' ORDER BY;
#   (b) full cycles, gridgate -c conf/demo.ini run --once, WITH push to the demo
#       sinks, each from an empty state store and emptied sinks: wall time, peak
#       RSS (/usr/bin/time -v), stage times (arrival times of the log lines);
#   (c) unchanged cycles on that store, and what each wrote: facts written in the
#       state store, alerts whose row changed, deliveries, sink rows before/after;
#       the full cycles run with --today the eve of conf/demo.ini's today, the
#       unchanged and incremental ones on that day: the next night;
#   (d) one full cycle with --no-push;
#   (e) rules 1 and 5 written as SQL over the same rows loaded into one
#       PostgreSQL database (rulesdb): timed, and compared with gridgate's alerts
#       on ids that need no normalization;
#   (f) incremental: copies of hr_pension.lua and grid.lua with incremental =
#       { column = "gxsj" } on their big streams (the tables get a gxsj
#       column) and of civil_affairs.lua with incremental = { column = "ffbh" }
#       on its two payment streams (append-only by that key), a full
#       cycle, 1% of the rows changed (benchlib: inc_change), a cycle, then a
#       full recomputation with conf/demo.ini from an empty store; the alerts
#       (id, amount, confidence) of both must be the same;
# and checks the alerts found against what gen_scale.py planted.
# --repeat R runs (b) and (c) R times (default: 3 up to 300k residents, else 1);
# the 1-minute load average before each run is kept, since other work on the
# machine skews wall times. --timeout S bounds every cycle and the generation
# (default 1800 s).
# --perf N profiles a further fresh-state cycle (no push) of size N with perf
# record --call-graph dwarf (default: the smallest size; --no-perf to skip) and
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
  -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
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
# The full cycles run on the eve of the configuration's today (run --today),
# the unchanged and incremental cycles on its day: the next night, as a
# deployment whose today is the clock runs them (in the same month, so the
# alerts are the same).
conf_today=$(sed -n 's/^today *= *//p' "$conf")
eve=$(date -u -d "$conf_today - 1 day" +%F 2>/dev/null) || die "conf/demo.ini has no today = YYYY-MM-DD"
[ "${eve%-*}" = "${conf_today%-*}" ] || die "the eve of today = $conf_today is in another month"

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

# ---------------------------------------------------------------- the floor
# Every source the demo adapters read (adapters/*.lua, conf/demo.ini), with the
# adapters' own columns and filters: name|database|query|ORDER BY column.
# (empty: the adapter reads the table unordered)
pg_parts=(
  "hr.yl_ffmx|hr|SELECT lsh, sfzhm, xm, ffny, ffje, ffrq FROM yl_ffmx|"
  "hr.sb_jfjs|hr|SELECT lsh, sfzhm, xm, jfny, jfjs, dwmc FROM sb_jfjs|"
  "grid.wg_jmxx|grid|SELECT jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz FROM wg_jmxx|"
  "grid.wg_sjsb|grid|SELECT sjbh, sfzhm, xm, csrq, fsrq FROM wg_sjsb WHERE sjlx = '死亡'|sjbh"
  "grid.wg_hcrw|grid|SELECT rwbh, hcjg, hcr, to_char(hcsj, 'YYYY-MM-DD HH24:MI:SS') AS hcsj FROM wg_hcrw WHERE hcjg IS NOT NULL|rwbh"
)
odbc_parts=(
  "civil.mz_jtcy|SELECT m.cybh, m.ajbh, a.jzlb, m.sfzhm, m.xm, m.yhzgx, m.nsrq, m.tcrq, m.qhdm FROM mz_jtcy m JOIN mz_dbaj a ON a.ajbh = m.ajbh"
  "civil.mz_jzff|SELECT f.ffbh, f.ajbh, a.jzlb, f.sfzhm, f.ffny, f.ffje FROM mz_jzff f JOIN mz_dbaj a ON a.ajbh = f.ajbh"
  "civil.mz_ajff|SELECT f.ffbh, f.ajbh, a.jzlb, f.ffny, f.ffje FROM mz_ajff f JOIN mz_dbaj a ON a.ajbh = f.ajbh"
  "civil.mz_hhdj|SELECT hhbh, sfzhm, xm, swrq FROM mz_hhdj"
)
http_parts=(deaths vehicles custody)
http_page_size=100     # adapters/public_security.lua: page = { size = 100 }

# One part read; prints "seconds rows" (a part that reads nothing at a size
# where it has data is a broken floor). SQL rows are counted by a pipe into
# wc/awk, HTTP items after the clock stops.
read_part() {  # kind spec ordered(0/1)
  local kind=$1 spec=$2 ordered=$3 name db q ord t0 t1 out=$work/part.out
  case "$kind" in
  pg)
    IFS='|' read -r name db q ord <<<"$spec"
    [ "$ordered" = 1 ] && [ -n "$ord" ] && q="$q ORDER BY $ord"
    t0=$(now)
    "${psql[@]}" -d "$db" -c "COPY ($q) TO STDOUT" | wc -l >"$out" || die "COPY of $name failed"
    t1=$(now) ;;
  odbc)
    IFS='|' read -r name q <<<"$spec"
    t0=$(now)
    echo "$q" | isql -b -k "Driver=SQLite3;Database=$GG_DEMO_DIR/civil.db" -d'|' 2>&1 \
      | awk '/^\[ISQL\]ERROR/ { print; err = 1 } END { if (!err) print NR }' >"$out" || die "isql read of $name failed"
    t1=$(now)
    grep -q '^\[ISQL\]ERROR' "$out" && die "isql read of $name failed: $(head -n 3 "$out")" ;;
  http)
    local total pages urls=() p
    total=$(curl -fsS -H "Authorization: Bearer $psb_token" "$psb_url/api/v1/$spec?page=1&size=1" \
            | "$py" -c 'import json,sys; print(json.load(sys.stdin)["data"]["total"])') || die "PSB $spec total"
    pages=$((total / http_page_size + 1))   # the adapter stops at the first short page
    for p in $(seq "$pages"); do urls+=("$psb_url/api/v1/$spec?page=$p&size=$http_page_size"); done
    t0=$(now)
    curl -fsS -H "Authorization: Bearer $psb_token" "${urls[@]}" >"$out" || die "curl of $spec failed"
    t1=$(now) ;;
  esac
  local rows   # pg, odbc: counted on the way (a pipe, not a file of the whole table); isql -b prints no header
  case "$kind" in
  pg|odbc) rows=$(cat "$out") ;;
  http) rows=$(grep -o '"hzbh"\|"xh"\|"jybh"' "$out" | wc -l) ;;
  esac
  rm -f "$out"
  echo "$(elapsed "$t0" "$t1") $rows"
}

# One round over every part; JSON {"pg:hr.yl_ffmx": [s, rows], ...}.
floor_round() {  # ordered(0/1)
  local out="{" sep="" spec r
  for spec in "${pg_parts[@]}"; do
    r=$(read_part pg "$spec" "$1") || exit 1
    out="$out$sep\"pg:${spec%%|*}\": [${r% *}, ${r#* }]"; sep=", "
  done
  for spec in "${odbc_parts[@]}"; do
    r=$(read_part odbc "$spec" "$1") || exit 1
    out="$out$sep\"odbc:${spec%%|*}\": [${r% *}, ${r#* }]"
  done
  for spec in "${http_parts[@]}"; do
    r=$(read_part http "$spec" "$1") || exit 1
    out="$out$sep\"http:$spec\": [${r% *}, ${r#* }]"
  done
  echo "$out}"
}
round_sum() { "$py" -c 'import json,sys; print("%.3f" % sum(v[0] for v in json.loads(sys.argv[1]).values()))' "$1"; }

# ---------------------------------------------------------------- cycles
# One gridgate cycle under /usr/bin/time -v; files $work/$name.{log,tlog,out,time,rc,wall,load}
# (tlog: the log with arrival times, benchlib.py stamp).
cycle() {  # name push|nopush|perf [conf [day]]
  local name=$1 mode=$2 cconf=${3:-$conf} day=${4:-} t0 t1 rc=0
  local cmd=("$gg" -c "$cconf" run --once)
  [ -n "$day" ] && cmd+=(--today "$day")
  [ "$mode" = push ] || cmd+=(--no-push)
  # Under perf, the heap's huge pages come from the environment: gridgate
  # otherwise executes itself once more to add the same tunable (app/main.c),
  # and perf's call graphs lose the process across that exec.
  if [ "$mode" = perf ]; then
    cmd=(env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 perf record -q -F 199 --call-graph "dwarf,16384"
         -o "$work/perf.data" -- "${cmd[@]}")
  elif [ "$mode" = cpu ]; then  # every process on the machine, no call graphs: CPU by process
    cmd=(env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 perf record -q -a -F 499 -o "$work/cpu-$name.data" -- "${cmd[@]}")
  fi
  cut -d' ' -f1 /proc/loadavg >"$work/$name.load"
  t0=$(now)
  { rc=0; timeout "$timeout_s" /usr/bin/time -v -o "$work/$name.time" "${cmd[@]}" 2>&1 >"$work/$name.out" || rc=$?
    echo "$rc" >"$work/$name.rc"; } | "$py" "$here/benchlib.py" stamp "$work/$name.log" "$work/$name.tlog"
  t1=$(now)
  rc=$(cat "$work/$name.rc")
  elapsed "$t0" "$t1" >"$work/$name.wall"
  log "  $name ($mode): exit $rc, $(cat "$work/$name.wall") s, $(tail -n 1 "$work/$name.out" 2>/dev/null)"
  if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    log "  $name failed; last log lines:"; tail -n 15 "$work/$name.log" >&2
  fi
}

fresh_state() {
  rm -f "$GG_DEMO_DIR/state.db" "$GG_DEMO_DIR/state.db-wal" "$GG_DEMO_DIR/state.db-shm"
}

# The demo sinks emptied (PSB notices live in psb_server's memory and stay).
clear_sinks() {
  "${psql[@]}" -d hr -c "TRUNCATE yl_ycyj" || die "TRUNCATE yl_ycyj failed"
  "${psql[@]}" -d grid -c "TRUNCATE wg_hcrw" || die "TRUNCATE wg_hcrw failed"
  sqlite3 "$GG_DEMO_DIR/civil.db" "DELETE FROM mz_yjxx" || die "DELETE FROM mz_yjxx failed"
}

# Rows in the demo sinks, JSON.
sink_rows() {
  local a b c d
  a=$("${psql[@]}" -d hr -Atc "SELECT count(*) FROM yl_ycyj")
  b=$("${psql[@]}" -d grid -Atc "SELECT count(*) FROM wg_hcrw")
  c=$(sqlite3 "$GG_DEMO_DIR/civil.db" "SELECT count(*) FROM mz_yjxx")
  d=$(curl -fsS -H "Authorization: Bearer $psb_token" "$psb_url/api/v1/notices" \
      | "$py" -c 'import json,sys; d=json.load(sys.stdin); d=d.get("data", d) if isinstance(d, dict) else d
print(len(d["items"]) if isinstance(d, dict) and "items" in d else len(d))' 2>/dev/null || echo null)
  echo "{\"yl_ycyj\": $a, \"wg_hcrw\": $b, \"mz_yjxx\": $c, \"psb_notices\": $d}"
}

export_alerts() {  # file
  "$gg" -c "${2:-$conf}" alerts export >"$1" 2>"$1.err" || log "  alerts export failed: $(tail -n 1 "$1.err")"
}

# ---------------------------------------------------------------- rules as SQL
# Rule 1 (pension_after_death) and rule 5 (pension_in_custody) over the same rows
# loaded into one PostgreSQL database (rulesdb), ids in their clean form only.
rules_sql_setup() {
  "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS rulesdb" -c "CREATE DATABASE rulesdb" || return 1
  "${psql[@]}" -d rulesdb -c "
    CREATE TABLE pay (sfzhm text, ffny text, ffje numeric(10,2));
    CREATE TABLE death (sfzhm text, dd date, basis text, revoked boolean);
    CREATE TABLE custody (gmsfhm text, lx text, ksrq date, jsrq date);" || return 1
  "${psql[@]}" -d hr -c "COPY (SELECT sfzhm, ffny, ffje FROM yl_ffmx) TO STDOUT" \
    | "${psql[@]}" -d rulesdb -c "COPY pay FROM STDIN" || return 1
  "${psql[@]}" -d grid -c "COPY (SELECT sfzhm, fsrq, 'grid_report', false FROM wg_sjsb
                                 WHERE sjlx = '死亡' AND sfzhm IS NOT NULL AND fsrq IS NOT NULL) TO STDOUT" \
    | "${psql[@]}" -d rulesdb -c "COPY death FROM STDIN" || return 1
  "$py" "$here/benchlib.py" rules-tsv "$GG_DEMO_DIR" "$work" || return 1
  "${psql[@]}" -d rulesdb -c "SET datestyle = ISO, YMD" -c "\\copy death FROM '$work/death.tsv'" \
    -c "\\copy custody FROM '$work/custody.tsv'" -c "VACUUM ANALYZE" || return 1
  # every raw id spelling in the loaded rows, for leaving out those that need normalization
  "${psql[@]}" -d rulesdb -Atc "SELECT DISTINCT sfzhm FROM pay UNION SELECT sfzhm FROM death
                                UNION SELECT gmsfhm FROM custody WHERE gmsfhm IS NOT NULL" >"$work/rawids.txt"
}
grace=$(sed -n '/^\[rule pension_after_death\]/,/^\[/s/^grace_months *= *\([0-9]*\).*/\1/p' "$conf" | head -n 1)
grace=${grace:-0}
rule1_sql="
  WITH d AS (
    SELECT sfzhm, coalesce(min(dd) FILTER (WHERE basis IN ('household_deregistration', 'cremation', 'death_certificate')),
                           min(dd) FILTER (WHERE basis = 'grid_report')) AS d
    FROM death WHERE NOT revoked AND sfzhm ~ '^[0-9]{17}[0-9X]\$' GROUP BY sfzhm)
  SELECT p.sfzhm, (sum(p.ffje) * 100)::bigint FROM pay p JOIN d ON d.sfzhm = p.sfzhm
  WHERE p.ffny > to_char(date_trunc('month', d.d) + interval '$grace month', 'YYYYMM')
  GROUP BY p.sfzhm ORDER BY 1"
rule5_sql="
  SELECT p.sfzhm, (sum(p.ffje) * 100)::bigint FROM pay p
  WHERE p.sfzhm ~ '^[0-9]{17}[0-9X]\$' AND EXISTS (
    SELECT 1 FROM custody c WHERE c.gmsfhm = p.sfzhm AND c.lx = '服刑' AND c.ksrq IS NOT NULL
      AND to_date(p.ffny, 'YYYYMM') >= c.ksrq
      AND (c.jsrq IS NULL OR (to_date(p.ffny, 'YYYYMM') + interval '1 month' - interval '1 day')::date <= c.jsrq))
  GROUP BY p.sfzhm ORDER BY 1"
# Runs both rules (median of 3 per rule, psql start included and reported apart); JSON.
rules_sql_run() {
  local r q t0 s1=() s5=()
  for r in 1 2 3; do
    t0=$(now); "${psql[@]}" -d rulesdb -F $'\t' -Atc "$rule1_sql" >"$work/sql1.tsv" || return 1; s1+=("$(elapsed "$t0" "$(now)")")
    t0=$(now); "${psql[@]}" -d rulesdb -F $'\t' -Atc "$rule5_sql" >"$work/sql5.tsv" || return 1; s5+=("$(elapsed "$t0" "$(now)")")
  done
  echo "{\"rule1_s\": $(printf '%s\n' "${s1[@]}" | sort -n | sed -n 2p), \"rule5_s\": $(printf '%s\n' "${s5[@]}" | sort -n | sed -n 2p), \"psql_connect_s\": $conn_s}"
}

# ---------------------------------------------------------------- incremental variant
# The demo tables have no update timestamp and the demo adapters declare no
# incremental stream: as tests/integration/incremental.sh does, the bench gives
# the three big tables (yl_ffmx, sb_jfjs, wg_jmxx) a gxsj column (a constant
# default: no table rewrite) with an index on (gxsj, key), as a department's
# system would have, and uses copies of hr_pension.lua, whose two streams
# declare incremental = { column = "gxsj" } and a lookup, and of grid.lua,
# whose residents stream declares it (residents are then never pruned).
inc_setup() {
  "$py" - "$root/adapters/hr_pension.lua" "$work/hr_inc.lua" <<'PY' || return 1
import sys
s = open(sys.argv[1], encoding="utf-8").read()
for t, cols, key in (("yl_ffmx", "lsh, sfzhm, xm, ffny, ffje, ffrq", "lsh"), ("sb_jfjs", "lsh, sfzhm, xm, jfny, jfjs, dwmc", "lsh")):
    old = "sql  = [[SELECT %s FROM %s]]," % (cols, t)
    assert old in s, "hr_pension.lua changed: " + old
    s = s.replace(old, """sql  = [[SELECT %s, gxsj FROM %s]],
      incremental = { column = "gxsj" },
      lookup = [[SELECT %s, gxsj FROM %s WHERE upper(trim(sfzhm)) IN ($1, $2)]],""" % (cols, t, cols, t), 1)
open(sys.argv[2], "w", encoding="utf-8").write(s)
PY
  "$py" - "$root/adapters/grid.lua" "$work/grid_inc.lua" <<'PY' || return 1
import sys
s = open(sys.argv[1], encoding="utf-8").read()
old = "sql  = [[SELECT jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz FROM wg_jmxx]],"
assert old in s, "grid.lua changed: " + old
s = s.replace(old, """sql  = [[SELECT jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz, gxsj FROM wg_jmxx]],
      incremental = { column = "gxsj" },""", 1)
open(sys.argv[2], "w", encoding="utf-8").write(s)
PY
  # the civil payments (both streams) are append-only by their key ffbh (FF
  # or AF + digits): it serves as their incremental column
  "$py" - "$root/adapters/civil_affairs.lua" "$work/civil_inc.lua" <<'PY' || return 1
import sys
s = open(sys.argv[1], encoding="utf-8").read()
old = """               FROM mz_jzff f JOIN mz_dbaj a ON a.ajbh = f.ajbh]],
      key  = "ffbh","""
assert old in s, "civil_affairs.lua changed: " + old
s = s.replace(old, old + """
      incremental = { column = "ffbh" },""", 1)
old = """               FROM mz_ajff f JOIN mz_dbaj a ON a.ajbh = f.ajbh ORDER BY f.ffbh]],
      key  = "ffbh","""
assert old in s, "civil_affairs.lua changed: " + old
s = s.replace(old, old + """
      incremental = { column = "ffbh" },""", 1)
open(sys.argv[2], "w", encoding="utf-8").write(s)
PY
  sed -e "s#^adapter = \.\./adapters/hr_pension.lua#adapter = $work/hr_inc.lua#" \
      -e "s#^adapter = \.\./adapters/grid.lua#adapter = $work/grid_inc.lua#" \
      -e "s#^adapter = \.\./adapters/civil_affairs.lua#adapter = $work/civil_inc.lua#" \
      -e "s#^adapter = \.\./#adapter = $root/#" "$conf" >"$work/inc.ini"
  grep -q "$work/hr_inc.lua" "$work/inc.ini" || { log "  conf/demo.ini changed: no hr adapter line"; return 1; }
  grep -q "$work/grid_inc.lua" "$work/inc.ini" || { log "  conf/demo.ini changed: no grid adapter line"; return 1; }
  grep -q "$work/civil_inc.lua" "$work/inc.ini" || { log "  conf/demo.ini changed: no civil adapter line"; return 1; }
  "${psql[@]}" -d hr -c "ALTER TABLE yl_ffmx ADD COLUMN gxsj timestamp DEFAULT '2025-07-01 00:00:00'" \
    -c "ALTER TABLE sb_jfjs ADD COLUMN gxsj timestamp DEFAULT '2025-07-01 00:00:00'" \
    -c "CREATE INDEX yl_ffmx_gxsj ON yl_ffmx (gxsj, lsh)" -c "CREATE INDEX sb_jfjs_gxsj ON sb_jfjs (gxsj, lsh)" \
    || return 1
  "${psql[@]}" -d grid -c "ALTER TABLE wg_jmxx ADD COLUMN gxsj timestamp DEFAULT '2025-07-01 00:00:00'" \
    -c "CREATE INDEX wg_jmxx_gxsj ON wg_jmxx (gxsj, jmbh)" || return 1
}
# 1% of the rows change: 0.5% of payment and contribution rows get a new amount
# and a new gxsj, 0.5% new rows (a July 2025 month) are inserted, and 1% of the
# residents move (a new address and gxsj). JSON of counts.
inc_change() {
  local a b c d e
  a=$("${psql[@]}" -d hr -Atc "WITH u AS (UPDATE yl_ffmx SET ffje = ffje + 1, gxsj = '2025-07-02 00:00:00'
                                WHERE lsh % 200 = 7 RETURNING 1) SELECT count(*) FROM u") || return 1
  b=$("${psql[@]}" -d hr -Atc "WITH m AS (SELECT max(lsh) AS m FROM yl_ffmx),
                                i AS (INSERT INTO yl_ffmx (lsh, grbh, sfzhm, xm, ffny, ffje, ffrq, gxsj)
                                  SELECT lsh + m, grbh, sfzhm, xm, '202507', ffje, '2025-07-15', '2025-07-02 00:00:01'
                                  FROM yl_ffmx, m WHERE lsh % 200 = 11
                                  RETURNING 1) SELECT count(*) FROM i") || return 1
  c=$("${psql[@]}" -d hr -Atc "WITH u AS (UPDATE sb_jfjs SET jfjs = jfjs + 100, gxsj = '2025-07-02 00:00:00'
                                WHERE lsh % 200 = 7 RETURNING 1) SELECT count(*) FROM u") || return 1
  d=$("${psql[@]}" -d hr -Atc "WITH m AS (SELECT max(lsh) AS m FROM sb_jfjs),
                                i AS (INSERT INTO sb_jfjs (lsh, sfzhm, xm, jfny, jfjs, dwmc, gxsj)
                                  SELECT lsh + m, sfzhm, xm, '202507', jfjs, dwmc, '2025-07-02 00:00:01'
                                  FROM sb_jfjs, m WHERE lsh % 200 = 11 RETURNING 1) SELECT count(*) FROM i") || return 1
  e=$("${psql[@]}" -d grid -Atc "WITH u AS (UPDATE wg_jmxx SET jzdz = coalesce(jzdz, '') || '（迁）', gxsj = '2025-07-02 00:00:00'
                                WHERE abs(hashtext(jmbh)) % 100 = 3 RETURNING 1) SELECT count(*) FROM u") || return 1
  # 1% new civil payments: a July payment for the payee of every 100th row
  f=$("$py" - "$GG_DEMO_DIR/civil.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
last = db.execute("SELECT max(ffbh) FROM mz_jzff").fetchone()[0]
top, width = int(last[2:]), len(last) - 2
rows = db.execute("SELECT ajbh, sfzhm, ffje FROM mz_jzff WHERE CAST(substr(ffbh, 3) AS INTEGER) % 100 = 11"
                  " ORDER BY ffbh").fetchall()
db.executemany("INSERT INTO mz_jzff (ffbh, ajbh, sfzhm, ffny, ffje) VALUES (?, ?, ?, '2025-07', ?)",
               [("FF%0*d" % (width, top + 1 + i), a, p, j) for i, (a, p, j) in enumerate(rows)])
db.commit()
print(len(rows))
PY
) || return 1
  "${psql[@]}" -d hr -c "ANALYZE yl_ffmx" -c "ANALYZE sb_jfjs" || return 1
  "${psql[@]}" -d grid -c "ANALYZE wg_jmxx" || return 1
  echo "{\"yl_ffmx_updated\": $a, \"yl_ffmx_inserted\": $b, \"sb_jfjs_updated\": $c, \"sb_jfjs_inserted\": $d, \"wg_jmxx_updated\": $e, \"mz_jzff_inserted\": $f}"
}

# ---------------------------------------------------------------- the sizes
for n in "${sizes[@]}"; do
  work=$(mktemp -d /tmp/gg-bench.XXXXXX)
  chmod 755 "$work"    # the PostgreSQL server runs as gridgate-pg when we are root
  log "== $n residents (work dir $work)"

  t0=$(now)
  timeout "$timeout_s" /usr/bin/time -f '%M' -o "$work/gen.rss" \
    "$py" "$here/gen_scale.py" --residents "$n" --out "$work/city" >&2 || die "gen_scale.py failed"
  gen_s=$(elapsed "$t0" "$(now)")
  gen_rss_kb=$(tail -n 1 "$work/gen.rss")

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
  log "  generated in $gen_s s (peak RSS $((gen_rss_kb / 1024)) MiB), loaded in $load_s s"

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
  psb_url=http://127.0.0.1:$psb_port
  psb_token=$(tr -d '\r\n' <"$work/city/psb.token")

  export GG_DEMO_DIR=$work/city GG_PG_PORT=$pg_port GG_PSB_PORT=$psb_port

  log "  floor: every source the adapters read (median of 3 rounds)"
  floor_round 0 >/dev/null || die "floor round failed"    # warm the page cache once
  conn_s=$(for _ in 1 2 3; do t0=$(now); "${psql[@]}" -d hr -Atc 'SELECT 1' >/dev/null; elapsed "$t0" "$(now)"; done \
           | sort -n | sed -n 2p)
  rounds=()
  for _ in 1 2 3; do x=$(floor_round 0) || die "floor round failed"; rounds+=("$x"); done
  floor_parts=$(printf '%s\n' "${rounds[@]}" | while read -r j; do echo "$(round_sum "$j") $j"; done | sort -n | sed -n 2p)
  floor=${floor_parts%% *}
  floor_parts=${floor_parts#* }
  floor_ordered=$(round_sum "$(floor_round 1)") || die "floor round failed"
  log "  floor $floor s (with the adapters' ORDER BY: $floor_ordered s; psql start + connect $conn_s s per table)"

  r=$repeat
  [ "$r" = auto ] && { if [ "$n" -le 300000 ]; then r=3; else r=1; fi; }
  cycles=()
  # (1) full cycles with push to the demo sinks, each from an empty store and empty sinks
  for i in $(seq "$r"); do
    fresh_state; clear_sinks
    cycle "cold$i" push "$conf" "$eve"
    cycles+=("cold$i")
  done
  export_alerts "$work/alerts-cold.jsonl"
  alerts_json=$("$py" "$here/benchlib.py" alerts-count "$work/alerts-cold.jsonl") || alerts_json='{}'
  state_bytes=$(stat -c %s "$GG_DEMO_DIR/state.db" 2>/dev/null || echo 0)
  # (2) unchanged cycles on that store: what they rewrote, touched, delivered
  steady_counts="{"; sep=
  for i in $(seq "$r"); do
    before=$(sink_rows)
    "$py" "$here/benchlib.py" snapshot "$GG_DEMO_DIR/state.db" "$work/snap.json" || die "state snapshot failed"
    sleep 1
    cycle "steady$i" push
    cycles+=("steady$i")
    after=$(sink_rows)
    cnt=$("$py" "$here/benchlib.py" counters "$GG_DEMO_DIR/state.db" "$work/snap.json")
    steady_counts="$steady_counts$sep\"steady$i\": {\"sinks_before\": $before, \"sinks_after\": $after, \"store\": $cnt}"
    sep=", "
  done
  steady_counts="$steady_counts}"
  # (3) one full cycle without push (the figure of earlier runs; stage times for the rules)
  fresh_state
  cycle nopush1 nopush "$conf" "$eve"
  cycles+=(nopush1)

  # (4) rules 1 and 5 as SQL over the same rows in one database
  rules_json=null
  if rules_sql_setup; then
    if rj=$(rules_sql_run); then
      cmp=$("$py" "$here/benchlib.py" rules-compare "$work/alerts-cold.jsonl" "$work/sql1.tsv" "$work/sql5.tsv" \
            "$work/rawids.txt") || cmp=null
      rules_json="{\"timing\": $rj, \"compare\": $cmp}"
      log "  rules as SQL: $rj; $cmp"
    else
      log "  rules as SQL failed"
    fi
  else
    log "  loading the rules database failed"
  fi

  profiled=
  if [ -n "$use_perf" ] && [ "$n" = "$perf_size" ]; then
    log "  profiling a fresh-state cycle with perf (DWARF call graphs)"
    fresh_state
    cycle perf perf "$conf" "$eve"
    if [ -f "$work/perf.data" ]; then
      perf script -i "$work/perf.data" -F ip,sym 2>/dev/null >"$work/perf.script" || true
      "$py" "$here/perf_breakdown.py" "$work/perf.script" >"$results/perf-$n.txt" || log "  perf_breakdown.py failed"
      perf report -i "$work/perf.data" --stdio --no-children --sort dso --percent-limit 0.5 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -n 15 >"$results/perf-$n-dso.txt" || true
      rm -f "$work/perf.data" "$work/perf.script"
      profiled=1
    fi
    # CPU seconds by process (the core, each source's workers "gg:<source>",
    # PostgreSQL's backends, ...) of a full cycle from an empty store and of
    # the unchanged cycle after it, both without push
    log "  CPU by process (perf record -a) of a full and an unchanged cycle"
    fresh_state
    cycle cpufull cpu "$conf" "$eve"
    cycle cpusteady cpu
    : >"$results/cpu-$n.txt"
    for c in cpufull cpusteady; do
      [ -f "$work/cpu-$c.data" ] || continue
      { echo "$c: $(cat "$work/$c.wall") s wall"
        perf report -i "$work/cpu-$c.data" --stdio --sort comm -F overhead,sample,comm 2>/dev/null \
          | awk '/^ +[0-9.]+%/ { printf "  %7.2f s CPU  %s\n", $2 / 499, $3 }' | sort -k1,1nr | head -n 12
      } >>"$results/cpu-$n.txt"
      rm -f "$work/cpu-$c.data"
    done
  fi

  # (5) incremental: a full cycle with incremental streams, 1% of the rows
  # changed, an incremental cycle, then a full recomputation from an empty store
  inc_json=null
  if inc_setup; then
    fresh_state; clear_sinks
    cycle incfull1 push "$work/inc.ini" "$eve"
    cycles+=(incfull1)
    if changed=$(inc_change); then
      log "  changed at the sources: $changed"
      "$py" "$here/benchlib.py" snapshot "$GG_DEMO_DIR/state.db" "$work/snap.json" || die "state snapshot failed"
      sleep 1
      cycle inc1 push "$work/inc.ini"
      cycles+=(inc1)
      inc_counts=$("$py" "$here/benchlib.py" counters "$GG_DEMO_DIR/state.db" "$work/snap.json")
      export_alerts "$work/alerts-inc.jsonl" "$work/inc.ini"
      fresh_state
      cycle recompute1 push
      cycles+=(recompute1)
      export_alerts "$work/alerts-recompute.jsonl"
      same=$("$py" "$here/benchlib.py" alerts-compare "$work/alerts-inc.jsonl" "$work/alerts-recompute.jsonl") || same=null
      log "  incremental vs recomputation: $same"
      inc_json="{\"changed\": $changed, \"store\": $inc_counts, \"compare\": $same}"
    else
      log "  changing the sources failed; incremental skipped"
    fi
  else
    log "  incremental variant could not be set up; skipped"
  fi

  for c in "${cycles[@]}" perf; do
    [ -f "$work/$c.log" ] && cp "$work/$c.log" "$results/cycle-$n-$c.log"
  done
  "$py" "$here/collect.py" --work "$work" --residents "$n" --floor "$floor" --floor-ordered "$floor_ordered" \
    --psql-connect "$conn_s" --floor-parts "$floor_parts" --gen-seconds "$gen_s" --gen-rss-kb "$gen_rss_kb" \
    --load-seconds "$load_s" --alerts "$alerts_json" --state-bytes "$state_bytes" --build-type "$build_type" \
    --steady-counts "$steady_counts" --rules-sql "$rules_json" --incremental "$inc_json" \
    ${profiled:+--profiled} --cycles "${cycles[*]}" --out "$results/result-$n.json" || die "collect.py failed"
  log "  result: $results/result-$n.json"
  cleanup
done

if [ -n "$report" ]; then
  "$py" "$here/report.py" --results "$results" --out "$root/BENCHMARKS.md" || die "report.py failed"
  log "wrote $root/BENCHMARKS.md"
fi
