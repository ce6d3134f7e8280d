#!/usr/bin/env bash
# tests/integration/scoped_match.sh - a match of the subjects the facts written
# since the last match name (app/cycle.c, "matching only the subjects that
# changed") against a full recomputation, on the demo city. One night brings
# changes that reach alerts through every dependency the closure follows:
#   - a member of a case with a hidden-assets alert leaves the case (case ->
#     members), another member's contributions change (id -> case);
#   - a case payment of a hidden-income case changes (case payment, no person);
#   - a member of another one who earns nothing is renamed (case -> members);
#   - a cremation of a case member (a new death for an id of a case);
#   - a pension payment of a pension-after-death alert is deleted;
#   - a resident is renamed (a new identity conflict);
#   - a second death report, with a valid id and a later date, for a person
#     a death report without a valid id linked to by name and birth date.
# The next night a new resident with that name and birth date makes the
# first report's link ambiguous: the person's alert changes although none of
# its facts did (candidates of a low link); the night after, the twin leaves
# (the link is back); then the report is renamed (the person was a candidate
# of its old name only).
# The cycle must match only those subjects, change the alerts it should, and
# leave the store exactly as `run --rematch` (every subject) then finds it:
# no alert new, updated or withdrawn, the same export. With match_scope_max
# below what a night touched, the cycle matches every subject instead, with
# the same outcome.
set -uo pipefail

source "$(dirname "$0")/../lib/city.sh"
hr() { psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d hr -c "$1"; }
grid() { psql -X -qAt -h 127.0.0.1 -p "$GG_PG_PORT" -U postgres -d grid -c "$1"; }
civil() { sqlite3 "$GG_DEMO_DIR/civil.db" "$1"; }
state() { sqlite3 "$GG_DEMO_DIR/state.db" "$1"; }
export_alerts() { "$gg" -c "$conf" alerts export >"$1"; }
alert_field() { # alert_field EXPORT ID FIELD
  python3 -c '
import json, sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["id"] == sys.argv[2]: print(a.get(sys.argv[3]))' "$@"
}
# valid_id PREFIX17: the 18-character id with its check character
valid_id() {
  python3 -c '
import sys
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
b = sys.argv[1]
print(b + "10X98765432"[sum(int(c) * k for c, k in zip(b, w)) % 11])' "$1"
}
run() { "$gg" -c "$conf" -v run --once "${@:2}" >"$work/$1.out" 2>"$work/$1.err"; }
scoped() { grep -q "matching the subjects changed since the last match" "$work/$1.err"; }
same_as_rematch() { # same_as_rematch NAME: --rematch changes nothing, the export is the same
  export_alerts "$work/$1.a.jsonl"
  run "$1.re" --rematch || return 1
  export_alerts "$work/$1.b.jsonl"
  grep -Eq "; [0-9]+ alerts \(0 new, 0 updated, 0 withdrawn" "$work/$1.re.out" &&
    cmp -s "$work/$1.a.jsonl" "$work/$1.b.jsonl"
}

city_start
conf=$work/scoped.ini
city_conf "$conf"

run run1
check "first cycle: every subject matched" bash -c "! grep -q 'matching the subjects changed' '$work/run1.err'"
# on: its delete trigger and its indexes (the writer logs inserts and updates)
check "first cycle: the touched log is on and empty" \
  test "$(state "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE name LIKE 'facts_touched_%' OR name = 'facts_subject' ORDER BY name)")/$(state "SELECT count(*) FROM touched")" = facts_subject,facts_touched_del/0
export_alerts "$work/before.jsonl"

