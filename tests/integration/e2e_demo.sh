#!/usr/bin/env bash
# tests/integration/e2e_demo.sh - end to end over the demo city: four department
# systems (PostgreSQL hr + grid, SQLite-over-ODBC civil affairs in GBK, the PSB
# HTTP service), one `gridgate run --once`, and the result checked against the
# oracle gen_city.py wrote (precision and recall 1.0 per rule), the quarantine,
# and every sink. A second run must change nothing (sinks byte-for-byte, export
# unchanged); verdicts typed into the grid's task table must come back.
#
# Env (set by ctest): GRIDGATE (the binary), GG_SOURCE_DIR; optional GG_KEEP=1
# keeps the work directory for inspection.
set -uo pipefail

src=${GG_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
gg=${GRIDGATE:?GRIDGATE must point to the gridgate binary}
conf="$src/conf/demo.ini"
demo="$src/scripts/demo"

work=$(mktemp -d "${TMPDIR:-/tmp}/gg-e2e.XXXXXX")
chmod 755 "$work"
cleanup() {
  bash "$demo/stop-city.sh" "$work/city" >/dev/null 2>&1
  if [ "${GG_KEEP:-0}" = 1 ]; then echo "e2e: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
# Runs check_e2e.py and adds its counts to ours.
pycheck() {
  local out rc p f
  out=$(python3 "$demo/check_e2e.py" "$@" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -Ev '^ok - |^[0-9]+ passed, [0-9]+ failed$' || true
  p=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -n 1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -n 1)
  if [ -z "$p" ]; then fail "check_e2e.py $1 did not finish (rc $rc)"; return 1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -eq 0 ]
}
free_port() { python3 "$src/tests/lib/free_port.py"; }

[ -x "$gg" ] || { fail "gridgate binary $gg not found"; finish; }

export GG_DEMO_DIR="$work/city"
export GG_PG_PORT; GG_PG_PORT=$(free_port)
export GG_PSB_PORT; GG_PSB_PORT=$(free_port)
while [ "$GG_PSB_PORT" = "$GG_PG_PORT" ]; do GG_PSB_PORT=$(free_port); done

if bash "$demo/setup-city.sh" "$GG_DEMO_DIR" "$GG_PG_PORT" "$GG_PSB_PORT" >"$work/setup.log" 2>&1; then
  ok "demo city up (pg $GG_PG_PORT, psb $GG_PSB_PORT)"
else
  fail "setup-city.sh failed:"; tail -n 30 "$work/setup.log"; finish
fi

run_once() { # $1 = label, then global options (-v -c debug.ini)
  local label=$1; shift
  if "$gg" -c "$conf" "$@" run --once >"$work/run-$label.log" 2>&1; then
    ok "gridgate run --once ($label)"
  else
    fail "gridgate run --once ($label) exited $?:"; tail -n 30 "$work/run-$label.log"; return 1
  fi
}
export_alerts() { # $1 = output file
  if "$gg" alerts export -c "$conf" >"$1" 2>"$1.err"; then
    ok "gridgate alerts export ($(wc -l <"$1") alerts)"
  else
    fail "gridgate alerts export exited $?:"; tail -n 20 "$1.err"; return 1
  fi
}
grep_log() { # raw ids or names must never reach the log
  local leaks
  leaks=$(grep -Po '(?<![0-9A-Za-z-])[0-9]{15,17}[0-9Xx]?(?![0-9A-Za-z])' "$work"/run-*.log | head -n 3)
  if [ -z "$leaks" ]; then ok "logs hold no raw id numbers"; else fail "raw id numbers in the log: $leaks"; fi
}

# --- first run: the oracle and the sinks. A second `run --once` on the same
# state store while the first holds it is refused naming the holder's pid,
# and sends nothing (the sink checks below count every alert exactly once).
# The first is the daemon (`run`, a long interval), stopped by SIGTERM after
# its first cycle: a `run --once` may end before the second one starts.
# A permissive umask must not make the state store readable by others.
umask 022
lock="$GG_DEMO_DIR/state.db.lock"
"$gg" run --interval 3600 -c "$conf" >"$work/run-first.log" 2>&1 &
first_pid=$!
cycled=0
for _ in $(seq 1 3000); do
  if grep -q 'cycle: cycle 1 done' "$work/run-first.log"; then cycled=1; break; fi
  kill -0 "$first_pid" 2>/dev/null || break
  sleep 0.02
done
if [ "$cycled" = 1 ]; then
  "$gg" run --once -c "$conf" >"$work/run-dup.out" 2>&1
  rc=$?
  if [ "$rc" = 1 ] && grep -q "is in use by another gridgate (pid $first_pid holds " "$work/run-dup.out"; then
    ok "a second run --once on the same state store is refused naming the holder's pid"
  else
    fail "second run --once on the same store: exit $rc: $(head -c 300 "$work/run-dup.out")"
  fi
else
  fail "the first run never ended its first cycle"
fi
kill -TERM "$first_pid" 2>/dev/null
if wait "$first_pid"; then ok "gridgate run (first cycle, then SIGTERM)"; else
  fail "gridgate run (first) failed:"; tail -n 30 "$work/run-first.log"; finish; fi
modes=$(cd "$GG_DEMO_DIR" && stat -c '%n %a' state.db state.db.lock state.db-wal state.db-shm 2>/dev/null | tr '\n' ' ')
bad_modes=$(cd "$GG_DEMO_DIR" && stat -c '%n %a' state.db state.db.lock state.db-wal state.db-shm 2>/dev/null | awk '$2 != "600"')
if [ -z "$bad_modes" ] && [ -e "$GG_DEMO_DIR/state.db" ]; then
  ok "state store and its lock file are 0600 under umask 022 ($modes)"
else
  fail "state files not 0600: $bad_modes"
fi

# --- the grid's verification tasks carry the verdict deadline: 7 days
# ([delivery] verdict_deadline_days default) after the alert was made
due=$(psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -c "
  SELECT count(*) || '/' || count(jzsj) || '/' ||
         count(*) FILTER (WHERE jzsj BETWEEN cjsj + interval '6 days 23 hours' AND cjsj + interval '7 days 1 hour')
  FROM wg_hcrw")
if [ -n "$due" ] && [ "${due%%/*}" -gt 0 ] && [ "$due" = "${due%%/*}/${due%%/*}/${due%%/*}" ]; then
  ok "every grid task has its deadline, 7 days on ($due)"
else
  fail "grid task deadlines (tasks/with jzsj/7 days on): $due"
fi

# --- the explanation pushed is the one the match stored with the alert's
# version (state_alert_explanation_set): the same text as `alerts show` makes
# from the stored evidence, for every grid task
psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -c "SELECT rwbh FROM wg_hcrw ORDER BY rwbh" \
  >"$work/tasks.txt"
same=0 differ=
while read -r rwbh; do
  nr=$(psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -c "SELECT nr FROM wg_hcrw WHERE rwbh = '$rwbh'")
  shown=$("$gg" -c "$conf" alerts show "$rwbh" 2>/dev/null | sed 1d)
  case "$shown" in "$nr"*) [ -n "$nr" ] && same=$((same + 1)) || differ="$differ $rwbh" ;; *) differ="$differ $rwbh" ;; esac
