#!/usr/bin/env bash
# tests/integration/bench_smoke.sh - the benchmark (scripts/bench/run.sh) runs
# end to end on a tiny city (3,000 residents, one run of each cycle, no perf,
# no BENCHMARKS.md): every floor part was read, the cycles succeeded, the
# alerts found are the planted ones, the unchanged-cycle counters, the rules as
# SQL and the incremental comparison were produced and agree; report.py renders
# the result. Speed is not asserted. Ends with "N passed, N failed".
set -uo pipefail
root=${GG_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
gg=${GRIDGATE:-$root/build/gridgate}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gg-bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() {
  local d=$1; shift
  if "$@"; then echo "ok - $d"; pass=$((pass + 1)); else echo "not ok - $d"; fail=$((fail + 1)); fi
}

res=$tmp/results
# a sanitized build runs 2-3x slower, and ctest -j2 runs another test beside
limit=55
[ -z "${GG_SANITIZED:-}" ] || limit=150
timeout "$limit" bash "$root/scripts/bench/run.sh" --residents 3000 --repeat 1 --no-perf --no-report --timeout 30 \
  --gridgate "$gg" --results "$res" >"$tmp/run.log" 2>&1
rc=$?
check "run.sh completes within $limit s (exit $rc)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -n 25 "$tmp/run.log"
json=$res/result-3000.json
check "result-3000.json written" [ -s "$json" ]

# q PYTHON-EXPRESSION over r (the result): exit 0 when true, prints it otherwise
q() { python3 - "$json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2], {"r": r})
if not ok:
    print("  # false:", sys.argv[2], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}
[ -s "$json" ] || { echo "$pass passed, $((fail + 1)) failed"; exit 1; }
check "floor has every source: 5 PostgreSQL, 4 ODBC, 3 HTTP parts" \
  q 'sorted(k.split(":")[0] for k in r["floor_parts"]) == ["http"] * 3 + ["odbc"] * 4 + ["pg"] * 5'
check "every floor part took > 0 s" q 'all(v[0] > 0 for v in r["floor_parts"].values())'
check "the parts with data returned rows" \
  q 'all(r["floor_parts"][k][1] > 0 for k in ("pg:hr.yl_ffmx", "pg:hr.sb_jfjs", "pg:grid.wg_jmxx", "odbc:civil.mz_jtcy", "odbc:civil.mz_jzff", "odbc:civil.mz_hhdj", "http:deaths", "http:vehicles"))'
check "floor = sum of its parts > 0" q 'r["floor_s"] > 0 and abs(r["floor_s"] - sum(v[0] for v in r["floor_parts"].values())) < 0.01'
check "every cycle exited 0" q 'all(c["exit"] == 0 for c in r["runs"].values())'
check "all cycle kinds ran" q 'all(r["cycles"][k] for k in ("cold", "steady", "nopush", "incfull", "inc", "recompute"))'
check "alerts found == planted, rule by rule" \
  q '{k: v for k, v in r["alerts_found"].items() if v} == {k: v for k, v in r["scale"]["planted"].items() if v}'
check "full cycle delivered to the sinks" q 'r["cycles"]["cold"]["summary"]["delivered"] > 0'
check "unchanged cycle counted facts written, alerts touched, deliveries and sink rows" \
  q 'all(v["store"][k] is not None for v in r["steady_counts"].values() for k in ("facts_written", "alerts_touched", "deliveries")) and all(v["sinks_after"]["yl_ycyj"] == v["sinks_before"]["yl_ycyj"] > 0 for v in r["steady_counts"].values())'
check "the unchanged cycle, on the next day, skipped matching" \
  grep -q "matching not needed" "$res/cycle-3000-steady1.log"
check "peak RSS recorded for each cycle" q 'all(c.get("max_rss_kb", 0) > 0 for c in r["runs"].values())'
check "stage times from the log" q 'r["cycles"]["nopush"]["stages"]["identity_rules"] is not None'
check "rules 1 and 5 as SQL timed and agree with gridgate" \
  q 'r["rules_sql"]["timing"]["rule1_s"] > 0 and all(c["differ"] == 0 for c in r["rules_sql"]["compare"].values()) and r["rules_sql"]["compare"]["pension_after_death"]["gridgate"] > 0'
check "incremental: rows changed, cycle ran, same alerts as a full recomputation" \
  q 'r["incremental"]["changed"]["yl_ffmx_updated"] > 0 and r["incremental"]["compare"]["same"]'
check "report.py renders the result" python3 "$root/scripts/bench/report.py" --results "$res" --out "$tmp/B.md"
check "the report has the summary, memory and rules tables" \
  bash -c 'grep -q "^| 3,000 |" "$0" && grep -q "trigger facts" "$0" && grep -q "SQL rule 1 + rule 5" "$0"' "$tmp/B.md"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