# --- the night's changes
# 1. a second death report, valid id, a month later, for a person a grid
#    death report without a valid id links to
read -r LOW_AID LOW_ID LOW_REF < <(state "SELECT a.id, a.id_no, json_extract(e.value, '$.ref') FROM alerts a,
    json_each(a.evidence_json) e WHERE a.rule = 'pension_after_death'
    AND json_extract(e.value, '$.source') = 'grid' AND json_extract(e.value, '$.kind') = 'death'
    AND json_extract(e.value, '$.link') = 'low' ORDER BY a.id LIMIT 1" | tr '|' ' ')
check "the demo city has an alert on a low link" test -n "${LOW_REF:-}"
grid "INSERT INTO wg_sjsb (sjbh, sjlx, sfzhm, xm, csrq, fsrq, wgbm, ms, sbr)
      SELECT 'SJ-SECOND', sjlx, '$LOW_ID', xm, csrq, fsrq + 31, wgbm, ms, sbr FROM wg_sjsb WHERE sjbh = '$LOW_REF'" \
  >/dev/null
# 2. a member owning a vehicle leaves a hidden-assets case; another member's
#    contributions change
read -r AHA_AID AHA_CASE < <(state "SELECT id, case_key FROM alerts WHERE rule = 'assistance_hidden_assets'
    ORDER BY id LIMIT 1" | tr '|' ' ')
owner=$(state "SELECT f.id_norm FROM facts f WHERE f.kind = 'assistance_member' AND f.case_key = '$AHA_CASE'
    AND f.id_norm IN (SELECT id_norm FROM facts WHERE kind = 'asset') ORDER BY f.ref LIMIT 1")
check "the hidden-assets case has a vehicle owner" test -n "$owner"
civil "DELETE FROM mz_jtcy WHERE ajbh = '$AHA_CASE' AND upper(trim(sfzhm)) = '$owner'"
read -r AHI_AID AHI_CASE < <(state "SELECT id, case_key FROM alerts WHERE rule = 'assistance_hidden_income'
    ORDER BY id LIMIT 1" | tr '|' ' ')
earner=$(state "SELECT f.id_norm FROM facts f WHERE f.kind = 'assistance_member' AND f.case_key = '$AHI_CASE'
    AND f.id_norm IN (SELECT id_norm FROM facts WHERE kind = 'income') ORDER BY f.ref LIMIT 1")
check "the hidden-income case has an earner" test -n "$earner"
hr "UPDATE sb_jfjs SET jfjs = jfjs / 10 WHERE upper(trim(sfzhm)) = '$earner'" >/dev/null
# 3. a case payment of another hidden-income case
AHI2_CASE=$(state "SELECT case_key FROM alerts WHERE rule = 'assistance_hidden_income' AND case_key <> '$AHI_CASE'
    ORDER BY id LIMIT 1")
civil "UPDATE mz_jzff SET ffje = ffje + 1 WHERE ffbh = (SELECT min(ffbh) FROM mz_jzff WHERE ajbh = '$AHI2_CASE')"
# 3b. a member of a third hidden-income case who earns nothing is renamed:
#     the case's alert rests on the other members' incomes (case -> members)
read -r AHI3_CASE AHI3_REF < <(state "SELECT f.case_key, f.ref FROM facts f, alerts a
    WHERE a.rule = 'assistance_hidden_income' AND a.case_key NOT IN ('$AHI_CASE', '$AHI2_CASE')
    AND f.kind = 'assistance_member' AND f.case_key = a.case_key
    AND f.id_norm NOT IN (SELECT id_norm FROM facts WHERE kind = 'income') ORDER BY a.id, f.ref LIMIT 1" | tr '|' ' ')
check "a hidden-income case has a member who earns nothing" test -n "${AHI3_REF:-}"
civil "UPDATE mz_jtcy SET xm = xm || 'A' WHERE cybh = '$AHI3_REF'"
# 4. a living member of a case is cremated
read -r ADM_CASE ADM_ID < <(state "SELECT f.case_key, f.id_norm FROM facts f WHERE f.kind = 'assistance_member'
    AND f.id_norm <> '' AND f.case_key NOT IN (SELECT case_key FROM alerts WHERE case_key IS NOT NULL)
    AND f.id_norm NOT IN (SELECT id_norm FROM facts WHERE kind = 'death') ORDER BY f.ref LIMIT 1" | tr '|' ' ')
civil "INSERT INTO mz_hhdj (hhbh, sfzhm, xm, swrq, hhrq, bygmc) SELECT 'HH-SCOPED', sfzhm, xm, '20240302', '20240305',
      bygmc FROM mz_jtcy, (SELECT bygmc FROM mz_hhdj LIMIT 1) WHERE upper(trim(sfzhm)) = '$ADM_ID' LIMIT 1"
# 5. a pension payment of a pension-after-death alert on a high link is deleted
read -r PAD_AID PAD_LSH < <(state "SELECT a.id, json_extract(e.value, '$.ref') FROM alerts a,
    json_each(a.evidence_json) e WHERE a.rule = 'pension_after_death' AND a.id <> '$LOW_AID'
    AND json_extract(e.value, '$.role') = 'payment' AND json_extract(e.value, '$.link') = 'high'
    ORDER BY a.id, json_extract(e.value, '$.ref') LIMIT 1" | tr '|' ' ')
hr "DELETE FROM yl_ffmx WHERE lsh = $PAD_LSH" >/dev/null
# 6. a resident of no alert is renamed
renamed=$(grid "SELECT jmbh FROM wg_jmxx WHERE jmbh LIKE 'JM0%' AND sfzhm ~ '^[0-9]{17}[0-9X]$' AND xm IS NOT NULL
    AND upper(sfzhm) NOT IN ($(state "SELECT group_concat(quote(id_no)) FROM alerts WHERE id_no <> ''"))
    ORDER BY jmbh LIMIT 1")
renamed_id=$(grid "SELECT upper(sfzhm) FROM wg_jmxx WHERE jmbh = '$renamed'")
grid "UPDATE wg_jmxx SET xm = xm || '某' WHERE jmbh = '$renamed'" >/dev/null
# 7. the operator turns on debug logging and says why in a comment: no
# setting an alert depends on, so the last match still stands for the rest
sed -i 's/^log_level = info/log_level = debug/' "$conf"
printf '; debug logging for the night of the changes\n' >>"$conf"
check "operator's edit: log_level changed in the configuration" grep -q '^log_level = debug' "$conf"

run run2
check "changed night: cycle ok" test $? -eq 0
check "changed night: only the touched subjects were matched" scoped run2
check "changed night: fewer ids than the city's persons" python3 -c "
import re, sys
m = re.search(r'matching the subjects changed since the last match: \d+ touched, (\d+) ids, (\d+) cases',
              open('$work/run2.err').read())
persons = int(re.search(r'(\d+) persons', open('$work/run1.err').read().split('[info] identity:')[1]).group(1))
sys.exit(not (m and 0 < int(m.group(1)) < persons and int(m.group(2)) > 0))"
export_alerts "$work/after.jsonl"
changed() { # changed ID: its status or version moved
  [ "$(alert_field "$work/before.jsonl" "$1" status)/$(alert_field "$work/before.jsonl" "$1" version)" != \
    "$(alert_field "$work/after.jsonl" "$1" status)/$(alert_field "$work/after.jsonl" "$1" version)" ]
}
check "member left: the hidden-assets alert changed" changed "$AHA_AID"
check "deleted payment: the pension alert's amount changed" \
  test "$(alert_field "$work/before.jsonl" "$PAD_AID" amount)" != "$(alert_field "$work/after.jsonl" "$PAD_AID" amount)"
check "cremated member: a deceased-member alert for the case" python3 -c "
import json, sys
sys.exit(not any(a['rule'] == 'assistance_deceased_member' and a['case'] == '$ADM_CASE'
                 for a in map(json.loads, open('$work/after.jsonl'))))"
check "renamed resident: an identity conflict" \
  test "$(state "SELECT count(*) FROM alerts WHERE rule = 'identity_conflict' AND id_no = '$renamed_id'")" = 1
check "changed night: the touched log was emptied" test "$(state "SELECT count(*) FROM touched")" = 0
check "changed night: every subject matched again finds the same alerts" same_as_rematch run2

# --- the next night: a twin of that person (same name, same birth date)
# makes the report without a valid id ambiguous; the person stays of
# interest through the second report, none of their facts changes
twin=$(valid_id "${LOW_ID:0:14}997")
grid "INSERT INTO wg_jmxx (jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz)
      SELECT 'JM-TWIN', '$twin', xm, '1', '${LOW_ID:6:8}', '${LOW_ID:0:6}', 'WG001', 'HH-TWIN', '新区2号'
      FROM wg_sjsb WHERE sjbh = '$LOW_REF'" >/dev/null
check "twin registered" test "$(grid "SELECT count(*) FROM wg_jmxx WHERE jmbh = 'JM-TWIN'")" = 1
cp "$work/after.jsonl" "$work/before.jsonl"
run run3
check "twin night: only the touched subjects were matched" scoped run3
check "twin night: none of the person's facts was written" \
  test "$(state "SELECT count(*) FROM facts WHERE id_norm = '$LOW_ID' AND last_cycle = (SELECT max(id) FROM cycles)
               AND first_cycle <> last_cycle")" = 0
export_alerts "$work/after.jsonl"
check "ambiguous low link: the alert resting on it changed" changed "$LOW_AID"
check "twin night: every subject matched again finds the same alerts" same_as_rematch run3

# --- the twin leaves: the report links to the person again
grid "DELETE FROM wg_jmxx WHERE jmbh = 'JM-TWIN'" >/dev/null
cp "$work/after.jsonl" "$work/before.jsonl"
run run3t
check "twin gone: only the touched subjects were matched" scoped run3t
export_alerts "$work/after.jsonl"
check "twin gone: the alert resting on the report changed again" changed "$LOW_AID"
check "twin gone: every subject matched again finds the same alerts" same_as_rematch run3t
# --- the report is renamed: it no longer links to the person, whom only the
# old name's stored candidates name
grid "UPDATE wg_sjsb SET xm = xm || '某' WHERE sjbh = '$LOW_REF'" >/dev/null
cp "$work/after.jsonl" "$work/before.jsonl"
run run3r
check "report renamed: only the touched subjects were matched" scoped run3r
export_alerts "$work/after.jsonl"
check "report renamed: the alert that rested on it changed" changed "$LOW_AID"
check "report renamed: every subject matched again finds the same alerts" same_as_rematch run3r

# --- nothing changed: no match, the log stays empty
run run3q
check "quiet night: matching not needed" grep -q "matching not needed" "$work/run3q.out"
check "quiet night: the register of names came from its cache" grep -q "names from its cache" "$work/run3q.err"
check "the register cache is private" test "$(stat -c %a "$GG_DEMO_DIR/state.db.register")" = 600

# --- more touched than match_scope_max: every subject is matched
printf '\n[gridgate]\nmatch_scope_max = 1\n' >>"$conf"
python3 - "$conf" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, encoding="utf-8").read().split("\n")
# one [gridgate] section: move the appended key into the first one
tail = lines.index("match_scope_max = 1")
del lines[tail - 1:tail + 1]
first = lines.index("[gridgate]")
lines.insert(first + 1, "match_scope_max = 1")
open(p, "w", encoding="utf-8").write("\n".join(lines))
PY
run run4
check "configuration changed: every subject matched" bash -c "! grep -q 'matching the subjects changed' '$work/run4.err'"
grid "UPDATE wg_jmxx SET xm = xm || '乙' WHERE jmbh IN (SELECT jmbh FROM wg_jmxx WHERE sfzhm IS NOT NULL ORDER BY jmbh
      OFFSET 5 LIMIT 2)" >/dev/null
run run5
check "over match_scope_max: every subject matched" grep -q "matching every subject: [0-9]* touched since the last match (match_scope_max 1)" "$work/run5.err"
check "over match_scope_max: the same alerts as a rematch" same_as_rematch run5

city_finish