done <"$work/tasks.txt"
if [ "$same" -gt 0 ] && [ "$same" = "$(wc -l <"$work/tasks.txt")" ] && [ -z "$differ" ]; then
  ok "every grid task's explanation is the alert's as alerts show makes it ($same tasks)"
else
  fail "grid task explanations differ from alerts show:$differ ($same the same)"
fi
no_expl=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM alerts WHERE explanation IS NULL OR explanation = \x27\x27").fetchone()[0])' "$GG_DEMO_DIR/state.db")
if [ "$no_expl" = 0 ]; then ok "every alert's version has its explanation stored"; else fail "$no_expl alerts without a stored explanation"; fi

# --- routing that says what it skips: the demo routes pension_after_death to
# street, whose adapter has no push: a warning in check, one log line per cycle
"$gg" check -c "$conf" >"$work/check.out" 2>&1
if grep -q '^warning: route pension_after_death: sink street has no push function' "$work/check.out"; then
  ok "check warns that the route to street (no push) is skipped"
else
  fail "check does not warn about the push-less sink street:"; tail -n 5 "$work/check.out"
fi
# the README's commands name the configuration relative to the repository
# (gridgate -c conf/demo.ini ...): its adapter paths resolve once against
# conf/ (they were resolved twice: conf/conf/../adapters/..., not loaded)
if (cd "$src" && "$gg" -c conf/demo.ini check >"$work/check-rel.out" 2>&1) \
   && grep -q '^source hr: ok, adapter conf/../adapters/hr_pension.lua' "$work/check-rel.out"; then
  ok "check with the configuration named relative to the repository loads every adapter"
