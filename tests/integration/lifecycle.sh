#!/usr/bin/env bash
# tests/integration/lifecycle.sh - the alert lifecycle on the real demo city:
# a death registration restored at public security, or a cremation record
# deleted at civil affairs, withdraws the alert and tells the sinks (a typo
# over a good record does not: its last good version is kept); the same
# finding coming back reopens it as a new version; a pushed alert without a
# verdict past the deadline becomes overdue and is delivered again.
set -uo pipefail

source "$(dirname "$0")/../lib/city.sh"
hr() { psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d hr -c "$1"; }
grid() { psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -c "$1"; }
# lock_table DB TABLE: another session holds TABLE locked (up to 120 s, in the
# background: $lockpid); returns once the lock is held. unlock_table DB ends it.
lock_table() {
  psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d "$1" \
    -c "BEGIN; LOCK TABLE $2 IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120)" >/dev/null 2>&1 &
  lockpid=$!
  for _ in $(seq 100); do
    [ "$("$1" "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
             WHERE c.relname = '$2' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
    sleep 0.1
  done
}
unlock_table() {
  "$1" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()" >/dev/null
  wait "$lockpid" 2>/dev/null
}
# A cycle killed mid-way: start_cycle NAME runs one in the background (output
# in $work/NAME.out/.err, pid in $gpid); wait_log NAME PATTERN waits (10 s at
# most) for a line of its log; kill_cycle kills it with -9.
start_cycle() {
  "$gg" -c "$conf" run --once >"$work/$1.out" 2>"$work/$1.err" &
  gpid=$!
}
wait_log() { for _ in $(seq 200); do grep -q "$2" "$work/$1.err" && break; sleep 0.05; done; }
kill_cycle() { kill -9 "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null; }
alert_field() { # alert_field ID FIELD
  "$gg" -c "$conf" alerts export | python3 -c "
import json, sys
for l in sys.stdin:
    a = json.loads(l)
    if a['id'] == '$1': print(a['$2'])"
}
restart_psb() {
  local pid
  pid=$(cat "$GG_DEMO_DIR/psb.pid")
  kill "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  nohup python3 "$root/scripts/demo/psb_server.py" --data "$GG_DEMO_DIR/psb.json" \
    --token-file "$GG_DEMO_DIR/psb.token" --port "$GG_PSB_PORT" --pid-file "$GG_DEMO_DIR/psb.pid" \
    >>"$GG_DEMO_DIR/psb.log" 2>&1 </dev/null &
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$GG_PSB_PORT/health" 2>/dev/null && break; sleep 0.1; done
}
set_revoked() { # set_revoked ID18 0|1 - the restored-registration flag of that person's deregistration
  python3 - "$GG_DEMO_DIR/psb.json" "$1" "$2" <<'PY'
import json, sys
path, pid, flag = sys.argv[1:]
data = json.load(open(path, encoding="utf-8"))
hit = 0
def walk(o):
    global hit
    if isinstance(o, dict):
        if o.get("gmsfhm") == pid and "hfbz" in o:
            o["hfbz"] = flag; hit += 1
        for v in o.values(): walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(data)
assert hit == 1, hit
json.dump(data, open(path, "w", encoding="utf-8"), ensure_ascii=False)
PY
}

city_start
conf=$work/life.ini
city_conf "$conf"

# A new store's first cycle killed mid-way. Its pulls are written with a
# rollback journal (store/state.c, STATE_OPEN_DEFER_WAL): phase 1 commits, the
# pension stream blocks on yl_ffmx (locked) and gridgate is killed there. A
# command run meanwhile still reads the store; the next cycle opens it in WAL
# mode and completes the work (the checks that follow are on its alerts).
lock_table hr yl_ffmx
start_cycle run0
wait_log run0 "subjects of interest"
st_sql() { sqlite3 -cmd ".timeout 10000" "$GG_DEMO_DIR/state.db" "$1"; }
check "first-cycle crash: the new store is written with a rollback journal" test "$(st_sql "PRAGMA journal_mode")" = delete
check "first-cycle crash: the residents were committed" \
  test "$(st_sql "SELECT count(*) FROM facts WHERE kind = 'person'")" -gt 0
check "first-cycle crash: a command reads the store meanwhile" \
  bash -c "'$gg' -c '$conf' dq >'$work/dq0.out' 2>'$work/dq0.err'"
check "first-cycle crash: the cycle was still running (yl_ffmx locked)" kill -0 "$gpid"
kill_cycle
unlock_table hr

"$gg" -c "$conf" run --once >/dev/null 2>"$work/run1.err"
check "first cycle delivers" test $? -eq 0
check "after the first-cycle crash: the store is in WAL mode" test "$(st_sql "PRAGMA journal_mode")" = wal
check "after the first-cycle crash: the store is intact" test "$(st_sql "PRAGMA integrity_check")" = ok

# In WAL mode a command never waits for the daemon's write transaction (a long
# stream's): the schema of a current store is only read at open.
python3 - "$GG_DEMO_DIR/state.db" >"$work/holder.out" 2>&1 <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("INSERT INTO marks(scope, key, value, updated_at) VALUES ('test', 'holder', '', 0)")
print("held", flush=True)
time.sleep(12)
c.execute("ROLLBACK")
PY
holder=$!
for _ in $(seq 100); do grep -q held "$work/holder.out" 2>/dev/null && break; sleep 0.1; done
t0=$EPOCHREALTIME
check "a write transaction is held meanwhile" grep -q held "$work/holder.out"
check "a command reads the store during another's write transaction" \
  bash -c "timeout 4 '$gg' -c '$conf' alerts list >'$work/list0.out' 2>'$work/list0.err'"
check "... at once (not after busy_timeout)" \
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a < 3) }'
check "... and lists the alerts" test -s "$work/list0.out"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# A pensioner whose only death record is the public-security deregistration.
read -r AID PID < <(sqlite3 -separator ' ' "$GG_DEMO_DIR/state.db" "
  SELECT a.id, a.id_no FROM alerts a
  WHERE a.rule = 'pension_after_death' AND a.confidence = 'high'
    AND (SELECT count(*) FROM facts f WHERE f.kind = 'death' AND f.id_norm = a.id_no) = 1
    AND EXISTS (SELECT 1 FROM facts f WHERE f.kind = 'death' AND f.source = 'psb' AND f.id_norm = a.id_no)
  ORDER BY a.id LIMIT 1")
check "the demo city has a deregistration-only pension case" test -n "$AID"
check "planted alert $AID is pushed" test "$(alert_field "$AID" status)" = pushed
check "hr holds it as 待处理" test "$(hr "SELECT zt FROM yl_ycyj WHERE yjbh = '$AID'")" = "待处理"

# 1. Registration restored (户口恢复): the death fact is ignored, the alert withdrawn.
set_revoked "$PID" 1
restart_psb
"$gg" -c "$conf" run --once >"$work/run2.out" 2>"$work/run2.err"
check "restored registration: cycle ok" test $? -eq 0
check "restored registration: alert withdrawn" test "$(alert_field "$AID" status)" = withdrawn
check "restored registration: version 2" test "$(alert_field "$AID" version)" = 2
check "restored registration: the log says why" grep -q "alert $AID withdrawn: its evidence is gone" "$work/run2.err"
check "restored registration: hr row says 已撤销 (version 2)" \
  test "$(hr "SELECT zt || '/' || bb FROM yl_ycyj WHERE yjbh = '$AID'")" = "已撤销/2"
check "restored registration: the grid task is closed as 已撤销" \
  test "$(grid "SELECT zt FROM wg_hcrw WHERE rwbh = '$AID'")" = "已撤销"
check "restored registration: its overpaid payments were dropped from the state store" \
  test "$(sqlite3 "$GG_DEMO_DIR/state.db" "SELECT count(*) FROM facts WHERE kind = 'payment' AND id_norm = '$PID'")" = 0

# 2. A quiet second cycle changes nothing.
before=$(hr "SELECT string_agg(yjbh || zt || bb, ',' ORDER BY yjbh) FROM yl_ycyj")
"$gg" -c "$conf" run --once >/dev/null 2>&1
after=$(hr "SELECT string_agg(yjbh || zt || bb, ',' ORDER BY yjbh) FROM yl_ycyj")
check "withdrawn alert stays withdrawn, sinks unchanged" bash -c "[ '$before' = '$after' ] && [ \"\$(\"$gg\" -c \"$conf\" alerts export | grep -c '\"withdrawn\"')\" -eq 1 ]"

# 3. The deregistration comes back: the alert reopens as a new version.
set_revoked "$PID" 0
restart_psb
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run3.err"
check "death back: alert reopened and pushed again" test "$(alert_field "$AID" status)" = pushed
check "death back: version 3 with the planted amount" \
  test "$(alert_field "$AID" version)/$(alert_field "$AID" amount)" = "3/$(python3 -c "import json; print([a['amount'] for a in json.load(open('$GG_DEMO_DIR/expected.json'))['alerts'] if a['id'] == '$AID'][0])")"
check "death back: hr row is 待处理 again (version 3)" \
  test "$(hr "SELECT zt || '/' || bb FROM yl_ycyj WHERE yjbh = '$AID'")" = "待处理/3"

# 4. A typo typed over a good cremation record (an impossible date) is
# quarantined, but the alert resting on it stands on the record's last good
# version: not withdrawn, not pushed again. Fixing the typo changes nothing;
# deleting the record withdraws the alert.
CID=420503195609075502
CAID=$(python3 -c "import json; print([a['id'] for a in json.load(open('$GG_DEMO_DIR/expected.json'))['alerts'] if a['subject'] == 'person:$CID'][0])")
civil() { sqlite3 "$GG_DEMO_DIR/civil.db" "$1"; }
HHBH=$(civil "SELECT hhbh FROM mz_hhdj WHERE sfzhm = '$CID'")
GOOD=$(civil "SELECT swrq FROM mz_hhdj WHERE sfzhm = '$CID'")
state_before="$(alert_field "$CAID" status)/$(alert_field "$CAID" version)"
task_before=$(grid "SELECT zt || '/' || bb FROM wg_hcrw WHERE rwbh = '$CAID'")
civil "UPDATE mz_hhdj SET swrq = '20240230' WHERE sfzhm = '$CID'"
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run4a.err"
check "typo over a good record: the alert stands ($state_before)" \
  test "$(alert_field "$CAID" status)/$(alert_field "$CAID" version)" = "$state_before"
check "typo: nothing withdrawn, no grid task closed as 已撤销" \
  test "$(grid "SELECT zt || '/' || bb FROM wg_hcrw WHERE rwbh = '$CAID'")" = "$task_before"
check "typo: no alert withdrawn in the cycle" bash -c "! grep -q 'withdrawn: its evidence is gone' '$work/run4a.err'"
"$gg" -c "$conf" quarantine list --source civil >"$work/q4.out"
check "typo: the quarantine lists the record as rejected, last good kept" \
  grep -Eq "^civil +cremations +$HHBH +rejected, last good kept +.*swrq" "$work/q4.out"
check "typo: the quarantine summary counts it" grep -Eq '^[0-9]+ quarantined records: .* [1-9][0-9]* rejected with the last good version kept$' "$work/q4.out"
check "typo: the log says the alert keeps the last good version" \
  grep -q "alert $CAID: its evidence record $HHBH of source civil was rejected this cycle" "$work/run4a.err"
check "typo: alerts show says the record was rejected and its last good version stands in" \
  bash -c "\"$gg\" -c \"$conf\" alerts show $CAID | grep -q '注意：证据记录 $HHBH（来源 civil）在最近一个周期被拒收'"
civil "UPDATE mz_hhdj SET swrq = '$GOOD' WHERE sfzhm = '$CID'"
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run4b.err"
check "typo fixed: the alert is unchanged ($state_before)" \
  test "$(alert_field "$CAID" status)/$(alert_field "$CAID" version)" = "$state_before"
check "typo fixed: alerts show no longer mentions the rejection" \
  bash -c "! \"$gg\" -c \"$conf\" alerts show $CAID | grep -q '注意：证据记录'"
check "typo fixed: the grid task is unchanged" \
  test "$(grid "SELECT zt || '/' || bb FROM wg_hcrw WHERE rwbh = '$CAID'")" = "$task_before"
civil "DELETE FROM mz_hhdj WHERE sfzhm = '$CID'"
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run4.err"
check "deleted cremation record: alert $CAID withdrawn" test "$(alert_field "$CAID" status)" = withdrawn
check "deleted cremation record: the log counts the removed fact" grep -q "civil: 1 death facts no longer in the source" "$work/run4.err"

# 6. No verdict within the deadline: overdue, delivered again, hr says 逾期.
sqlite3 "$GG_DEMO_DIR/state.db" "UPDATE alerts SET status_at = status_at - 8 * 86400 WHERE id = '$AID'"
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run5.err"
check "overdue: status overdue" test "$(alert_field "$AID" status)" = overdue
check "overdue: escalation logged" grep -q "alert $AID overdue: no verdict within 7 days" "$work/run5.err"
check "overdue: hr row says 逾期 (version 4)" \
  test "$(hr "SELECT zt || '/' || bb FROM yl_ycyj WHERE yjbh = '$AID'")" = "逾期/4"
check "overdue: other alerts are untouched" \
  test "$("$gg" -c "$conf" alerts export | grep -c '"overdue"')" = 1

# 7. An empty answer from a source that had data keeps the facts (a fault, not a city without deaths).
sqlite3 "$GG_DEMO_DIR/civil.db" "ALTER TABLE mz_hhdj RENAME TO mz_hhdj_old; CREATE TABLE mz_hhdj AS SELECT * FROM mz_hhdj_old WHERE 0"
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run6.err"
check "empty source table: facts kept with a warning" grep -q "civil: death streams returned no records; keeping the" "$work/run6.err"
check "empty source table: no cremation alert withdrawn" \
  test "$("$gg" -c "$conf" alerts export | grep -c '"withdrawn"')" = 1

# 8. Matching runs only when something it reads changed: a cycle that changed
# no fact (and no setting, program or day) keeps the alerts of the last match.
"$gg" -c "$conf" alerts export >"$work/al8a.jsonl"
"$gg" -c "$conf" run --once >"$work/run8a.out" 2>"$work/run8a.err"
check "nothing changed: matching not needed" grep -q "matching not needed" "$work/run8a.out"
check "nothing changed: the subjects of interest were read from the state store" \
  grep -q "subjects of interest: [0-9]* ids, [0-9]* cases (stored: the small side is unchanged)" "$work/run8a.err"
check "nothing changed: the payment and income streams were read beside phase 1" \
  grep -q "payment and income streams were read beside phase 1" "$work/run8a.err"
"$gg" -c "$conf" alerts export >"$work/al8b.jsonl"
check "nothing changed: the alerts are as they were" cmp -s "$work/al8a.jsonl" "$work/al8b.jsonl"
"$gg" -c "$conf" run --once --rematch >"$work/run8b.out" 2>"$work/run8b.err"
check "--rematch: matched all the same" grep -Eq "; [0-9]+ alerts \(0 new, 0 updated, 0 withdrawn" "$work/run8b.out"
"$gg" -c "$conf" alerts export >"$work/al8c.jsonl"
check "--rematch: the same alerts" cmp -s "$work/al8a.jsonl" "$work/al8c.jsonl"
check "--rematch: matched with the stored subjects of interest" grep -q "(stored: the small side is unchanged)" "$work/run8b.err"
cp "$conf" "$work/conf8.bak"
# a comment and a log level: no setting an alert depends on
echo "; a comment is no change of the settings" >>"$conf"
sed -i 's/^log_level = info/log_level = warn/' "$conf"
"$gg" -c "$conf" run --once >"$work/run8c.out" 2>"$work/run8c.err"
check "a comment and a log level changed: not matched" grep -q "matching not needed" "$work/run8c.out"
# a rule's setting, written as its default: a change of the settings all the same
sed -i 's/^grace_months = 0/grace_months = 00/' "$conf"
"$gg" -c "$conf" run --once >"$work/run8c2.out" 2>"$work/run8c2.err"
check "a rule's setting changed: matched" grep -q " alerts (0 new" "$work/run8c2.out"
cp "$work/conf8.bak" "$conf"
"$gg" -c "$conf" run --once >/dev/null 2>&1   # back to the old file: matched once more

# The subjects of interest are read from the state store only while the small
# side is unchanged: a restored registration at public security rebuilds them
# (its pensioner's payments are no longer of interest and are dropped), and
# so does the deregistration coming back.
set_revoked "$PID" 1
restart_psb
"$gg" -c "$conf" run --once >"$work/run8i.out" 2>"$work/run8i.err"
check "small side changed: the subjects of interest were built" \
  bash -c "grep -q 'subjects of interest: ' '$work/run8i.err' && ! grep -q '(stored' '$work/run8i.err'"
check "small side changed: the streams begun beside phase 1 were dropped and read again" \
  grep -q "phase 1 changed facts: the payment and income streams begun beside it are read again" "$work/run8i.err"
check "small side changed: each payment stream reported once" \
  test "$(grep -c 'hr: stream pension_payments (payment)' "$work/run8i.err")" = 1
check "small side changed: alert withdrawn" test "$(alert_field "$AID" status)" = withdrawn
check "small side changed: its payments were dropped" \
  test "$(sqlite3 "$GG_DEMO_DIR/state.db" "SELECT count(*) FROM facts WHERE kind = 'payment' AND id_norm = '$PID'")" = 0
set_revoked "$PID" 0
restart_psb
"$gg" -c "$conf" run --once >"$work/run8j.out" 2>"$work/run8j.err"
check "death back: the subjects of interest were built" bash -c "! grep -q '(stored' '$work/run8j.err'"
check "death back: alert reopened" test "$(alert_field "$AID" status)" = pushed
"$gg" -c "$conf" run --once >/dev/null 2>"$work/run8k.err"
check "then unchanged: stored again" grep -q "(stored: the small side is unchanged)" "$work/run8k.err"

# Residents who moved change person facts, but nothing the subjects of
# interest derive from (valid id, names): the stored set stands and the
# payment and income streams run beside phase 1, yet the cycle matches (an
# alert shows its subject's address and grid cell). A resident whose name
# changes is a change of identity: the set is built and those streams are
# read again after phase 1.
movers=$(grid "SELECT string_agg(quote_literal(jmbh), ',') FROM (SELECT jmbh FROM wg_jmxx ORDER BY jmbh LIMIT 5) t")
grid "UPDATE wg_jmxx SET jzdz = coalesce(jzdz, '') || '（迁）' WHERE jmbh IN ($movers)" >/dev/null
"$gg" -c "$conf" run --once >"$work/run8n.out" 2>"$work/run8n.err"
check "residents moved: matched" bash -c "! grep -q 'matching not needed' '$work/run8n.out'"
check "residents moved: the subjects of interest stayed stored" \
  grep -q "(stored: the small side is unchanged)" "$work/run8n.err"
check "residents moved: the payment and income streams were read beside phase 1" \
  grep -q "payment and income streams were read beside phase 1" "$work/run8n.err"
renamed=$(grid "SELECT jmbh FROM wg_jmxx WHERE sfzhm IS NOT NULL AND xm IS NOT NULL ORDER BY jmbh LIMIT 1")
grid "UPDATE wg_jmxx SET xm = xm || '某' WHERE jmbh = '$renamed'" >/dev/null
"$gg" -c "$conf" run --once >"$work/run8o.out" 2>"$work/run8o.err"
check "resident renamed: the subjects of interest were built" \
  bash -c "grep -q 'subjects of interest: ' '$work/run8o.err' && ! grep -q '(stored' '$work/run8o.err'"
check "resident renamed: the streams begun beside phase 1 were read again after it" \
  grep -q "phase 1 changed facts: the payment and income streams begun beside it are read again" "$work/run8o.err"
grid "UPDATE wg_jmxx SET xm = left(xm, length(xm) - 1) WHERE jmbh = '$renamed'" >/dev/null
"$gg" -c "$conf" run --once >/dev/null 2>&1   # the name back: built once more

# The day: a match stands on the days after it, until the month ends (the
# rules count months through today's) or the birth date of an id that is in
# the future comes (it is invalid until then); the subjects of interest
# stand until such a birth date alone. The configuration's today is
# 2025-06-30; run --today sets another.
# day_run NAME [--today DAY]: one cycle, output in $work/NAME.out/.err;
# skipped NAME: it did not match; built NAME: it built the subjects of
# interest; mark_ends KEY DAYS: the mark KEY holds that window (".from.until").
day_run() { local n=$1; shift; "$gg" -c "$conf" run --once "$@" >"$work/$n.out" 2>"$work/$n.err"; }
skipped() { grep -q "matching not needed" "$work/$1.out"; }
built() { grep -q 'subjects of interest: ' "$work/$1.err" && ! grep -q '(stored' "$work/$1.err"; }
mark_ends() {
  [[ "$(sqlite3 "$GG_DEMO_DIR/state.db" "SELECT value FROM marks WHERE scope = '' AND key = '$1'")" == *".$2" ]]
}
"$gg" -c "$conf" alerts export >"$work/al9a.jsonl"
day_run run9a --today 2025-06-28
check "a day before the last match: matched, nothing changed" grep -Eq "; [0-9]+ alerts \(0 new, 0 updated, 0 withdrawn" "$work/run9a.out"
check "a day before the last match: the subjects of interest were built" built run9a
check "the match stands until the month ends" mark_ends match.digest 20250628.20250701
day_run run9b --today 2025-06-29
check "the next day, nothing changed: matching not needed" skipped run9b
check "the next day: the subjects of interest were read from the state store" \
  grep -q "(stored: the small side is unchanged)" "$work/run9b.err"
check "the next day: the payment and income streams were read beside phase 1" \
  grep -q "payment and income streams were read beside phase 1" "$work/run9b.err"
day_run run9c --today 2025-07-01
check "a new month: matched (the rules count months through today's)" \
  grep -Eq "; [0-9]+ alerts \(" "$work/run9c.out"
check "a new month: the subjects of interest still stood" grep -q "(stored: the small side is unchanged)" "$work/run9c.err"
# A newborn registered with an id whose birth date (2025-07-03) is after the
# cycle's day: an invalid id until that day, when its reading changes.
nb=$(python3 -c '
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
b = "42050220250703002"
print(b + "10X98765432"[sum(int(c) * k for c, k in zip(b, w)) % 11])')
grid "INSERT INTO wg_jmxx (jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz)
      VALUES ('JM-NEWBORN', '$nb', '新生儿', '2', '20250703', '420502', 'WG001', 'HH-NEWBORN', '新区1号')" >/dev/null
day_run run9d --today 2025-07-02
check "a newborn's id in the future: the match stands until its birth date" mark_ends match.digest 20250702.20250703
check "a newborn's id in the future: so do the subjects of interest" mark_ends interest.digest 20250702.20250703
day_run run9e --today 2025-07-02
check "the same day again: matching not needed" skipped run9e
day_run run9f --today 2025-07-03
check "the newborn's birth date: matched although no fact changed" bash -c "! grep -q 'matching not needed' '$work/run9f.out'"
check "the newborn's birth date: the subjects of interest were built" built run9f
day_run run9g --today 2025-07-04
check "the day after: matching not needed" skipped run9g
grid "DELETE FROM wg_jmxx WHERE jmbh = 'JM-NEWBORN'" >/dev/null
day_run run9h   # the configuration's day again
"$gg" -c "$conf" alerts export >"$work/al9h.jsonl"
check "back on the configuration's day: the alerts of the month are as they were" \
  python3 -c "
import json, sys
def load(p):
    return {a['id']: (a['status'], a['amount']) for a in map(json.loads, open(p))}
sys.exit(load('$work/al9a.jsonl') != load('$work/al9h.jsonl'))"

# A crash in an early phase 2: the small side is unchanged, so hr's streams
# run beside phase 1 on the stored subjects of interest; the changed
# contributions are applied once phase 1 is done, and the pension stream
# blocks on yl_ffmx (locked) until gridgate is killed. The next cycle matches
# and takes the new amounts.
hr "UPDATE sb_jfjs SET jfjs = jfjs + 2"
lock_table hr yl_ffmx
start_cycle run8l
wait_log run8l "hr: stream contribution_bases"
# (read beside phase 1: the sequential order logs the subjects of interest
# before any payment or income stream)
check "early phase 2 crash: the contributions were applied, read beside phase 1" \
  bash -c "grep -q 'hr: stream contribution_bases (income): .* kept' '$work/run8l.err' &&
           ! grep -q 'subjects of interest' '$work/run8l.err'"
check "early phase 2 crash: the cycle was still running (yl_ffmx locked)" kill -0 "$gpid"
kill_cycle
unlock_table hr
"$gg" -c "$conf" run --once >"$work/run8m.out" 2>"$work/run8m.err"
check "after the early phase 2 crash: the next cycle matched" bash -c "! grep -q 'matching not needed' '$work/run8m.out'"
check "after the early phase 2 crash: the hidden-income alerts took the new amounts" \
  grep -Eq "alerts \(0 new, [1-9][0-9]* updated" "$work/run8m.out"

# A crash after a fact was written and before matching: the next cycle must
# match, although its own pulls change nothing. Every contribution amount
# changes; the hr worker reads contribution_bases, then blocks on yl_ffmx (a
# lock held by another session) and gridgate is killed there, after the
# changed income facts were committed.
hr "UPDATE sb_jfjs SET jfjs = jfjs + 1"
set_revoked "$PID" 1   # and the small side changes in phase 1 of the killed cycle
restart_psb
lock_table hr yl_ffmx
start_cycle run8d
wait_log run8d "hr: stream contribution_bases"
check "crash: the changed contributions were committed before the kill" \
  grep -q "hr: stream contribution_bases (income): .* kept" "$work/run8d.err"
check "crash: the cycle was still running (yl_ffmx locked)" kill -0 "$gpid"
kill_cycle
unlock_table hr
"$gg" -c "$conf" run --once >"$work/run8e.out" 2>"$work/run8e.err"
check "after the crash: the next cycle matched" bash -c "! grep -q 'matching not needed' '$work/run8e.out'"
check "after the crash: the hidden-income alerts took the new amounts" grep -Eq "alerts \(0 new, [1-9][0-9]* updated" "$work/run8e.out"
# The killed cycle stored the subjects of interest it built after its phase 1
# (committed): the next cycle may read them, and they are current.
check "after the crash: the restored registration withdrew the alert" test "$(alert_field "$AID" status)" = withdrawn
check "after the crash: the pensioner's payments are no longer of interest" \
  test "$(sqlite3 "$GG_DEMO_DIR/state.db" "SELECT count(*) FROM facts WHERE kind = 'payment' AND id_norm = '$PID'")" = 0

# A crash in phase 1, after a change of the small side was committed and
# before the subjects of interest were built: the mark was taken out before
# the pulls, so the next cycle builds them (its own phase 1 changes nothing).
# The deregistration comes back at public security; the grid worker blocks
# on wg_sjsb (phase 1) and gridgate is killed there.
set_revoked "$PID" 0
restart_psb
lock_table grid wg_sjsb
start_cycle run8f
wait_log run8f "psb: stream .*(death): .* kept"
check "phase-1 crash: the restored deregistration was committed before the kill" \
  grep -q "psb: stream .*(death): .* kept" "$work/run8f.err"
check "phase-1 crash: the cycle was still in phase 1 (wg_sjsb locked)" \
  bash -c "kill -0 $gpid && ! grep -q 'subjects of interest' '$work/run8f.err'"
kill_cycle
unlock_table grid
"$gg" -c "$conf" run --once >"$work/run8g.out" 2>"$work/run8g.err"
check "after the phase-1 crash: the subjects of interest were built" \
  bash -c "grep -q 'subjects of interest: ' '$work/run8g.err' && ! grep -q '(stored' '$work/run8g.err'"
check "after the phase-1 crash: the alert reopened" test "$(alert_field "$AID" status)" = pushed

city_finish
