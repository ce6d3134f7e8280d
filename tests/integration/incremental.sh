#!/usr/bin/env bash
# tests/integration/incremental.sh - incremental pulls and targeted lookups on
# the demo city. The hr pension stream gets a gxsj timestamp (with ties) in
# this test's copy of the data only, and a test copy of hr_pension.lua declares
# incremental = { column = "gxsj" } and a lookup. Checked:
#   1. the first cycle matches the oracle for the pension rules (expected.json);
#   2. a new overpaid row is the only record the next cycle reads, and the
#      alert grows by exactly that row (version 2);
#   3. a death planted at civil affairs for a pensioner whose payments were read
#      before but not kept makes the lookup fetch them: a new alert with the sum
#      of their pension after the death month (computed here from hr);
#   4. a failing stream leaves its watermark (state.db) unchanged and the next
#      good cycle catches up.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/city.sh"

city_start
conf=$work/gg.ini
city_conf "$conf"
sed -i "s#$root/adapters/hr_pension.lua#$work/hr_inc.lua#" "$conf"
grep -q "$work/hr_inc.lua" "$conf" || { echo "not ok - test config points at the test adapter"; exit 1; }

hr() { psql -X -q -At -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d hr -v ON_ERROR_STOP=1 -c "$1"; }
state_sql() { python3 -c 'import sqlite3,sys; [print("|".join("" if v is None else str(v) for v in r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]' "$GG_DEMO_DIR/state.db" "$1"; }
watermark() { state_sql "SELECT value FROM watermarks WHERE source='hr' AND stream='pension_payments'"; }
runs=0
run_cycle() { # run_cycle LABEL [expect-failure]
  runs=$((runs + 1))
  "$gg" run --once -c "$conf" >"$work/run$runs-$1.log" 2>&1
  local rc=$?
  if [ -n "${2:-}" ]; then [ "$rc" -ne 0 ]; else [ "$rc" -eq 0 ] || { tail -n 20 "$work/run$runs-$1.log"; return 1; }; fi
}
export_alerts() { "$gg" alerts export -c "$conf" >"$1" 2>"$1.err"; }
# alert_field EXPORT ID FIELD
alert_field() { python3 -c '
import json,sys
for l in open(sys.argv[1]):
    a=json.loads(l)
    if a["id"]==sys.argv[2]: print(a.get(sys.argv[3])); break' "$@"; }
stream_records() { # records the hr payment stream read in a run log
  sed -n 's/.*stream pension_payments (payment): \([0-9]*\) records.*/\1/p' "$1" | tail -n 1; }

# --- the source gets an update timestamp: groups of three rows share one
hr "ALTER TABLE yl_ffmx ADD COLUMN gxsj timestamp DEFAULT now();
    UPDATE yl_ffmx SET gxsj = timestamp '2025-07-01 00:00:00' + (lsh / 3) * interval '1 second';" \
  || { echo "not ok - gxsj column added"; exit 1; }
python3 - "$root/adapters/hr_pension.lua" "$work/hr_inc.lua" <<'PY' || { echo "not ok - test adapter written"; exit 1; }
import sys
s = open(sys.argv[1], encoding="utf-8").read()
old = 'sql  = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq FROM yl_ffmx]],'
assert old in s, "hr_pension.lua changed; update this test"
s = s.replace(old, '''sql  = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq, gxsj FROM yl_ffmx]],
      incremental = { column = "gxsj" },
      lookup = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq, gxsj FROM yl_ffmx
                 WHERE upper(trim(sfzhm)) IN ($1, $2)]],''', 1)
open(sys.argv[2], "w", encoding="utf-8").write(s)
PY

# --- 1. first cycle: reads everything, matches the oracle
check "first cycle runs" run_cycle first
export_alerts "$work/e1.jsonl"
check "first cycle read every pension row" [ "$(stream_records "$work/run1-first.log")" = "$(hr 'SELECT count(*) FROM yl_ffmx')" ]
check "watermark stored after the first cycle" [ -n "$(watermark)" ]
wm1=$(watermark)
last=$(hr "SELECT json_build_object('ts', gxsj::text, 'key', lsh::text)::text FROM yl_ffmx ORDER BY gxsj DESC, lsh DESC LIMIT 1")
check "watermark is the (gxsj, lsh) of the last row" python3 -c 'import json,sys; assert json.loads(sys.argv[1]) == json.loads(sys.argv[2]), sys.argv[1:]' "$wm1" "$last"
oracle() { python3 - "$GG_DEMO_DIR/expected.json" "$1" <<'PY'
import json, sys
exp = [a for a in json.load(open(sys.argv[1]))["alerts"] if a["rule"] in ("pension_after_death", "pension_in_custody")]
got = {}
for l in open(sys.argv[2]):
    a = json.loads(l)
    if a["rule"] in ("pension_after_death", "pension_in_custody") and a.get("status") != "withdrawn":
        got[a["id"]] = a["amount"]
bad = [(a["id"], a["amount"], got.get(a["id"])) for a in exp if got.get(a["id"]) != a["amount"]]
extra = sorted(set(got) - {a["id"] for a in exp})
if bad or extra or not exp:
    print("mismatch", bad[:5], "extra", extra[:5], file=sys.stderr); sys.exit(1)
PY
}
check "pension alerts and amounts match expected.json" oracle "$work/e1.jsonl"

# --- 2. a new overpaid row for a planted person: only it is read
read -r pad pad_id < <(python3 -c '
import json,sys
a=next(a for a in json.load(open(sys.argv[1]))["alerts"] if a["rule"]=="pension_after_death" and a["confidence"]=="high")
print(a["id"], a["subject"].split(":")[1])' "$GG_DEMO_DIR/expected.json")
amt0=$(alert_field "$work/e1.jsonl" "$pad" amount)
hr "INSERT INTO yl_ffmx (lsh, grbh, sfzhm, xm, ffny, ffje, ffrq)
    SELECT (SELECT max(lsh) + 1 FROM yl_ffmx), grbh, sfzhm, xm, '202506', 123.45, '2025-06-28'
    FROM yl_ffmx WHERE upper(sfzhm) = '$pad_id' LIMIT 1" >/dev/null
check "second cycle runs" run_cycle new_row
export_alerts "$work/e2.jsonl"
check "the stream read only the new record" [ "$(stream_records "$work/run2-new_row.log")" = 1 ]
check "alert amount grew by exactly the new row" [ "$(alert_field "$work/e2.jsonl" "$pad" amount)" = "$((amt0 + 12345))" ]
check "alert is at version 2" [ "$(alert_field "$work/e2.jsonl" "$pad" version)" = 2 ]
check "watermark moved" [ "$(watermark)" != "$wm1" ]
check "pension facts kept from the first cycle (incremental kinds are not pruned)" \
  [ "$(state_sql "SELECT count(*) FROM facts WHERE source='hr' AND kind='payment' AND first_cycle=1")" -gt 0 ]
# The hash sets (store/facts.c): an incremental kind keeps none (what a
# partial read leaves is not a complete set, and its worker loads none); the
# full-refresh kinds' sets are their facts after the changes.
hash_set_py=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/hash_set.py
hs_pay=$(python3 "$hash_set_py" "$GG_DEMO_DIR/state.db" hr payment)
hs_inc=$(python3 "$hash_set_py" "$GG_DEMO_DIR/state.db" hr income)
hs_per=$(python3 "$hash_set_py" "$GG_DEMO_DIR/state.db" grid person)
check "the incremental payment kind keeps no hash set ($hs_pay)" [ "$hs_pay" = none ]
check "the full-refresh kinds' hash sets are their facts (income: $hs_inc, persons: $hs_per)" \
  bash -c 'case "$0 $1" in "ok "[1-9]*" ok "[1-9]*) exit 0;; *) exit 1;; esac' "$hs_inc" "$hs_per"

# --- 3. a new death for a pensioner not of interest before: the lookup fetches
# the payments the incremental read skipped in earlier cycles
victim=$(hr "SELECT r.sfzhm FROM yl_ryxx r WHERE r.zt = '正常' AND r.sfzhm ~ '^[0-9]{17}[0-9X]\$'
              AND EXISTS (SELECT 1 FROM yl_ffmx f WHERE f.sfzhm = r.sfzhm AND f.ffny > '202408')
              ORDER BY r.grbh" | python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for line in sys.stdin:
    i = line.strip()
    kinds = ("death", "custody", "assistance_member", "payment", "income")
    if not db.execute("SELECT 1 FROM facts WHERE id_norm = ? AND kind IN (?, ?, ?, ?, ?)", (i,) + kinds).fetchone():
        print(i); break' "$GG_DEMO_DIR/state.db")
check "found a pensioner of no interest so far (no death, custody, case, payment facts)" [ -n "$victim" ]
want=$(hr "SELECT (sum(ffje) * 100)::bigint FROM yl_ffmx WHERE upper(trim(sfzhm)) = '$victim' AND ffny > '202408'")
victim_name=$(hr "SELECT xm FROM yl_ryxx WHERE sfzhm = '$victim'")
# civil.db text columns hold GBK bytes: the name goes in as CAST(blob AS TEXT)
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO mz_hhdj (hhbh, sfzhm, xm, swrq, hhrq, bygmc) VALUES (?, ?, CAST(? AS TEXT), ?, ?, NULL)",
          ("HHTEST01", sys.argv[2], sys.argv[3].encode("gbk"), "20240815", "20240818"))
c.commit()' "$GG_DEMO_DIR/civil.db" "$victim" "$victim_name"
check "third cycle runs" run_cycle new_death
export_alerts "$work/e3.jsonl"
check "the lookup ran for the new subject" grep -q "stream pension_payments: lookup of 1 new subjects of interest" "$work/run3-new_death.log"
got=$(python3 -c '
import json,sys
for l in open(sys.argv[1]):
    a=json.loads(l)
    if a["rule"]=="pension_after_death" and a["subject"]=="person:"+sys.argv[2]: print(a["amount"]); break' "$work/e3.jsonl" "$victim")
check "new pension_after_death alert with the amount paid after the death month ($want)" [ -n "$got" ] && [ "$got" = "$want" ]
check "no lookup when nothing new became of interest" run_cycle quiet
check "quiet cycle: no lookup, no records" bash -c '! grep -q "lookup of" "$0" && [ "$(sed -n "s/.*stream pension_payments (payment): \([0-9]*\) records.*/\1/p" "$0")" = 0 ]' "$work/run4-quiet.log"

# --- 4. the stream fails: the watermark stays, the next good cycle catches up
wm_before=$(watermark)
hr "INSERT INTO yl_ffmx (lsh, grbh, sfzhm, xm, ffny, ffje, ffrq)
    SELECT (SELECT max(lsh) + 1 FROM yl_ffmx), grbh, sfzhm, xm, '202506', 10.00, '2025-06-29'
    FROM yl_ffmx WHERE upper(sfzhm) = '$pad_id' LIMIT 1;
    ALTER TABLE yl_ffmx RENAME COLUMN ffje TO ffje_moved;" >/dev/null
check "cycle with the failing stream reports failure" run_cycle broken fail
check "the failure is logged for the stream" grep -q "stream pension_payments failed, its facts and watermark from this cycle are not kept" "$work/run5-broken.log"
check "watermark unchanged by the failed stream" [ "$(watermark)" = "$wm_before" ]
hr "ALTER TABLE yl_ffmx RENAME COLUMN ffje_moved TO ffje" >/dev/null
check "next good cycle runs" run_cycle repaired
export_alerts "$work/e6.jsonl"
check "it read the one record the failed cycle missed" [ "$(stream_records "$work/run6-repaired.log")" = 1 ]
check "alert caught up (+10.00 yuan, version 3)" [ "$(alert_field "$work/e6.jsonl" "$pad" amount)" = "$((amt0 + 12345 + 1000))" ] && [ "$(alert_field "$work/e6.jsonl" "$pad" version)" = 3 ]
check "watermark advanced past the caught-up row" [ "$(watermark)" != "$wm_before" ]
check "logs hold no raw id numbers" bash -c '! grep -Pq "(?<![0-9A-Za-z-])[0-9]{15,17}[0-9Xx]?(?![0-9A-Za-z])" "$@"' _ "$work"/run*.log
city_finish