else
  fail "check -c conf/demo.ini from the repository:"; tail -n 5 "$work/check-rel.out"
fi
# @sources (identity_conflict) meeting a source without push that may give
# evidence (a person stream): check names rule, source and why
cat >"$work/stats.lua" <<'LUA'
return { streams = { persons = { kind = "person", conn = "db", key = "k",
  sql = "SELECT k, id, xm FROM t", map = { id_no = "id", name = "xm" } } } }
LUA
{ cat "$conf"; printf '\n[source stats]\nadapter = %s\nconn.db = pg:host=127.0.0.1 port=1 dbname=x\n' "$work/stats.lua"; } \
  | sed -e "s#\.\./adapters/#$src/adapters/#" >"$work/stats.ini"
"$gg" check -c "$work/stats.ini" >"$work/check-stats.out" 2>&1
if grep -q '^warning: route identity_conflict: @sources skips source stats: it has no push function' "$work/check-stats.out" &&
   ! grep -q '@sources skips source street' "$work/check-stats.out"; then
  ok "check warns that @sources skips a push-less evidence source (not the verdict-only street)"
else
  fail "check and @sources:"; grep -E 'warning|ERROR' "$work/check-stats.out" | head -n 5
fi
n=$(grep -c 'route pension_after_death: sink street is skipped' "$work/run-first.log")
if [ "$n" = 1 ]; then ok "the run logs the skipped sink once per cycle"; else fail "skipped-sink log lines: $n (want 1)"; fi
export_alerts "$work/export1.jsonl" || finish
pycheck check "$GG_DEMO_DIR" "$work/export1.jsonl" --config "$conf"
pycheck warnings "$GG_DEMO_DIR" "$work/run-first.log"
python3 "$demo/check_e2e.py" dump "$GG_DEMO_DIR" "$work/sinks1.txt" || fail "dump of the sinks failed"

# --- second run over unchanged data: nothing may change anywhere (logged at
# debug level, which says how many unchanged records stopped at the worker)
sed -e "s#\.\./adapters/#$src/adapters/#" -e 's/^log_level = .*/log_level = debug/' "$conf" >"$work/debug.ini"
grep -q '^log_level = debug' "$work/debug.ini" || fail "debug.ini has no log_level = debug"
run_once second -v -c "$work/debug.ini" || finish
export_alerts "$work/export2.jsonl" || finish
python3 "$demo/check_e2e.py" dump "$GG_DEMO_DIR" "$work/sinks2.txt" || fail "dump of the sinks failed"
if cmp -s "$work/sinks1.txt" "$work/sinks2.txt"; then
  ok "sinks byte-for-byte unchanged by the second run"
else
  fail "sinks changed on the second run:"; diff "$work/sinks1.txt" "$work/sinks2.txt" | head -n 20
fi
if cmp -s "$work/export1.jsonl" "$work/export2.jsonl"; then
  ok "export unchanged by the second run"
else
  fail "export changed on the second run:"; diff "$work/export1.jsonl" "$work/export2.jsonl" | head -n 10
fi

# An unchanged cycle rewrites no fact (each keeps the cycle it was written in)
# and prunes none.
facts_written=$(python3 -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); print(*d.execute("SELECT COUNT(*), COALESCE(SUM(last_cycle > 1), -1) FROM facts").fetchone())' "$GG_DEMO_DIR/state.db")
if [ "${facts_written#* }" = 0 ] && [ "${facts_written% *}" -gt 0 ]; then
  ok "second run rewrote none of the ${facts_written% *} facts"
else
  fail "second run rewrote facts (count, rewritten): $facts_written"
fi
# Its unchanged residents stopped at the worker (SEEN frames): all but those
# with an invalid id, which go to the core every cycle (quarantined).
unchanged_line() { # $1 = log, $2 = stream: "<unchanged> <found so by the worker> <invalid ids>"
  local u inv
  u=$(sed -n "s/.*stream $2: \([0-9]*\) kept facts unchanged, not rewritten (\([0-9]*\) found so by the worker).*/\1 \2/p" "$1")
  inv=$(sed -n "s/.*stream $2 ([a-z_]*): .* \([0-9]*\) invalid ids,.*/\1/p" "$1")
  echo "$u $inv"
}
read -r un bw inv <<<"$(unchanged_line "$work/run-second.log" residents)"
if [ -n "$un" ] && [ "$bw" -gt 0 ] && [ "$((un - bw))" = "$inv" ]; then
  ok "unchanged residents stopped at the worker: $bw of $un ($inv invalid ids went to the core)"
else
  fail "unchanged residents (unchanged, by the worker, invalid ids): '$un' '$bw' '$inv'"
fi

# --- verdicts from the grid: a worker confirms one task and dismisses another
confirm=$(python3 -c 'import json,sys; print(next(a["id"] for a in json.load(open(sys.argv[1]))["alerts"] if a["rule"]=="pension_after_death" and a["confidence"]=="high"))' "$GG_DEMO_DIR/expected.json")
dismiss=$(python3 -c 'import json,sys; print(next(a["id"] for a in json.load(open(sys.argv[1]))["alerts"] if a["rule"]=="pension_after_death" and a["confidence"]=="low"))' "$GG_DEMO_DIR/expected.json")
if psql -X -q -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -v ON_ERROR_STOP=1 -c "
   UPDATE wg_hcrw SET hcjg = '属实', hcr = '网格员甲', hcsj = '2025-07-02 10:00', zt = '已核实' WHERE rwbh = '$confirm';
   UPDATE wg_hcrw SET hcjg = '不属实', hcr = '网格员乙', hcsj = '2025-07-02 11:00', zt = '已核实' WHERE rwbh = '$dismiss';" >/dev/null
then ok "verdicts typed into wg_hcrw"; else fail "could not write verdicts into wg_hcrw"; fi
run_once verdicts
export_alerts "$work/export3.jsonl" && {
  pycheck status "$work/export3.jsonl" "$confirm" confirmed
  pycheck status "$work/export3.jsonl" "$dismiss" dismissed
}
# --- a resident changed and one deleted in the source: the changed one is
# rewritten (the only person fact written), the deleted one pruned, the rest
# stop at the worker
pick=$(psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -c \
  "SELECT string_agg(jmbh::text, ' ' ORDER BY jmbh DESC) FROM (SELECT jmbh FROM wg_jmxx ORDER BY jmbh DESC LIMIT 2) t")
read -r changed deleted <<<"$pick"
st() { python3 -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); print(*d.execute(sys.argv[2]).fetchone())' "$GG_DEMO_DIR/state.db" "$1"; }
persons_before=$(st "SELECT COUNT(*) FROM facts WHERE source = 'grid' AND kind = 'person'")
if psql -X -q -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -v ON_ERROR_STOP=1 -c "
   UPDATE wg_jmxx SET jzdz = jzdz || '（已搬迁）' WHERE jmbh = '$changed';
   DELETE FROM wg_jmxx WHERE jmbh = '$deleted';" >/dev/null
then ok "one resident changed, one deleted in wg_jmxx"; else fail "could not change wg_jmxx"; fi
run_once changed -v -c "$work/debug.ini"
last=$(st "SELECT MAX(last_cycle) FROM facts")
got=$(st "SELECT (SELECT group_concat(ref) FROM facts WHERE source = 'grid' AND kind = 'person' AND last_cycle = $last) || '|' ||
              (SELECT COUNT(*) FROM facts WHERE source = 'grid' AND kind = 'person' AND ref = '$deleted') || '|' ||
              (SELECT COUNT(*) FROM facts WHERE source = 'grid' AND kind = 'person') || '|' ||
              (SELECT instr(raw_json, '已搬迁') > 0 FROM facts WHERE source = 'grid' AND kind = 'person' AND ref = '$changed')")
if [ "$got" = "$changed|0|$((persons_before - 1))|1" ]; then
  ok "the changed resident alone was rewritten, the deleted one pruned"
else
  fail "changed/deleted resident (rewritten refs|deleted left|persons|new raw): '$got', want '$changed|0|$((persons_before - 1))|1'"
fi
read -r un bw inv <<<"$(unchanged_line "$work/run-changed.log" residents)"
if [ -n "$un" ] && [ "$((un - bw))" = "$inv" ] && [ "$un" = "$((persons_before - 2))" ]; then
  ok "the other residents stopped at the worker ($bw of $un unchanged)"
else
  fail "residents after the change (unchanged, by the worker, invalid ids): '$un' '$bw' '$inv', persons $persons_before"
fi
grep_log
finish
